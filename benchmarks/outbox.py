"""The outbox: enqueue rates into SQLite, and draining through smtp-sink against send_many.

``enqueue_many`` stores a batch in one transaction; ``enqueue`` is one transaction per call
(WAL, synchronous=NORMAL, the default; FULL is measured too). Messages are built before the
clock starts: building a Message is the caller's cost, the same with or without an outbox.
The drain compares ``Outbox.arun`` (claim, hand-over marker, outcome: three transactions per
message) with ``AsyncSender.send_many`` on the same sink, same message, same concurrency,
A B A B in one run; send_many builds each Message inside the timed region (as in the
throughput benchmark) and the worker validates each one from its stored JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks._common import message, sink, table
from mailsdk import AsyncSender, Message, Outbox


def _small(i: int) -> Message:
    """A typical transactional message (about 1 KB as JSON)."""
    return Message(
        from_="Shop <orders@example.com>",
        to=[f"customer{i}@example.com"],
        subject=f"Your order #{i} has shipped",
        text="Hello,\n\nyour order is on its way. Track it at https://example.com/t/123.\n" * 6,
    )


def _timed(run: Callable[[], int]) -> tuple[float, float]:
    """(entries per second, CPU microseconds per entry) of one call of *run*."""
    wall, cpu = time.perf_counter(), time.process_time()
    count = run()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return count / wall, cpu * 1e6 / count


def enqueue_rates(
    count: int, synchronous: str = "normal", rounds: int = 3
) -> tuple[tuple[float, float], tuple[float, float]]:
    """Best of *rounds* for ((enqueue_many/s, CPU us), (enqueue/s, CPU us)), each into a
    fresh outbox file."""
    messages = [_small(i) for i in range(count)]
    ones = messages[: max(1, count // 4)]
    best_many, best_one = (0.0, 0.0), (0.0, 0.0)
    for _ in range(rounds):
        with tempfile.TemporaryDirectory(dir=Path.cwd()) as tmp:
            many = Outbox(Path(tmp) / "many.sqlite3", synchronous=synchronous)  # type: ignore[arg-type]
            single = Outbox(Path(tmp) / "one.sqlite3", synchronous=synchronous)  # type: ignore[arg-type]

            def batch(many: Outbox = many) -> int:
                return len(many.enqueue_many(messages))

            def one_by_one(single: Outbox = single) -> int:
                for msg in ones:
                    single.enqueue(msg)
                return len(ones)

            best_many = max(best_many, _timed(batch))
            best_one = max(best_one, _timed(one_by_one))
            many.close()
            single.close()
    return best_many, best_one


async def _send_many(url: str, count: int, concurrency: int) -> float:
    # Messages are built inside the timed region, as in the throughput benchmark: a caller of
    # send_many builds them, and the worker validates each one again from its stored JSON.
    async with AsyncSender(url) as sender:
        start = time.perf_counter()
        results = await sender.send_many(
            (message(i) for i in range(count)), concurrency=concurrency
        )
        seconds = time.perf_counter() - start
    assert not any(isinstance(r, Exception) for r in results)
    return count / seconds


async def _drain(url: str, count: int, concurrency: int) -> float:
    with tempfile.TemporaryDirectory(dir=Path.cwd()) as tmp:
        outbox = Outbox(Path(tmp) / "drain.sqlite3")
        outbox.enqueue_many([message(i) for i in range(count)])
        async with AsyncSender(url) as sender:
            start = time.perf_counter()
            stats = await outbox.arun(sender, concurrency=concurrency)
            seconds = time.perf_counter() - start
        assert stats.sent == count, stats
    return count / seconds


def drain_rates(count: int, concurrency: int = 16, rounds: int = 3) -> tuple[float, float]:
    """Best (send_many msgs/s, outbox drain msgs/s) over *rounds* A B rounds on one sink."""
    best_direct = best_drain = 0.0
    with sink() as running:
        url = f"smtp://127.0.0.1:{running.port}?tls=none&max_connections={concurrency}"
        for _ in range(rounds):
            best_direct = max(best_direct, asyncio.run(_send_many(url, count, concurrency)))
            best_drain = max(best_drain, asyncio.run(_drain(url, count, concurrency)))
    return best_direct, best_drain


def main(count: int = 20_000, drain_count: int = 2_000) -> str:
    """Both measurements as Markdown."""
    full_count = max(2_000, count // 10)
    normal = enqueue_rates(count)
    full = enqueue_rates(full_count, "full")

    def cells(rate: tuple[float, float]) -> str:
        return f"{rate[0]:,.0f}/s ({rate[1]:.0f} CPU us each)"

    enqueue = table(
        ["synchronous", "enqueue_many (one transaction)", "enqueue (one per call)"],
        [
            ["NORMAL (default)", cells(normal[0]), cells(normal[1])],
            ["FULL", cells(full[0]), cells(full[1])],
        ],
    )
    direct, drained = drain_rates(drain_count)
    drain = table(
        ["client (same sink, same run, concurrency 16)", "msgs/s", "vs send_many"],
        [
            ["AsyncSender.send_many", f"{direct:,.0f}", "1.00"],
            ["Outbox.arun draining the outbox", f"{drained:,.0f}", f"{drained / direct:.2f}"],
        ],
    )
    return (
        f"### Outbox enqueue (best of 3; {count:,} small messages, FULL: {full_count:,}; "
        f"enqueue: a quarter of that)\n\n{enqueue}\n\n"
        f"### Outbox drain on smtp-sink (best of 3; {drain_count:,} 34 KB messages)\n\n"
        f"{drain}\n"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--drain-count", type=int, default=2_000)
    ns = parser.parse_args()
    print(main(ns.count, ns.drain_count))
