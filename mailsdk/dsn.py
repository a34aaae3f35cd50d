"""Delivery status notification requests (RFC 3461) and the xtext encodings they travel in.

A :class:`DSN` on a :class:`~mailsdk.Message` asks the relay for bounce and success reports
in a machine-readable form: ``RET`` and ``ENVID`` on ``MAIL FROM``, ``NOTIFY`` and ``ORCPT`` on
each ``RCPT TO``. The parameters exist only where the relay advertises the ``DSN`` extension
(RFC 3461 section 3); elsewhere the message is sent without them, unless ``required=True``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, field_validator

from mailsdk._validation import as_message_error
from mailsdk.errors import MessageError

__all__ = ["DSN", "NotifyEvent", "orcpt_value", "xtext"]

NotifyEvent = Literal["SUCCESS", "FAILURE", "DELAY", "NEVER"]
"""A ``NOTIFY`` keyword (RFC 3461 4.1): when the relay should report on a recipient."""

_EVENTS = ("SUCCESS", "FAILURE", "DELAY", "NEVER")
_MAX_ENVID = 100  # RFC 3461 4.4: at most 100 characters, counted after xtext encoding
_MAX_ORCPT = 500  # RFC 3461 4.2: at most 500 characters, counted after xtext encoding


def xtext(value: str) -> str:
    """*value* (ASCII) in RFC 3461 section 4 xtext: ``!`` to ``~`` as they are, except ``+``
    and ``=``, which become ``+2B`` and ``+3D``, as does every other octet (``+HH``, upper-case
    hex)."""
    return "".join(c if "!" <= c <= "~" and c not in "+=" else f"+{ord(c):02X}" for c in value)


def _utf8_addr_xtext(address: str) -> str:
    """RFC 6533 section 3 utf-8-addr-xtext: printable ASCII but ``+``, ``=`` and ``\\`` as
    they are, every other character as ``\\x{HEX}`` (two to six upper-case digits). It is
    7-bit, so it is safe in ORCPT whether or not the relay offers SMTPUTF8."""
    return "".join(
        c if "!" <= c <= "~" and c not in "+=\\" else f"\\x{{{ord(c):02X}}}" for c in address
    )


def orcpt_value(address: str) -> str:
    """The ``ORCPT`` value for envelope recipient *address*: ``rfc822;`` and its xtext when it
    is ASCII, else ``utf-8;`` and its RFC 6533 utf-8-addr-xtext form."""
    if address.isascii():
        return f"rfc822;{xtext(address)}"
    return f"utf-8;{_utf8_addr_xtext(address)}"


class DSN(BaseModel):
    """What delivery status notifications to ask the relay for (RFC 3461).

    Args:
        notify: when to report on each recipient: any of ``"SUCCESS"``, ``"FAILURE"``,
            ``"DELAY"`` (in any case, as a list or one comma-separated string), or
            ``"NEVER"`` alone. None leaves it to the relay (RFC 3461 4.1: failures and
            usually delays).
        ret: ``"FULL"`` (the whole message) or ``"HDRS"`` (headers only) in failure reports;
            None leaves it to the relay.
        envid: an envelope identifier the reports quote back (printable ASCII, at most 100
            characters once xtext-encoded), e.g. your own id for the message.
        orcpt: send each recipient's address as ``ORCPT`` so reports name it as given.
        required: refuse relays that do not offer the DSN extension (the message goes to the
            next relay, or fails with :class:`~mailsdk.MessageError`). By default the request
            is advisory: a relay without DSN gets the message without these parameters (a
            warning is logged), as does an HTTP provider API, which has no such field.

    Invalid values raise :class:`~mailsdk.MessageError` when the DSN is made.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    def __init__(self, /, **data: Any) -> None:
        with as_message_error("DSN"):
            super().__init__(**data)

    notify: tuple[NotifyEvent, ...] | None = None
    ret: Literal["FULL", "HDRS"] | None = None
    envid: str | None = None
    orcpt: bool = True
    required: bool = False

    @field_validator("notify", mode="before")
    @classmethod
    def _check_notify(cls, value: Any) -> Any:
        if value is None:
            return None
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)):
            raise ValueError("notify takes a list of SUCCESS, FAILURE, DELAY or NEVER")
        events: list[str] = []
        for item in items:
            if not isinstance(item, str) or item.strip().upper() not in _EVENTS:
                raise ValueError(f"{item!r} is not SUCCESS, FAILURE, DELAY or NEVER")
            event = item.strip().upper()
            if event not in events:
                events.append(event)
        if not events:
            raise ValueError("notify is empty; leave it out or say NEVER")
        if "NEVER" in events and len(events) > 1:
            raise ValueError("NEVER cannot be combined with SUCCESS, FAILURE or DELAY")
        return tuple(events)

    @field_validator("ret", mode="before")
    @classmethod
    def _check_ret(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("envid")
    @classmethod
    def _check_envid(cls, value: str | None) -> str | None:
        if value is None:
            return None
        # RFC 3461 4.4: printable (graphic and space) US-ASCII before encoding.
        if not value or not all(" " <= c <= "~" for c in value):
            raise ValueError("envid must be printable ASCII (space to ~), not empty")
        if len(xtext(value)) > _MAX_ENVID:
            raise ValueError(f"envid is longer than {_MAX_ENVID} characters once encoded")
        return value

    def mail_parameters(self) -> list[str]:
        """``RET=`` and ``ENVID=`` for ``MAIL FROM``, those that are set."""
        params = []
        if self.ret is not None:
            params.append(f"RET={self.ret}")
        if self.envid is not None:
            params.append(f"ENVID={xtext(self.envid)}")
        return params

    def rcpt_parameters(self, address: str) -> list[str]:
        """``NOTIFY=`` and ``ORCPT=`` for ``RCPT TO:<address>``, those that apply.

        Raises MessageError when the encoded ORCPT would pass RFC 3461's 500 characters."""
        params = []
        if self.notify is not None:
            params.append("NOTIFY=" + ",".join(self.notify))
        if self.orcpt:
            value = orcpt_value(address)
            if len(value) > _MAX_ORCPT:
                raise MessageError(f"ORCPT for {address!r} is longer than {_MAX_ORCPT} characters")
            params.append(f"ORCPT={value}")
        return params
