"""Mailtrap sending webhooks: HMAC-SHA256 (hex) of the raw body with the webhook's signing
secret in ``Mailtrap-Signature`` (``X-Mailtrap-Signature`` in older documentation). The body is
``{"events": [...]}`` or JSON Lines; ``event_id`` is the replay id. No signed timestamp.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from mailsdk.webhooks import _common as c
from mailsdk.webhooks._event import BounceType, DeliveryEvent, EventKind, WebhookPayloadError

DEFAULT_TOLERANCE: timedelta | None = None

_KINDS: dict[str, tuple[EventKind, BounceType | None]] = {
    "delivery": ("delivered", None),
    "bounce": ("bounced", "hard"),
    "soft bounce": ("bounced", "soft"),
    "suspension": ("deferred", None),
    "spam complaint": ("complained", None),
    "spam": ("complained", None),
    "unsubscribe": ("unsubscribed", None),
    "open": ("opened", None),
    "click": ("clicked", None),
    "reject": ("rejected", None),
}


def parse(
    body: bytes,
    headers: Mapping[str, str],
    *,
    secret: Any,
    tolerance: timedelta | None,
    now: c.Clock,
) -> list[DeliveryEvent]:
    """Verify and parse one Mailtrap webhook POST (JSON or JSON Lines)."""
    key = c.secret_bytes(secret, "the Mailtrap signing secret")
    given = c.header(headers, "Mailtrap-Signature") or c.header(headers, "X-Mailtrap-Signature")
    c.check_hmac_hex(key, bytes(body), given)
    try:
        payload = c.load_json(body)
        items = c.as_object(payload, "a Mailtrap webhook").get("events")
        if not isinstance(items, list):
            raise WebhookPayloadError("Mailtrap webhook has no events array")
    except WebhookPayloadError:
        items = _json_lines(body)
    return [_event(raw) for raw in c.as_objects(items, "a Mailtrap event")]


def _json_lines(body: bytes) -> list[Any]:
    try:
        lines = bytes(body).decode("utf-8").splitlines()
        items = [json.loads(line) for line in lines if line.strip()]
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise WebhookPayloadError(
            "Mailtrap body is neither {events: [...]} nor JSON Lines"
        ) from None
    if not items or not all(isinstance(item, dict) and "event" in item for item in items):
        raise WebhookPayloadError("Mailtrap body is neither {events: [...]} nor JSON Lines")
    return items


def _event(raw: dict[str, Any]) -> DeliveryEvent:
    name = c.text(raw.get("event"))
    kind, bounce_type = _KINDS.get(name or "", ("other", None))
    if name not in _KINDS:
        c.unknown("mailtrap", name)
    return DeliveryEvent(
        kind=kind,
        bounce_type=bounce_type,
        recipient=c.text(raw.get("email")),
        provider="mailtrap",
        timestamp=c.from_epoch(raw.get("timestamp")),
        message_id=c.from_metadata(raw.get("custom_variables")),
        provider_message_id=c.text(raw.get("message_id")),
        event_id=c.text(raw.get("event_id")),
        reason=c.text(raw.get("response")) or c.text(raw.get("reason")),
        code=c.text(raw.get("response_code")),
        raw=raw,
    )
