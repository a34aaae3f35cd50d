"""``mailsdk suppressions``: read and edit the suppression list (see mailsdk.suppressions)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from mailsdk.cli._shared import EXIT_REFUSED, Group, fail

if TYPE_CHECKING:
    from mailsdk.suppressions import Suppression, Suppressions

_DB = click.option(
    "--db",
    "db",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="MAILSDK_SUPPRESSIONS_DB",
    required=True,
    help="The SQLite file (may be the outbox's); env MAILSDK_SUPPRESSIONS_DB.",
)


@click.group("suppressions", cls=Group)
def command() -> None:
    """The addresses not to mail again: hard bounces, complaints, unsubscribes.

    \b
    mailsdk suppressions list --db mail.sqlite3
    mailsdk suppressions add jane@example.com --reason manual --db mail.sqlite3
    mailsdk suppressions check jane@example.com --db mail.sqlite3   # exit 2 when suppressed
    mailsdk suppressions remove jane@example.com --db mail.sqlite3
    """


def _open(db: Path, *, create: bool = False) -> Suppressions:
    from mailsdk.suppressions import Suppressions

    if not create and not db.exists():
        fail(f"{db}: no such database")
    return Suppressions(db)


def _line(entry: Suppression) -> str:
    since = entry.since.isoformat(timespec="seconds")
    detail = f"  {entry.detail}" if entry.detail else ""
    return f"{entry.address}\t{entry.reason}\t{entry.source}\t{since}{detail}"


def _json(entry: Suppression) -> dict[str, str | None]:
    return {
        "address": entry.address,
        "reason": entry.reason,
        "source": entry.source,
        "since": entry.since.isoformat(),
        "detail": entry.detail,
    }


@command.command("list")
@_DB
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def list_command(db: Path, as_json: bool) -> None:
    """Every suppressed address: address, reason, source, since, detail."""
    with _open(db) as store:
        for entry in store.entries():
            click.echo(json.dumps(_json(entry)) if as_json else _line(entry))


@command.command("add")
@click.argument("addresses", nargs=-1, required=True)
@click.option("--reason", default="manual", show_default=True)
@click.option("--source", default="cli", show_default=True)
@click.option("--detail", default=None, help="A note kept with the entry.")
@_DB
def add_command(
    addresses: tuple[str, ...], reason: str, source: str, detail: str | None, db: Path
) -> None:
    """Suppress ADDRESSES (an address already listed keeps its first entry)."""
    with _open(db, create=True) as store:
        for address in addresses:
            try:
                entry = store.add(address, reason, source, detail=detail)
            except ValueError as exc:
                fail(str(exc))
            click.echo(f"suppressed {_line(entry)}")


@command.command("remove")
@click.argument("addresses", nargs=-1, required=True)
@_DB
def remove_command(addresses: tuple[str, ...], db: Path) -> None:
    """Allow mail to ADDRESSES again (exit 1 when one was not listed)."""
    missing = []
    with _open(db) as store:
        for address in addresses:
            try:
                removed = store.remove(address)
            except ValueError as exc:
                fail(str(exc))
            if removed:
                click.echo(f"removed {address}")
            else:
                missing.append(address)
    if missing:
        fail(f"not suppressed: {', '.join(missing)}")


@command.command("check")
@click.argument("address")
@_DB
def check_command(address: str, db: Path) -> None:
    """Say whether ADDRESS is suppressed: exit 0 when it may be mailed, 2 when it is listed."""
    with _open(db) as store:
        try:
            entry = store.check(address)
        except ValueError as exc:
            fail(str(exc))
    if entry is None:
        click.echo(f"{address}: not suppressed")
        return
    click.echo(f"{address}: {entry.describe()}")
    raise SystemExit(EXIT_REFUSED)
