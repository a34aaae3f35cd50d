"""What telemetry costs per send: ``send_many`` on the memory transport, in four set-ups.

Each set-up runs in its own interpreter (OTel's global providers can be set only once per
process), A B C D A B C D, and reports CPU microseconds per message (the median of the
rounds): the memory transport does no I/O, so the whole send is CPU and the overhead shows
undiluted.

- ``off``: not instrumented (and ``opentelemetry`` not imported);
- ``api only``: ``instrument()`` with opentelemetry-api installed and no SDK configured;
- ``sdk, not sampled``: the SDK with an ``ALWAYS_OFF`` sampler and no metric reader;
- ``sdk``: the SDK recording every span (a batch processor into an exporter that drops
  them) and every metric (an in-memory reader).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks._common import table

ROOT = Path(__file__).resolve().parents[1]
SETUPS = ["off", "api only", "sdk, not sampled", "sdk"]


def _configure(setup: str) -> None:
    if setup == "off":
        return
    from mailsdk.telemetry import instrument

    if setup == "api only":
        instrument()
        return
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

    class _Drop(SpanExporter):
        def export(self, spans: object) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    if setup == "sdk, not sampled":
        from opentelemetry.metrics import NoOpMeterProvider

        instrument(
            tracer_provider=TracerProvider(sampler=ALWAYS_OFF),
            meter_provider=NoOpMeterProvider(),
        )
        return
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(BatchSpanProcessor(_Drop()))
    instrument(
        tracer_provider=tracer_provider,
        meter_provider=MeterProvider(metric_readers=[InMemoryMetricReader()]),
    )


def _child(setup: str, count: int) -> None:
    from mailsdk import AsyncSender, Message
    from mailsdk.transports.memory import MemoryTransport

    _configure(setup)
    messages = [
        Message(
            from_="orders@example.com",
            to=[f"customer{i}@example.com"],
            subject=f"Order #{i}",
            text="Your order is on its way.\n" * 20,
        )
        for i in range(count)
    ]

    async def run() -> float:
        memory = MemoryTransport()
        async with AsyncSender(memory) as sender:
            await sender.send_many(messages[:50])  # warm up: imports, first renders
            memory.outbox.clear()
            cpu = time.process_time()
            await sender.send_many(messages)
            cpu = time.process_time() - cpu
        assert len(memory.outbox) == count
        return cpu * 1e6 / count

    print(json.dumps({"us_per_msg": asyncio.run(run())}))


def _measure(setup: str, count: int) -> float:
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.telemetry", "--child", setup, "--count", str(count)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return float(json.loads(out.stdout.splitlines()[-1])["us_per_msg"])


def main(count: int = 5000, rounds: int = 3) -> str:
    """The Markdown table: CPU per message in each set-up, and its overhead over ``off``."""
    found: dict[str, list[float]] = {s: [] for s in SETUPS}
    for _ in range(rounds):
        for setup in SETUPS:
            found[setup].append(_measure(setup, count))
    base = statistics.median(found["off"])
    rows = []
    for setup in SETUPS:
        median = statistics.median(found[setup])
        rows.append(
            [
                setup,
                f"{median:.1f}",
                "-" if setup == "off" else f"{median - base:+.1f} ({median / base - 1:+.0%})",
            ]
        )
    return (
        f"send_many of {count} messages on the memory transport, median of {rounds} rounds\n\n"
        + table(["telemetry", "CPU µs/msg", "over off"], rows)
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--child", choices=SETUPS)
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.count)
    else:
        print(main(args.count, args.rounds))
