"""Mailgun webhooks: HMAC-SHA256 of timestamp + token with the webhook signing key.

The body is ``{"signature": {"timestamp", "token", "signature"}, "event-data": {...}}``; the
signature covers the timestamp and the token only (not the body), so the token is the replay
id. Mailgun retries for about 8 hours without saying whether it signs again, so the default
tolerance is 8 hours.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from mailsdk.webhooks import _common as c
from mailsdk.webhooks._event import (
    BounceType,
    DeliveryEvent,
    EventKind,
    WebhookPayloadError,
    WebhookSignatureError,
)

DEFAULT_TOLERANCE: timedelta | None = timedelta(hours=8)

_KINDS: dict[str, EventKind] = {
    "delivered": "delivered",
    "failed": "bounced",
    "rejected": "rejected",
    "complained": "complained",
    "unsubscribed": "unsubscribed",
    "opened": "opened",
    "clicked": "clicked",
    "accepted": "other",
    "stored": "other",
}


def parse(
    body: bytes,
    headers: Mapping[str, str],
    *,
    secret: Any,
    tolerance: timedelta | None,
    now: c.Clock,
) -> list[DeliveryEvent]:
    """Verify and parse one Mailgun webhook POST (JSON)."""
    key = c.secret_bytes(secret, "the Mailgun webhook signing key")
    payload = c.load_json(body)
    if not isinstance(payload, dict) or not isinstance(payload.get("signature"), dict):
        raise WebhookSignatureError("Mailgun signature block missing")
    block = payload["signature"]
    timestamp, token = c.text(block.get("timestamp")), c.text(block.get("token"))
    given = block.get("signature")
    if not timestamp or not token or not isinstance(given, str):
        raise WebhookSignatureError("Mailgun signature block incomplete")
    c.check_hmac_hex(key, (timestamp + token).encode(), given)
    try:
        signed_at = c.from_epoch(timestamp)
    except WebhookPayloadError:
        raise WebhookSignatureError("Mailgun signed timestamp is not a Unix time") from None
    c.check_fresh(signed_at, tolerance, now)
    data = c.as_object(payload.get("event-data"), "Mailgun event-data")
    return [_event(data, token)]


def _event(raw: dict[str, Any], token: str) -> DeliveryEvent:
    name = c.text(raw.get("event"))
    kind = _KINDS.get(name or "")
    if kind is None:
        c.unknown("mailgun", name)
        kind = "other"
    bounce_type: BounceType | None = None
    if name == "failed":
        if raw.get("severity") == "temporary":
            kind = "deferred"
        else:
            bounce_type = "hard"
    status = c.sub(raw, "delivery-status")
    message = c.sub(raw, "message")
    msg_headers = c.sub(message, "headers")
    our_id = c.angle(msg_headers.get("message-id"))
    reason = c.text(status.get("description")) or c.text(status.get("message"))
    return DeliveryEvent(
        kind=kind,
        bounce_type=bounce_type,
        recipient=c.text(raw.get("recipient")),
        provider="mailgun",
        timestamp=c.from_epoch(raw.get("timestamp")),
        message_id=c.from_metadata(raw.get("user-variables")) or our_id,
        provider_message_id=our_id,
        event_id=c.text(raw.get("id")) or token,
        reason=reason or c.text(raw.get("reason")),
        code=c.text(status.get("code")),
        raw=raw,
    )
