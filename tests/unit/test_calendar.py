"""Calendar invites: the rendered MIME tree, the ICS read back with icalendar, and refusals."""

from __future__ import annotations

import email
from datetime import datetime, timedelta, timezone
from email import policy
from email.message import EmailMessage
from zoneinfo import ZoneInfo

import icalendar
import pytest

from mailsdk import Attachment, Calendar, Message, MessageError, OutgoingMessage
from mailsdk import _calendar_model as calendar_model
from mailsdk._fastmime import _calendar_part
from mailsdk.calendar import invite as invite_event
from mailsdk.mime import render_reference
from tests.dkim_shapes import FIXED, INVITE_ICS
from tests.messages import message_factory

BERLIN = ZoneInfo("Europe/Berlin")
START = datetime(2026, 12, 10, 10, 0, tzinfo=BERLIN)


def invite(**overrides: object) -> Calendar:
    values: dict[str, object] = {
        "organizer": "Boss Person <boss@example.com>",
        "attendees": ["Alice <alice@example.org>", "bob@example.net"],
        "start": START,
        "end": START + timedelta(hours=1),
        "summary": "Quarterly planning",
        "uid": "plan-2026@example.com",
        "sequence": 2,
        "location": "Room 4.2, Köln",
        "description": "Agenda:\n1. numbers\n2. plans",
        "dtstamp": datetime(2026, 12, 4, 5, 0, tzinfo=timezone.utc),
    }
    values.update(overrides)
    return invite_event(**values)  # type: ignore[arg-type]


_message = message_factory(
    FIXED,
    from_="Boss Person <boss@example.com>",
    to=["alice@example.org", "bob@example.net"],
    subject="Invitation: Quarterly planning",
    text="You are invited.",
    html="<p>You are invited.</p>",
)


def message(**fields: object) -> Message:
    return _message(**{"calendar": invite(), **fields})


def parsed(raw: bytes) -> EmailMessage:
    out = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(out, EmailMessage)
    return out


def tree(raw: bytes) -> list[tuple[str, str | None, str | None]]:
    return [
        (p.get_content_type(), p.get_content_disposition(), p.get_filename())
        for p in parsed(raw).walk()
    ]


@pytest.mark.parametrize("render", ["fast", "reference"])
def test_the_invite_is_the_last_alternative_and_an_attachment(render: str) -> None:
    outgoing = OutgoingMessage(message())
    raw = outgoing.raw if render == "fast" else render_reference(outgoing)
    assert tree(raw) == [
        ("multipart/mixed", None, None),
        ("multipart/alternative", None, None),
        ("text/plain", None, None),
        ("text/html", None, None),
        ("text/calendar", None, None),
        ("application/ics", "attachment", "invite.ics"),
    ]
    parts = list(parsed(raw).walk())
    cal_part, ics_part = parts[4], parts[5]
    assert cal_part.get_param("method") == "REQUEST"
    assert cal_part.get_content_charset() == "utf-8"
    # The exact header every reader expects: the method bare, as Outlook writes it.
    assert b'Content-Type: text/calendar; method=REQUEST; charset="utf-8"\r\n' in raw
    assert cal_part.get_content() == ics_part.get_content().decode("utf-8")


def test_the_ics_reads_back_with_icalendar() -> None:
    raw = OutgoingMessage(message()).raw
    part = next(p for p in parsed(raw).walk() if p.get_content_type() == "text/calendar")
    cal = icalendar.Calendar.from_ical(part.get_content())
    assert cal["METHOD"] == "REQUEST"
    (event,) = cal.walk("VEVENT")
    assert str(event["UID"]) == "plan-2026@example.com"
    assert event["SEQUENCE"] == 2
    assert str(event["SUMMARY"]) == "Quarterly planning"
    assert str(event["LOCATION"]) == "Room 4.2, Köln"
    assert str(event["DESCRIPTION"]) == "Agenda:\n1. numbers\n2. plans"
    assert event.decoded("DTSTART") == START
    assert str(event.decoded("DTSTART").tzinfo) == "Europe/Berlin"
    assert event.decoded("DTEND") - event.decoded("DTSTART") == timedelta(hours=1)
    assert event.decoded("DTSTAMP") == datetime(2026, 12, 4, 5, 0, tzinfo=timezone.utc)
    assert str(event["ORGANIZER"]) == "mailto:boss@example.com"
    assert event["ORGANIZER"].params["CN"] == "Boss Person"
    attendees = event["ATTENDEE"]
    assert [str(a) for a in attendees] == ["mailto:alice@example.org", "mailto:bob@example.net"]
    assert attendees[0].params["CN"] == "Alice"
    assert attendees[0].params["RSVP"] == "TRUE"
    assert attendees[1].params["PARTSTAT"] == "NEEDS-ACTION"
    assert [str(tz["TZID"]) for tz in cal.walk("VTIMEZONE")] == ["Europe/Berlin"]


def test_cancel_marks_the_event_cancelled_and_publish_has_no_attendees() -> None:
    cancel = invite(method="CANCEL", sequence=3)
    assert cancel.method == "CANCEL"
    (event,) = icalendar.Calendar.from_ical(cancel.ics).walk("VEVENT")
    assert event["STATUS"] == "CANCELLED"
    assert event["SEQUENCE"] == 3
    published = invite(method="PUBLISH", attendees=[])
    assert "ATTENDEE" not in published.ics
    with pytest.raises(MessageError, match="PUBLISH event has no attendees"):
        invite(method="PUBLISH")
    with pytest.raises(MessageError, match="at least one attendee"):
        invite(attendees=[])


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"start": datetime(2026, 12, 10, 10, 0)}, "timezone-aware"),
        ({"end": START}, "after its start"),
        ({"sequence": -1}, "non-negative"),
        ({"method": "REPLY"}, "REQUEST, CANCEL or PUBLISH"),
        ({"organizer": "not an address"}, "invalid address"),
    ],
)
def test_the_event_helper_refuses_bad_input(changes: dict[str, object], expected: str) -> None:
    with pytest.raises(MessageError, match=expected):
        invite(**changes)


def test_a_default_uid_is_at_the_organizers_domain() -> None:
    cal = invite_event(
        organizer="boss@example.com",
        attendees=["alice@example.org"],
        start=START,
        end=START + timedelta(minutes=30),
        summary="s",
    )
    (event,) = icalendar.Calendar.from_ical(cal.ics).walk("VEVENT")
    assert str(event["UID"]).endswith("@example.com")


@pytest.mark.parametrize(
    ("ics", "method", "expected"),
    [
        (INVITE_ICS, "CANCEL", "does not match METHOD:REQUEST"),
        (INVITE_ICS.replace("METHOD:REQUEST\r\n", ""), "REQUEST", "no METHOD property"),
        (INVITE_ICS.replace("METHOD:REQUEST", "METHOD:SHOUT"), None, "not an iTIP method"),
        ("BEGIN:VEVENT\r\nEND:VEVENT\r\n", "REQUEST", "one iCalendar object"),
        ("", "REQUEST", "one iCalendar object"),
        (INVITE_ICS + INVITE_ICS, "REQUEST", "more than one VCALENDAR"),
        (
            "BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nEND:VCALENDAR\r\n",
            "REQUEST",
            "no VEVENT",
        ),
        (INVITE_ICS.replace("Planning", "Plan\x00ning"), "REQUEST", "control character"),
        (b"BEGIN:VCALENDAR", "REQUEST", "must be text"),
    ],
)
def test_bad_ics_is_refused(ics: object, method: str | None, expected: str) -> None:
    with pytest.raises(MessageError, match=expected):
        Calendar(ics=ics, method=method)  # type: ignore[arg-type]


def test_method_inside_an_event_does_not_count_and_the_method_may_be_omitted() -> None:
    # A METHOD line inside VEVENT is not the calendar's METHOD property.
    nested = INVITE_ICS.replace("METHOD:REQUEST\r\n", "").replace(
        "SUMMARY:", "METHOD:REQUEST\r\nSUMMARY:"
    )
    with pytest.raises(MessageError, match="no METHOD property"):
        Calendar(ics=nested, method="REQUEST")
    assert Calendar(ics=INVITE_ICS).method == "REQUEST"
    assert Calendar(ics=INVITE_ICS, method="request").method == "REQUEST"
    # Line ends are normalised to CRLF, as RFC 5545 requires.
    assert Calendar(ics=INVITE_ICS.replace("\r\n", "\n")).ics == INVITE_ICS


def test_a_calendar_message_with_a_mismatch_is_a_message_error() -> None:
    with pytest.raises(MessageError, match="does not match"):
        message(calendar={"ics": INVITE_ICS, "method": "CANCEL"})


def test_non_ascii_goes_base64_and_decodes_back() -> None:
    ics = INVITE_ICS.replace("Planning", "Besprechung in Köln")
    raw = OutgoingMessage(message(calendar=Calendar(ics=ics))).raw
    part = next(p for p in parsed(raw).walk() if p.get_content_type() == "text/calendar")
    assert part["Content-Transfer-Encoding"] == "base64"
    assert part.get_content() == ics


def test_html_only_and_inline_images_keep_the_invite_in_the_alternative() -> None:
    logo = Attachment(filename="logo.png", content=b"\x89PNG", inline=True, cid="logo@x")
    msg = message(text=False, html='<img src="cid:logo@x">', attachments=[logo])
    for raw in (OutgoingMessage(msg).raw, render_reference(OutgoingMessage(msg))):
        assert tree(raw) == [
            ("multipart/mixed", None, None),
            ("multipart/related", None, None),
            ("multipart/alternative", None, None),
            ("text/html", None, None),
            ("text/calendar", None, None),
            ("image/png", "inline", "logo.png"),
            ("application/ics", "attachment", "invite.ics"),
        ]


def test_an_smtputf8_message_renders_the_invite_on_the_reference_path() -> None:
    raw = OutgoingMessage(message(to=["jörg@bücher.example"])).raw
    assert [t for t, _, _ in tree(raw)][-2:] == ["text/calendar", "application/ics"]


def test_the_message_round_trips_through_json_with_its_calendar() -> None:
    msg = message()
    again = Message.model_validate_json(msg.model_dump_json())
    assert again.calendar == msg.calendar
    assert OutgoingMessage(again).raw == OutgoingMessage(msg).raw


def test_a_calendar_altered_after_validation_is_caught_before_sending() -> None:
    bad = Calendar.model_construct(ics=INVITE_ICS, method="CANCEL")
    msg = message().model_copy(update={"calendar": bad})
    with pytest.raises(MessageError, match="does not match"):
        OutgoingMessage(msg)


def test_an_untouched_calendar_is_not_parsed_again_at_each_send(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Checked when it was made; a send re-checks only a calendar whose fields changed since.
    msg = message()
    checked: list[str] = []
    real = calendar_model._checked

    def counting(ics: object, method: object) -> tuple[str, str]:
        checked.append(str(method))
        return real(ics, method)

    monkeypatch.setattr(calendar_model, "_checked", counting)
    OutgoingMessage(msg)
    assert checked == []
    assert msg.calendar is not None
    swapped = msg.calendar.model_copy(update={"method": "CANCEL"})
    with pytest.raises(MessageError, match="does not match"):
        OutgoingMessage(msg.model_copy(update={"calendar": swapped}))
    object.__setattr__(msg.calendar, "ics", msg.calendar.ics.replace("VEVENT", "VNOTHING"))
    with pytest.raises(MessageError, match="no VEVENT"):
        OutgoingMessage(msg)
    assert checked == ["CANCEL", "REQUEST"]


def test_one_invite_sent_to_many_is_encoded_once() -> None:
    _calendar_part.cache_clear()
    calendar = invite()
    raws = [
        OutgoingMessage(
            Message(from_="boss@example.com", to=[f"p{n}@example.org"], calendar=calendar)
        ).raw
        for n in range(3)
    ]
    assert _calendar_part.cache_info().misses == 1
    part, _ = _calendar_part(calendar)
    assert all(part in raw for raw in raws)
