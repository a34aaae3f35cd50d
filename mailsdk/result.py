"""What a send returns: plain data about where the message went and how it got there."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Literal, overload

__all__ = ["Attempt", "Outcome", "RecipientStatus", "SendResult", "recipient_statuses", "refusal"]

Outcome = Literal["delivered", "transient", "permanent", "relay", "unknown", "refused"]
"""How one attempt ended: ``delivered`` or the class of the failure (see the error tree)."""


@dataclass(frozen=True, slots=True)
class Attempt:
    """One try at handing a message to one relay."""

    relay: str
    outcome: Outcome
    code: int | None = None
    enhanced_code: str | None = None
    text: str | None = None
    duration: float = 0.0
    error: str | None = None
    """Name of the error class raised by the attempt, or None when it delivered."""

    def describe(self) -> str:
        """One line for logs and error messages."""
        reply = " ".join(str(p) for p in (self.code, self.enhanced_code, self.text) if p)
        tail = f": {reply}" if reply else ""
        return f"{self.relay}: {self.outcome} after {self.duration * 1000:.0f} ms{tail}"


_ENHANCED = re.compile(r"^([245])\.(\d{1,3})\.(\d{1,3})(?=\s|$)")


@dataclass(frozen=True, slots=True, eq=False)
class RecipientStatus:
    """What a relay said about one recipient it did not accept (refused or deferred).

    Attributes:
        address: the envelope address, as the message's envelope spells it.
        code: the SMTP reply code (or an SMTP-style code an HTTP provider's answer maps to:
            5xx refused for good, 4xx try again later).
        text: the relay's words, as it gave them (``"5.1.1 No such user"``).
        enhanced_code: the RFC 3463 code at the start of *text* (``"5.1.1"``), when there is one.
        permanent: True for a refusal for good (5xx), False for a temporary one (4xx).

    It still reads like the ``(code, text)`` pair it replaces: ``code, text = status``,
    ``status[0]``, ``len(status) == 2``, and it equals the tuple ``(code, text)``.
    """

    address: str
    code: int
    text: str
    enhanced_code: str | None = None
    permanent: bool = True

    def __iter__(self) -> Iterator[int | str]:
        return iter((self.code, self.text))

    def __len__(self) -> int:
        return 2

    @overload
    def __getitem__(self, index: Literal[0]) -> int: ...
    @overload
    def __getitem__(self, index: Literal[1]) -> str: ...
    @overload
    def __getitem__(self, index: int) -> int | str: ...
    def __getitem__(self, index: int) -> int | str:
        return (self.code, self.text)[index]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, RecipientStatus):
            return (self.address, self.code, self.text, self.enhanced_code, self.permanent) == (
                other.address,
                other.code,
                other.text,
                other.enhanced_code,
                other.permanent,
            )
        if isinstance(other, tuple):
            return (self.code, self.text) == other
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.code, self.text))

    def __str__(self) -> str:
        return f"{self.address}: {self.code} {self.text}"


def refusal(address: str, code: int, text: str) -> RecipientStatus:
    """A RecipientStatus from a relay's reply: the one place codes are read into it."""
    match = _ENHANCED.match(text)
    return RecipientStatus(
        address=address,
        code=code,
        text=text,
        enhanced_code=".".join(match.groups()) if match else None,
        permanent=not 400 <= code < 500,
    )


def recipient_statuses(
    refused: Mapping[str, RecipientStatus | tuple[int, str]],
) -> dict[str, RecipientStatus]:
    """*refused* with every ``(code, text)`` pair made a :class:`RecipientStatus`."""
    return {
        address: value if isinstance(value, RecipientStatus) else refusal(address, *value)
        for address, value in refused.items()
    }


@dataclass(frozen=True, slots=True)
class SendResult:
    """The outcome of a send that reached at least one recipient.

    Attributes:
        message_id: the Message-ID header the message carried (with angle brackets).
        relay: display name of the relay that accepted it (never contains a secret).
        accepted: envelope recipients the relay accepted.
        refused: recipients the relay refused, mapped to their :class:`RecipientStatus` (which
            still unpacks as the ``(code, text)`` pair it replaces).
        provider_id: the id an HTTP provider gave the message, or the queue id an SMTP relay
            named in its reply when it named one; None otherwise.
        attempts: every attempt made, in order, the successful one last.
        dkim_signed: True when the message went out with the sender's DKIM signature; False
            without ``dkim=``, or through a relay that renders the message again.
    """

    message_id: str
    relay: str
    accepted: list[str]
    refused: dict[str, RecipientStatus] = field(default_factory=dict)
    provider_id: str | None = None
    attempts: list[Attempt] = field(default_factory=list)
    dkim_signed: bool = False

    def __post_init__(self) -> None:
        # Transports written against the old (code, text) pairs keep working.
        object.__setattr__(self, "refused", recipient_statuses(self.refused))

    @property
    def ok(self) -> bool:
        """True when every recipient was accepted."""
        return not self.refused
