"""Failover latency: the extra time a failing primary costs, over a direct send.

All in one run against smtp-sink on loopback: a direct send to the healthy relay; a primary
that refuses connections; a primary that answers 421 (smtp-sink -Q MAIL); a blackholed
primary (accepts, never greets) that times out once and is then skipped while it cools down.
The failover configurations try each relay once (RetryPolicy(attempts=1)): this measures the
cost of failing over, not of waiting out a backoff.
"""

from __future__ import annotations

import asyncio
import statistics
import time

from benchmarks._common import message, sink, table
from mailsdk import AsyncSender, RetryPolicy

ONCE = RetryPolicy(attempts=1, backoff=0.0, jitter=0.0)


async def _latencies(sender: AsyncSender, count: int) -> list[float]:
    out = []
    for i in range(count):
        start = time.perf_counter()
        await sender.send(message(i))
        out.append((time.perf_counter() - start) * 1000)
    return out


async def _run(count: int) -> str:
    with sink() as healthy, sink("-Q", "MAIL") as busy:
        good = f"smtp://127.0.0.1:{healthy.port}?tls=none"
        server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        hole = server.sockets[0].getsockname()[1]
        rows: list[list[str]] = []
        async with AsyncSender(good) as direct:
            await direct.send(message(-1))  # connection pooled, like the others after warm-up
            base = statistics.median(await _latencies(direct, count))
        rows.append(["direct send to the healthy relay", f"{base:.2f}", "-", "1.00"])

        cases = [
            ("primary refuses connections", "smtp://127.0.0.1:1?tls=none"),
            ("primary answers 421 (smtp-sink -Q MAIL)", f"smtp://127.0.0.1:{busy.port}?tls=none"),
        ]
        for label, primary in cases:
            async with AsyncSender([primary, good], retry=ONCE, cooldown=0) as sender:
                await sender.send(message(-1))  # warm the healthy relay's pool
                every = statistics.median(await _latencies(sender, count))
            rows.append(
                [
                    f"{label}, every send fails over",
                    f"{every:.2f}",
                    f"{every - base:+.2f}",
                    f"{every / base:.2f}",
                ]
            )
        async with AsyncSender(
            [f"smtp://127.0.0.1:{hole}?tls=none&timeout=0.2", good], retry=ONCE, cooldown=60
        ) as sender:
            first = (await _latencies(sender, 1))[0]
            cooled = statistics.median(await _latencies(sender, count))
        rows.append(
            [
                "primary blackholed (0.2 s timeout): first send",
                f"{first:.2f}",
                f"{first - base:+.2f}",
                f"{first / base:.2f}",
            ]
        )
        rows.append(
            [
                "primary blackholed: later sends while it cools down",
                f"{cooled:.2f}",
                f"{cooled - base:+.2f}",
                f"{cooled / base:.2f}",
            ]
        )
        server.close()
    return (
        f"### Failover latency (median of {count} sequential sends, ms)\n\n"
        + table(["case", "ms/send", "extra ms", "vs direct"], rows)
        + "\n"
    )


def main(count: int = 200) -> str:
    """Returns the Markdown report."""
    return asyncio.run(_run(count))


if __name__ == "__main__":
    print(main())
