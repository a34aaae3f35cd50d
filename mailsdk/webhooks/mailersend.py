"""MailerSend webhooks: HMAC-SHA256 (hex) of the raw body with the webhook's signing secret, in
the ``Signature`` header. Nothing signed carries a time, so there is no timestamp check; the
event's ``data.id`` is the replay id.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from mailsdk.webhooks import _common as c
from mailsdk.webhooks._event import BounceType, DeliveryEvent, EventKind

DEFAULT_TOLERANCE: timedelta | None = None

_KINDS: dict[str, tuple[EventKind, BounceType | None]] = {
    "activity.delivered": ("delivered", None),
    "activity.hard_bounced": ("bounced", "hard"),
    "activity.soft_bounced": ("bounced", "soft"),
    "activity.deferred": ("deferred", None),
    "activity.spam_complaint": ("complained", None),
    "activity.unsubscribed": ("unsubscribed", None),
    "activity.opened": ("opened", None),
    "activity.opened_unique": ("opened", None),
    "activity.clicked": ("clicked", None),
    "activity.clicked_unique": ("clicked", None),
    "activity.sent": ("other", None),
}


def parse(
    body: bytes,
    headers: Mapping[str, str],
    *,
    secret: Any,
    tolerance: timedelta | None,
    now: c.Clock,
) -> list[DeliveryEvent]:
    """Verify and parse one MailerSend webhook POST."""
    key = c.secret_bytes(secret, "the MailerSend signing secret")
    c.check_hmac_hex(key, bytes(body), c.header(headers, "Signature"))
    raw = c.as_object(c.load_json(body), "a MailerSend webhook")
    data = c.as_object(raw.get("data"), "MailerSend data")
    name = c.text(raw.get("type"))
    kind, bounce_type = _KINDS.get(name or "", ("other", None))
    if name not in _KINDS:
        c.unknown("mailersend", name)
    email = c.sub(data, "email")
    message = c.sub(email, "message")
    recipient = c.sub(email, "recipient")
    morph = c.sub(data, "morph")
    stamp = data.get("created_at", raw.get("created_at"))
    return [
        DeliveryEvent(
            kind=kind,
            bounce_type=bounce_type,
            recipient=c.text(recipient.get("email")),
            provider="mailersend",
            timestamp=c.from_iso(stamp),
            provider_message_id=c.text(message.get("id")),
            event_id=c.text(data.get("id")),
            reason=c.text(morph.get("reason")),
            raw=raw,
        )
    ]
