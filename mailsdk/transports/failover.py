"""Retry and failover across relays: FailoverTransport and RoundRobinTransport.

A send walks the relays in order. Each relay gets up to ``RetryPolicy.attempts`` tries for
transient failures (tenacity: exponential backoff with jitter, Retry-After honoured, one
deadline for the whole send); a relay that is unusable or exhausted cools down for
``cooldown`` seconds and is skipped by later sends until then. Recipients are tracked one by
one: an accepted recipient is never sent to again, a permanently refused one is reported, and
a deferred (4xx) one is retried alone in a new transaction, then on the next relay.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from functools import partial

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    stop_any,
)
from tenacity.stop import stop_base

from mailsdk import telemetry
from mailsdk.config import ConfigurationError
from mailsdk.errors import (
    DeliveryFailed,
    DeliveryUnknown,
    MailError,
    MessageError,
    RecipientsRefused,
    RelayError,
    TransientError,
    attempt_outcome,
)
from mailsdk.events import (
    AttemptFailed,
    AttemptStarted,
    Delivered,
    Event,
    EventHandler,
    Failed,
    FailedOver,
    Retrying,
)
from mailsdk.mime import OutgoingMessage
from mailsdk.result import Attempt, RecipientStatus, SendResult
from mailsdk.retry import RetryPolicy
from mailsdk.transports.base import Transport, time_left

__all__ = ["FailoverTransport", "RoundRobinTransport"]

log = logging.getLogger("mailsdk")

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


class _Deferred(TransientError):
    """Some recipients were deferred (4xx) while others were accepted: retry those alone."""


def _is_group(relay: Transport) -> bool:
    """A failover group among the relays: its own attempts are the ones telemetry records."""
    return isinstance(relay, FailoverTransport)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _is_temporary(code: int) -> bool:
    return 400 <= code < 500


@dataclass
class _SendState:
    """What one send has achieved so far, across attempts and relays."""

    outgoing: OutgoingMessage
    pending: OutgoingMessage
    deadline: float | None = None
    """The ``time.monotonic()`` value the whole send ends by, passed to every relay."""
    accepted: list[str] = field(default_factory=list)
    refused: dict[str, RecipientStatus] = field(default_factory=dict)
    deferred: dict[str, RecipientStatus] = field(default_factory=dict)
    attempts: list[Attempt] = field(default_factory=list)
    errors: list[MailError] = field(default_factory=list)
    results: list[SendResult] = field(default_factory=list)
    unknown: DeliveryUnknown | None = None
    relay: str | None = None
    provider_id: str | None = None

    def record_result(self, result: SendResult) -> None:
        self.results.append(result)
        self.attempts.extend(result.attempts)
        self.accepted.extend(result.accepted)
        self.relay = self.relay or result.relay
        self.provider_id = self.provider_id or result.provider_id
        self._sort_refusals(result.refused)

    def record_refusals(self, error: RecipientsRefused) -> None:
        self._sort_refusals(error.refused)

    def _sort_refusals(self, refused: dict[str, RecipientStatus]) -> None:
        everyone = self.outgoing.envelope.rcpt_to
        if not (refused or self.refused or self.deferred) and set(self.accepted).issuperset(
            everyone
        ):
            # Every recipient accepted (the common case): nothing is left to sort.
            self.pending = self.outgoing.restricted_to(())
            return
        for rcpt, status in refused.items():
            if _is_temporary(status.code):
                self.deferred[rcpt] = status
            else:
                self.refused[rcpt] = status
                self.deferred.pop(rcpt, None)
        done = set(self.accepted) | set(self.refused)
        left = [r for r in self.pending.envelope.rcpt_to if r not in done]
        self.pending = self.outgoing.restricted_to(left)
        for rcpt in done:
            self.deferred.pop(rcpt, None)


class FailoverTransport(Transport):
    """Tries relays in order, retrying transient failures, until one accepts the message.

    Args:
        transports: the relays, most preferred first. Any Transport, a FailoverTransport
            included, may be one of them.
        retry: the RetryPolicy for each relay (attempts, backoff, deadline, on_unknown).
        cooldown: seconds a relay that failed is skipped by later sends. When every relay is
            cooling down, they are tried anyway, the one whose cooldown ends first first.
        on_event: called with each :mod:`mailsdk.events` event; may be async.
        clock, sleep: injectable time sources (tests use fakes; nothing sleeps for real).
    """

    def __init__(
        self,
        transports: Sequence[Transport],
        *,
        retry: RetryPolicy | None = None,
        cooldown: float = 30.0,
        on_event: EventHandler | None = None,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        name: str | None = None,
    ) -> None:
        if not transports:
            raise ConfigurationError("a failover list needs at least one transport")
        if cooldown < 0:
            raise ConfigurationError("cooldown must not be negative")
        self.transports = list(transports)
        self.retry = retry or RetryPolicy()
        self.cooldown = cooldown
        self.on_event = on_event
        self._clock = clock
        self._sleep = sleep
        self._cooling_until: dict[int, float] = {}
        self.name = name or ", ".join(t.name for t in self.transports)

    # -- relay order ---------------------------------------------------------------------

    def _arrange(self, healthy: list[int]) -> list[int]:
        return healthy

    def relay_order(self) -> list[Transport]:
        """The relays in the order the next send will try them."""
        return [self.transports[i] for i in self._order()]

    def _order(self) -> list[int]:
        now = self._clock()
        until = self._cooling_until
        healthy = [i for i in range(len(self.transports)) if until.get(i, 0.0) <= now]
        cooling = sorted((i for i in until if until[i] > now), key=lambda i: until[i])
        return self._arrange(healthy) + cooling

    def _cool(self, index: int, error: MailError) -> None:
        if self.cooldown and isinstance(error, (TransientError, RelayError)):
            self._cooling_until[index] = self._clock() + self.cooldown
            log.warning(
                "relay %s cools down for %.0f s after %s",
                self.transports[index].name,
                self.cooldown,
                type(error).__name__,
            )

    # -- sending -------------------------------------------------------------------------

    async def send(self, outgoing: OutgoingMessage, *, deadline: float | None = None) -> SendResult:
        """Deliver through the first relay that accepts; see the class docstring.

        The send ends by the nearer of *deadline* and the retry policy's own."""
        observer = telemetry._observer
        if observer is not None and observer.recording():
            return await observer.send(self, outgoing, partial(self._send, deadline=deadline))
        return await self._send(outgoing, deadline=deadline)

    async def _send(self, outgoing: OutgoingMessage, *, deadline: float | None) -> SendResult:
        if self.retry.deadline is not None:
            ours = time.monotonic() + self.retry.deadline
            # A nested failover keeps the outer, nearer deadline.
            deadline = ours if deadline is None else min(deadline, ours)
        state = _SendState(outgoing=outgoing, pending=outgoing, deadline=deadline)
        order = self._order()
        previous: Transport | None = None
        position = 0
        while position < len(order):
            index = order[position]
            position += 1
            relay = self.transports[index]
            if previous is relay:  # at-least-once on the only relay: not a failover
                log.warning("sending %s once more to %s", outgoing.message_id, relay.name)
            elif previous is not None:
                reason = type(state.errors[-1]).__name__ if state.errors else "deferred"
                log.warning("failing over from %s to %s (%s)", previous.name, relay.name, reason)
                await self._emit(FailedOver(outgoing.message_id, previous.name, relay.name, reason))
            previous = relay
            try:
                await self._try_relay(relay, state)
            except _Deferred as exc:
                state.errors.append(exc)  # the rest go to the next relay
            except RecipientsRefused as exc:
                state.errors.append(exc)  # refusals were sorted when the attempt failed
            except DeliveryUnknown as exc:
                state.errors.append(exc)
                if self.retry.on_unknown == "fail" or state.unknown is not None:
                    state.unknown = exc
                    break  # at most once more in total: a second unknown ends the send
                # At-least-once: the message goes once more, to the *next* relay (the first
                # again after the last; the same one when there is only one), never back to
                # the relay that lost the reply right away.
                state.unknown = exc
                if position == len(order):
                    order.append(order[0] if order[0] != index or len(order) == 1 else order[1])
            except MessageError as exc:
                if exc.relay is None:  # bad input: no relay will take it
                    exc.attempts = list(state.attempts)
                    raise
                state.errors.append(exc)  # only this relay lacks something (SMTPUTF8)
            except MailError as exc:
                state.errors.append(exc)
                self._cool(index, exc)
            else:
                self._cooling_until.pop(index, None)
            if not state.pending.envelope.rcpt_to:
                break
        return await self._finish(state)

    async def _finish(self, state: _SendState) -> SendResult:
        """The one place a send's result (or its error) is made from what the attempts did."""
        outgoing = state.outgoing
        refused = {**state.refused, **state.deferred}
        if state.accepted:
            only = state.results[0] if len(state.results) == 1 else None
            if only is not None and only.attempts == state.attempts and not state.refused:
                result = only  # one attempt did it all: its result is the answer
            else:
                result = SendResult(
                    message_id=outgoing.message_id,
                    relay=state.relay or self.name,
                    accepted=state.accepted,
                    refused=refused,
                    provider_id=state.provider_id,
                    attempts=state.attempts,
                )
            if self._listened():
                await self._emit(Delivered(outgoing.message_id, result))
            return result
        error: MailError
        content_errors = [e for e in state.errors if isinstance(e, MessageError)]
        if state.unknown is not None:
            # The message may have arrived: saying it failed would invite a resend.
            error = state.unknown
        elif refused and not state.pending.envelope.rcpt_to and not state.deferred:
            error = RecipientsRefused(refused, relay=state.relay)
        elif content_errors and len(content_errors) == len(state.errors):
            # Every relay refused the message for what it is (it needs SMTPUTF8 and none
            # offers it): the caller's error, not a delivery failure to retry later.
            error = MessageError(
                f"no relay can take {outgoing.message_id}: {content_errors[-1].message}"
            )
            error.__cause__ = content_errors[-1]
        else:
            error = DeliveryFailed(
                f"no relay delivered {outgoing.message_id} "
                f"({_count(len(state.attempts), 'attempt')} on "
                f"{_count(len(self.transports), 'relay')})",
                state.attempts,
                state.errors,
            )
            if state.errors:
                error.__cause__ = state.errors[-1]
        error.attempts = list(state.attempts)
        log.error("delivery of %s failed: %s", outgoing.message_id, error.message)
        await self._emit(Failed(outgoing.message_id, error))
        raise error

    async def _try_relay(self, relay: Transport, state: _SendState) -> None:
        """Up to ``RetryPolicy.attempts`` tries on *relay*; every wait between two tries is
        tenacity's (backoff, Retry-After, the deadline), logged and emitted in one place."""
        policy = self.retry
        outgoing = state.outgoing
        retry_after: list[float | None] = [None]

        def retryable(exc: BaseException) -> bool:
            if isinstance(exc, DeliveryFailed):
                return False  # a nested failover already retried
            if isinstance(exc, RecipientsRefused):
                # Only the deferred (4xx) ones are still pending; retry them alone.
                return any(_is_temporary(s.code) for s in exc.refused.values())
            if isinstance(exc, DeliveryUnknown):
                return False  # never back to the relay that lost the reply (see send)
            if isinstance(exc, TransientError):
                retry_after[0] = exc.retry_after
                return exc.retry_after is None or exc.retry_after <= policy.max_retry_after
            return False

        # The first try runs before any tenacity machinery is built: most sends succeed at
        # once, and building an AsyncRetrying (with its per-call class and callbacks) costs
        # more CPU than a pipelined SMTP transaction. A failure that may be retried hands the
        # same exception to tenacity as its first attempt, so waits, stops, Retrying events
        # and attempt numbers are exactly those of a send that went through tenacity throughout.
        try:
            await self._attempt(relay, state, 1)
            return
        except BaseException as exc:  # tenacity's attempt sees every exception too
            if not retryable(exc) or policy.attempts <= 1:
                raise
            first = exc

        # Built only now: a class made per send costs more than the rest of a sent message's
        # bookkeeping, and most sends never get here.
        class _OutOfTime(stop_base):
            """Stop when the send's deadline would pass during the next wait."""

            def __call__(self, rs: RetryCallState) -> bool:
                return time_left(state.deadline, float("inf")) <= (rs.upcoming_sleep or 0.0)

        async def before_sleep(rs: RetryCallState) -> None:
            delay = rs.upcoming_sleep
            log.info("retrying %s on %s in %.2f s", outgoing.message_id, relay.name, delay)
            await self._emit(Retrying(outgoing.message_id, relay.name, rs.attempt_number, delay))

        retrying = AsyncRetrying(
            stop=stop_any(stop_after_attempt(policy.attempts), _OutOfTime()),
            wait=lambda rs: policy.delay_for(rs.attempt_number, retry_after[0]),
            retry=retry_if_exception(retryable),
            sleep=self._sleep,
            before_sleep=before_sleep,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                number = attempt.retry_state.attempt_number
                if number == 1:
                    raise first  # the try made above: tenacity decides on it as on any other
                await self._attempt(relay, state, number)

    async def _attempt(self, relay: Transport, state: _SendState, number: int) -> None:
        pending = state.pending
        message_id = state.outgoing.message_id
        if self._listened():  # no event is built for nobody
            await self._emit(
                AttemptStarted(message_id, relay.name, number, pending.envelope.rcpt_to)
            )
        start = time.perf_counter()
        try:
            observer = telemetry._observer
            if observer is not None and observer.in_send() and not _is_group(relay):
                result = await observer.attempt(relay, pending, deadline=state.deadline)
            else:
                result = await relay.send(pending, deadline=state.deadline)
        except DeliveryFailed as exc:
            state.attempts.extend(exc.attempts)
            raise
        except MailError as exc:
            failed = Attempt(
                relay=exc.relay or relay.name,
                outcome=attempt_outcome(exc),
                code=exc.code,
                enhanced_code=exc.enhanced_code,
                text=exc.server_text or exc.message,
                duration=time.perf_counter() - start,
                error=type(exc).__name__,
            )
            state.attempts.append(failed)
            log.warning(
                "attempt %d of %s on %s failed: %s",
                number,
                message_id,
                relay.name,
                failed.describe(),
            )
            await self._emit(AttemptFailed(message_id, failed, exc))
            if isinstance(exc, RecipientsRefused):
                state.record_refusals(exc)
            raise
        state.record_result(result)
        if state.pending.envelope.rcpt_to:
            raise _Deferred(
                f"{len(state.pending.envelope.rcpt_to)} recipients deferred",
                relay=relay.name,
            )

    def _listened(self) -> bool:
        """True when the per-attempt events (started, delivered) would reach someone: only the
        on_event callback reads them (telemetry reads failovers and retries, always emitted)."""
        return self.on_event is not None

    async def _emit(self, event: Event) -> None:
        observer = telemetry._observer
        if observer is not None:
            observer.on_event(event)
        if self.on_event is None:
            return
        try:
            outcome = self.on_event(event)
            if inspect.isawaitable(outcome):
                await outcome
        except Exception:
            log.exception("on_event callback failed for %s", type(event).__name__)

    async def aclose(self) -> None:
        """Close every relay."""
        for transport in self.transports:
            await transport.aclose()


class RoundRobinTransport(FailoverTransport):
    """Spreads sends across relays in turn; a failing relay is failed over like in
    :class:`FailoverTransport`, and skipped by the rotation while it cools down."""

    def __init__(self, transports: Sequence[Transport], **kwargs: object) -> None:
        super().__init__(transports, **kwargs)  # type: ignore[arg-type]
        self._turn = 0

    def _arrange(self, healthy: list[int]) -> list[int]:
        if not healthy:
            return healthy
        start = self._turn % len(healthy)
        self._turn += 1
        return healthy[start:] + healthy[:start]
