"""The ``mailsdk`` command line."""

from __future__ import annotations

import secrets
import sys
from email import message_from_bytes
from email import policy as email_policy

import click

from mailsdk.errors import MailError
from mailsdk.message import Attachment, Message
from mailsdk.result import SendResult
from mailsdk.retry import RetryPolicy
from mailsdk.sender import Sender

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mailsdk")
def cli() -> None:
    """Send email over SMTP or provider HTTP APIs."""


def _print_result(result: SendResult) -> None:
    click.echo(f"  message id : {result.message_id}")
    click.echo(f"  relay      : {result.relay}")
    click.echo(f"  accepted   : {', '.join(result.accepted)}")
    for addr, (code, text) in result.refused.items():
        click.echo(f"  refused    : {addr} ({code} {text})")
    for attempt in result.attempts:
        click.echo(f"  attempt    : {attempt.describe()}")


@cli.command()
def demo() -> None:
    """Send a real message through an embedded local relay and show what it received.

    The relay runs on loopback with STARTTLS (a certificate made on the spot) and AUTH, so
    this exercises the same path as a production relay without any account.
    """
    from mailsdk.devserver import LocalRelay

    password = secrets.token_urlsafe(16)
    relay = LocalRelay(tls="starttls", users={"demo": password}, require_auth=True)
    with relay:
        click.echo(f"Embedded relay listening on {relay.host}:{relay.port} (STARTTLS + AUTH)")
        message = Message(
            from_="mailsdk demo <demo@example.com>",
            to=["Alice <alice@example.com>"],
            subject="Hello from mailsdk",
            text="This message went through a real SMTP relay with STARTTLS and AUTH.\n",
            html="<p>This message went through a real SMTP relay with "
            "<b>STARTTLS</b> and <b>AUTH</b>.</p>",
            attachments=[
                Attachment(filename="report.csv", content=b"day,sent\nmonday,1\n"),
            ],
            headers={"X-Mailer": "mailsdk demo"},
        )
        try:
            with Sender(relay.url("demo", password)) as sender:
                result = sender.send(message)
        except MailError as exc:
            click.echo(f"Send failed: {exc}", err=True)
            sys.exit(1)
        click.echo("Sent:")
        _print_result(result)
        received = relay.wait_for(1)[0]
        parsed = message_from_bytes(received.data, policy=email_policy.default)
        click.echo(
            f"The relay received {len(received.data)} bytes "
            f"(login {received.login!r}, envelope {received.mail_from} -> "
            f"{', '.join(received.rcpt_tos)}):"
        )
        for name in ("From", "To", "Subject", "Date", "Message-ID", "Content-Type"):
            click.echo(f"  {name}: {parsed[name]}")
        for part in parsed.walk():
            if not part.is_multipart():
                click.echo(f"  part: {part.get_content_type()} {part.get_filename() or ''}")
    _demo_failover(message)


def _demo_failover(message: Message) -> None:
    """Scene two: a throttling relay first, a healthy one second."""
    from mailsdk.devserver import LocalRelay

    password = secrets.token_urlsafe(16)
    users = {"demo": password}
    with LocalRelay(users=users) as busy, LocalRelay(users=users) as healthy:
        busy.mail_reply = "421 4.7.0 Too many connections, try again later"
        click.echo("")
        click.echo(f"Failover: relay A ({busy.port}) answers 421; relay B ({healthy.port}) accepts")
        policy = RetryPolicy(attempts=2, backoff=0.2, jitter=0.1)
        with Sender(
            [busy.url("demo", password), healthy.url("demo", password)], retry=policy
        ) as sender:
            result = sender.send(message)
        click.echo("Sent:")
        _print_result(result)
        click.echo(
            f"Relay A stored {len(busy.messages)} messages, relay B {len(healthy.messages)}."
        )


def main() -> None:
    """Entry point of the ``mailsdk`` script."""
    cli()
