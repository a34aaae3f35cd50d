"""The outbox's worker loop: claims, leases, hand-over records, group commits, outcomes.

:class:`~mailsdk.Outbox` keeps the queue; this module decides what one attempt's result or
error means for an entry (sent, refused, failed, unknown, or back to the queue with a
backoff) and writes it. See the :mod:`mailsdk.outbox` docstring for the guarantees.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import uuid
from collections.abc import Callable, Mapping
from dataclasses import fields
from typing import Any, Literal, TypeVar

from mailsdk._outbox_model import (
    OutboxLike,
    RecipientOutcome,
    RunStats,
    _ms,
    _recipients_from_json,
    _result_from_json,
)
from mailsdk._outbox_store import Row, Write, finish_write, handover_write
from mailsdk.errors import (
    ConfigurationError,
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
from mailsdk.result import Attempt, RecipientStatus, SendResult
from mailsdk.sender import AsyncSender, Sender, _override
from mailsdk.transports.base import Transport

__all__ = ["Worker", "transport_of"]

log = logging.getLogger("mailsdk.outbox")
T = TypeVar("T")


class _LeaseLost(Exception):
    """Another worker took the entry over (our lease expired): stop before handing it over."""


_ATTEMPT_FIELDS = tuple(f.name for f in fields(Attempt))


def _result_to_json(result: SendResult) -> str:
    # By hand rather than dataclasses.asdict, whose deep copy cost more than the write.
    return json.dumps(
        {
            "message_id": result.message_id,
            "relay": result.relay,
            "accepted": result.accepted,
            "refused": {addr: [s.code, s.text] for addr, s in result.refused.items()},
            "provider_id": result.provider_id,
            "attempts": [{f: getattr(a, f) for f in _ATTEMPT_FIELDS} for a in result.attempts],
        }
    )


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


def transport_of(sender: Sender | AsyncSender | Transport, route: str | None = None) -> Transport:
    """What the worker hands an entry of *route* to (None: the sender's main relays).

    ConfigurationError when *sender* has no such route (a bare Transport has none)."""
    if _override:  # mailsdk.testing's mail_outbox fixture catches everything
        return _override[-1]
    if isinstance(sender, Sender):
        sender = sender.async_sender
    if isinstance(sender, AsyncSender):
        return sender.delivery_transport_for(route)  # with its DKIM signer, if any
    if isinstance(sender, Transport):
        if route is not None:
            raise ConfigurationError(
                f"unknown route {route!r}: the outbox worker sends through the transport "
                f"{sender.name!r}, which has no routes (pass a Sender with routes=)"
            )
        return sender
    raise TypeError(f"expected a Sender, AsyncSender or Transport, got {type(sender).__name__}")


class Worker:
    """One run of the worker loop: its lease owner id, its group commits, its tasks."""

    def __init__(
        self, outbox: OutboxLike, sender: Sender | AsyncSender | Transport, concurrency: int
    ) -> None:
        self.outbox = outbox
        self.store = outbox._store
        self.sender = sender
        self.transport = transport_of(sender)
        self._routes: dict[str, Transport] = {}
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
        except Exception as exc:
            # A defect, not a relay's answer: the entry must not stay leased by this live
            # worker (run(until_empty=True) would wait for it forever), nor be retried in a
            # tight loop. It ends failed (retry() re-queues it), or unknown if handed over.
            log.exception("outbox entry %s: unexpected failure", row.id)
            self._release(row, crashed=exc)

    def _release(self, row: Row, crashed: Exception | None = None) -> None:
        current = self.store.get(row.id)
        if current is None or (current.lease_owner, current.attempts) != (
            self.owner,
            row.attempts,
        ):
            return
        now = self.outbox._now()
        handed = current.handover is not None
        if crashed is not None:
            state = "unknown" if handed else "failed"
            reason = f"internal error while sending: {type(crashed).__name__}: {crashed}"
        else:
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

    def _transport_for(self, route: str | None) -> Transport:
        if route is None:
            return self.transport
        transport = self._routes.get(route)
        if transport is None:
            transport = self._routes[route] = transport_of(self.sender, route)
        return transport

    async def _deliver_one(self, row: Row) -> None:
        try:
            transport = self._transport_for(row.route)
        except ConfigurationError as exc:
            # The sender's configuration is wrong, not the message: keep the entry (a fixed
            # sender sends it) and say so loudly; max_age still bounds how long it waits.
            log.error("outbox entry %s not sent: %s", row.id, exc)
            recipients = _recipients_from_json(row.recipients) or {}
            await self._requeue(
                row, recipients, _result_from_json(row.result), f"ConfigurationError: {exc}", None
            )
            return
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

        handed_over = False

        async def record_handover(_: OutgoingMessage) -> None:
            nonlocal handed_over
            handed = handover_write(row.id, self.owner, row.attempts, "handed_over")
            if not await self.write(handed):
                raise _LeaseLost(f"outbox entry {row.id}: lease lost before the hand-over")
            handed_over = True

        outgoing.on_handover = record_handover
        previous = _result_from_json(row.result)
        try:
            result = await transport.send(outgoing)
        except _LeaseLost as exc:
            log.warning("%s; another worker owns it now", exc)
            return
        except MailError as exc:
            await self._failed(row, recipients, previous, exc)
            return
        except Exception as exc:
            # A defect or a database error must not lose the entry, nor send it twice: once
            # the hand-over was recorded the message may be out, as after DeliveryUnknown.
            log.exception("outbox entry %s: send raised", row.id)
            error = f"{type(exc).__name__}: {exc}"
            if handed_over and self.outbox.on_unknown == "fail":
                await self._finish(
                    row, "unknown", error=error, recipients=recipients, result=previous
                )
            else:
                await self._requeue(row, recipients, previous, error, None)
            return
        merged = _merge(previous, result)
        for rcpt in result.accepted:
            recipients[rcpt] = RecipientOutcome("accepted", *_reply_of(result))
        self._sort_refusals(recipients, result.refused)
        await self._settle(row, recipients, merged, None, None)

    @staticmethod
    def _sort_refusals(
        recipients: dict[str, RecipientOutcome], refused: Mapping[str, RecipientStatus]
    ) -> None:
        for rcpt, refusal in refused.items():
            status: Literal["pending", "refused"] = "refused" if refusal.permanent else "pending"
            recipients[rcpt] = RecipientOutcome(status, refusal.code, refusal.text)

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
