"""Mailjet Event API: not signed, so HTTP Basic credentials (in the webhook URL) are required.

One event object per POST, or an array with "Version 2" grouping. Mailjet gives no event id;
one is made from the message id, event, address and time.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from mailsdk.webhooks import _common as c
from mailsdk.webhooks._event import BounceType, DeliveryEvent, EventKind

DEFAULT_TOLERANCE: timedelta | None = None

_KINDS: dict[str, EventKind] = {
    "sent": "delivered",
    "bounce": "bounced",
    "blocked": "rejected",
    "spam": "complained",
    "unsub": "unsubscribed",
    "open": "opened",
    "click": "clicked",
}


def parse(
    body: bytes,
    headers: Mapping[str, str],
    *,
    secret: Any,
    tolerance: timedelta | None,
    now: c.Clock,
) -> list[DeliveryEvent]:
    """Check the Basic credentials and parse one Mailjet Event API POST."""
    c.check_basic_auth(headers, secret)
    return [_event(raw) for raw in c.as_objects(c.load_json(body), "a Mailjet event")]


def _event(raw: dict[str, Any]) -> DeliveryEvent:
    name = c.text(raw.get("event"))
    kind = _KINDS.get(name or "")
    if kind is None:
        c.unknown("mailjet", name)
        kind = "other"
    bounce_type: BounceType | None = None
    if kind == "bounced":
        if raw.get("hard_bounce") is True:
            bounce_type = "hard"
        elif raw.get("error") == "greylisted":
            kind = "deferred"
        else:
            bounce_type = "soft"
    provider_id = c.text(raw.get("MessageID"))
    recipient = c.text(raw.get("email"))
    stamp = c.text(raw.get("time"))
    parts = (provider_id, name, recipient, stamp)
    custom = c.text(raw.get("CustomID"))
    reason = " ".join(
        t for t in (c.text(raw.get("error_related_to")), c.text(raw.get("error"))) if t
    )
    return DeliveryEvent(
        kind=kind,
        bounce_type=bounce_type,
        recipient=recipient,
        provider="mailjet",
        timestamp=c.from_epoch(raw.get("time")),
        message_id=c.angle(custom) if custom and "@" in custom else None,
        provider_message_id=provider_id,
        event_id=":".join(str(p) for p in parts) if all(parts) else None,
        reason=reason or c.text(raw.get("comment")),
        code=c.text(raw.get("smtp_reply")),
        raw=raw,
    )
