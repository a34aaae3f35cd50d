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
import contextlib
import json
import logging
import math
import os
import random
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Any, Literal, NamedTuple, TypeVar, get_args

from mailsdk._outbox_store import Row, Store, Synchronous, Write, finish_write, handover_write
from mailsdk.errors import (
    DeliveryFailed,
    DeliveryUnknown,
    MailError,
    MessageError,
    PermanentError,
    RecipientsRefused,
    TransientError,
)
from mailsdk.message import Message
from mailsdk.mime import OutgoingMessage
from mailsdk.result import Attempt, SendResult
from mailsdk.sender import AsyncSender, Sender, _override
from mailsdk.transports.base import Transport

__all__ = ["EntryState", "Outbox", "OutboxEntry", "RecipientOutcome", "RunStats"]

log = logging.getLogger("mailsdk.outbox")

EntryState = Literal["queued", "sending", "sent", "refused", "failed", "unknown"]
"""Where an entry is in its life (see the module docstring)."""

_STATES: tuple[str, ...] = get_args(EntryState)
_FINAL = ("sent", "refused", "failed", "unknown")
T = TypeVar("T")


class RecipientOutcome(NamedTuple):
    """What happened to one envelope recipient: ``pending`` (not yet accepted, or deferred
    with a 4xx), ``accepted`` or ``refused`` (5xx), with the relay's last code and text."""

    status: Literal["pending", "accepted", "refused"]
    code: int | None = None
    text: str | None = None


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
    _message_json: str = field(default="", repr=False)

    @property
    def message(self) -> Message:
        """The stored message (validated again from its JSON)."""
        return Message.model_validate_json(self._message_json)


@dataclass
class RunStats:
    """What one :meth:`Outbox.run` did: entries finished per state, and retries scheduled."""

    sent: int = 0
    refused: int = 0
    failed: int = 0
    unknown: int = 0
    requeued: int = 0
    recovered: int = 0
    """Entries whose worker had died, returned to the queue or marked unknown."""


class _LeaseLost(Exception):
    """Another worker took the entry over (our lease expired): stop before handing it over."""


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


_ATTEMPT_FIELDS = tuple(f.name for f in fields(Attempt))


def _result_to_json(result: SendResult) -> str:
    # By hand rather than dataclasses.asdict, whose deep copy cost more than the write.
    return json.dumps(
        {
            "message_id": result.message_id,
            "relay": result.relay,
            "accepted": result.accepted,
            "refused": result.refused,
            "provider_id": result.provider_id,
            "attempts": [{f: getattr(a, f) for f in _ATTEMPT_FIELDS} for a in result.attempts],
        }
    )


def _result_from_json(text: str | None) -> SendResult | None:
    if not text:
        return None
    data = json.loads(text)
    data["attempts"] = [Attempt(**a) for a in data.get("attempts", [])]
    data["refused"] = {k: (v[0], v[1]) for k, v in data.get("refused", {}).items()}
    return SendResult(**data)


def _recipients_from_json(text: str | None) -> dict[str, RecipientOutcome]:
    if not text:
        return {}
    return {k: RecipientOutcome(*v) for k, v in json.loads(text).items()}


def _merge(previous: SendResult | None, new: SendResult) -> SendResult:
    if previous is None:
        return new
    return SendResult(
        message_id=new.message_id,
        relay=new.relay,
        accepted=[*previous.accepted, *new.accepted],
        refused={
            **{k: v for k, v in previous.refused.items() if k not in new.accepted},
            **new.refused,
        },
        provider_id=new.provider_id or previous.provider_id,
        attempts=[*previous.attempts, *new.attempts],
    )


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
        _message_json=row.message,
    )


def _unknown_inside(exc: MailError) -> bool:
    if isinstance(exc, DeliveryUnknown):
        return True
    return isinstance(exc, DeliveryFailed) and any(
        isinstance(e, DeliveryUnknown) for e in exc.errors
    )


def _permanent(exc: MailError) -> bool:
    """True when retrying later cannot help (the message itself is refused everywhere)."""
    if isinstance(exc, MessageError):
        return True
    if isinstance(exc, PermanentError) and not isinstance(exc, RecipientsRefused):
        return True
    if isinstance(exc, DeliveryFailed):
        return bool(exc.errors) and all(
            _permanent(e) and not isinstance(e, DeliveryFailed) for e in exc.errors
        )
    return False


def _retry_after(exc: BaseException) -> float | None:
    if isinstance(exc, TransientError):
        return exc.retry_after
    if isinstance(exc, DeliveryFailed):
        found = [r for e in exc.errors if (r := _retry_after(e)) is not None]
        return max(found) if found else None
    return None


def _new_ids(count: int, now: float) -> list[str]:
    """Entry ids that sort by creation time (48-bit milliseconds, then 80 random bits, like
    UUIDv7): SQLite appends them to its indexes instead of inserting all over the tree."""
    prefix = f"{int(now * 1000):012x}"
    noise = os.urandom(10 * count).hex()
    return [prefix + noise[i * 20 : i * 20 + 20] for i in range(count)]


def _ms(timestamp: float) -> float:
    """Stored times are whole milliseconds, so a stored time and the datetime shown for it
    (microsecond resolution) compare equal. Rounded down: "due now" is never in the future."""
    return math.floor(timestamp * 1000) / 1000


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
    ) -> str:
        """Store *message* for sending; durable when this returns. Returns the entry's id.

        ``send_at`` (timezone-aware) schedules it; ``key`` makes the call idempotent: a key
        already in the outbox returns the existing entry's id and stores nothing.
        """
        return self.enqueue_many([message], send_at=send_at, keys=[key])[0]

    def enqueue_many(
        self,
        messages: Iterable[Message | Mapping[str, Any]],
        *,
        send_at: datetime | None = None,
        keys: Sequence[str | None] | None = None,
    ) -> list[str]:
        """Store many messages in one transaction (all or none); one id per message, in
        order. ``keys``, if given, has one idempotency key (or None) per message."""
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
        its own event-loop thread, so its connection pool is reused."""
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
        worker = _Worker(self, _transport_of(sender), max(1, concurrency))
        return await worker.run(until_empty=until_empty, poll_interval=poll_interval)


def _transport_of(sender: Sender | AsyncSender | Transport) -> Transport:
    if _override:  # mailsdk.testing's mail_outbox fixture catches everything
        return _override[-1]
    if isinstance(sender, Sender):
        return sender.async_sender.transport
    if isinstance(sender, AsyncSender):
        return sender.transport
    if isinstance(sender, Transport):
        return sender
    raise TypeError(f"expected a Sender, AsyncSender or Transport, got {type(sender).__name__}")


class _Worker:
    """One run of the worker loop: its lease owner id, its group commits, its tasks."""

    def __init__(self, outbox: Outbox, transport: Transport, concurrency: int) -> None:
        self.outbox = outbox
        self.store = outbox._store
        self.transport = transport
        self.concurrency = concurrency
        self.owner = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
        self.stats = RunStats()
        self._writes: list[tuple[Write, asyncio.Future[bool]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def db(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        # Run on the loop thread, on purpose: each call is one short transaction (tens of
        # microseconds in WAL mode), and a thread hop per call cost more than the call,
        # mostly in GIL hand-offs that delayed the sends. Writes are group-committed
        # (:meth:`write`), so the loop blocks once per batch, not once per message.
        await asyncio.sleep(0)
        return fn(*args, **kwargs)

    async def write(self, statement: Write) -> bool:
        """Run *statement* in the next group commit; True if its row matched."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[bool] = loop.create_future()
        self._writes.append((statement, done))
        if self._flusher is None or self._flusher.done():
            self._flusher = loop.create_task(self._flush())
        return await done

    async def _flush(self) -> None:
        # Writes that arrive while one batch commits form the next batch, so the number of
        # transactions follows the disk, not the number of messages.
        while self._writes:
            batch, self._writes = self._writes, []
            try:
                matched = await self.db(self.store.apply, [w for w, _ in batch])
            except Exception as exc:
                for _, done in batch:
                    if not done.done():
                        done.set_exception(exc)
                continue
            for (_, done), ok in zip(batch, matched, strict=True):
                if not done.done():
                    done.set_result(ok)

    async def run(self, *, until_empty: bool, poll_interval: float) -> RunStats:
        inflight: set[asyncio.Task[None]] = set()
        renewer = asyncio.get_running_loop().create_task(self._renew_leases())
        # Expired leases are looked for now and then (a lease lasts `lease` seconds, so
        # checking a few times per lease is enough) and whenever the worker runs dry.
        recover_every = min(self.outbox.lease / 4, 5.0)
        next_recovery = float("-inf")
        try:
            while True:
                now = self.outbox._now()
                if now >= next_recovery or not inflight:
                    self.stats.recovered += await self.db(
                        self.store.recover_expired, now, self.outbox.on_unknown == "retry"
                    )
                    next_recovery = now + recover_every
                free = self.concurrency - len(inflight)
                rows: list[Row] = []
                # Claim in batches (a quarter of the slots at least) rather than one by one.
                if free >= max(1, self.concurrency // 4) or (free > 0 and not inflight):
                    rows = await self.db(
                        self.store.claim, self.owner, now, now + self.outbox.lease, free
                    )
                for row in rows:
                    task = asyncio.get_running_loop().create_task(self._deliver(row))
                    inflight.add(task)
                    task.add_done_callback(inflight.discard)
                if rows and len(inflight) < self.concurrency:
                    continue  # more may be due
                if inflight:
                    await asyncio.wait(
                        inflight, timeout=poll_interval, return_when=asyncio.FIRST_COMPLETED
                    )
                    continue
                due, leased, soonest = await self.db(self.store.pending_work, now)
                if until_empty and not due and not leased:
                    return self.stats
                wait = poll_interval
                if soonest is not None:
                    wait = min(wait, max(0.0, soonest - now))
                await asyncio.sleep(wait)
        finally:
            renewer.cancel()
            if inflight:
                for task in inflight:
                    task.cancel()
                await asyncio.gather(*inflight, return_exceptions=True)
            with contextlib.suppress(asyncio.CancelledError):
                await renewer
            if self._flusher is not None:
                with contextlib.suppress(Exception):
                    await self._flusher
            self.store.close()  # this thread's connection; it reopens on next use

    async def _renew_leases(self) -> None:
        while True:
            await asyncio.sleep(self.outbox.lease / 3)
            try:
                await self.db(self.store.renew, self.owner, self.outbox._now() + self.outbox.lease)
            except Exception:
                log.exception("renewing outbox leases failed")

    async def _deliver(self, row: Row) -> None:
        try:
            await self._deliver_one(row)
        except asyncio.CancelledError:
            # Stopped mid-send: the entry goes back now rather than after its lease. If it
            # was being handed over, whether it arrived is unknown.
            self._release(row)
            raise
        except Exception:
            log.exception("outbox entry %s: unexpected failure", row.id)

    def _release(self, row: Row) -> None:
        current = self.store.get(row.id)
        if current is None or (current.lease_owner, current.attempts) != (
            self.owner,
            row.attempts,
        ):
            return
        now = self.outbox._now()
        handed = current.handover is not None
        state = "unknown" if handed and self.outbox.on_unknown == "fail" else "queued"
        reason = (
            f"the worker stopped after handing the message over ({current.handover}); "
            "it may have been delivered"
            if handed
            else "the worker stopped before handing the message over"
        )
        self.store.finish(
            row.id,
            self.owner,
            row.attempts,
            state=state,
            now=now,
            next_attempt_at=now,
            recipients=current.recipients,
            result=current.result,
            error=reason,
        )

    async def _deliver_one(self, row: Row) -> None:
        try:
            message = Message.model_validate_json(row.message)
            outgoing = OutgoingMessage(message, message_id=row.message_id, date=row.date)
        except MailError as exc:
            await self._finish(row, "failed", error=f"the stored message is invalid: {exc}")
            return
        except ValueError as exc:
            await self._finish(row, "failed", error=f"the stored message is unreadable: {exc}")
            return
        recipients = _recipients_from_json(row.recipients) or {
            r: RecipientOutcome("pending") for r in outgoing.envelope.rcpt_to
        }
        pending = [r for r, o in recipients.items() if o.status == "pending"]
        if len(pending) != len(outgoing.envelope.rcpt_to):
            outgoing = outgoing.restricted_to(pending)

        async def record_handover(_: OutgoingMessage) -> None:
            handed = handover_write(row.id, self.owner, row.attempts, "handed_over")
            if not await self.write(handed):
                raise _LeaseLost(f"outbox entry {row.id}: lease lost before the hand-over")

        outgoing.on_handover = record_handover
        previous = _result_from_json(row.result)
        try:
            result = await self.transport.send(outgoing)
        except _LeaseLost as exc:
            log.warning("%s; another worker owns it now", exc)
            return
        except MailError as exc:
            await self._failed(row, recipients, previous, exc)
            return
        except Exception as exc:
            # Nothing was handed over unless the hand-over was recorded, and then the
            # lease's expiry decides; a bug or a database error must not lose the entry.
            log.exception("outbox entry %s: send raised", row.id)
            await self._requeue(row, recipients, previous, f"{type(exc).__name__}: {exc}", None)
            return
        merged = _merge(previous, result)
        for rcpt in result.accepted:
            recipients[rcpt] = RecipientOutcome("accepted", *_reply_of(result))
        self._sort_refusals(recipients, result.refused)
        await self._settle(row, recipients, merged, None, None)

    @staticmethod
    def _sort_refusals(
        recipients: dict[str, RecipientOutcome], refused: Mapping[str, tuple[int, str]]
    ) -> None:
        for rcpt, (code, text) in refused.items():
            status: Literal["pending", "refused"] = "pending" if 400 <= code < 500 else "refused"
            recipients[rcpt] = RecipientOutcome(status, code, text)

    async def _failed(
        self,
        row: Row,
        recipients: dict[str, RecipientOutcome],
        previous: SendResult | None,
        exc: MailError,
    ) -> None:
        error = f"{type(exc).__name__}: {exc}"
        if _unknown_inside(exc):
            if self.outbox.on_unknown == "retry":
                await self._requeue(row, recipients, previous, error, None)
            else:
                await self._finish(
                    row, "unknown", error=error, recipients=recipients, result=previous
                )
            return
        if isinstance(exc, RecipientsRefused):
            self._sort_refusals(recipients, exc.refused)
            await self._settle(row, recipients, previous, error, None)
            return
        if _permanent(exc):
            await self._finish(row, "failed", error=error, recipients=recipients, result=previous)
            return
        await self._requeue(row, recipients, previous, error, _retry_after(exc))

    async def _settle(
        self,
        row: Row,
        recipients: dict[str, RecipientOutcome],
        result: SendResult | None,
        error: str | None,
        retry_after: float | None,
    ) -> None:
        """Final state from the recipients, or a retry for those still pending."""
        statuses = {o.status for o in recipients.values()}
        if "pending" in statuses:
            deferred = sum(o.status == "pending" for o in recipients.values())
            reason = error or f"{deferred} recipients deferred"
            await self._requeue(row, recipients, result, reason, retry_after)
        elif "accepted" in statuses:
            await self._finish(row, "sent", error=None, recipients=recipients, result=result)
        else:
            await self._finish(
                row,
                "refused",
                error=error or "every recipient was refused",
                recipients=recipients,
                result=result,
            )

    async def _requeue(
        self,
        row: Row,
        recipients: dict[str, RecipientOutcome],
        result: SendResult | None,
        error: str,
        retry_after: float | None,
    ) -> None:
        now = self.outbox._now()
        delay = self.outbox.retry_delay(row.attempts, retry_after)
        if now + delay > row.created_at + self.outbox.max_age:
            await self._finish(
                row,
                "failed",
                error=f"gave up after {row.attempts} attempts (max_age reached): {error}",
                recipients=recipients,
                result=result,
            )
            return
        log.info("outbox entry %s: retrying in %.0f s: %s", row.id, delay, error)
        await self._finish(
            row,
            "queued",
            error=error,
            recipients=recipients,
            result=result,
            next_attempt_at=_ms(now + delay),
        )

    async def _finish(
        self,
        row: Row,
        state: str,
        *,
        error: str | None,
        recipients: Mapping[str, RecipientOutcome] | None = None,
        result: SendResult | None = None,
        next_attempt_at: float | None = None,
    ) -> None:
        stored = await self.write(
            finish_write(
                row.id,
                self.owner,
                row.attempts,
                state=state,
                now=self.outbox._now(),
                next_attempt_at=next_attempt_at,
                recipients=json.dumps(recipients) if recipients else None,
                result=_result_to_json(result) if result is not None else None,
                error=error,
            )
        )
        if not stored:
            log.warning(
                "outbox entry %s: lease lost before its outcome (%s) was stored", row.id, state
            )
            return
        if state == "queued":
            self.stats.requeued += 1
        else:
            setattr(self.stats, state, getattr(self.stats, state) + 1)


def _reply_of(result: SendResult) -> tuple[int | None, str | None]:
    delivered = [a for a in result.attempts if a.outcome == "delivered"]
    return (delivered[-1].code, delivered[-1].text) if delivered else (None, None)
