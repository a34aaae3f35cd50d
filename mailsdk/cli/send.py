"""``mailsdk send``: one message from the command line, for cron jobs and report scripts."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any, TypeVar

import click

from mailsdk.cli._shared import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_REFUSED,
    ROUTE_HELP,
    URL_HELP,
    build_sender,
    describe,
    error_json,
    exit_code_for,
    fail,
    json_option,
    load_settings,
    print_json,
    report,
    result_json,
    route_option,
    url_values,
)
from mailsdk.errors import MailError, MessageError
from mailsdk.message import Attachment, Message
from mailsdk.result import SendResult
from mailsdk.sender import AsyncSender


def _body(option: str, inline: str | None, stream: IO[str] | None) -> str | None:
    """The body given inline (``--text``) or from a file (``--text-file``), not both."""
    if inline is not None and stream is not None:
        raise click.UsageError(f"give {option} or {option}-file, not both")
    if stream is not None:
        try:
            return stream.read()
        except (OSError, UnicodeDecodeError) as exc:
            fail(f"{option}-file: {exc}")
    if inline == "-":
        return click.get_text_stream("stdin").read()
    if inline is not None and "\n" not in inline and len(inline) < 256 and Path(inline).is_file():
        # Before 0.2 --text took a path: say so rather than mail the file name silently.
        click.echo(
            f"note: {option} is the body itself; to send the file {inline!r} use {option}-file",
            err=True,
        )
    return inline


async def _send(sender: AsyncSender, message: Message, route: str | None) -> SendResult:
    async with sender:
        return await sender.send(message, route=route)


def _headers(values: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for value in values:
        name, colon, text = value.partition(":")
        if not colon:
            raise click.BadParameter(f"{value!r} is not 'Name: value'", param_hint="--header")
        out[name.strip()] = text.strip()
    return out


_F = TypeVar("_F", bound=Callable[..., Any])


def _file_option(flag: str, help: str) -> Callable[[_F], _F]:
    """An option naming a UTF-8 text file, or ``-`` for standard input."""
    return click.option(flag, type=click.File("r", encoding="utf-8"), metavar="FILE|-", help=help)


@click.command("send")
@click.option("--to", multiple=True, metavar="ADDRESS", help="Recipient; repeat for more.")
@click.option("--cc", multiple=True, metavar="ADDRESS", help="Cc recipient; repeatable.")
@click.option("--bcc", multiple=True, metavar="ADDRESS", help="Bcc recipient; repeatable.")
@click.option("--reply-to", multiple=True, metavar="ADDRESS", help="Reply-To; repeatable.")
@click.option("--subject", required=True, help="The subject line.")
@click.option("--text", metavar="TEXT", help="Plain-text body (- reads standard input).")
@_file_option("--text-file", "Plain-text body from FILE, or from standard input with -.")
@click.option("--html", metavar="HTML", help="HTML body (- reads standard input).")
@_file_option("--html-file", "HTML body from FILE (or - for standard input).")
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
@click.option("--route", metavar="NAME", callback=route_option, help=ROUTE_HELP)
@click.option("--dry-run", is_flag=True, help="Print the MIME message instead of sending it.")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    is_eager=True,  # set first, so that even a usage error is printed as JSON
    callback=json_option,
    help="Print the SendResult, or the error, as JSON on standard output.",
)
@click.pass_context
def command(
    ctx: click.Context,
    to: tuple[str, ...],
    cc: tuple[str, ...],
    bcc: tuple[str, ...],
    reply_to: tuple[str, ...],
    subject: str,
    text: str | None,
    text_file: IO[str] | None,
    html: str | None,
    html_file: IO[str] | None,
    attach: tuple[Path, ...],
    extra_headers: tuple[str, ...],
    from_: str | None,
    urls: tuple[str, ...],
    route: str | None,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Send one message: for cron jobs and report scripts.

    \b
    mailsdk send --to ops@example.com --subject "Nightly report" \\
        --text-file report.txt --attach report.csv
    mailsdk send --to me@example.com --subject done --text "Backup finished."
    echo "done" | mailsdk send --to me@example.com --subject done --text-file -

    Exit codes: 0 sent, 1 bad input, 2 permanently refused (the message or some
    recipients), 3 every relay failed, 4 delivery unknown (may have been delivered).
    """
    settings = load_settings(ctx, **url_values(urls))
    body = _body("--text", text, text_file)
    html_body = _body("--html", html, html_file)
    try:
        message = Message(
            from_=from_ or settings.from_,
            to=list(to),
            cc=list(cc),
            bcc=list(bcc),
            reply_to=list(reply_to),
            subject=subject,
            text=body,
            html=html_body,
            attachments=[Attachment.from_path(p) for p in attach],
            headers=_headers(extra_headers),
        )
    except (ValueError, OSError) as exc:  # MessageError, unreadable or undecodable files
        fail(str(exc))
    if dry_run:
        from mailsdk.mime import OutgoingMessage

        try:
            raw = OutgoingMessage(message).raw
        except MessageError as exc:
            fail(str(exc))
        click.echo(raw, nl=False)
        return
    try:
        result = asyncio.run(_send(build_sender(settings, route), message, route))
    except MailError as exc:
        click.echo(f"error: {describe(exc)}", err=True)
        if as_json:
            print_json(error_json(exc))
        sys.exit(exit_code_for(exc))
    except (OSError, TimeoutError) as exc:
        # A network fault that escaped classification happened before the message was
        # handed over (the data phase reports its own losses): the relay failed, not the input.
        report(f"the relay failed: {type(exc).__name__}: {exc}", EXIT_FAILED, error="RelayFailed")
    if as_json:
        print_json(result_json(result))
    else:
        click.echo(f"sent {result.message_id} via {result.relay}")
        click.echo(f"  accepted: {', '.join(result.accepted)}")
    for addr, status in result.refused.items():
        click.echo(f"refused: {addr} ({status.code} {status.text})", err=True)
    sys.exit(EXIT_OK if result.ok else EXIT_REFUSED)
