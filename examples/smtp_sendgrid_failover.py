"""SMTP first, SendGrid's HTTP API when SMTP fails: a failover pair configured from the
environment, as a container or a twelve-factor app gets it.

Run it::

    export SMTP_URL="smtp://apikey:SMTP_PASSWORD@smtp.example.com:587"
    export SENDGRID_API_KEY="SG.xxxxx"
    python examples/smtp_sendgrid_failover.py --from "App <app@example.com>" --to you@example.com

Either variable may be missing (the other relay is then used alone). Each attempt is printed:
which relay was tried, how it ended and how long it took, so a failover is visible.
"""

from __future__ import annotations

import argparse
import os
import sys
from urllib.parse import quote

from mailsdk import Event, FailedOver, MailError, Message, Retrying, RetryPolicy, Sender


def relay_urls() -> list[str]:
    """The failover list from SMTP_URL and SENDGRID_API_KEY, in that order."""
    urls = []
    if os.environ.get("SMTP_URL"):
        urls.append(os.environ["SMTP_URL"])
    if os.environ.get("SENDGRID_API_KEY"):
        urls.append(f"sendgrid://{quote(os.environ['SENDGRID_API_KEY'], safe='')}@default")
    return urls


def report(event: Event) -> None:
    """Print retries and failovers as they happen."""
    if isinstance(event, Retrying):
        print(f"retrying {event.relay} in {event.delay:.1f} s")
    elif isinstance(event, FailedOver):
        print(f"failing over from {event.from_relay} to {event.to_relay} ({event.reason})")


def main(argv: list[str] | None = None) -> int:
    """Send one message through the pair; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="sender", required=True)
    parser.add_argument("--to", action="append", required=True)
    parser.add_argument("--subject", default="Failover test")
    args = parser.parse_args(argv)
    urls = relay_urls()
    if not urls:
        print("set SMTP_URL and/or SENDGRID_API_KEY", file=sys.stderr)
        return 2
    message = Message(
        from_=args.sender,
        to=args.to,
        subject=args.subject,
        text="Sent by examples/smtp_sendgrid_failover.py.\n",
    )
    try:
        with Sender(urls, retry=RetryPolicy(attempts=2), on_event=report) as sender:
            result = sender.send(message)
    except MailError as exc:
        print(f"not sent: {exc}", file=sys.stderr)
        for attempt in exc.attempts:
            print(f"  {attempt.describe()}", file=sys.stderr)
        return 1
    print(f"sent {result.message_id} via {result.relay} (provider id {result.provider_id})")
    for attempt in result.attempts:
        print(f"  {attempt.describe()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
