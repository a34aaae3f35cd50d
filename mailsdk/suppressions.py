"""One suppression list across every relay: addresses not to mail again, and why.

Fed by hard bounces, complaints and unsubscribes from every provider's webhooks
(:meth:`Suppressions.record`) and by SMTP per-recipient refusals with a 5.1.x code
(:meth:`Suppressions.record_refusals`); honoured by ``Sender(..., suppressions=...)``, which
refuses a suppressed recipient before any I/O. Stored in SQLite (WAL), in its own tables, so
it may share a file with the outbox. The same database remembers the webhook event ids already
handled, so that a provider's retry of an event is dropped.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from mailsdk.errors import ConfigurationError, RecipientsRefused
from mailsdk.transports.base import Transport

if TYPE_CHECKING:
    from mailsdk.mime import OutgoingMessage
    from mailsdk.result import RecipientStatus, SendResult
    from mailsdk.webhooks import DeliveryEvent

__all__ = [
    "SuppressingTransport",
    "Suppression",
    "Suppressions",
    "normalize_address",
    "send_honouring",
    "without_suppressed",
]

log = logging.getLogger("mailsdk")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS mailsdk_suppressions (
    address TEXT PRIMARY KEY,
    reason TEXT NOT NULL,
    source TEXT NOT NULL,
    since REAL NOT NULL,
    detail TEXT
);
CREATE TABLE IF NOT EXISTS mailsdk_webhook_events (
    provider TEXT NOT NULL,
    event_id TEXT NOT NULL,
    seen_at REAL NOT NULL,
    PRIMARY KEY (provider, event_id)
);
CREATE INDEX IF NOT EXISTS mailsdk_webhook_events_seen ON mailsdk_webhook_events (seen_at);
"""

# Event ids are kept longer than any provider retries (SendGrid: 24 h), then forgotten.
_SEEN_FOR = timedelta(days=7)
_REASONS = {"complained": "complaint", "unsubscribed": "unsubscribe"}


def normalize_address(address: str) -> str:
    """The key an address is stored under: trimmed, without angle brackets, lower-cased, the
    domain IDNA-encoded when it is not ASCII.

    RFC 5321 lets a server treat local parts case-sensitively, but mailbox providers do not,
    and webhooks report addresses in whatever case they like: a list that missed ``Jane@`` for
    ``jane@`` would keep mailing a bounced address, which costs more than the theoretical
    ``Jane`` and ``jane`` being two people."""
    value = address.strip()
    if value.startswith("<") and value.endswith(">"):
        value = value[1:-1].strip()
    local, at, domain = value.rpartition("@")
    if not at or not local or not domain:
        raise ValueError(f"not an email address: {address!r:.100}")
    domain = domain.rstrip(".").lower()
    if not domain.isascii():
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError:
            raise ValueError(f"not an email address: {address!r:.100}") from None
    return f"{local.lower()}@{domain}"


@dataclass(frozen=True, slots=True)
class Suppression:
    """One address on the list.

    Attributes:
        address: the normalised address.
        reason: ``hard_bounce``, ``complaint``, ``unsubscribe``, ``smtp_refusal``, ``manual``...
        source: where it came from (a provider name, a relay name, ``cli``, ``manual``).
        since: when it was added (aware UTC).
        detail: the provider's or server's words, when known.
    """

    address: str
    reason: str
    source: str
    since: datetime
    detail: str | None = None

    def describe(self) -> str:
        """One line: why and since when (used in the refusal a Sender reports)."""
        tail = f": {self.detail}" if self.detail else ""
        since = self.since.isoformat(timespec="seconds")
        return f"suppressed since {since} ({self.reason} from {self.source}){tail}"


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Suppressions:
    """The suppression list in a SQLite file (``Suppressions("mail.sqlite3")``).

    Thread-safe; one connection per instance. ``clock`` returns an aware datetime (tests
    inject one). Use as a context manager or call :meth:`close`.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.path = os.fspath(path)
        self._clock = clock
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = self._open()

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
        try:
            if self.path != ":memory:":
                db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA busy_timeout=30000")
            db.executescript(_SCHEMA)
        except BaseException:
            db.close()
            raise
        return db

    @property
    def _db(self) -> sqlite3.Connection:
        """The connection (callers hold ``_lock``), opened again after :meth:`close`: a
        sender that closed the list it owns may be used again, as its relays may."""
        if self._connection is None:
            if self.path == ":memory:":
                raise sqlite3.ProgrammingError("this in-memory suppression list is closed")
            self._connection = self._open()
        return self._connection

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _now(self) -> float:
        return self._clock().timestamp()

    @staticmethod
    def _row(row: tuple[str, str, str, float, str | None]) -> Suppression:
        address, reason, source, since, detail = row
        return Suppression(
            address, reason, source, datetime.fromtimestamp(since, timezone.utc), detail
        )

    def add(
        self,
        address: str,
        reason: str = "manual",
        source: str = "manual",
        *,
        detail: str | None = None,
        since: datetime | None = None,
    ) -> Suppression:
        """Put *address* on the list (an address already there keeps its first entry)."""
        key = normalize_address(address)
        stamp = since.timestamp() if since else self._now()
        with self._transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO mailsdk_suppressions VALUES (?, ?, ?, ?, ?)",
                (key, reason, source, stamp, detail),
            )
            row = db.execute(
                "SELECT * FROM mailsdk_suppressions WHERE address = ?", (key,)
            ).fetchone()
        return self._row(row)

    def remove(self, address: str) -> bool:
        """Take *address* off the list; True when it was on it."""
        key = normalize_address(address)
        with self._transaction() as db:
            cursor = db.execute("DELETE FROM mailsdk_suppressions WHERE address = ?", (key,))
        return cursor.rowcount > 0

    def check(self, address: str) -> Suppression | None:
        """The entry for *address*, or None when it may be mailed."""
        return self.check_many([address]).get(address)

    def check_many(self, addresses: Iterable[str]) -> dict[str, Suppression]:
        """The suppressed ones among *addresses* (keys as given) in one query."""
        keys: dict[str, list[str]] = {}
        for address in addresses:
            try:
                keys.setdefault(normalize_address(address), []).append(address)
            except ValueError:
                continue
        if not keys:
            return {}
        found: dict[str, Suppression] = {}
        with self._lock:
            names = list(keys)
            for start in range(0, len(names), 500):
                chunk = names[start : start + 500]
                marks = ",".join("?" * len(chunk))
                for row in self._db.execute(
                    # Only "?" placeholders are formatted in; the values are bound.
                    f"SELECT * FROM mailsdk_suppressions WHERE address IN ({marks})",  # noqa: S608
                    chunk,
                ):
                    entry = self._row(row)
                    for given in keys[entry.address]:
                        found[given] = entry
        return found

    def entries(self) -> list[Suppression]:
        """Every entry, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM mailsdk_suppressions ORDER BY since, address"
            ).fetchall()
        return [self._row(row) for row in rows]

    def __len__(self) -> int:
        with self._lock:
            (count,) = self._db.execute("SELECT count(*) FROM mailsdk_suppressions").fetchone()
        return int(count)

    def seen(self, provider: str, event_ids: Iterable[str]) -> set[str]:
        """The subset of *event_ids* already recorded for *provider* (webhook replays)."""
        ids = list(dict.fromkeys(event_ids))
        out: set[str] = set()
        with self._lock:
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                marks = ",".join("?" * len(chunk))
                out.update(
                    row[0]
                    for row in self._db.execute(
                        f"SELECT event_id FROM mailsdk_webhook_events WHERE provider = ? AND event_id IN ({marks})",  # noqa: E501, S608
                        [provider, *chunk],
                    )
                )
        return out

    def record(self, events: Iterable[DeliveryEvent]) -> list[Suppression]:
        """Store what *events* say, in one transaction: hard bounces, complaints and
        unsubscribes put their recipient on the list, and every event id is remembered so a
        replay is dropped. Returns the entries added (addresses already listed are not)."""
        batch = list(events)
        now = self._now()
        added: list[Suppression] = []
        with self._transaction() as db:
            db.execute(
                "DELETE FROM mailsdk_webhook_events WHERE seen_at < ?",
                (now - _SEEN_FOR.total_seconds(),),
            )
            for event in batch:
                if event.event_id:
                    db.execute(
                        "INSERT OR IGNORE INTO mailsdk_webhook_events VALUES (?, ?, ?)",
                        (event.provider, event.event_id, now),
                    )
                if not event.suppresses or not event.recipient:
                    continue
                try:
                    key = normalize_address(event.recipient)
                except ValueError:
                    continue
                reason = _REASONS.get(event.kind, "hard_bounce")
                detail = " ".join(p for p in (event.code, event.reason) if p) or None
                cursor = db.execute(
                    "INSERT OR IGNORE INTO mailsdk_suppressions VALUES (?, ?, ?, ?, ?)",
                    (key, reason, event.provider, event.timestamp.timestamp(), detail),
                )
                if cursor.rowcount:
                    added.append(Suppression(key, reason, event.provider, event.timestamp, detail))
        return added

    def record_refusals(self, outcome: SendResult | RecipientsRefused) -> list[Suppression]:
        """Suppress the recipients a relay refused for good as bad addresses: a 5xx reply
        whose enhanced code is 5.1.x (no such mailbox, bad domain...). Other refusals (policy,
        full mailbox, temporary) are not address problems and are left alone."""
        relay = getattr(outcome, "relay", None) or "smtp"
        added = []
        for address, status in outcome.refused.items():
            code = status.enhanced_code or ""
            if status.permanent and 500 <= status.code < 600 and code.startswith("5.1."):
                before = self.check(address)
                entry = self.add(
                    address, "smtp_refusal", relay, detail=f"{status.code} {status.text}"
                )
                if before is None:
                    added.append(entry)
        return added

    def close(self) -> None:
        """Close the database connection; a file's list opens it again on next use."""
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    def __enter__(self) -> Suppressions:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Suppressions({self.path!r})"


def without_suppressed(
    suppressions: Suppressions, outgoing: OutgoingMessage
) -> tuple[OutgoingMessage, dict[str, RecipientStatus]]:
    """*outgoing* restricted to the envelope recipients not on the list, and a refusal for
    each one that is (saying why and since when). Used by the Sender before any I/O; a
    message with ``ignore_suppressions=True`` is returned unchanged."""
    from mailsdk.result import refusal

    if outgoing.message.ignore_suppressions:
        return outgoing, {}
    listed = suppressions.check_many(outgoing.envelope.rcpt_to)
    if not listed:
        return outgoing, {}
    blocked = {
        address: refusal(address, 550, entry.describe()) for address, entry in listed.items()
    }
    keep = [address for address in outgoing.envelope.rcpt_to if address not in listed]
    return outgoing.restricted_to(keep), blocked


async def send_honouring(
    suppressions: Suppressions,
    transport: Transport,
    outgoing: OutgoingMessage,
    relay: str,
    *,
    deadline: float | None = None,
) -> SendResult:
    """Send *outgoing* through *transport* as a Sender with ``suppressions=`` does: listed
    recipients refused before any I/O (all of them: RecipientsRefused, no connection), and the
    recipients the relay refuses as bad addresses (5.1.x) added to the list afterwards."""
    kept, blocked = without_suppressed(suppressions, outgoing)
    if not kept.envelope.rcpt_to:
        raise RecipientsRefused(blocked, relay=relay)
    try:
        result = await transport.send(kept, deadline=deadline)
    except RecipientsRefused as exc:
        _learn(suppressions, exc)
        if blocked:
            exc.refused = {**blocked, **exc.refused}
        raise
    _learn(suppressions, result)
    return dataclasses.replace(result, refused={**blocked, **result.refused}) if blocked else result


class SuppressingTransport(Transport):
    """*transport* behind a suppression list (:func:`send_honouring` for every send).

    A sender with ``suppressions=`` hands its messages to one of these, and so does the outbox
    worker that sends through that sender, so no path mails a suppressed address.
    """

    def __init__(self, transport: Transport, suppressions: Suppressions) -> None:
        self.transport = transport
        self.suppressions = suppressions
        self.name = transport.name

    async def send(self, outgoing: OutgoingMessage, *, deadline: float | None = None) -> SendResult:
        """Send to the recipients the list does not hold; see :func:`send_honouring`."""
        return await send_honouring(
            self.suppressions, self.transport, outgoing, self.name, deadline=deadline
        )

    async def aclose(self) -> None:
        """Close the wrapped transport."""
        await self.transport.aclose()


def _learn(suppressions: Suppressions, outcome: SendResult | RecipientsRefused) -> None:
    # The message went (or was refused); a failing list must not turn that into an error.
    try:
        suppressions.record_refusals(outcome)
    except (sqlite3.Error, ValueError):
        log.exception("could not record refused recipients in the suppression list")


def open_setting(path: str | os.PathLike[str], setting: str) -> Suppressions:
    """The list at *path*, opened for the configuration *setting* that names it; a file that
    cannot be opened (sqlite3.Error, OSError) is a ConfigurationError naming the setting and
    the file."""
    try:
        return Suppressions(path)
    except Exception as exc:
        raise ConfigurationError(
            f"{setting}: cannot open {os.fspath(path)!r} ({type(exc).__name__}: {exc})"
        ) from None
