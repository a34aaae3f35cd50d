"""What instrumenting costs and needs: no OpenTelemetry import until asked, a clear error
without it, the global SDK found when it is configured after instrument(), and relay names
shown without users or mailboxes."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mailsdk import telemetry
from mailsdk._otel import relay_label, transport_kind
from mailsdk.transports.memory import MemoryTransport

ROOT = Path(__file__).resolve().parents[2]


def run(code: str) -> str:
    """Run *code* in a fresh interpreter (imports and global providers start clean)."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


SEND = """
import asyncio
from mailsdk import AsyncSender, Message
from mailsdk.transports.memory import MemoryTransport

def send():
    async def go():
        async with AsyncSender(MemoryTransport()) as sender:
            return await sender.send(Message(from_="a@example.com", to=["b@example.com"],
                                             subject="s", text="t"))
    return asyncio.run(go())
"""


def test_sending_without_instrumenting_never_imports_opentelemetry() -> None:
    out = run(
        SEND
        + """
import sys
from mailsdk import Outbox
send()
print(sorted(m for m in sys.modules if m.startswith("opentelemetry")))
"""
    )
    assert out == "[]"


def test_instrument_without_the_api_installed_says_what_to_install() -> None:
    out = run(
        """
import sys
sys.modules["opentelemetry"] = None  # as if opentelemetry-api were not installed
from mailsdk import telemetry
from mailsdk.errors import ConfigurationError
try:
    telemetry.instrument()
except ConfigurationError as exc:
    print(exc)
print(telemetry.is_instrumented())
"""
    )
    assert out.splitlines() == [
        "mailsdk.telemetry needs opentelemetry-api: pip install 'mailsdk[otel]'",
        "False",
    ]


def test_a_global_sdk_configured_after_instrument_records_the_next_sends() -> None:
    out = run(
        SEND
        + """
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from mailsdk.telemetry import MailsdkInstrumentor

MailsdkInstrumentor().instrument()
send()  # no SDK yet: the API's proxies, nothing recorded
exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)
reader = InMemoryMetricReader()
metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
send()
print([s.name for s in exporter.get_finished_spans()])
sends = [m for rm in reader.get_metrics_data().resource_metrics for sm in rm.scope_metrics
         for m in sm.metrics if m.name == "mailsdk.sends"]
print(sum(p.value for p in sends[0].data.data_points))
"""
    )
    assert out.splitlines() == ["['mailsdk.attempt', 'mailsdk.send']", "1"]


def test_explicit_no_op_providers_record_nothing_and_are_settled_at_once() -> None:
    from opentelemetry.metrics import NoOpMeterProvider
    from opentelemetry.trace import NoOpTracerProvider

    telemetry.instrument(tracer_provider=NoOpTracerProvider(), meter_provider=NoOpMeterProvider())
    try:
        observer = telemetry._observer
        assert observer is not None
        assert observer._settled
        assert observer._tracer is None
        assert observer._instruments is None
    finally:
        telemetry.uninstrument()
    assert not telemetry.is_instrumented()


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("smtp://alice%40example.test@127.0.0.1:587", "smtp://127.0.0.1:587"),
        ("smtps://relay.example.net:465", "smtps://relay.example.net:465"),
        ("sendgrid://***@api.sendgrid.com", "sendgrid://api.sendgrid.com"),
        ("graph://reports%40contoso.com", "graph://contoso.com"),
        (
            "smtp://bob@a.example:587, smtp://b.example:25",
            "smtp://a.example:587, smtp://b.example:25",
        ),
        ("file:///var/mail/out", "file:///var/mail/out"),
        ("memory://", "memory://"),
    ],
)
def test_relay_labels_drop_users_and_mailboxes(name: str, shown: str) -> None:
    assert relay_label(name) == shown


def test_transport_kind_is_the_scheme_else_the_class() -> None:
    assert transport_kind(MemoryTransport("memory://x")) == "memory"
    assert transport_kind(MemoryTransport("primary")) == "memory"
