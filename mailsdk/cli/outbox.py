"""``mailsdk outbox run|list|show|retry|purge`` and the outbox side of ``send-many --outbox``."""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import re
import sys
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from mailsdk.cli._shared import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_UNKNOWN,
    URL_HELP,
    fail,
    load_settings,
    sender_options,
    url_values,
)
from mailsdk.errors import MailError
from mailsdk.message import Message
from mailsdk.outbox import EntryState, Outbox, OutboxEntry
from mailsdk.sender import Sender

if TYPE_CHECKING:
    from mailsdk.settings import MailSettings

_STATES = ("queued", "sending", "sent", "refused", "failed", "unknown")
_FINAL = ("sent", "refused", "failed", "unknown")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_STATE_EXIT = {"sent": EXIT_OK, "refused": EXIT_REFUSED, "failed": EXIT_FAILED}
_STATE_EXIT.update({"unknown": EXIT_UNKNOWN, "queued": EXIT_FAILED, "sending": EXIT_FAILED})

outbox_option = click.option(
    "--outbox",
    "outbox_path",
    required=True,
    envvar="MAILSDK_OUTBOX",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The outbox's SQLite file (env MAILSDK_OUTBOX).",
)


def parse_duration(text: str) -> timedelta:
    """``"90s"``, ``"15m"``, ``"12h"``, ``"7d"``, ``"2w"`` as a timedelta."""
    match = _DURATION.match(text)
    if match is None:
        raise click.BadParameter(f"{text!r}: write e.g. 30m, 12h or 7d")
    return timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})


def _open(path: Path, **options: Any) -> Outbox:
    try:
        return Outbox(path, **options)
    except (ValueError, OSError) as exc:  # sqlite3 errors are OSError-like DatabaseErrors
        fail(f"{path}: {exc}")
    except Exception as exc:
        fail(f"{path}: cannot open the outbox: {exc}")


def entry_json(entry: OutboxEntry) -> dict[str, Any]:
    """An entry as JSON-ready data (no message body: ``show --message`` prints it)."""
    return {
        "id": entry.id,
        "key": entry.key,
        "state": entry.state,
        "attempts": entry.attempts,
        "created_at": entry.created_at.isoformat(),
        "next_attempt_at": entry.next_attempt_at.isoformat(),
        "updated_at": entry.updated_at.isoformat(),
        "message_id": entry.message_id,
        "recipients": {
            r: {"status": o.status, "code": o.code, "text": o.text}
            for r, o in entry.recipients.items()
        },
        "result": dataclasses.asdict(entry.result) if entry.result else None,
        "error": entry.error,
        "handover": entry.handover,
    }


@click.group("outbox")
def group() -> None:
    """Work with a durable outbox: run a worker, list, show, retry and purge entries."""


@group.command("run")
@outbox_option
@click.option("--url", "urls", multiple=True, metavar="URL|NAME", help=URL_HELP)
@click.option("--concurrency", type=click.IntRange(1, 1024), default=16, show_default=True)
@click.option("--lease", type=click.FloatRange(min=1), default=60.0, show_default=True)
@click.option(
    "--on-unknown",
    type=click.Choice(["fail", "retry"]),
    default="fail",
    show_default=True,
    help="retry = at-least-once: re-send entries whose worker may have handed them over.",
)
@click.option("--forever", is_flag=True, help="Keep polling instead of stopping when idle.")
@click.pass_context
def run_command(
    ctx: click.Context,
    outbox_path: Path,
    urls: tuple[str, ...],
    concurrency: int,
    lease: float,
    on_unknown: str,
    forever: bool,
) -> None:
    """Send due entries; stop when none is due and none is leased (unless --forever)."""
    settings = load_settings(ctx, **url_values(urls))
    outbox = _open(outbox_path, lease=lease, on_unknown=on_unknown)
    with Sender.from_options(sender_options(settings)) as sender:
        try:
            stats = outbox.run(sender, concurrency=concurrency, until_empty=not forever)
        except KeyboardInterrupt:
            click.echo("interrupted; entries in flight went back to the queue", err=True)
            sys.exit(130)
    click.echo(", ".join(f"{getattr(stats, f.name)} {f.name}" for f in dataclasses.fields(stats)))


@group.command("list")
@outbox_option
@click.option("--state", type=click.Choice(_STATES), help="Only entries in this state.")
@click.option("--limit", type=click.IntRange(min=1), help="At most this many entries.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def list_command(outbox_path: Path, state: str | None, limit: int | None, as_json: bool) -> None:
    """List entries, oldest first, and a count per state."""
    outbox = _open(outbox_path)
    for entry in outbox.entries(state=state, limit=limit):  # type: ignore[arg-type]
        if as_json:
            click.echo(json.dumps(entry_json(entry)))
            continue
        to = ", ".join(entry.recipients) or ", ".join(a.email for a in entry.message.to)
        when = entry.next_attempt_at.strftime("%Y-%m-%d %H:%M:%S")
        line = f"{entry.id}  {entry.state:<8} {entry.attempts:>2}  {when}  {to}"
        if entry.error and entry.state != "sent":
            line += f"  ({entry.error.splitlines()[0][:80]})"
        click.echo(line)
    if not as_json:
        counts = outbox.counts()
        click.echo(", ".join(f"{n} {s}" for s, n in counts.items()), err=True)


@group.command("show")
@outbox_option
@click.argument("entry_id")
@click.option("--message", "with_message", is_flag=True, help="Include the message itself.")
def show_command(outbox_path: Path, entry_id: str, with_message: bool) -> None:
    """Show one entry (by id or idempotency key) as JSON."""
    entry = _open(outbox_path).get(entry_id)
    if entry is None:
        fail(f"no entry {entry_id!r} in {outbox_path}")
    data = entry_json(entry)
    if with_message:
        data["message"] = json.loads(entry.message.model_dump_json())
    click.echo(json.dumps(data, indent=2))


@group.command("retry")
@outbox_option
@click.argument("entry_ids", nargs=-1, required=True)
def retry_command(outbox_path: Path, entry_ids: tuple[str, ...]) -> None:
    """Make queued, failed or unknown entries due now (a sent entry is never re-sent)."""
    outbox = _open(outbox_path)
    refused = [i for i in entry_ids if not outbox.retry(i)]
    for entry_id in refused:
        entry = outbox.get(entry_id)
        why = f"it is {entry.state}" if entry else "no such entry"
        click.echo(f"error: cannot retry {entry_id}: {why}", err=True)
    click.echo(f"{len(entry_ids) - len(refused)} entries due now")
    sys.exit(EXIT_BAD_INPUT if refused else EXIT_OK)


@group.command("purge")
@outbox_option
@click.option(
    "--state",
    "states",
    multiple=True,
    type=click.Choice(_FINAL),
    help="Purge entries in this state; repeatable (default: sent and refused).",
)
@click.option("--older-than", metavar="DURATION", help="Only entries finished this long ago (7d).")
def purge_command(outbox_path: Path, states: tuple[str, ...], older_than: str | None) -> None:
    """Delete finished entries."""
    age = parse_duration(older_than) if older_than else None
    chosen: list[EntryState] = list(states or ("sent", "refused"))  # type: ignore[arg-type]
    removed = _open(outbox_path).purge(chosen, older_than=age)
    click.echo(f"{removed} entries purged")


# -- send-many --outbox -----------------------------------------------------------------


def content_key(message: Message) -> str:
    """An idempotency key from what the message says, so a rerun finds the same rows."""
    digest = hashlib.sha256(message.model_dump_json().encode()).hexdigest()
    return f"send-many:{digest}"


def send_many_via_outbox(
    outbox_path: Path,
    prepared: list[tuple[int, str, Message | MailError]],
    settings: MailSettings,
    results_path: Path,
    concurrency: int,
    route: str | None = None,
) -> dict[str, int]:
    """Enqueue the rows keyed by content (rows already in the outbox are not enqueued again),
    through *route* if given, drain the outbox, and write the results CSV from the entries.
    Returns counts per status; a Ctrl-C leaves the outbox resumable by running the same
    command again."""
    options = sender_options(settings, route)  # an unknown route: nothing is queued
    outbox = _open(outbox_path)
    good = [(number, email, m) for number, email, m in prepared if isinstance(m, Message)]
    ids = outbox.enqueue_many(
        [m for _, _, m in good], keys=[content_key(m) for _, _, m in good], route=route
    )
    with Sender.from_options(options) as sender:
        try:
            outbox.run(sender, concurrency=concurrency)
        except KeyboardInterrupt:
            click.echo("interrupted: run the same command again to send what is left", err=True)
            sys.exit(130)
    counts: dict[str, int] = {}
    by_entry = dict(zip(ids, ((number, email) for number, email, _ in good), strict=True))
    with results_path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(
            out,
            fieldnames=("row", "email", "status", "message_id", "relay", "code", "error", "entry"),
        )
        writer.writeheader()
        for number, email, item in prepared:
            if isinstance(item, MailError):
                writer.writerow(
                    {"row": number, "email": email, "status": "invalid", "error": str(item)}
                )
                counts["invalid"] = counts.get("invalid", 0) + 1
        for entry_id, (number, email) in by_entry.items():
            entry = outbox.get(entry_id)
            assert entry is not None
            refused = [o for o in entry.recipients.values() if o.status == "refused"]
            status = "refused" if entry.state == "sent" and refused else entry.state
            writer.writerow(
                {
                    "row": number,
                    "email": email,
                    "status": status,
                    "message_id": entry.message_id,
                    "relay": entry.result.relay if entry.result else "",
                    "code": refused[0].code if refused else "",
                    "error": (entry.error or "").replace("\n", " | "),
                    "entry": entry.id,
                }
            )
            counts[status] = counts.get(status, 0) + 1
    return counts


def exit_code_for_states(counts: dict[str, int]) -> int:
    """The send-many exit code: the highest that applies to the states seen."""
    codes = {**_STATE_EXIT, "invalid": EXIT_BAD_INPUT}
    return max((codes[s] for s, n in counts.items() if n), default=EXIT_OK)
