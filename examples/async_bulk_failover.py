"""Send a personalised mailing with AsyncSender: many messages at once, failing over.

Run it::

    MAILSDK_URL="smtp://user:pass@primary.example.com:587,smtps://user:pass@backup.example.com" \\
        python examples/async_bulk_failover.py --from "News <news@example.com>" \\
        --recipients recipients.csv

``recipients.csv`` has ``email`` and ``name`` columns. Without ``--recipients`` the script
writes to ``--count`` made-up addresses on example.com; without ``MAILSDK_URL`` it uses a
demonstration failover list whose primary (a closed port on this machine) refuses every
connection, so each send fails over to an in-memory relay at first and, once the primary cools
down, goes straight to the backup: the summary shows how many sends each relay took.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import sys
from collections import Counter

from mailsdk import (
    AsyncSender,
    Event,
    FailedOver,
    MailError,
    Message,
    RetryPolicy,
    SendResult,
)

DEMO_URLS = "smtp://127.0.0.1:9?tls=none&timeout=2,memory://backup"


def recipients_from(path: str | None, count: int) -> list[tuple[str, str]]:
    """(email, name) pairs from a CSV file, or *count* made-up ones."""
    if path is None:
        return [(f"reader{n}@example.com", f"Reader {n}") for n in range(count)]
    with open(path, newline="", encoding="utf-8") as file:
        return [(row["email"], row.get("name", "")) for row in csv.DictReader(file)]


def personalised(sender: str, email: str, name: str) -> Message:
    """One reader's copy of the newsletter."""
    greeting = f"Hello {name}," if name else "Hello,"
    return Message(
        from_=sender,
        to=[(name, email)],
        subject="This month's news",
        text=f"{greeting}\n\nHere is what happened this month.\n",
        html=f"<p>{greeting}</p><p>Here is what happened this month.</p>",
        tags=["newsletter"],
    )


async def send_all(urls: str, messages: list[Message], concurrency: int) -> int:
    """Send every message, at most *concurrency* at a time; print a summary."""
    failovers: Counter[str] = Counter()

    def on_event(event: Event) -> None:
        if isinstance(event, FailedOver):
            failovers[f"{event.from_relay} -> {event.to_relay}"] += 1

    retry = RetryPolicy(attempts=2, backoff=0.2, deadline=60)
    async with AsyncSender(urls, retry=retry, cooldown=60, on_event=on_event) as sender:
        outcomes = await sender.send_many(messages, concurrency=concurrency)
    by_relay = Counter(o.relay for o in outcomes if isinstance(o, SendResult))
    failures = [o for o in outcomes if isinstance(o, MailError)]
    for relay, count in by_relay.items():
        print(f"{count:5d} sent via {relay}")
    for route, count in failovers.items():
        print(f"{count:5d} failed over {route}")
    for error in failures:
        print(f"failed: {error}", file=sys.stderr)
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments and run the mailing; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("MAILSDK_URL", DEMO_URLS))
    parser.add_argument("--from", dest="sender", default="News <news@example.com>")
    parser.add_argument("--recipients", help="CSV file with email and name columns")
    parser.add_argument("--count", type=int, default=50, help="made-up recipients (demo)")
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args(argv)
    messages = [
        personalised(args.sender, email, name)
        for email, name in recipients_from(args.recipients, args.count)
    ]
    return asyncio.run(send_all(args.url, messages, args.concurrency))


if __name__ == "__main__":
    sys.exit(main())
