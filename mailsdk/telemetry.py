"""OpenTelemetry spans and metrics for every send, opt-in like any OTel instrumentation.

```python
from mailsdk.telemetry import MailsdkInstrumentor

MailsdkInstrumentor().instrument()  # after (or before) configuring the OTel SDK
```

Each send is a ``mailsdk.send`` span with a ``mailsdk.attempt`` child per try at a relay;
counters and histograms record sends, attempts, failovers, retries, refused recipients and
durations, and an observable gauge reports the depth of every open
:class:`~mailsdk.outbox.Outbox`. Attributes name relays by their display name without the
user part, and never carry addresses, subjects, server replies or secrets. See
``docs/observability.md`` for every span, attribute and metric.

Nothing here imports ``opentelemetry`` until :func:`instrument` is called (install it with
``pip install 'mailsdk[otel]'``): without instrumentation a send pays one ``None`` check.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from mailsdk.errors import ConfigurationError

if TYPE_CHECKING:
    from mailsdk._otel import Observer

__all__ = [
    "MailsdkInstrumentor",
    "OutboxLike",
    "instrument",
    "is_instrumented",
    "track_outbox",
    "uninstrument",
]

INSTRUMENTATION_NAME = "mailsdk"
"""The instrumentation scope name of mailsdk's tracer and meter."""


class OutboxLike(Protocol):
    """What the outbox-depth gauge reads from an outbox."""

    path: str

    def counts(self) -> dict[str, int]:
        """Entries per state."""
        ...


# The failover core reads this once per send and once per attempt: None means "not
# instrumented", and then telemetry costs nothing more than that read.
_observer: Observer | None = None

# Every Outbox registers itself here when created (a weak set: telemetry never keeps an
# outbox alive), so the depth gauge needs no configuration.
_outboxes: weakref.WeakSet[Any] = weakref.WeakSet()


def track_outbox(outbox: OutboxLike) -> None:
    """Report *outbox*'s depth through the ``mailsdk.outbox.depth`` gauge (every
    :class:`~mailsdk.outbox.Outbox` calls this itself when created)."""
    _outboxes.add(outbox)


def instrument(
    *,
    tracer_provider: Any = None,
    meter_provider: Any = None,
    clock: Callable[[], float] | None = None,
) -> None:
    """Start recording spans and metrics for every send in this process.

    Args:
        tracer_provider: an OTel ``TracerProvider``; the global one when None (resolved at
            the first send, so the SDK may be configured after this call).
        meter_provider: an OTel ``MeterProvider``; the global one when None (likewise).
        clock: seconds as a float for the duration histograms (``time.perf_counter`` by
            default; tests inject one).

    Calling it again replaces the previous instrumentation. Raises ConfigurationError when
    ``opentelemetry-api`` is not installed.
    """
    global _observer
    try:
        from mailsdk._otel import Observer
    except ImportError as exc:  # opentelemetry-api is an optional dependency
        raise ConfigurationError(
            "mailsdk.telemetry needs opentelemetry-api: pip install 'mailsdk[otel]'"
        ) from exc
    _observer = Observer(
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
        clock=clock,
        outboxes=_outboxes,
    )


def uninstrument() -> None:
    """Stop recording: sends go back to the one ``None`` check."""
    global _observer
    _observer = None


def is_instrumented() -> bool:
    """True between :func:`instrument` and :func:`uninstrument`."""
    return _observer is not None


class MailsdkInstrumentor:
    """The ``XxxInstrumentor().instrument()`` form OTel instrumentations use.

    ``MailsdkInstrumentor().instrument(tracer_provider=..., meter_provider=...)`` is
    :func:`instrument`; ``uninstrument()`` is :func:`uninstrument`. Instrumentation is
    process-wide, like that of the instrumentors in ``opentelemetry-instrumentation-*``.
    """

    def instrument(self, **kwargs: Any) -> None:
        """Start recording; takes the keywords of :func:`instrument`."""
        instrument(**kwargs)

    def uninstrument(self) -> None:
        """Stop recording."""
        uninstrument()

    @property
    def is_instrumented_by_opentelemetry(self) -> bool:
        """True while instrumented (the name OTel's instrumentors use)."""
        return is_instrumented()
