"""The one shape every provider's delivery event is turned into, and the two errors."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

__all__ = [
    "METADATA_KEY",
    "BounceType",
    "DeliveryEvent",
    "EventKind",
    "WebhookError",
    "WebhookPayloadError",
    "WebhookSignatureError",
]

EventKind = Literal[
    "delivered",
    "bounced",
    "deferred",
    "complained",
    "unsubscribed",
    "opened",
    "clicked",
    "rejected",
    "failed",
    "other",
]
"""What happened to one message for one recipient; ``other`` for an event type we do not know."""

BounceType = Literal["hard", "soft"]

METADATA_KEY = "mailsdk_message_id"
"""The metadata key under which our Message-ID travels to providers that echo metadata."""


class WebhookError(Exception):
    """Base of the two errors a webhook parser raises (and the only ones)."""


class WebhookSignatureError(WebhookError):
    """The request is not provably from the provider: bad or missing signature or credentials,
    a certificate URL that is not the provider's, or a signed timestamp outside the tolerance.
    Answer 4xx (the receivers answer 403)."""


class WebhookPayloadError(WebhookError, ValueError):
    """The body is authentic (or the provider does not sign) but not a payload we can read:
    not JSON, not the provider's shape. Answer 400."""


@dataclass(frozen=True, slots=True)
class DeliveryEvent:
    """One provider event for one recipient, normalised.

    Attributes:
        kind: what happened (see :data:`EventKind`).
        bounce_type: ``hard`` (the address is bad for good) or ``soft`` for a bounce; None
            otherwise.
        recipient: the address the event is about (as the provider spells it), or None.
        message_id: our Message-ID (``<...>``) where the provider echoes it, or the
            :data:`METADATA_KEY` metadata mailsdk sends; None when the event does not carry it.
        provider: the provider name (``"sendgrid"``...).
        provider_message_id: the id the provider gave the message, when the event has one.
        event_id: the provider's id of this event (used to drop replays), or None.
        timestamp: when it happened, an aware datetime in UTC.
        reason: the provider's or the receiving server's words, when given.
        code: the SMTP or provider code, as text (``"550"``, ``"5.1.1"``), when given.
        raw: the provider's event object, as parsed from JSON.
    """

    kind: EventKind
    recipient: str | None
    provider: str
    timestamp: datetime
    bounce_type: BounceType | None = None
    message_id: str | None = None
    provider_message_id: str | None = None
    event_id: str | None = None
    reason: str | None = None
    code: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def suppresses(self) -> bool:
        """True for the events that put the recipient on the suppression list: a hard bounce,
        a spam complaint or an unsubscribe."""
        return (
            self.kind in ("complained", "unsubscribed")
            or (self.kind == "bounced" and self.bounce_type == "hard")
        ) and bool(self.recipient)
