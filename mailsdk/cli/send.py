"""``mailsdk send``: one message from the command line, for cron jobs and report scripts."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO

import click

from mailsdk.cli._shared import (
    EXIT_OK,
    EXIT_REFUSED,
    URL_HELP,
    build_sender,
    describe,
    error_json,
    exit_code_for,
    fail,
    load_settings,
    result_json,
    url_values,
)
from mailsdk.errors import MailError, MessageError
from mailsdk.message import Attachment, Message


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


@click.command("send")
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
def command(
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
    settings = load_settings(ctx, **url_values(urls))
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
        with build_sender(settings) as sender:
            result = sender.send(message)
    except MailError as exc:
        click.echo(f"error: {describe(exc)}", err=True)
        if as_json:
            click.echo(json.dumps(error_json(exc), indent=2))
        sys.exit(exit_code_for(exc))
    if as_json:
        click.echo(json.dumps(result_json(result), indent=2))
    else:
        click.echo(f"sent {result.message_id} via {result.relay}")
        click.echo(f"  accepted: {', '.join(result.accepted)}")
    for addr, (code, text) in result.refused.items():
        click.echo(f"refused: {addr} ({code} {text})", err=True)
    sys.exit(EXIT_OK if result.ok else EXIT_REFUSED)
