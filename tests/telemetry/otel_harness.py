"""OTel SDK providers with in-memory exporters, and readers for what they recorded."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from mailsdk import telemetry


class StepClock:
    """A clock that moves one second each time it is read (durations become read counts)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


@dataclass
class Otel:
    """What one test's instrumentation recorded."""

    spans: InMemorySpanExporter
    reader: InMemoryMetricReader
    tracer_provider: TracerProvider

    def finished(self, name: str | None = None) -> list[ReadableSpan]:
        """Finished spans, in the order they ended, optionally only those called *name*."""
        return [s for s in self.spans.get_finished_spans() if name is None or s.name == name]

    def points(self, metric: str) -> list[Any]:
        """The data points of *metric* in one collection (empty when it has none)."""
        data = self.reader.get_metrics_data()
        found: list[Any] = []
        for resource in data.resource_metrics if data else []:
            for scope in resource.scope_metrics:
                for m in scope.metrics:
                    if m.name == metric:
                        found.extend(m.data.data_points)
        return found

    def total(self, metric: str, **attributes: Any) -> float:
        """The sum of a counter's points whose attributes include *attributes*."""
        wanted = {k.replace("__", "."): v for k, v in attributes.items()}
        return sum(
            p.value
            for p in self.points(metric)
            if all(p.attributes.get(k) == v for k, v in wanted.items())
        )


def instrumented(clock: StepClock | None = None) -> Iterator[Otel]:
    """Instrument with fresh SDK providers; uninstrument afterwards."""
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    telemetry.MailsdkInstrumentor().instrument(
        tracer_provider=tracer_provider, meter_provider=meter_provider, clock=clock
    )
    try:
        yield Otel(exporter, reader, tracer_provider)
    finally:
        telemetry.uninstrument()
        meter_provider.shutdown()
        tracer_provider.shutdown()


def everything_recorded(otel: Otel) -> str:
    """Every attribute value, event, status text and metric attribute, as one text."""
    texts: list[str] = []
    for span in otel.finished():
        texts.append(span.name)
        texts.extend(f"{k}={v}" for k, v in (span.attributes or {}).items())
        texts.append(span.status.description or "")
        for event in span.events:
            texts.append(event.name)
            texts.extend(f"{k}={v}" for k, v in (event.attributes or {}).items())
    data = otel.reader.get_metrics_data()
    for resource in data.resource_metrics if data else []:
        for scope in resource.scope_metrics:
            for m in scope.metrics:
                for p in m.data.data_points:
                    texts.extend(f"{m.name}:{k}={v}" for k, v in p.attributes.items())
    return "\n".join(texts)
