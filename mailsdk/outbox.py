"""Outbox: a durable queue in a SQLite file that keeps mail until it is delivered or refused.

```python
outbox = Outbox("outbox.sqlite3")
entry_id = outbox.enqueue(msg)               # durable when it returns
with Sender("smtp://relay.example.com:587") as sender:
    outbox.run(sender, concurrency=16)       # until nothing is due and nothing is leased
```

An entry is ``queued`` (also while scheduled or backing off), ``sending`` (leased by a
worker), then ``sent``, ``refused`` (every recipient permanently refused), ``failed`` (a
permanent error, or transient ones for longer than ``max_age``) or ``unknown`` (the worker
may have handed the message over and then lost the reply, or died). The promise is the SMTP
one (DESIGN.md decision 11): a committed entry is never lost, and by default never sent twice.

How a crash is told apart from a send: a worker leases the entries it claims and renews the
lease while it sends. Right before the point of no return (SMTP's final dot, an HTTP
provider's request) every transport awaits ``OutgoingMessage.handing_over()``; the worker's
``on_handover`` hook records the hand-over durably there, only if it still holds the lease.
When a lease expires, the entry goes back to the queue if nothing was handed over, else to
``unknown`` (or back to the queue with ``on_unknown="retry"``, at-least-once, with the same
Message-ID).
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Any, Literal, TypeVar, get_args

from mailsdk import telemetry
from mailsdk._outbox_model import (
    RecipientOutcome,
    RunStats,
    _ms,
    _recipients_from_json,
    _result_from_json,
)
from mailsdk._outbox_store import Row, Store, Synchronous
from mailsdk._outbox_worker import Worker
from mailsdk.errors import (
    MessageError,
)
from mailsdk.message import Message
from mailsdk.result import SendResult
from mailsdk.sender import AsyncSender, Sender
from mailsdk.transports.base import Transport

__all__ = ["EntryState", "Outbox", "OutboxEntry", "RecipientOutcome", "RunStats"]

log = logging.getLogger("mailsdk.outbox")

EntryState = Literal["queued", "sending", "sent", "refused", "failed", "unknown"]
"""Where an entry is in its life (see the module docstring)."""

_STATES: tuple[str, ...] = get_args(EntryState)
_FINAL = ("sent", "refused", "failed", "unknown")
T = TypeVar("T")


@dataclass(frozen=True)
class OutboxEntry:
    """One message in the outbox, as last stored.

    Attributes:
        id: the entry's id (returned by :meth:`Outbox.enqueue`).
        key: the idempotency key it was enqueued with, or None.
        state: see :data:`EntryState`.
        attempts: how many times a worker claimed it.
        created_at, next_attempt_at, updated_at: aware UTC datetimes.
        message_id: the Message-ID every attempt uses (receivers can de-duplicate on it).
        result: the SendResult of the attempts that reached a relay (merged across attempts),
            or None.
        error: the last error, or why the entry ended ``failed``/``unknown``, or None.
        recipients: each envelope recipient's outcome (empty before the first attempt).
        handover: ``"handed_over"`` while a worker has passed (or is about to pass) the
            point of no return and has not stored the outcome yet; None otherwise.
        route: the sender route (``Sender(routes=...)``) the entry is sent through, or None
            for the sender's main relays.
    """

    id: str
    key: str | None
    state: EntryState
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    updated_at: datetime
    message_id: str
    result: SendResult | None
    error: str | None
    recipients: Mapping[str, RecipientOutcome] = field(default_factory=dict)
    handover: str | None = None
    route: str | None = None
    _message_json: str = field(default="", repr=False)

    @property
    def message(self) -> Message:
        """The stored message (validated again from its JSON)."""
        return Message.model_validate_json(self._message_json)


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, timezone.utc)


def _system_clock() -> datetime:
    return datetime.now(timezone.utc)


def _as_message(message: Message | Mapping[str, Any]) -> Message:
    if isinstance(message, Message):
        return message
    if isinstance(message, Mapping):
        return Message.model_validate(dict(message))
    raise MessageError(f"expected a Message or a mapping, got {type(message).__name__}")


def _entry(row: Row) -> OutboxEntry:
    return OutboxEntry(
        id=row.id,
        key=row.key,
        state=row.state,  # type: ignore[arg-type]
        attempts=row.attempts,
        created_at=_utc(row.created_at),
        next_attempt_at=_utc(row.next_attempt_at),
        updated_at=_utc(row.updated_at),
        message_id=row.message_id,
        result=_result_from_json(row.result),
        error=row.error,
        recipients=_recipients_from_json(row.recipients),
        handover=row.handover,
        route=row.route,
        _message_json=row.message,
    )


def _new_ids(count: int, now: float) -> list[str]:
    """Entry ids that sort by creation time (48-bit milliseconds, then 80 random bits, like
    UUIDv7): SQLite appends them to its indexes instead of inserting all over the tree."""
    prefix = f"{int(now * 1000):012x}"
    noise = os.urandom(10 * count).hex()
    return [prefix + noise[i * 20 : i * 20 + 20] for i in range(count)]


def _seconds(value: timedelta | float) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class Outbox:
    """A durable outbox in one SQLite file (WAL mode), created on first use.

    Args:
        path: the database file.
        lease: seconds a worker's claim on an entry lasts without renewal; a live worker
            renews it every third of that while it sends.
        on_unknown: ``"fail"`` (at-most-once, the default): an entry whose worker may have
            handed it over and then lost the reply or died ends ``unknown`` and is never
            re-sent; ``"retry"`` (at-least-once) queues it again, with the same Message-ID.
        max_age: how long an entry may keep failing transiently before it ends ``failed``.
        min_backoff, max_backoff: the first wait after a transient failure, doubling per
            attempt up to the longest (a server's Retry-After makes it longer).
        synchronous: ``"normal"``: an entry survives the process being killed as soon as
            :meth:`enqueue` returns, and a power loss once SQLite checkpoints (fast);
            ``"full"``: it survives power loss at once (one fsync per transaction).
        clock: returns the current time as an aware datetime (tests inject one).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        lease: float = 60.0,
        on_unknown: Literal["fail", "retry"] = "fail",
        max_age: timedelta | float = timedelta(days=3),
        min_backoff: timedelta | float = timedelta(minutes=1),
        max_backoff: timedelta | float = timedelta(hours=4),
        synchronous: Synchronous = "normal",
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        if on_unknown not in ("fail", "retry"):
            raise ValueError('on_unknown must be "fail" or "retry"')
        if lease <= 0:
            raise ValueError("lease must be positive")
        self.path = os.fspath(path)
        self.lease = float(lease)
        self.on_unknown = on_unknown
        self.max_age = _seconds(max_age)
        self.min_backoff = _seconds(min_backoff)
        self.max_backoff = _seconds(max_backoff)
        if self.max_age <= 0 or self.min_backoff < 0 or self.max_backoff < self.min_backoff:
            raise ValueError("max_age must be positive and min_backoff <= max_backoff")
        self._clock = clock or _system_clock
        self._store = Store(self.path, synchronous)
        self._store.connection()  # create the file and check its schema now
        telemetry.track_outbox(self)  # the depth gauge, when telemetry is on

    def _now(self) -> float:
        now = self._clock()
        if now.tzinfo is None:
            raise ValueError("the outbox clock must return timezone-aware datetimes")
        return _ms(now.timestamp())

    # -- enqueueing --------------------------------------------------------------------

    def enqueue(
        self,
        message: Message | Mapping[str, Any],
        *,
        send_at: datetime | None = None,
        key: str | None = None,
        route: str | None = None,
    ) -> str:
        """Store *message* for sending; durable when this returns. Returns the entry's id.

        ``send_at`` (timezone-aware) schedules it; ``key`` makes the call idempotent: a key
        already in the outbox returns the existing entry's id and stores nothing. ``route``
        names the route of the worker's sender (``Sender(routes={"bulk": ...})``) the entry
        is sent through; None: its main relays. A worker whose sender lacks that route keeps
        the entry queued and logs a ConfigurationError (see :meth:`run`).
        """
        return self.enqueue_many([message], send_at=send_at, keys=[key], route=route)[0]

    def enqueue_many(
        self,
        messages: Iterable[Message | Mapping[str, Any]],
        *,
        send_at: datetime | None = None,
        keys: Sequence[str | None] | None = None,
        route: str | None = None,
    ) -> list[str]:
        """Store many messages in one transaction (all or none); one id per message, in
        order. ``keys``, if given, has one idempotency key (or None) per message; ``route``
        (as in :meth:`enqueue`) applies to every message."""
        if route is not None and (not isinstance(route, str) or not route.strip()):
            raise MessageError(f"route must be a non-empty route name, not {route!r}")
        if send_at is not None and (
            not isinstance(send_at, datetime) or send_at.utcoffset() is None
        ):
            raise MessageError("send_at must be a timezone-aware datetime")
        batch = [_as_message(m) for m in messages]
        if keys is not None and len(keys) != len(batch):
            raise MessageError(f"{len(keys)} keys for {len(batch)} messages")
        now_dt = self._clock()
        now = self._now()
        due = _ms(send_at.timestamp()) if send_at is not None else now
        date = format_datetime(now_dt.astimezone(timezone.utc))
        rows = []
        ids = _new_ids(len(batch), now)
        for index, msg in enumerate(batch):
            key = keys[index] if keys is not None else None
            if key is not None and (not isinstance(key, str) or not key):
                raise MessageError("an idempotency key must be a non-empty string")
            fixed = {k.lower(): v for k, v in msg.headers.items()} if msg.headers else {}
            # Unique because the entry id is; and it names the entry in bounce reports.
            message_id = (
                fixed.get("message-id", "").strip()
                or f"<{ids[index]}@{msg.sender.envelope.rpartition('@')[2]}>"
            )
            rows.append(
                (
                    ids[index],
                    key,
                    msg.model_dump_json(),
                    message_id,
                    fixed.get("date") or date,
                    now,
                    due,
                    route,
                )
            )
        if not rows:
            return []
        return self._store.insert(rows)

    # -- looking -----------------------------------------------------------------------

    def get(self, entry_id: str) -> OutboxEntry | None:
        """The entry with this id (or idempotency key), or None."""
        row = self._store.get(entry_id)
        return _entry(row) if row else None

    def entries(
        self, state: EntryState | None = None, *, limit: int | None = None
    ) -> Iterator[OutboxEntry]:
        """Entries in creation order, all or those in *state*."""
        if state is not None and state not in _STATES:
            raise ValueError(f"state must be one of {', '.join(_STATES)}")
        for row in self._store.select(state, limit):
            yield _entry(row)

    def counts(self) -> dict[str, int]:
        """How many entries are in each state (every state present, zeros included)."""
        found = self._store.counts()
        return {s: found.get(s, 0) for s in _STATES}

    # -- managing ----------------------------------------------------------------------

    def retry(self, entry_id: str) -> bool:
        """Make a queued, failed or unknown entry due now. False if there is no such entry
        in one of those states (a sent entry is never re-sent)."""
        row = self._store.get(entry_id)
        return row is not None and self._store.retry(row.id, self._now())

    def purge(
        self,
        state: EntryState | Sequence[EntryState] = ("sent", "refused"),
        *,
        older_than: timedelta | None = None,
    ) -> int:
        """Delete finished entries in *state* last updated more than *older_than* ago.
        Returns how many. Entries that are queued or being sent cannot be purged."""
        states = [state] if isinstance(state, str) else list(state)
        for s in states:
            if s not in _FINAL:
                raise ValueError(f"only finished entries can be purged ({', '.join(_FINAL)})")
        before = self._now() - older_than.total_seconds() if older_than is not None else None
        return self._store.purge(states, before)

    def close(self) -> None:
        """Close this thread's database connection (it reopens on next use)."""
        self._store.close()

    def __repr__(self) -> str:
        return f"Outbox({self.path!r})"

    # -- backoff -----------------------------------------------------------------------

    def retry_delay(self, attempts: int, retry_after: float | None = None) -> float:
        """Seconds to wait after *attempts* failed attempts: ``min_backoff`` doubling up to
        ``max_backoff``, plus up to 10 % jitter, and at least the server's Retry-After."""
        base = min(self.max_backoff, self.min_backoff * 2.0 ** max(0, attempts - 1))
        delay = base * (1.0 + random.uniform(0.0, 0.1))  # noqa: S311 - spreading, not secrecy
        if retry_after is not None:
            delay = max(delay, retry_after)
        return delay

    # -- the worker ----------------------------------------------------------------------

    def run(
        self,
        sender: Sender | AsyncSender | Transport,
        *,
        concurrency: int = 16,
        until_empty: bool = True,
        poll_interval: float = 1.0,
    ) -> RunStats:
        """Send queued entries through *sender* until nothing is due and nothing is leased
        (``until_empty=True``), or forever. See :meth:`arun`. A ``Sender`` runs the worker on
        its own event-loop thread, so its connection pool is reused.

        An entry enqueued with ``route=`` goes through that route of *sender*. If *sender*
        has no such route (or is a bare Transport), that is a configuration error, not the
        message's: the entry stays queued and is retried with the usual backoff, the
        ConfigurationError is logged and kept as the entry's ``error``, so fixing the
        sender's routes sends it; only after ``max_age`` does it end ``failed``."""
        coro = self.arun(
            sender, concurrency=concurrency, until_empty=until_empty, poll_interval=poll_interval
        )
        if isinstance(sender, Sender):
            finished = threading.Event()

            async def guarded() -> RunStats:
                try:
                    return await coro
                finally:
                    finished.set()

            future = asyncio.run_coroutine_threadsafe(guarded(), sender._loop().loop)
            try:
                return future.result()
            except BaseException:
                # Ctrl-C: cancel the worker and wait until it has put the entries it holds
                # back in the queue, rather than leaving them to their leases' expiry.
                future.cancel()
                finished.wait(30)
                raise
        return asyncio.run(coro)

    async def arun(
        self,
        sender: Sender | AsyncSender | Transport,
        *,
        concurrency: int = 16,
        until_empty: bool = True,
        poll_interval: float = 1.0,
    ) -> RunStats:
        """The worker loop: claim due entries, send up to *concurrency* at once, store each
        outcome. Returns the counts when ``until_empty`` and no entry is due or leased."""
        worker = Worker(self, sender, max(1, concurrency))
        return await worker.run(until_empty=until_empty, poll_interval=poll_interval)
