"""The outbox's SQLite store: schema, pragmas and every statement, nothing about sending.

One row per entry. Times are UTC seconds since the epoch (REAL), so workers in different
processes compare them directly. Every write is one short transaction started with
``BEGIN IMMEDIATE``: SQLite then takes the write lock up front, so two processes never both
read a row as claimable and then both update it (the lock is the claim's atomicity).

Durability: the database runs in WAL mode. With ``synchronous=NORMAL`` a commit has been
written to the WAL file with write(2) before ``COMMIT`` returns; the operating system keeps
it if the process is killed (``kill -9`` included), and only a power loss or a kernel crash
before the next checkpoint can lose it. ``synchronous=FULL`` adds an fsync per commit, which
survives power loss too, at about 500 commits/s on an ordinary disk instead of ~30,000.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["SCHEMA_VERSION", "Row", "Store", "Write", "finish_write", "handover_write"]

SCHEMA_VERSION = 2
"""1: the first schema. 2: ``entries.route``, the sender route an entry is sent through."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    id TEXT PRIMARY KEY,
    key TEXT UNIQUE,
    state TEXT NOT NULL,
    message_id TEXT NOT NULL,
    date TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    next_attempt_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    lease_owner TEXT,
    lease_until REAL,
    handover TEXT,
    recipients TEXT,
    result TEXT,
    error TEXT,
    route TEXT
);
CREATE TABLE IF NOT EXISTS messages (
    entry_rowid INTEGER PRIMARY KEY,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS entries_due ON entries (state, next_attempt_at);
"""

# The message body lives in its own table: state changes rewrite a small row, never the
# message (a 34 KB message would otherwise be copied into the WAL on every update).
_WITH_BODY = (
    "SELECT e.id, e.key, e.state, m.body, e.message_id, e.date, e.attempts, e.created_at, "
    "e.next_attempt_at, e.updated_at, e.lease_owner, e.lease_until, e.handover, "
    "e.recipients, e.result, e.error, e.route "
    "FROM entries e JOIN messages m ON m.entry_rowid = e.rowid"
)

Synchronous = Literal["normal", "full"]


@dataclass(frozen=True, slots=True)
class Row:
    """One entry as stored (JSON columns still text)."""

    id: str
    key: str | None
    state: str
    message: str
    message_id: str
    date: str
    attempts: int
    created_at: float
    next_attempt_at: float
    updated_at: float
    lease_owner: str | None
    lease_until: float | None
    handover: str | None
    recipients: str | None
    result: str | None
    error: str | None
    route: str | None = None


Write = tuple[str, tuple[Any, ...]]
"""One single-row UPDATE and its arguments, for :meth:`Store.apply`."""


def handover_write(entry_id: str, owner: str, attempt: int, phase: str) -> Write:
    """Mark the entry handed over, if *owner* still holds the lease of claim *attempt*.

    The attempt number tells two claims by one worker apart: a worker whose lease expired
    and who claimed the entry again must not let the older task hand it over too."""
    return (
        "UPDATE entries SET handover = ? "
        "WHERE id = ? AND lease_owner = ? AND attempts = ? AND state = 'sending'",
        (phase, entry_id, owner, attempt),
    )


def finish_write(
    entry_id: str,
    owner: str,
    attempt: int,
    *,
    state: str,
    now: float,
    next_attempt_at: float | None,
    recipients: str | None,
    result: str | None,
    error: str | None,
) -> Write:
    """Store an attempt's outcome and release the lease, if *owner* still holds the lease
    of claim *attempt*."""
    return (
        "UPDATE entries SET state = ?, next_attempt_at = COALESCE(?, next_attempt_at), "
        "recipients = ?, result = ?, error = ?, handover = NULL, lease_owner = NULL, "
        "lease_until = NULL, updated_at = ? "
        "WHERE id = ? AND lease_owner = ? AND attempts = ? AND state = 'sending'",
        (state, next_attempt_at, recipients, result, error, now, entry_id, owner, attempt),
    )


def _rows(cursor: Iterable[Sequence[Any]]) -> list[Row]:
    return [Row(*r) for r in cursor]


class SchemaError(sqlite3.DatabaseError):
    """The file holds an outbox written by a newer mailsdk."""


class Store:
    """A SQLite outbox file; one connection per thread, opened on first use."""

    def __init__(self, path: str | os.PathLike[str], synchronous: Synchronous = "normal") -> None:
        if synchronous not in ("normal", "full"):
            raise ValueError('synchronous must be "normal" or "full"')
        self.path = os.fspath(path)
        self.synchronous = synchronous
        self._local = threading.local()
        self._pid = os.getpid()

    # -- connections -------------------------------------------------------------------

    def connection(self) -> sqlite3.Connection:
        """This thread's connection (a forked child opens its own)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None or self._pid != os.getpid():
            if self._pid != os.getpid():
                self._local = threading.local()
                self._pid = os.getpid()
            conn = self._open()
            self._local.conn = conn
        return conn

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=30.0)
        conn.execute("PRAGMA busy_timeout = 30000")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            conn.close()
            raise sqlite3.OperationalError(f"{self.path}: cannot use WAL mode (got {mode})")
        conn.execute(f"PRAGMA synchronous = {self.synchronous.upper()}")
        try:
            self._migrate(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _migrate(self, conn: sqlite3.Connection) -> None:
        with self.transaction(conn):
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise SchemaError(
                    f"{self.path} has outbox schema {version}; this mailsdk knows "
                    f"{SCHEMA_VERSION}: upgrade mailsdk"
                )
            if version < SCHEMA_VERSION:
                # One statement at a time: executescript() would COMMIT our transaction.
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                # Schema 1 -> 2: the route column (CREATE TABLE IF NOT EXISTS above leaves an
                # existing table as it was). Old entries keep NULL: the sender's main relays.
                columns = {row[1] for row in conn.execute("PRAGMA table_info(entries)")}
                if "route" not in columns:
                    conn.execute("ALTER TABLE entries ADD COLUMN route TEXT")
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    class _Tx:
        def __init__(self, conn: sqlite3.Connection) -> None:
            self.conn = conn

        def __enter__(self) -> sqlite3.Connection:
            self.conn.execute("BEGIN IMMEDIATE")
            return self.conn

        def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
            if exc_type is None:
                self.conn.execute("COMMIT")
            elif self.conn.in_transaction:
                self.conn.execute("ROLLBACK")

    def transaction(self, conn: sqlite3.Connection | None = None) -> Store._Tx:
        """``with store.transaction() as conn:`` one write transaction."""
        return Store._Tx(conn or self.connection())

    def close(self) -> None:
        """Close this thread's connection."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            del self._local.conn
            if self._pid == os.getpid():
                conn.close()

    # -- writing entries ---------------------------------------------------------------

    def insert(self, rows: Sequence[tuple[Any, ...]]) -> list[str]:
        """Insert ``(id, key, message, message_id, date, created_at, next_attempt_at, route)``
        rows in one transaction; a row whose key exists is skipped and the existing id
        returned."""
        entry_sql = (
            "INSERT INTO entries (rowid, id, key, state, message_id, date, created_at, "
            "next_attempt_at, updated_at, route) VALUES (?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (key) DO NOTHING"
        )
        body_sql = "INSERT INTO messages (entry_rowid, body) VALUES (?, ?)"

        def values(n: int, r: tuple[Any, ...]) -> tuple[Any, ...]:
            entry_id, key, _, message_id, date, created, due, route = r
            return (n, entry_id, key, message_id, date, created, due, created, route)

        with self.transaction() as conn:
            # Row numbers chosen here link an entry to its body without a look-up.
            last = conn.execute("SELECT COALESCE(MAX(rowid), 0) FROM entries").fetchone()[0]
            numbered = [(last + 1 + i, r) for i, r in enumerate(rows)]
            if all(r[1] is None for r in rows):
                conn.executemany(entry_sql, [values(n, r) for n, r in numbered])
                conn.executemany(body_sql, [(n, r[2]) for n, r in numbered])
                return [r[0] for r in rows]
            ids: list[str] = []
            for n, r in numbered:
                if conn.execute(entry_sql, values(n, r)).rowcount == 1:
                    conn.execute(body_sql, (n, r[2]))
                    ids.append(r[0])
                else:
                    found = conn.execute("SELECT id FROM entries WHERE key = ?", (r[1],))
                    ids.append(found.fetchone()[0])
            return ids

    def claim(self, owner: str, now: float, lease_until: float, limit: int) -> list[Row]:
        """Lease up to *limit* due queued entries to *owner*."""
        with self.transaction() as conn:
            claimed = conn.execute(
                "UPDATE entries SET state = 'sending', lease_owner = ?, lease_until = ?, "
                "attempts = attempts + 1, handover = NULL, updated_at = ? "
                "WHERE id IN (SELECT id FROM entries WHERE state = 'queued' "
                "AND next_attempt_at <= ? ORDER BY next_attempt_at LIMIT ?) RETURNING id",
                (owner, lease_until, now, now, limit),
            ).fetchall()
            if not claimed:
                return []
            marks = ", ".join("?" for _ in claimed)
            return _rows(
                conn.execute(
                    f"{_WITH_BODY} WHERE e.id IN ({marks})",
                    [c[0] for c in claimed],
                )
            )

    def recover_expired(self, now: float, resend_unknown: bool) -> int:
        """Return entries whose lease expired: to the queue if nothing was handed over (or
        the user chose at-least-once), else to ``unknown``. Returns how many."""
        unknown_state = "queued" if resend_unknown else "unknown"
        with self.transaction() as conn:
            cursor = conn.execute(
                "UPDATE entries SET "
                "state = CASE WHEN handover IS NULL THEN 'queued' ELSE ? END, "
                "error = CASE WHEN handover IS NULL THEN "
                "'the worker stopped before handing the message over; retried' "
                "ELSE 'the worker stopped after handing the message over (' || handover || "
                "'); it may have been delivered' END, "
                "next_attempt_at = ?, lease_owner = NULL, lease_until = NULL, updated_at = ? "
                "WHERE state = 'sending' AND lease_until < ?",
                (unknown_state, now, now, now),
            )
            return cursor.rowcount

    def renew(self, owner: str, lease_until: float) -> int:
        """Extend every lease *owner* holds."""
        with self.transaction() as conn:
            cursor = conn.execute(
                "UPDATE entries SET lease_until = ? WHERE lease_owner = ? AND state = 'sending'",
                (lease_until, owner),
            )
            return cursor.rowcount

    def mark_handover(self, entry_id: str, owner: str, attempt: int, phase: str) -> bool:
        """Record that *owner* is about to hand the entry over; False if it lost its lease."""
        return self.apply([handover_write(entry_id, owner, attempt, phase)])[0]

    def finish(self, entry_id: str, owner: str, attempt: int, **outcome: Any) -> bool:
        """Store the outcome of *owner*'s attempt; False if it no longer held the lease.
        See :func:`finish_write` for the keywords."""
        return self.apply([finish_write(entry_id, owner, attempt, **outcome)])[0]

    def apply(self, writes: Sequence[Write]) -> list[bool]:
        """Run single-row updates in one transaction (a group commit: one WAL write for
        many workers' hand-overs and outcomes). Each result says whether its row matched."""
        with self.transaction() as conn:
            return [conn.execute(sql, args).rowcount == 1 for sql, args in writes]

    def retry(self, entry_id: str, now: float) -> bool:
        """Make a queued, failed or unknown entry due now."""
        with self.transaction() as conn:
            cursor = conn.execute(
                "UPDATE entries SET state = 'queued', next_attempt_at = ?, updated_at = ? "
                "WHERE id = ? AND state IN ('queued', 'failed', 'unknown')",
                (now, now, entry_id),
            )
            return cursor.rowcount == 1

    def purge(self, states: Sequence[str], before: float | None) -> int:
        """Delete entries in *states* last updated before *before* (any time if None)."""
        marks = ", ".join("?" for _ in states)
        where = f"state IN ({marks})"
        args: list[Any] = list(states)
        if before is not None:
            where += " AND updated_at < ?"
            args.append(before)
        with self.transaction() as conn:
            bodies = f"SELECT rowid FROM entries WHERE {where}"  # noqa: S608 - placeholders
            conn.execute(f"DELETE FROM messages WHERE entry_rowid IN ({bodies})", args)  # noqa: S608
            return conn.execute(f"DELETE FROM entries WHERE {where}", args).rowcount  # noqa: S608

    # -- reading -----------------------------------------------------------------------

    def get(self, entry_id: str) -> Row | None:
        """The entry with this id (or this key), or None."""
        cursor = self.connection().execute(
            f"{_WITH_BODY} WHERE e.id = ? OR e.key = ?",
            (entry_id, entry_id),
        )
        rows = _rows(cursor)
        return rows[0] if rows else None

    def select(self, state: str | None, limit: int | None = None) -> Iterator[Row]:
        """Entries (in one state, or all) in the order they were stored, read in pages."""
        after = 0
        page = 500
        remaining = limit
        columns = _WITH_BODY.removeprefix("SELECT ")
        while remaining is None or remaining > 0:
            size = page if remaining is None else min(page, remaining)
            where = "e.rowid > ?"
            args: list[Any] = [after]
            if state is not None:
                where += " AND e.state = ?"
                args.append(state)
            found = (
                self.connection()
                .execute(
                    f"SELECT e.rowid, {columns} WHERE {where} ORDER BY e.rowid LIMIT ?",
                    (*args, size),
                )
                .fetchall()
            )
            yield from (Row(*r[1:]) for r in found)
            if len(found) < size:
                return
            after = found[-1][0]
            if remaining is not None:
                remaining -= len(found)

    def counts(self) -> dict[str, int]:
        """How many entries are in each state."""
        cursor = self.connection().execute("SELECT state, COUNT(*) FROM entries GROUP BY state")
        return {state: n for state, n in cursor}

    def pending_work(self, now: float) -> tuple[int, int, float | None]:
        """(due queued entries, leased entries, soonest lease expiry or next due time)."""
        conn = self.connection()
        due = conn.execute(
            "SELECT COUNT(*) FROM entries WHERE state = 'queued' AND next_attempt_at <= ?",
            (now,),
        ).fetchone()[0]
        leased, lease_end = conn.execute(
            "SELECT COUNT(*), MIN(lease_until) FROM entries WHERE state = 'sending'"
        ).fetchone()
        upcoming = conn.execute(
            "SELECT MIN(next_attempt_at) FROM entries WHERE state = 'queued'"
        ).fetchone()[0]
        soonest = min((t for t in (lease_end, upcoming) if t is not None), default=None)
        return int(due), int(leased), soonest
