"""Calendar invites: an iCalendar object sent the way mail readers show it as an invite.

``Message(calendar=Calendar(ics=..., method="REQUEST"))`` renders a ``text/calendar;
method=REQUEST; charset="utf-8"`` part as the last alternative beside the text and HTML, and
the same object as an ``invite.ics`` attachment (``application/ics``): the form Outlook, Gmail
and Apple Mail show as an invite (RFC 6047, and Nodemailer's ``icalEvent``). The ``METHOD``
inside the ICS must be the one given: Outlook rejects a mismatch. :func:`invite` builds a
simple event with the ``icalendar`` package (``pip install 'mailsdk[calendar]'``).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from mailsdk._calendar_model import METHODS, Calendar
from mailsdk.errors import MessageError
from mailsdk.message import AddressInput, Attachment, _to_address

__all__ = ["METHODS", "Calendar", "invite", "invite_attachment"]


def invite_attachment(calendar: Calendar) -> Attachment:
    """The ``invite.ics`` attachment (``application/ics``) sent beside the calendar part."""
    if calendar._attachment is None:
        calendar._attachment = Attachment(
            filename="invite.ics",
            content=calendar.ics.encode("utf-8"),
            content_type="application/ics",
        )
    attachment: Attachment = calendar._attachment
    return attachment


def invite(
    *,
    organizer: AddressInput,
    attendees: Sequence[AddressInput] = (),
    start: datetime,
    end: datetime,
    summary: str,
    uid: str | None = None,
    sequence: int = 0,
    location: str | None = None,
    description: str | None = None,
    method: str = "REQUEST",
    dtstamp: datetime | None = None,
) -> Calendar:
    """One VEVENT built with ``icalendar`` (``pip install 'mailsdk[calendar]'``).

    *start* and *end* must be timezone-aware; a VTIMEZONE is added for a named zone
    (``zoneinfo.ZoneInfo``). *uid* defaults to a random one at the organizer's domain:
    keep it and raise *sequence* to update or cancel the event later (RFC 5546 2.1.4).
    ``method="CANCEL"`` marks the event ``STATUS:CANCELLED``; ``method="PUBLISH"`` takes
    no attendees. *dtstamp* defaults to now (UTC).
    """
    try:
        import icalendar
    except ImportError:
        raise MessageError(
            "mailsdk.calendar.invite needs the icalendar package: pip install 'mailsdk[calendar]'"
        ) from None
    method = method.upper()
    if method not in ("REQUEST", "CANCEL", "PUBLISH"):
        raise MessageError("invite() builds REQUEST, CANCEL or PUBLISH events")
    if method == "PUBLISH" and attendees:
        raise MessageError("a PUBLISH event has no attendees (RFC 5546 3.2.1); use REQUEST")
    if method != "PUBLISH" and not attendees:
        raise MessageError(f"a {method} event needs at least one attendee (RFC 5546 3.2)")
    for when, label in ((start, "start"), (end, "end")):
        if not isinstance(when, datetime) or when.tzinfo is None:
            raise MessageError(f"event {label} must be a timezone-aware datetime")
    if end <= start:
        raise MessageError("event end must be after its start")
    if not isinstance(sequence, int) or sequence < 0:
        raise MessageError("event sequence must be a non-negative integer")
    boss = _to_address(organizer)
    guests = [_to_address(a) for a in attendees]

    cal = icalendar.Calendar()
    cal.add("prodid", "-//mailsdk//calendar//EN")
    cal.add("version", "2.0")
    cal.add("method", method)
    event = icalendar.Event()
    event.add("uid", uid or f"{uuid.uuid4()}@{boss.envelope.rpartition('@')[2]}")
    event.add("dtstamp", (dtstamp or datetime.now(timezone.utc)).astimezone(timezone.utc))
    event.add("dtstart", start)
    event.add("dtend", end)
    event.add("sequence", sequence)
    event.add("summary", summary)
    if location:
        event.add("location", location)
    if description:
        event.add("description", description)
    if method == "CANCEL":
        event.add("status", "CANCELLED")
    event.add("organizer", _cal_address(icalendar, boss.envelope, boss.name))
    for guest in guests:
        address = _cal_address(icalendar, guest.envelope, guest.name)
        address.params.update(
            {"ROLE": "REQ-PARTICIPANT", "PARTSTAT": "NEEDS-ACTION", "RSVP": "TRUE"}
        )
        event.add("attendee", address, encode=False)
    cal.add_component(event)
    cal.add_missing_timezones()
    return Calendar(ics=cal.to_ical().decode("utf-8"), method=method)


def _cal_address(icalendar: Any, email: str, name: str) -> Any:
    address = icalendar.vCalAddress(f"mailto:{email}")
    if name:
        address.params["CN"] = name
    return address
