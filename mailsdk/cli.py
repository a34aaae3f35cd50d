"""The ``mailsdk`` command line: send, check relays, keep secrets in keyring, capture mail.

Exit codes, for cron jobs and scripts (``send`` and ``send-many``):

====  =====================================================================================
0     sent: every recipient accepted
1     bad input: options, files, addresses or configuration (nothing was sent)
2     permanently refused: the message or some of its recipients
3     every relay failed (connection, TLS, AUTH, temporary refusals after retries)
4     delivery unknown: the connection was lost after the message was handed over
====  =====================================================================================

``check`` exits 0 when every relay passed and 3 when one did not; ``credentials`` exits 1
when a secret is missing or keyring is unusable. Usage errors exit 1 (click's default, 2,
would read as "refused").
"""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import html
import json
import secrets
import socket
import ssl
import string
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from email import message_from_bytes
from email import policy as email_policy
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal, NoReturn, cast

import aiosmtplib
import click

from mailsdk.config import ConfigurationError, TransportURL, parse_url, secret_kind
from mailsdk.errors import (
    DeliveryFailed,
    DeliveryUnknown,
    MailError,
    MessageError,
    PermanentError,
)
from mailsdk.message import Attachment, Message
from mailsdk.result import SendResult
from mailsdk.retry import RetryPolicy
from mailsdk.sender import AsyncSender, Sender

if TYPE_CHECKING:
    from mailsdk.credentials import KeyringEntry
    from mailsdk.devserver import ReceivedMessage
    from mailsdk.settings import MailSettings
    from mailsdk.transports.base import Transport
    from mailsdk.transports.smtp import SMTPTransport

TLSMode = Literal["none", "starttls", "implicit"]

__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_REFUSED",
    "EXIT_UNKNOWN",
    "cli",
    "exit_code_for",
    "main",
]

EXIT_OK = 0
"""Sent: every recipient accepted."""
EXIT_BAD_INPUT = 1
"""Bad options, files, addresses or configuration; nothing was sent."""
EXIT_REFUSED = 2
"""The message, or some of its recipients, were refused for good."""
EXIT_FAILED = 3
"""Every relay failed."""
EXIT_UNKNOWN = 4
"""The connection was lost after the message was handed over: it may have been delivered."""


def exit_code_for(error: MailError) -> int:
    """The exit code for a send that ended with *error* (see the module docstring)."""
    if isinstance(error, DeliveryUnknown):
        return EXIT_UNKNOWN
    if isinstance(error, (MessageError, ConfigurationError)) and error.relay is None:
        return EXIT_BAD_INPUT
    if isinstance(error, PermanentError):
        return EXIT_REFUSED
    if isinstance(error, DeliveryFailed) and error.errors:
        if any(isinstance(e, DeliveryUnknown) for e in error.errors):
            return EXIT_UNKNOWN  # at-least-once mode went on; the first relay may have it
        if all(isinstance(e, (PermanentError, MessageError)) for e in error.errors):
            return EXIT_REFUSED  # every relay refused this message for good
    return EXIT_FAILED


# -- the group -----------------------------------------------------------------------------


class _Group(click.Group):
    """A click group whose usage errors exit 1: here 2 means "permanently refused"."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as exc:
            exc.exit_code = EXIT_BAD_INPUT
            raise

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            exc.exit_code = EXIT_BAD_INPUT
            raise


@dataclasses.dataclass
class _Options:
    config_file: Path | None
    env_file: Path | None


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mailsdk")
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="TOML configuration file (default: $MAILSDK_CONFIG, ./mailsdk.toml, "
    "[tool.mailsdk] in ./pyproject.toml).",
)
@click.option(
    "--env-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path(".env"),
    show_default=True,
    help="dotenv file with MAILSDK_* variables (a missing file is fine).",
)
@click.pass_context
def cli(ctx: click.Context, config_file: Path | None, env_file: Path | None) -> None:
    """Send email over SMTP or provider HTTP APIs.

    Relays come from --url, else MAILSDK_URL (environment or .env), else the TOML file.
    Secrets stay out of URLs: see `mailsdk credentials --help`. Exit codes: 0 sent,
    1 bad input, 2 permanently refused, 3 every relay failed, 4 delivery unknown.
    """
    ctx.obj = _Options(config_file=config_file, env_file=env_file)


def main() -> None:
    """Entry point of the ``mailsdk`` script (and ``python -m mailsdk``)."""
    # One name in help and in the completion variable (_MAILSDK_COMPLETE), however started.
    cli(prog_name="mailsdk")


def _fail(text: str, code: int = EXIT_BAD_INPUT) -> NoReturn:
    click.echo(f"error: {text}", err=True)
    sys.exit(code)


def _settings(ctx: click.Context, **values: Any) -> MailSettings:
    from mailsdk.settings import MailSettings

    opts = ctx.find_object(_Options) or _Options(None, Path(".env"))
    try:
        return MailSettings.load(config_file=opts.config_file, env_file=opts.env_file, **values)
    except ConfigurationError as exc:
        _fail(str(exc))


def _transports(settings: MailSettings) -> list[Transport]:
    try:
        return settings.transports()
    except ConfigurationError as exc:
        _fail(str(exc))


def _url_values(urls: Sequence[str]) -> dict[str, Any]:
    return {"url": list(urls)} if urls else {}


# -- demo (unchanged) ------------------------------------------------------------------------


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


# -- send ----------------------------------------------------------------------------------


def _describe(error: MailError) -> str:
    """The error, and for DeliveryFailed what each relay ended with (the attempts alone
    give codes, not the hints the errors carry)."""
    lines = [str(error)]
    if isinstance(error, DeliveryFailed):
        lines.extend(f"  {type(e).__name__}: {e}" for e in error.errors)
    return "\n".join(lines)


def _result_json(result: SendResult) -> dict[str, Any]:
    data = dataclasses.asdict(result)
    data["ok"] = result.ok
    data["refused"] = {a: {"code": c, "text": t} for a, (c, t) in result.refused.items()}
    return data


def _error_json(error: MailError) -> dict[str, Any]:
    return {
        "ok": False,
        "error": type(error).__name__,
        "message": str(error),
        "relay": error.relay,
        "code": error.code,
        "enhanced_code": error.enhanced_code,
        "attempts": [dataclasses.asdict(a) for a in error.attempts],
        "exit_code": exit_code_for(error),
    }


def _sender(settings: MailSettings) -> Sender:
    return Sender(
        _transports(settings),
        retry=settings.retry_policy(),
        cooldown=settings.cooldown,
        strategy=settings.strategy,
    )


def _read_body(stream: IO[str] | None) -> str | None:
    return None if stream is None else stream.read()


def _headers(values: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for value in values:
        name, colon, text = value.partition(":")
        if not colon:
            raise click.BadParameter(f"{value!r} is not 'Name: value'", param_hint="--header")
        out[name.strip()] = text.strip()
    return out


URL_HELP = (
    "Relay URL or relay name from the TOML file; repeat (or separate with commas) for a "
    "failover list. Default: MAILSDK_URL."
)


@cli.command()
@click.option("--to", multiple=True, metavar="ADDRESS", help="Recipient; repeat for more.")
@click.option("--cc", multiple=True, metavar="ADDRESS", help="Cc recipient; repeatable.")
@click.option("--bcc", multiple=True, metavar="ADDRESS", help="Bcc recipient; repeatable.")
@click.option("--reply-to", multiple=True, metavar="ADDRESS", help="Reply-To; repeatable.")
@click.option("--subject", required=True, help="The subject line.")
@click.option(
    "--text",
    "text_file",
    type=click.File("r", encoding="utf-8"),
    metavar="FILE|-",
    help="Plain-text body from FILE, or from standard input with -.",
)
@click.option(
    "--html",
    "html_file",
    type=click.File("r", encoding="utf-8"),
    metavar="FILE|-",
    help="HTML body from FILE (or - for standard input).",
)
@click.option(
    "--attach",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Attach FILE; repeatable.",
)
@click.option(
    "--header", "extra_headers", multiple=True, metavar="'NAME: VALUE'", help="Extra header."
)
@click.option("--from", "from_", metavar="ADDRESS", help="Sender (default: MAILSDK_FROM).")
@click.option("--url", "urls", multiple=True, metavar="URL|NAME", help=URL_HELP)
@click.option("--dry-run", is_flag=True, help="Print the MIME message instead of sending it.")
@click.option("--json", "as_json", is_flag=True, help="Print the SendResult (or error) as JSON.")
@click.pass_context
def send(
    ctx: click.Context,
    to: tuple[str, ...],
    cc: tuple[str, ...],
    bcc: tuple[str, ...],
    reply_to: tuple[str, ...],
    subject: str,
    text_file: IO[str] | None,
    html_file: IO[str] | None,
    attach: tuple[Path, ...],
    extra_headers: tuple[str, ...],
    from_: str | None,
    urls: tuple[str, ...],
    dry_run: bool,
    as_json: bool,
) -> None:
    """Send one message: for cron jobs and report scripts.

    \b
    mailsdk send --to ops@example.com --subject "Nightly report" \\
        --text report.txt --attach report.csv
    echo "done" | mailsdk send --to me@example.com --subject done --text -

    Exit codes: 0 sent, 1 bad input, 2 permanently refused (the message or some
    recipients), 3 every relay failed, 4 delivery unknown (may have been delivered).
    """
    settings = _settings(ctx, **_url_values(urls))
    try:
        message = Message(
            from_=from_ or settings.from_,
            to=list(to),
            cc=list(cc),
            bcc=list(bcc),
            reply_to=list(reply_to),
            subject=subject,
            text=_read_body(text_file),
            html=_read_body(html_file),
            attachments=[Attachment.from_path(p) for p in attach],
            headers=_headers(extra_headers),
        )
    except (ValueError, OSError) as exc:  # MessageError, unreadable or undecodable files
        _fail(str(exc))
    if dry_run:
        from mailsdk.mime import OutgoingMessage

        try:
            raw = OutgoingMessage(message).raw
        except MessageError as exc:
            _fail(str(exc))
        click.echo(raw, nl=False)
        return
    try:
        with _sender(settings) as sender:
            result = sender.send(message)
    except MailError as exc:
        click.echo(f"error: {_describe(exc)}", err=True)
        if as_json:
            click.echo(json.dumps(_error_json(exc), indent=2))
        sys.exit(exit_code_for(exc))
    if as_json:
        click.echo(json.dumps(_result_json(result), indent=2))
    else:
        click.echo(f"sent {result.message_id} via {result.relay}")
        click.echo(f"  accepted: {', '.join(result.accepted)}")
    for addr, (code, text) in result.refused.items():
        click.echo(f"refused: {addr} ({code} {text})", err=True)
    sys.exit(EXIT_OK if result.ok else EXIT_REFUSED)


# -- check ---------------------------------------------------------------------------------

_RDN_SHORT = {
    "commonName": "CN",
    "organizationName": "O",
    "organizationalUnitName": "OU",
    "countryName": "C",
    "localityName": "L",
    "stateOrProvinceName": "ST",
    "emailAddress": "emailAddress",
}


def _dn(name: Any) -> str:
    # getpeercert() gives ((("commonName", "x"),), (("organizationName", "y"),), ...)
    parts = [f"{_RDN_SHORT.get(k, k)}={v}" for rdn in name or () for (k, v) in rdn]
    return ", ".join(parts) or "(empty)"


def _tls_lines(ssl_object: ssl.SSLObject | None) -> list[str]:
    if ssl_object is None:
        return ["TLS        : none"]
    cipher = ssl_object.cipher()
    lines = [f"TLS        : {ssl_object.version()} ({cipher[0] if cipher else 'unknown cipher'})"]
    cert = ssl_object.getpeercert()
    if cert:
        lines.append(f"certificate: subject {_dn(cert.get('subject'))}")
        lines.append(f"             issuer {_dn(cert.get('issuer'))}")
        if cert.get("notAfter"):
            lines.append(f"             valid until {cert['notAfter']}")
    else:
        lines.append("certificate: (not verified, so not shown)")
    return lines


class _ProbeSMTP(aiosmtplib.SMTP):
    """aiosmtplib's client, noting what the session showed while SMTPTransport drives it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lines: list[str] = []
        self.auth_used: str | None = None

    def _note_tls(self) -> None:
        self.lines.extend(_tls_lines(self.get_transport_info("ssl_object")))

    async def connect(self, **kwargs: Any) -> aiosmtplib.SMTPResponse:
        response = await super().connect(**kwargs)
        self.lines.append(f"greeting   : {response.code} {response.message}")
        if self.use_tls:
            self._note_tls()
        return response

    async def ehlo(self, **kwargs: Any) -> aiosmtplib.SMTPResponse:
        response = await super().ehlo(**kwargs)
        extensions = ", ".join(
            f"{name.upper()} {value}".strip() for name, value in self.esmtp_extensions.items()
        )
        encrypted = self.get_transport_info("ssl_object") is not None
        label = "EHLO (TLS) :" if encrypted else "EHLO       :"
        self.lines.append(f"{label} {extensions or '(none)'}")
        return response

    async def starttls(self, **kwargs: Any) -> aiosmtplib.SMTPResponse:
        response = await super().starttls(**kwargs)
        self.lines.append("STARTTLS   : ok")
        self._note_tls()
        return response

    async def auth_plain(self, *args: Any, **kwargs: Any) -> aiosmtplib.SMTPResponse:
        response = await super().auth_plain(*args, **kwargs)
        self.auth_used = "PLAIN"
        return response

    async def auth_login(self, *args: Any, **kwargs: Any) -> aiosmtplib.SMTPResponse:
        response = await super().auth_login(*args, **kwargs)
        self.auth_used = "LOGIN"
        return response

    async def auth_xoauth2(self, *args: Any, **kwargs: Any) -> aiosmtplib.SMTPResponse:
        response = await super().auth_xoauth2(*args, **kwargs)
        self.auth_used = "XOAUTH2"
        return response


async def _probe_smtp(transport: SMTPTransport, echo: Callable[[str], None]) -> bool:
    """Connect, EHLO, STARTTLS, AUTH with the transport's own policy; send nothing."""
    from mailsdk.transports.smtp import _default_local_hostname

    implicit = transport.tls == "implicit"
    smtp = _ProbeSMTP(
        hostname=transport.host,
        port=transport.port,
        use_tls=implicit,
        start_tls=False,
        tls_context=transport._tls_context if implicit else None,
        timeout=transport.timeout,
        local_hostname=transport.local_hostname or _default_local_hostname(),
    )
    ok = True
    try:
        # The transport's own handshake: its TLS policy, AUTH choice and error hints.
        await transport._handshake(smtp)
    except MailError as exc:
        ok = False
        failure = str(exc)
    finally:
        for line in smtp.lines:
            echo(f"  {line}")
        if smtp.is_connected:
            try:
                await smtp.quit()
            except Exception:
                smtp.close()
    if not ok:
        echo(f"  FAILED     : {failure}")
        return False
    if transport.username:
        used = smtp.auth_used or "?"
        echo(f"  AUTH       : {used} accepted for {transport.username!r}")
    else:
        offered = " ".join(smtp.server_auth_methods).upper() or "none"
        echo(f"  AUTH       : not tried (the URL names no user; relay offers {offered})")
    echo("  result     : OK, nothing was sent")
    return True


@cli.command()
@click.argument("urls", nargs=-1, metavar="[URL|NAME]...")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.1),
    default=10.0,
    show_default=True,
    help="Seconds for connecting and each command.",
)
@click.pass_context
def check(ctx: click.Context, urls: tuple[str, ...], timeout: float) -> None:
    """Check each relay: connect, greeting, EHLO extensions, TLS version and certificate,
    AUTH. Sends nothing. Default: the relays of MAILSDK_URL.

    For provider URLs (sendgrid://, ses://, ...) only the configuration and the secret
    are checked; the provider's API is not called. Exits 0 when every relay passed, 3 when
    any failed, 1 for a bad URL or a missing secret.
    """
    from mailsdk.transports.smtp import SMTPTransport

    settings = _settings(ctx, timeout=timeout, **_url_values(urls))
    try:
        parsed = settings.parsed_urls()
    except ConfigurationError as exc:
        _fail(str(exc))
    transports = _transports(settings)
    failed = 0
    for url, transport in zip(parsed, transports, strict=True):
        click.echo(url.display())
        if isinstance(transport, SMTPTransport):
            if not asyncio.run(_probe_smtp(transport, click.echo)):
                failed += 1
        elif secret_kind(url.scheme) is not None:
            click.echo(
                f"  configuration OK ({transport.name}); check does not call the "
                f"{url.scheme} API, so the key itself is not tried"
            )
        else:
            click.echo(f"  configuration OK ({transport.name}); nothing to connect to")
    if failed:
        click.echo(f"{failed} of {len(parsed)} relays failed the check", err=True)
        sys.exit(EXIT_FAILED)


# -- credentials ---------------------------------------------------------------------------


@cli.group(cls=_Group)
def credentials() -> None:
    """Keep relay secrets in the system keyring instead of in URLs.

    \b
    mailsdk credentials set smtp://reports@mail.example.com:587
    MAILSDK_URL=smtp://reports@mail.example.com:587 mailsdk send ...

    The secret is stored under service "mailsdk:<scheme>://<host>:<port>" and the URL's
    user name ("api-key" for provider URLs such as sendgrid://default). Without a usable
    keyring backend, set MAILSDK_PASSWORD_<SCHEME>_<HOST>_<PORT> instead.
    """


def _entry_or_fail(url: str) -> tuple[TransportURL, KeyringEntry]:
    from mailsdk.credentials import keyring_entry

    try:
        parsed = parse_url(url)
        return parsed, keyring_entry(parsed)
    except ConfigurationError as exc:
        _fail(str(exc))


@credentials.command("set")
@click.argument("url")
@click.option("--stdin", "from_stdin", is_flag=True, help="Read the secret from standard input.")
def credentials_set(url: str, from_stdin: bool) -> None:
    """Store the secret for URL (prompted for without echo, or read with --stdin)."""
    from mailsdk.credentials import store_secret

    parsed, entry = _entry_or_fail(url)
    if parsed.password is not None:
        _fail(f"{parsed.display()}: give the URL without its secret; it is asked for")
    if from_stdin:
        secret = click.get_text_stream("stdin").readline().rstrip("\r\n")
    else:
        secret = click.prompt(
            f"Secret for {parsed.display()}", hide_input=True, confirmation_prompt=True
        )
    try:
        store_secret(parsed, secret)
    except ConfigurationError as exc:
        _fail(str(exc))
    click.echo(
        f"stored the secret for {parsed.display()} in keyring "
        f"(service {entry.service!r}, user {entry.username!r})"
    )


@credentials.command("delete")
@click.argument("url")
def credentials_delete(url: str) -> None:
    """Remove the secret for URL from keyring (exit 1 when there was none)."""
    from mailsdk.credentials import delete_secret

    parsed, entry = _entry_or_fail(url)
    try:
        deleted = delete_secret(parsed)
    except ConfigurationError as exc:
        _fail(str(exc))
    if not deleted:
        _fail(f"keyring holds no secret for {parsed.display()} (service {entry.service!r})")
    click.echo(f"deleted the secret for {parsed.display()} from keyring")


@credentials.command("check")
@click.argument("url")
@click.pass_context
def credentials_check(ctx: click.Context, url: str) -> None:
    """Say where the secret for URL would come from (never the secret); exit 1 if none."""
    from mailsdk.config import needs_secret
    from mailsdk.credentials import env_var_name, find_secret

    try:
        parsed = parse_url(url)
    except ConfigurationError as exc:
        _fail(str(exc))
    kind = secret_kind(parsed.scheme)
    if parsed.password is not None or (kind == "key" and parsed.username):
        click.echo(f"{parsed.display()}: the URL carries its secret")
        return
    if not needs_secret(parsed):
        click.echo(f"{parsed.display()}: needs no secret")
        return
    _, entry = _entry_or_fail(url)
    environ = _settings(ctx).secret_environ()
    try:
        found = find_secret(parsed, environ=environ)
    except ConfigurationError as exc:
        _fail(str(exc))
    if found is None:
        _fail(
            f"no secret for {parsed.display()}: keyring has none under service "
            f"{entry.service!r}, user {entry.username!r}, and {env_var_name(parsed)} is "
            f"not set. Store one with: mailsdk credentials set '{parsed.display()}'"
        )
    _, source = found
    where = "environment variable" if source.kind == "environment" else source.kind
    click.echo(f"{parsed.display()}: secret found in {where} {source.detail}")


# -- devserver -----------------------------------------------------------------------------


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


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8025, show_default=True, type=click.IntRange(1, 65535))
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
@click.option("--count", type=click.IntRange(min=1), help="Stop after this many messages.")
def devserver(host: str, port: int, directory: Path, tls: str, count: int | None) -> None:
    """Run a local capture relay for development: it accepts every message (and any AUTH),
    stores each as an .eml file and prints one line about it. Nothing is delivered.
    Needs the devserver extra: pip install 'mailsdk[devserver]'.
    """
    from mailsdk.devserver import LocalRelay

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

    try:
        # aiosmtpd reports a busy port only after its 5-second start-up timeout: ask first.
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as exc:
        _fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
    relay = LocalRelay(
        host=host,
        port=port,
        tls=cast(TLSMode, tls),
        users=None,
        on_message=on_message,
        keep_messages=False,
    )
    try:
        relay.start()
    except (OSError, RuntimeError) as exc:
        relay.stop()
        _fail(f"cannot listen on {host}:{port}: {exc}")
    try:
        mode = {"none": "no TLS", "starttls": "STARTTLS", "implicit": "implicit TLS"}[tls]
        click.echo(f"mailsdk devserver on {host}:{port} ({mode}; any AUTH accepted)")
        url = relay.url()
        if tls == "none":
            url += "&allow_insecure_auth=true"
        click.echo(f"  URL      : {url}")
        click.echo(f"  messages : {directory}/")
        click.echo("  Ctrl-C stops it")
        while not done.wait(0.2):
            pass
    except KeyboardInterrupt:
        click.echo("stopped")
    finally:
        relay.stop()


# -- send-many -----------------------------------------------------------------------------

_TEMPLATE_FIELDS = ("to", "from", "subject", "text", "html")
_TEMPLATE_LIST_FIELDS = ("reply_to", "cc", "bcc", "attachments")
_SIMPLE_HEADERS = {
    "subject": "subject",
    "from": "from",
    "to": "to",
    "reply-to": "reply_to",
    "cc": "cc",
    "bcc": "bcc",
}


@dataclasses.dataclass
class _Template:
    """A mail-merge template: string.Template placeholders ($column, ${column})."""

    fields: dict[str, str]
    lists: dict[str, list[str]]
    headers: dict[str, str]
    base: Path

    @classmethod
    def load(cls, path: Path) -> _Template:
        suffix = path.suffix.lower()
        if suffix == ".toml":
            from mailsdk.settings import read_toml

            data: Any = read_toml(path)
        elif suffix == ".json":
            data = json.loads(path.read_text(encoding="utf-8"))
        else:
            data = _parse_simple_template(path.read_text(encoding="utf-8"))
        if not isinstance(data, Mapping):
            raise ValueError("a template must be a table of subject, text, html, ...")
        known = (*_TEMPLATE_FIELDS, *_TEMPLATE_LIST_FIELDS, "headers")
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ValueError(
                f"unknown template key(s) {', '.join(unknown)}; known: {', '.join(known)}"
            )
        fields = {k: data[k] for k in _TEMPLATE_FIELDS if k in data}
        lists = {}
        for key in _TEMPLATE_LIST_FIELDS:
            value = data.get(key, [])
            lists[key] = [value] if isinstance(value, str) else list(value)
        headers = dict(data.get("headers", {}))
        for value in (
            *fields.values(),
            *headers.values(),
            *(v for vs in lists.values() for v in vs),
        ):
            if not isinstance(value, str):
                raise ValueError(f"template values must be strings, not {type(value).__name__}")
        if "subject" not in fields:
            raise ValueError("the template has no subject")
        if "text" not in fields and "html" not in fields:
            raise ValueError("the template has neither text nor html")
        return cls(fields, lists, headers, path.parent)

    def _all(self) -> Iterator[str]:
        yield from self.fields.values()
        yield from self.headers.values()
        for values in self.lists.values():
            yield from values

    def placeholders(self) -> set[str]:
        """Every column name the template uses; raises ValueError on a malformed one."""
        names: set[str] = set()
        for text in self._all():
            for match in string.Template.pattern.finditer(text):
                if match.group("invalid") is not None:
                    raise ValueError(f"malformed placeholder in template text {text[:40]!r}")
                name = match.group("named") or match.group("braced")
                if name:
                    names.add(name)
        return names

    def render(self, row: Mapping[str, str], email_column: str) -> Message:
        """The message for one CSV row (to: the template's ``to``, else the row's address);
        raises MessageError or OSError."""

        def fill(text: str, escape: bool = False) -> str:
            values = {k: html.escape(v) if escape else v for k, v in row.items()}
            return string.Template(text).substitute(values)

        f = self.fields
        return Message(
            from_=fill(f["from"]) if "from" in f else None,
            to=[fill(f["to"]) if "to" in f else row[email_column]],
            cc=[fill(v) for v in self.lists["cc"]],
            bcc=[fill(v) for v in self.lists["bcc"]],
            reply_to=[fill(v) for v in self.lists["reply_to"]],
            subject=fill(f["subject"]),
            text=fill(f["text"]) if "text" in f else None,
            # Column values are escaped in HTML: a name like "<b>" must not become markup.
            html=fill(f["html"], escape=True) if "html" in f else None,
            attachments=[self._attachment(fill(p)) for p in self.lists["attachments"]],
            headers={name: fill(value) for name, value in self.headers.items()},
        )

    def _attachment(self, name: str) -> Attachment:
        # The path comes partly from the CSV: it must not reach outside the template's folder.
        base = self.base.resolve()
        path = (base / name).resolve()
        if not path.is_relative_to(base):
            raise MessageError(f"attachment {name!r} is outside the template's directory")
        return Attachment.from_path(path)


def _parse_simple_template(text: str) -> dict[str, Any]:
    """``Subject: ...`` (and From, To, Reply-To, Cc, Bcc) lines, a blank line, the text."""
    head, sep, body = text.replace("\r\n", "\n").partition("\n\n")
    if not sep:
        raise ValueError("a simple template is header lines, a blank line, then the text")
    data: dict[str, Any] = {"text": body}
    for line in head.split("\n"):
        name, colon, value = line.partition(":")
        key = _SIMPLE_HEADERS.get(name.strip().lower())
        if not colon or key is None:
            raise ValueError(
                f"template line {line!r}: expected one of Subject, From, To, Reply-To, Cc, Bcc"
            )
        data[key] = value.strip()
    return data


_RESULT_COLUMNS = ("email", "status", "message_id", "relay", "code", "error")
_STATUS_EXIT = {"sent": 0, "invalid": 1, "refused": 2, "failed": 3, "unknown": 4}


def _row_result(email: str, outcome: SendResult | MailError) -> dict[str, Any]:
    if isinstance(outcome, SendResult):
        refused = next(iter(outcome.refused.items()), None)
        last = outcome.attempts[-1] if outcome.attempts else None
        return {
            "email": email,
            "status": "refused" if refused else "sent",
            "message_id": outcome.message_id,
            "relay": outcome.relay,
            "code": refused[1][0] if refused else (last.code if last else ""),
            "error": f"{refused[0]}: {refused[1][1]}" if refused else "",
        }
    code = exit_code_for(outcome)
    status = {EXIT_UNKNOWN: "unknown", EXIT_REFUSED: "refused", EXIT_BAD_INPUT: "invalid"}.get(
        code, "failed"
    )
    return {
        "email": email,
        "status": status,
        "message_id": "",
        "relay": outcome.relay or "",
        "code": outcome.code if outcome.code is not None else "",
        "error": _describe(outcome).replace("\n", " | "),
    }


@cli.command("send-many")
@click.option(
    "--csv",
    "csv_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Recipients, one per row, with a header row; an 'email' column is required.",
)
@click.option(
    "--template",
    "template_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="TOML or JSON (subject, text, html, ...) or a simple 'Subject: ...' file; "
    "$column placeholders.",
)
@click.option(
    "--results",
    "results_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Per-recipient result CSV (default: <csv name>-results.csv).",
)
@click.option("--from", "from_", metavar="ADDRESS", help="Sender (default: MAILSDK_FROM).")
@click.option("--url", "urls", multiple=True, metavar="URL|NAME", help=URL_HELP)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 256),
    default=8,
    show_default=True,
    help="Messages in flight at once.",
)
@click.option("--email-column", default="email", show_default=True)
@click.option("--dry-run", is_flag=True, help="Render every row, print the first, send nothing.")
@click.pass_context
def send_many(
    ctx: click.Context,
    csv_path: Path,
    template_path: Path,
    results_path: Path | None,
    from_: str | None,
    urls: tuple[str, ...],
    concurrency: int,
    email_column: str,
    dry_run: bool,
) -> None:
    """Mail-merge: one message per CSV row from a template, with a progress bar, and a
    result CSV (email, status, message_id, relay, code, error) written as sends finish.

    \b
    template.toml:
        subject = "Your report, $name"
        text = "Hello $name,\\nyour balance is $balance."

    Statuses: sent, refused, failed, unknown, invalid. Exit code: 0 when every row was
    sent, else the highest that applies: 1 invalid row (or bad input), 2 refused,
    3 failed, 4 unknown.
    """
    settings = _settings(ctx, **_url_values(urls))
    try:
        template = _Template.load(template_path)
        placeholders = template.placeholders()
    except (ValueError, OSError) as exc:
        _fail(f"{template_path}: {exc}")
    try:
        with csv_path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            columns = list(reader.fieldnames or [])
            rows = [dict(row) for row in reader]
    except (ValueError, OSError, csv.Error) as exc:
        _fail(f"{csv_path}: {exc}")
    if email_column not in columns:
        _fail(f"{csv_path}: no {email_column!r} column (columns: {', '.join(columns)})")
    missing = sorted(placeholders - set(columns))
    if missing:
        _fail(
            f"{template_path} uses {', '.join('$' + m for m in missing)}, which "
            f"{csv_path} lacks (columns: {', '.join(columns)})"
        )
    # --from beats the template's "from", which beats MAILSDK_FROM. "$" is doubled: an
    # address is not a template.
    if from_ or "from" not in template.fields:
        sender_address = from_ or settings.from_
        if not sender_address:
            _fail("no sender: give --from, a 'from' in the template, or MAILSDK_FROM")
        template.fields["from"] = sender_address.replace("$", "$$")

    prepared: list[tuple[str, Message | MailError]] = []
    for row in rows:
        values = {k: v or "" for k, v in row.items() if k is not None}
        try:
            prepared.append((values[email_column], template.render(values, email_column)))
        except MessageError as exc:
            prepared.append((values[email_column], exc))
        except OSError as exc:
            prepared.append((values[email_column], MessageError(f"attachment: {exc}")))

    if dry_run:
        from mailsdk.mime import OutgoingMessage

        good = [m for _, m in prepared if isinstance(m, Message)]
        for email, item in prepared:
            if isinstance(item, MailError):
                click.echo(f"invalid row {email!r}: {item}", err=True)
        click.echo(f"{len(good)} of {len(prepared)} rows render; the first:", err=True)
        if good:
            click.echo(OutgoingMessage(good[0]).raw, nl=False)
        sys.exit(EXIT_OK if len(good) == len(prepared) else EXIT_BAD_INPUT)

    transports = _transports(settings)
    results_path = results_path or csv_path.with_name(f"{csv_path.stem}-results.csv")
    counts = asyncio.run(_merge(prepared, transports, settings, results_path, concurrency))
    summary = ", ".join(f"{counts.get(s, 0)} {s}" for s in _STATUS_EXIT)
    click.echo(f"{summary}; results in {results_path}")
    worst = max((_STATUS_EXIT[s] for s, n in counts.items() if n), default=EXIT_OK)
    sys.exit(worst)


async def _merge(
    prepared: list[tuple[str, Message | MailError]],
    transports: list[Transport],
    settings: MailSettings,
    results_path: Path,
    concurrency: int,
) -> dict[str, int]:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    counts: dict[str, int] = {}
    gate = asyncio.Semaphore(concurrency)
    with results_path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=_RESULT_COLUMNS)
        writer.writeheader()

        def record(row: dict[str, Any]) -> None:
            writer.writerow(row)
            out.flush()  # rows already sent are on disk even if the run is interrupted
            counts[row["status"]] = counts.get(row["status"], 0) + 1

        progress = Progress(
            TextColumn("sending"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
        )
        async with AsyncSender(
            transports,
            retry=settings.retry_policy(),
            cooldown=settings.cooldown,
            strategy=settings.strategy,
        ) as sender:
            with progress:
                task = progress.add_task("send", total=len(prepared))

                async def one(email: str, item: Message | MailError) -> None:
                    if isinstance(item, MailError):
                        record(_row_result(email, item))
                    else:
                        async with gate:
                            try:
                                outcome: SendResult | MailError = await sender.send(item)
                            except MailError as exc:
                                outcome = exc
                        record(_row_result(email, outcome))
                    progress.advance(task)

                await asyncio.gather(*(one(e, m) for e, m in prepared))
    return counts


# -- completion ----------------------------------------------------------------------------


@cli.command()
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print the shell completion script for SHELL (click's own completion).

    \b
    bash: eval "$(mailsdk completion bash)"     (in ~/.bashrc)
    zsh:  eval "$(mailsdk completion zsh)"      (in ~/.zshrc)
    fish: mailsdk completion fish > ~/.config/fish/completions/mailsdk.fish
    """
    from click.shell_completion import get_completion_class

    completion_class = get_completion_class(shell)
    assert completion_class is not None  # the three choices are built into click
    click.echo(completion_class(cli, {}, "mailsdk", "_MAILSDK_COMPLETE").source())
