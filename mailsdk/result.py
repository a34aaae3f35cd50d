"""What a send returns: plain data about where the message went and how it got there."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = ["Attempt", "Outcome", "SendResult"]

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


@dataclass(frozen=True, slots=True)
class SendResult:
    """The outcome of a send that reached at least one recipient.

    Attributes:
        message_id: the Message-ID header the message carried (with angle brackets).
        relay: display name of the relay that accepted it (never contains a secret).
        accepted: envelope recipients the relay accepted.
        refused: recipients the relay refused, mapped to the ``(code, text)`` it gave.
        provider_id: the id an HTTP provider gave the message, or the queue id an SMTP relay
            named in its reply when it named one; None otherwise.
        attempts: every attempt made, in order, the successful one last.
    """

    message_id: str
    relay: str
    accepted: list[str]
    refused: dict[str, tuple[int, str]] = field(default_factory=dict)
    provider_id: str | None = None
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every recipient was accepted."""
        return not self.refused
