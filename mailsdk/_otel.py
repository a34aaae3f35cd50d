"""The OpenTelemetry side of mailsdk.telemetry: imported only by ``instrument()``.

It never puts an address, a subject, a server's reply text or an exception's message on a
span or a metric: server replies and our error messages name recipients. Errors are
described by their class, SMTP/HTTP code and enhanced status code instead.
"""

from __future__ import annotations

import contextvars
import functools
import importlib
import logging
import os
import re
import time
from collections.abc import Awaitable, Callable, Iterable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from opentelemetry import metrics, trace
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.trace import SpanKind, Status, StatusCode

from mailsdk.errors import (
    DeliveryUnknown,
    MailError,
    RecipientsRefused,
    attempt_outcome,
)
from mailsdk.events import Event, FailedOver, Retrying

if TYPE_CHECKING:
    from mailsdk.mime import OutgoingMessage
    from mailsdk.result import SendResult
    from mailsdk.transports.base import Transport

log = logging.getLogger("mailsdk")

_SCOPE = "mailsdk"
_HTTP_STATUS = "http.response.status_code"
_SMTP_STATUS = "mailsdk.smtp.status_code"
_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*://)[^/@]*@")
# graph://reports%40contoso.com: the mailbox is the host part; only its domain is shown.
_MAILBOX_HOST = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*://)[^/%]*%40")


@functools.lru_cache(maxsize=256)  # a process has a handful of relays; asked on every send
def relay_label(name: str) -> str:
    """A relay's display name as telemetry shows it: without the user part (often an
    address) and without a mailbox's local part. A failover group's comma-separated name is
    shown relay by relay."""
    return ", ".join(
        _MAILBOX_HOST.sub(r"\1", _USERINFO.sub(r"\1", part)) for part in name.split(", ")
    )


def transport_kind(relay: Transport) -> str:
    """``smtp``, ``smtps``, ``sendgrid``, ``memory``...: the URL scheme, else the class."""
    return _kind(type(relay), relay.name)


@functools.lru_cache(maxsize=256)
def _kind(cls: type, name: str) -> str:
    scheme, sep, _ = name.partition("://")
    if sep and scheme.isascii() and scheme.replace("+", "").replace("-", "").isalnum():
        return scheme.lower()
    kind = cls.__name__.lower()
    return kind.removesuffix("transport") or kind


@functools.lru_cache(maxsize=64)
def _is_http(relay_class: type) -> bool:
    # By name: importing the HTTP base here would tie this module into the import graph.
    return any(cls.__name__ == "HTTPTransport" for cls in relay_class.__mro__)


def _safe_description(exc: BaseException) -> str:
    """The class and codes of *exc*: its message may name recipients."""
    parts = [type(exc).__name__]
    if isinstance(exc, MailError):
        parts += [str(p) for p in (exc.code, exc.enhanced_code) if p is not None]
    return " ".join(parts)


def _send_outcome(exc: BaseException) -> str:
    if isinstance(exc, RecipientsRefused):
        return "refused"
    if isinstance(exc, DeliveryUnknown):
        return "unknown"
    return "failed"


def _attempt_outcome(exc: BaseException) -> str:
    """The Attempt outcome failover.py gives *exc*; ``error`` when it is not a MailError."""
    if isinstance(exc, MailError):
        return attempt_outcome(exc)
    return "error"  # a bug, or a cancellation


@dataclass
class _SendRecord:
    """What the attempts of the send being observed did (the send span's summary)."""

    tracer: trace.Tracer | None
    instruments: _Instruments | None
    attempts: int = 0
    failovers: int = 0
    retries: int = 0
    size: int | None = None


_current: contextvars.ContextVar[_SendRecord | None] = contextvars.ContextVar(
    "mailsdk_telemetry_send", default=None
)


class _Instruments:
    """The meter's instruments, made once per meter provider."""

    def __init__(self, meter: metrics.Meter, outboxes: Iterable[Any]) -> None:
        self.sends = meter.create_counter(
            "mailsdk.sends", unit="{send}", description="Sends finished, by outcome."
        )
        self.attempts = meter.create_counter(
            "mailsdk.attempts", unit="{attempt}", description="Tries at a relay, by outcome."
        )
        self.failovers = meter.create_counter(
            "mailsdk.failovers",
            unit="{failover}",
            description="Times a send moved on to the next relay.",
        )
        self.retries = meter.create_counter(
            "mailsdk.retries", unit="{retry}", description="Retries of the same relay."
        )
        self.refused = meter.create_counter(
            "mailsdk.recipients.refused",
            unit="{recipient}",
            description="Recipients a send ended without delivering to (refused or deferred).",
        )
        self.send_duration = meter.create_histogram(
            "mailsdk.send.duration",
            unit="s",
            description="Duration of a send, every retry and failover included.",
        )
        self.attempt_duration = meter.create_histogram(
            "mailsdk.attempt.duration", unit="s", description="Duration of one try at a relay."
        )
        self._outboxes = outboxes
        meter.create_observable_gauge(
            "mailsdk.outbox.depth",
            callbacks=[self._outbox_depth],
            unit="{entry}",
            description="Outbox entries waiting to be sent (queued or being sent).",
        )

    def _outbox_depth(self, options: CallbackOptions) -> Iterable[Observation]:
        found = []
        for outbox in list(self._outboxes):
            try:
                counts = outbox.counts()
            except Exception:  # a closed or deleted database must not break the export
                log.debug("outbox depth of %s unavailable", outbox.path, exc_info=True)
                continue
            depth = counts.get("queued", 0) + counts.get("sending", 0)
            # The absolute path: two outboxes with one file name in different folders stay apart.
            found.append(Observation(depth, {"mailsdk.outbox": os.path.abspath(outbox.path)}))
        return found


def _is_proxy(provider: object) -> bool:
    # The API's stand-ins until the SDK sets a global provider (the meter's one is private).
    return isinstance(provider, trace.ProxyTracerProvider) or (
        type(provider).__name__ == "_ProxyMeterProvider"
    )


_UNKNOWN = object()


def _unset_check(module: Any, variable: str, environment: str) -> Callable[[], bool]:
    """A test that is True while no global provider has been set: while the API module's
    *variable* is still None.

    That variable is private, but reading it takes nanoseconds where the public getter
    takes microseconds (it reads the environment each time), and an unconfigured process
    asks on every send. When the variable is missing (another API version) or the
    environment names a provider class (which the getter loads), the public getter decides.
    """
    if environment in os.environ or getattr(module, variable, _UNKNOWN) is _UNKNOWN:
        return lambda: False
    return lambda: getattr(module, variable) is None


class Observer:
    """Spans and metrics for the failover core; see :mod:`mailsdk.telemetry`."""

    def __init__(
        self,
        *,
        tracer_provider: Any,
        meter_provider: Any,
        clock: Callable[[], float] | None,
        outboxes: Iterable[Any],
    ) -> None:
        self._tracer_provider = tracer_provider
        self._meter_provider = meter_provider
        self._clock = clock or time.perf_counter
        self._outboxes = outboxes
        self._tracer: trace.Tracer | None = None
        self._instruments: _Instruments | None = None
        self._tracing_off = False
        self._metrics_off = False
        self._settled = False
        self._no_global_tracer = _unset_check(
            trace, "_TRACER_PROVIDER", "OTEL_PYTHON_TRACER_PROVIDER"
        )
        self._no_global_meter = _unset_check(
            importlib.import_module("opentelemetry.metrics._internal"),
            "_METER_PROVIDER",
            "OTEL_PYTHON_METER_PROVIDER",
        )
        self._refresh()  # an SDK set up already: the outbox gauge exists before any send

    # -- providers -----------------------------------------------------------------------

    def _refresh(self) -> None:
        """Resolve the providers while they are the API's stand-ins (the SDK may be set up
        after instrument()); once both are real, or no-ops, this is never done again."""
        if self._tracer is None and not self._tracing_off:
            tp: Any = self._tracer_provider
            if tp is None and not self._no_global_tracer():
                tp = trace.get_tracer_provider()
            if tp is None or _is_proxy(tp):
                pass  # nothing set yet: ask again at the next send
            elif isinstance(tp, trace.NoOpTracerProvider):
                self._tracing_off = True
            else:
                self._tracer = tp.get_tracer(_SCOPE, _version())
        if self._instruments is None and not self._metrics_off:
            mp: Any = self._meter_provider
            if mp is None and not self._no_global_meter():
                mp = metrics.get_meter_provider()
            if mp is None or _is_proxy(mp):
                pass
            elif isinstance(mp, metrics.NoOpMeterProvider):
                self._metrics_off = True
            else:
                self._instruments = _Instruments(mp.get_meter(_SCOPE, _version()), self._outboxes)
        self._settled = (self._tracer is not None or self._tracing_off) and (
            self._instruments is not None or self._metrics_off
        )

    # -- hooks called by FailoverTransport -----------------------------------------------

    def recording(self) -> bool:
        """True when a provider records: the core skips every hook (and its coroutine)
        otherwise, so an instrumented process without an SDK pays this call per send."""
        if not self._settled:
            self._refresh()
        return self._tracer is not None or self._instruments is not None

    def in_send(self) -> bool:
        """True inside a send being recorded (its attempts are then recorded too)."""
        return _current.get() is not None

    async def send(
        self,
        transport: Transport,
        outgoing: OutgoingMessage,
        run: Callable[[OutgoingMessage], Awaitable[SendResult]],
    ) -> SendResult:
        """Run one send (*run*) inside a ``mailsdk.send`` span, and count it."""
        if _current.get() is not None:  # a failover group inside another: one send
            return await run(outgoing)
        tracer, instruments = self._tracer, self._instruments
        if tracer is None and instruments is None:
            return await run(outgoing)
        record = _SendRecord(tracer, instruments)
        token = _current.set(record)
        span_cm: AbstractContextManager[Any] = nullcontext()
        if tracer is not None:
            span_cm = tracer.start_as_current_span(
                "mailsdk.send",
                kind=SpanKind.INTERNAL,
                attributes={
                    "mailsdk.relays": relay_label(transport.name),
                    "mailsdk.recipients.count": len(outgoing.envelope.rcpt_to),
                },
                record_exception=False,
                set_status_on_exception=False,
            )
        start = self._clock()
        try:
            with span_cm as span:
                try:
                    result = await run(outgoing)
                except BaseException as exc:
                    self._send_failed(span, record, exc, self._clock() - start)
                    raise
                self._send_done(span, record, result, self._clock() - start)
                return result
        finally:
            _current.reset(token)

    def _send_done(
        self, span: Any, record: _SendRecord, result: SendResult, elapsed: float
    ) -> None:
        outcome = "partial" if result.refused else "delivered"
        relay = relay_label(result.relay)
        if span is not None and span.is_recording():
            span.set_attributes(
                {
                    "mailsdk.outcome": outcome,
                    "mailsdk.relay": relay,
                    "mailsdk.recipients.accepted": len(result.accepted),
                    "mailsdk.recipients.refused": len(result.refused),
                    "mailsdk.attempts": record.attempts,
                    "mailsdk.failovers": record.failovers,
                    "mailsdk.retries": record.retries,
                }
            )
            if record.size is not None:
                span.set_attribute("mailsdk.message.size", record.size)
        if record.instruments is not None:
            record.instruments.sends.add(1, {"mailsdk.outcome": outcome})
            record.instruments.send_duration.record(elapsed, {"mailsdk.outcome": outcome})
            if result.refused:
                record.instruments.refused.add(len(result.refused), {"mailsdk.relay": relay})

    def _send_failed(
        self, span: Any, record: _SendRecord, exc: BaseException, elapsed: float
    ) -> None:
        outcome = _send_outcome(exc)
        refused = len(exc.refused) if isinstance(exc, RecipientsRefused) else 0
        relay = relay_label(exc.relay) if isinstance(exc, MailError) and exc.relay else None
        if span is not None and span.is_recording():
            attributes: dict[str, Any] = {
                "mailsdk.outcome": outcome,
                "mailsdk.recipients.accepted": 0,
                "mailsdk.recipients.refused": refused,
                "mailsdk.attempts": record.attempts,
                "mailsdk.failovers": record.failovers,
                "mailsdk.retries": record.retries,
            }
            if relay is not None:
                attributes["mailsdk.relay"] = relay
            if record.size is not None:
                attributes["mailsdk.message.size"] = record.size
            _set_error(span, exc, attributes)
        if record.instruments is not None:
            record.instruments.sends.add(1, {"mailsdk.outcome": outcome})
            record.instruments.send_duration.record(elapsed, {"mailsdk.outcome": outcome})
            if refused:
                record.instruments.refused.add(refused, {"mailsdk.relay": relay or ""})

    async def attempt(
        self, relay: Transport, pending: OutgoingMessage, *, deadline: float | None = None
    ) -> SendResult:
        """One try at *relay* (within the send's *deadline*) inside a ``mailsdk.attempt``
        span, and count it."""
        record = _current.get()
        if record is None:  # instrumented while this send was under way
            return await relay.send(pending, deadline=deadline)
        record.attempts += 1
        number = record.attempts
        label, kind = relay_label(relay.name), transport_kind(relay)
        tracer, instruments = record.tracer, record.instruments
        span_cm: AbstractContextManager[Any] = nullcontext()
        if tracer is not None:
            attributes: dict[str, Any] = {
                "mailsdk.relay": label,
                "mailsdk.transport": kind,
                "mailsdk.attempt.number": number,
                "mailsdk.recipients.count": len(pending.envelope.rcpt_to),
            }
            if relay.carries_signature:
                # Only relays that take the MIME bytes: asking a JSON API's message for its
                # size would render MIME nobody sends.
                record.size = attributes["mailsdk.message.size"] = pending.size
            host, port = getattr(relay, "host", None), getattr(relay, "port", None)
            if isinstance(host, str) and host and "@" not in host:
                attributes["server.address"] = host
                if isinstance(port, int):
                    attributes["server.port"] = port
            span_cm = tracer.start_as_current_span(
                "mailsdk.attempt",
                kind=SpanKind.CLIENT,
                attributes=attributes,
                record_exception=False,
                set_status_on_exception=False,
            )
        start = self._clock()
        with span_cm as span:
            try:
                result = await relay.send(pending, deadline=deadline)
            except BaseException as exc:
                outcome = _attempt_outcome(exc)
                if span is not None and span.is_recording():
                    failed: dict[str, Any] = {"mailsdk.outcome": outcome}
                    if isinstance(exc, MailError) and exc.code is not None:
                        http = _is_http(type(relay))
                        failed[_HTTP_STATUS if http else _SMTP_STATUS] = exc.code
                    if isinstance(exc, MailError) and exc.enhanced_code:
                        failed["mailsdk.smtp.enhanced_status_code"] = exc.enhanced_code
                    if isinstance(exc, RecipientsRefused):
                        failed["mailsdk.recipients.accepted"] = 0
                        failed["mailsdk.recipients.refused"] = len(exc.refused)
                    _set_error(span, exc, failed)
                self._count_attempt(instruments, label, kind, outcome, self._clock() - start)
                raise
            if span is not None and span.is_recording():
                span.set_attributes(
                    {
                        "mailsdk.outcome": "delivered",
                        "mailsdk.recipients.accepted": len(result.accepted),
                        "mailsdk.recipients.refused": len(result.refused),
                    }
                )
            self._count_attempt(instruments, label, kind, "delivered", self._clock() - start)
            return result

    @staticmethod
    def _count_attempt(
        instruments: _Instruments | None, relay: str, kind: str, outcome: str, elapsed: float
    ) -> None:
        if instruments is None:
            return
        attributes = {"mailsdk.relay": relay, "mailsdk.transport": kind, "mailsdk.outcome": outcome}
        instruments.attempts.add(1, attributes)
        instruments.attempt_duration.record(elapsed, attributes)

    def on_event(self, event: Event) -> None:
        """The events subscriber: failovers and retries, as counters and span events."""
        record = _current.get()
        if record is None:
            return
        if isinstance(event, FailedOver):
            record.failovers += 1
            attributes: dict[str, Any] = {
                "mailsdk.relay.from": relay_label(event.from_relay),
                "mailsdk.relay.to": relay_label(event.to_relay),
                "error.type": event.reason,
            }
            name = "mailsdk.failover"
            if record.instruments is not None:
                record.instruments.failovers.add(1, attributes)
        elif isinstance(event, Retrying):
            record.retries += 1
            attributes = {
                "mailsdk.relay": relay_label(event.relay),
                "mailsdk.attempt.number": event.number,
                "mailsdk.retry.delay": event.delay,
            }
            name = "mailsdk.retry"
            if record.instruments is not None:
                record.instruments.retries.add(1, {"mailsdk.relay": attributes["mailsdk.relay"]})
        else:
            return
        if record.tracer is not None:
            trace.get_current_span().add_event(name, attributes)


def _set_error(span: Any, exc: BaseException, attributes: dict[str, Any]) -> None:
    description = _safe_description(exc)
    attributes["error.type"] = type(exc).__name__
    span.set_attributes(attributes)
    # The semantic conventions' exception event, with our safe text as its message.
    span.add_event(
        "exception",
        {"exception.type": type(exc).__name__, "exception.message": description},
    )
    span.set_status(Status(StatusCode.ERROR, description))


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("mailsdk")
    except metadata.PackageNotFoundError:  # pragma: no cover - a source checkout
        return "0"
