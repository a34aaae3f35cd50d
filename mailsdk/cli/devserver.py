"""``mailsdk devserver`` (a local capture relay) and ``mailsdk demo`` (a send through one)."""

from __future__ import annotations

import secrets
import socket
import sys
import threading
import time
from email import message_from_bytes
from email import policy as email_policy
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import TYPE_CHECKING, Literal, cast
from urllib.parse import quote

import click

from mailsdk.cli._shared import EXIT_INTERRUPTED, fail, print_result
from mailsdk.errors import MailError
from mailsdk.message import Attachment, Message
from mailsdk.retry import RetryPolicy
from mailsdk.sender import Sender

if TYPE_CHECKING:
    from mailsdk.devserver import ReceivedMessage

TLSMode = Literal["none", "starttls", "implicit"]


def _require_extra() -> None:
    """Raise ImportError (one line from the group: the pip install) without the extra."""
    import aiosmtpd  # noqa: F401
    import trustme  # noqa: F401


@click.command("demo")
def demo_command() -> None:
    """Send a real message through an embedded local relay and show what it received.

    The relay runs on loopback with STARTTLS (a certificate made on the spot) and AUTH, so
    this exercises the same path as a production relay without any account.
    Needs the devserver extra: pip install 'mailsdk[devserver]'.
    """
    _require_extra()
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
        print_result(result)
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
        print_result(result)
        click.echo(
            f"Relay A stored {len(busy.messages)} messages, relay B {len(healthy.messages)}."
        )


def _summary(number: int, received: ReceivedMessage, saved: Path | None) -> str:
    headers = BytesHeaderParser(policy=email_policy.default).parsebytes(received.data)
    subject = str(headers.get("subject", "")).replace("\n", " ")
    size = len(received.data)
    where = f" -> {saved}" if saved else ""
    login = f" (login {received.login})" if received.login else ""
    return (
        f"{time.strftime('%H:%M:%S')} #{number} from {received.mail_from or '<>'} to "
        f"{', '.join(received.rcpt_tos)} {subject!r} {size} bytes{login}{where}"
    )


def _users(values: tuple[str, ...]) -> dict[str, str] | None:
    users: dict[str, str] = {}
    for value in values:
        name, colon, password = value.partition(":")
        if not colon or not name or not password:
            # Never echo the value: its password part is a secret.
            raise click.BadParameter("expected NAME:PASSWORD", param_hint="--user")
        users[name] = password
    return users or None


def _listening_port(host: str, port: int) -> int:
    """*port* if it is free (0: a free one), else exit 1 saying why."""
    try:
        # aiosmtpd reports a busy port only after its 5-second start-up timeout: ask first.
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
            return int(probe.getsockname()[1])
    except OSError as exc:
        fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")


@click.command("devserver")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    default=8025,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port to listen on; 0 picks a free one (printed).",
)
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("mail"),
    show_default=True,
    help="Directory for the .eml files.",
)
@click.option(
    "--tls",
    type=click.Choice(["none", "starttls", "implicit"]),
    default="none",
    show_default=True,
    help="starttls: offer (and require) STARTTLS with a certificate made on the spot.",
)
@click.option(
    "--user",
    "user_values",
    multiple=True,
    metavar="NAME:PASSWORD",
    help="Require AUTH and accept only these logins (repeatable). Default: any AUTH, none "
    "required.",
)
@click.option("--count", type=click.IntRange(min=1), help="Stop after this many messages.")
def devserver_command(
    host: str,
    port: int,
    directory: Path,
    tls: str,
    user_values: tuple[str, ...],
    count: int | None,
) -> None:
    """Run a local capture relay for development: it accepts every message, stores each as
    an .eml file and prints one line about it. Nothing is delivered. Any AUTH is accepted
    unless --user names the logins. Needs the devserver extra: pip install 'mailsdk[devserver]'.
    """
    _require_extra()
    from mailsdk.devserver import LocalRelay

    users = _users(user_values)
    directory.mkdir(parents=True, exist_ok=True)
    done = threading.Event()
    lock = threading.Lock()
    seen = [0]

    def on_message(received: ReceivedMessage) -> None:
        with lock:
            seen[0] += 1
            number = seen[0]
        stamp = time.strftime("%Y%m%d-%H%M%S")
        saved: Path | None = None
        for attempt in range(1000):
            path = directory / f"{stamp}-{number:06d}{f'-{attempt}' if attempt else ''}.eml"
            try:
                with path.open("xb") as out:  # never overwrite mail from an earlier run
                    out.write(received.data)
            except FileExistsError:
                continue
            saved = path
            break
        click.echo(_summary(number, received, saved))
        if count is not None and number >= count:
            done.set()

    port = _listening_port(host, port)
    relay = LocalRelay(
        host=host,
        port=port,
        tls=cast(TLSMode, tls),
        users=users,
        require_auth=users is not None,
        on_message=on_message,
        keep_messages=False,
    )
    try:
        relay.start()
    except (OSError, RuntimeError) as exc:
        relay.stop()
        fail(f"cannot listen on {host}:{port}: {exc}")
    try:
        mode = {"none": "no TLS", "starttls": "STARTTLS", "implicit": "implicit TLS"}[tls]
        auth = "AUTH required: " + ", ".join(users) if users else "any AUTH accepted"
        click.echo(f"mailsdk devserver on {host}:{relay.port} ({mode}; {auth})")
        url = relay.url()
        if users:
            # The login, never the password: that stays where the user typed it.
            url = url.replace("://", f"://{quote(next(iter(users)), safe='')}@", 1)
        if tls == "none":
            url += "&allow_insecure_auth=true"
        click.echo(f"  port     : {relay.port}")
        click.echo(f"  URL      : {url}")
        click.echo(f"  messages : {directory}/")
        click.echo("  Ctrl-C stops it")
        sys.stdout.flush()
        while not done.wait(0.2):
            pass
    except KeyboardInterrupt:
        click.echo("stopped")
        sys.exit(EXIT_INTERRUPTED)  # what a shell reports for Ctrl-C
    finally:
        relay.stop()
