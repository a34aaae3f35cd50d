"""The Calendar model (public as :class:`mailsdk.Calendar`; see :mod:`mailsdk.calendar`).

It lives apart from :mod:`mailsdk.calendar`, which builds invites with the address model,
so that :mod:`mailsdk.message` can hold a Calendar without an import cycle.

``Message(calendar=Calendar(ics=..., method="REQUEST"))`` renders a ``text/calendar;
method=REQUEST; charset="utf-8"`` part as the last alternative beside the text and HTML, and
the same object as an ``invite.ics`` attachment (``application/ics``): the form Outlook, Gmail
and Apple Mail show as an invite (RFC 6047, and Nodemailer's ``icalEvent``). The ``METHOD``
inside the ICS must be the one given: Outlook rejects a mismatch.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, PrivateAttr, model_validator

from mailsdk._validation import as_message_error
from mailsdk.errors import MessageError

__all__ = ["METHODS", "Calendar", "recheck_calendar"]

METHODS = frozenset(
    {"PUBLISH", "REQUEST", "REPLY", "ADD", "CANCEL", "REFRESH", "COUNTER", "DECLINECOUNTER"}
)
"""The iTIP methods of RFC 5546 section 1.4."""

_LINE_ENDINGS = re.compile(r"\r\n|\r|\n")
_UNFOLD = re.compile(r"\r\n[ \t]")
# RFC 5545 section 3.1: content lines hold no control character but HTAB.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # CR LF are line ends
_COMPONENTS = ("VEVENT", "VTODO", "VJOURNAL", "VFREEBUSY")
_SEVEN_BIT_LINE = 76


def _normalised(ics: str) -> str:
    text = _LINE_ENDINGS.sub("\r\n", ics).strip("\r\n")
    return text + "\r\n"


def _calendar_method(unfolded: list[str]) -> str | None:
    """The calendar-level METHOD value (outside any component), or None."""
    depth = 0
    for line in unfolded:
        name = re.split(r"[;:]", line, maxsplit=1)[0].upper()
        if name == "BEGIN":
            depth += 1
        elif name == "END":
            depth -= 1
        elif name == "METHOD" and depth == 1 and ":" in line:
            return line.split(":", 1)[1].strip().upper()
    return None


def _checked(ics: Any, method: Any) -> tuple[str, str]:
    if not isinstance(ics, str):
        raise MessageError("calendar ics must be text (the iCalendar object)")
    if method is not None and not isinstance(method, str):
        raise MessageError("calendar method must be text such as 'REQUEST'")
    ics = _normalised(ics)
    bad = _CONTROL.search(ics)
    if bad:
        raise MessageError(f"calendar ics contains a control character {bad.group()!r}")
    lines = [line for line in _UNFOLD.sub("", ics).split("\r\n") if line]
    if not lines or lines[0].upper() != "BEGIN:VCALENDAR" or lines[-1].upper() != "END:VCALENDAR":
        raise MessageError("calendar ics must be one iCalendar object: BEGIN:VCALENDAR ... END")
    if sum(1 for line in lines if line.upper() == "BEGIN:VCALENDAR") != 1:
        raise MessageError("calendar ics holds more than one VCALENDAR; send one per message")
    if not any(line.upper() == f"BEGIN:{c}" for line in lines for c in _COMPONENTS):
        raise MessageError("calendar ics has no VEVENT, VTODO, VJOURNAL or VFREEBUSY")
    found = _calendar_method(lines)
    if found is None:
        raise MessageError(
            "calendar ics has no METHOD property; readers show it as an invite only with one "
            "(add e.g. METHOD:REQUEST inside VCALENDAR)"
        )
    wanted = found if method is None else method.strip().upper()
    if wanted not in METHODS:
        raise MessageError(f"calendar method {wanted!r} is not an iTIP method (RFC 5546)")
    if wanted != found:
        raise MessageError(
            f"calendar method {wanted!r} does not match METHOD:{found} inside the ics "
            "(Outlook refuses a mismatch)"
        )
    return ics, wanted


class Calendar(BaseModel):
    """An iCalendar object to send as an invite (``Message(calendar=...)``).

    ``ics`` is the iCalendar text (one VCALENDAR, line ends normalised to CRLF); ``method``
    the iTIP method (``REQUEST``, ``CANCEL``, ``PUBLISH``...; RFC 5546), which must equal the
    ``METHOD`` inside the ICS; omitted, it is read from there. Anything else raises
    :class:`~mailsdk.MessageError`. Build a simple event with :func:`mailsdk.calendar.invite`.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    ics: str
    method: str

    _attachment: Any = PrivateAttr(default=None)  # invite.ics, see mailsdk.calendar
    # The (ics, method) objects this Calendar was checked with, set beside the fields (as
    # Attachment keeps its file): recheck_calendar skips a Calendar that still holds them.
    _verified: ClassVar[tuple[str, str] | None] = None

    def __init__(self, /, ics: str | None = None, method: str | None = None, **data: Any) -> None:
        if ics is not None:
            data["ics"] = ics
        if method is not None:
            data["method"] = method
        with as_message_error("Calendar"):
            super().__init__(**data)

    @model_validator(mode="before")
    @classmethod
    def _check(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        if "ics" not in data:
            raise MessageError("calendar needs ics (the iCalendar text)")
        ics, method = _checked(data["ics"], data.get("method"))
        return {**data, "ics": ics, "method": method}

    @model_validator(mode="after")
    def _mark_verified(self) -> Calendar:
        object.__setattr__(self, "_verified", (self.ics, self.method))
        return self

    @property
    def content_type(self) -> str:
        """The Content-Type value of the text/calendar alternative."""
        return f'text/calendar; method={self.method}; charset="utf-8"'

    @property
    def seven_bit(self) -> bool:
        """True when the part goes as 7bit (ASCII, short lines); else it is base64.

        Not quoted-printable: Outlook was seen to ignore a QP calendar part (see
        docs/deliverability.md), and its own invites are base64.
        """
        return self.ics.isascii() and all(
            len(line) <= _SEVEN_BIT_LINE for line in self.ics.split("\r\n")
        )


def recheck_calendar(calendar: Calendar) -> None:
    """Check *calendar* again before a send (``Message.recheck``), cheaply: one made by
    validation and not changed since (its fields are the very strings it was checked with,
    and strings are immutable) passes at once; any other (``model_construct``, a field set
    with ``object.__setattr__``, ``model_copy(update=...)``) is checked in full."""
    mark = calendar._verified
    if mark is not None and mark[0] is calendar.ics and mark[1] is calendar.method:
        return
    _checked(calendar.ics, calendar.method)
