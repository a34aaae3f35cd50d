"""Send a meeting invite that Outlook, Gmail and Apple Mail show with RSVP buttons.

Run it (the relay URL comes from ``--url`` or the ``MAILSDK_URL`` variable; the event is built
with icalendar: ``pip install 'mailsdk[calendar]'``)::

    MAILSDK_URL="smtp://boss%40example.com:APP_PASSWORD@smtp.example.com:587" \\
        python examples/meeting_invite.py --from "Boss <boss@example.com>" \\
        --to alice@example.org --to bob@example.net --summary "Quarterly planning" \\
        --start 2026-12-10T10:00 --zone Europe/Berlin --minutes 60 \\
        --uid planning-2026-q4@example.com

Move the meeting by sending again with the same ``--uid`` and a higher ``--sequence``; cancel
it with ``--cancel`` (same uid, higher sequence). Exit status: 0 sent, 1 the send failed,
2 bad arguments or configuration.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mailsdk import ConfigurationError, MailError, Message, MessageError, Sender
from mailsdk.calendar import invite


def build_message(args: argparse.Namespace) -> Message:
    """The invite: a short text, the text/calendar part and invite.ics (mailsdk adds both)."""
    start = datetime.fromisoformat(args.start).replace(tzinfo=ZoneInfo(args.zone))
    end = start + timedelta(minutes=args.minutes)
    method = "CANCEL" if args.cancel else "REQUEST"
    event = invite(
        organizer=args.sender,
        attendees=args.to,
        start=start,
        end=end,
        summary=args.summary,
        location=args.location,
        uid=args.uid,
        sequence=args.sequence,
        method=method,
    )
    when = f"{start:%A %d %B %Y, %H:%M} to {end:%H:%M} ({args.zone})"
    verb = "Cancelled" if args.cancel else "Invitation"
    return Message(
        from_=args.sender,
        to=args.to,
        subject=f"{verb}: {args.summary}",
        html=f"<p><b>{args.summary}</b></p><p>{when}</p>"
        + (f"<p>Where: {args.location}</p>" if args.location else ""),
        calendar=event,
    )


def main(argv: list[str] | None = None) -> int:
    """Build the invite and send it; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("MAILSDK_URL"), help="relay URL(s)")
    parser.add_argument("--from", dest="sender", default=os.environ.get("MAILSDK_FROM"))
    parser.add_argument("--to", action="append", required=True, help="attendee (repeatable)")
    parser.add_argument("--summary", required=True)
    parser.add_argument("--start", required=True, help="local start time, e.g. 2026-12-10T10:00")
    parser.add_argument("--zone", default="UTC", help="IANA time zone, e.g. Europe/Berlin")
    parser.add_argument("--minutes", type=int, default=30)
    parser.add_argument("--location")
    parser.add_argument("--uid", help="keep it to update or cancel the meeting later")
    parser.add_argument("--sequence", type=int, default=0)
    parser.add_argument("--cancel", action="store_true")
    args = parser.parse_args(argv)
    if not args.url or not args.sender:
        print("give --url (or MAILSDK_URL) and --from (or MAILSDK_FROM)", file=sys.stderr)
        return 2
    try:
        message = build_message(args)
        with Sender(args.url) as sender:
            result = sender.send(message)
    except (ConfigurationError, MessageError, ValueError, ZoneInfoNotFoundError) as exc:
        print(f"bad arguments: {exc}", file=sys.stderr)
        return 2
    except MailError as exc:
        print(f"the invite was not sent: {exc}", file=sys.stderr)
        return 1
    print(f"sent {result.message_id} via {result.relay} to {', '.join(result.accepted)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
