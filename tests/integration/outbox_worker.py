"""A worker process for the outbox crash tests: ``python outbox_worker.py DB URL [options]``.

It is a real, separate process that the tests kill with SIGKILL. ``--hold-before-store``
makes it stop (print ``HOLDING`` and sleep) right after the relay's reply and before the
outcome is stored, the one moment the relay cannot pause it at. ``--enqueue N`` enqueues N
messages one at a time and prints each id once ``enqueue`` has returned.
"""

from __future__ import annotations

import argparse
import sys
import time

from mailsdk import Message, Outbox, Sender
from mailsdk.retry import NO_RETRY


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("db")
    parser.add_argument("url")
    parser.add_argument("--lease", type=float, default=60.0)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--hold-before-store", action="store_true")
    parser.add_argument("--enqueue", type=int, default=0)
    args = parser.parse_args()
    outbox = Outbox(args.db, lease=args.lease)
    if args.enqueue:
        for n in range(args.enqueue):
            msg = Message(from_="a@example.com", to=["b@example.com"], subject=f"#{n}", text="x")
            print(outbox.enqueue(msg), flush=True)
        return
    if args.hold_before_store:
        import mailsdk._outbox_worker

        def hold(*args: object, **kwargs: object) -> tuple[str, tuple[object, ...]]:
            print("HOLDING", flush=True)  # the relay has replied; the outcome is not stored
            time.sleep(3600)
            raise AssertionError("not reached")

        mailsdk._outbox_worker.finish_write = hold  # type: ignore[assignment]
    print("READY", flush=True)
    with Sender(args.url, retry=NO_RETRY) as sender:
        stats = outbox.run(sender, concurrency=args.concurrency)
    print(f"DONE {stats}", flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
