"""Brevo (ex-Sendinblue) transactional webhooks: not signed, so HTTP Basic credentials (in the
webhook URL) are required.

One event object per POST, or an array of them when the webhook is ``batched``. Brevo gives
no event id; one is made from the message id, event, address and ``ts_epoch`` so that a retry
of the same event is dropped.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from mailsdk.webhooks import _common as c
from mailsdk.webhooks._event import BounceType, DeliveryEvent, EventKind

DEFAULT_TOLERANCE: timedelta | None = None

_KINDS: dict[str, tuple[EventKind, BounceType | None]] = {
    "delivered": ("delivered", None),
    "hard_bounce": ("bounced", "hard"),
    "soft_bounce": ("bounced", "soft"),
    "deferred": ("deferred", None),
    "spam": ("complained", None),
    "complaint": ("complained", None),
    "unsubscribed": ("unsubscribed", None),
    "unsubscribe": ("unsubscribed", None),
    "opened": ("opened", None),
    "unique_opened": ("opened", None),
    "proxy_open": ("opened", None),
    "unique_proxy_open": ("opened", None),
    "click": ("clicked", None),
    "blocked": ("rejected", None),
    "invalid_email": ("rejected", None),
    "error": ("failed", None),
    "request": ("other", None),
}


def parse(
    body: bytes,
    headers: Mapping[str, str],
    *,
    secret: Any,
    tolerance: timedelta | None,
    now: c.Clock,
) -> list[DeliveryEvent]:
    """Check the Basic credentials and parse one Brevo webhook POST."""
    c.check_basic_auth(headers, secret)
    return [_event(raw) for raw in c.as_objects(c.load_json(body), "a Brevo event")]


def _event(raw: dict[str, Any]) -> DeliveryEvent:
    name = c.text(raw.get("event"))
    kind, bounce_type = _KINDS.get(name or "", ("other", None))
    if name not in _KINDS:
        c.unknown("brevo", name)
    # ts_epoch is UTC milliseconds; "date" is in Brevo's local (Paris) time, so it is a fallback.
    if raw.get("ts_epoch") is not None:
        stamp = c.from_epoch(raw.get("ts_epoch"), millis=True)
    elif raw.get("ts_event") is not None:
        stamp = c.from_epoch(raw.get("ts_event"))
    else:
        stamp = c.from_epoch(raw.get("ts"))
    message_id = c.angle(raw.get("message-id"))
    recipient = c.text(raw.get("email"))
    our_id = c.from_metadata(_custom(raw.get("X-Mailin-custom")))
    parts = (message_id, name, recipient, c.text(raw.get("ts_epoch")))
    return DeliveryEvent(
        kind=kind,
        bounce_type=bounce_type,
        recipient=recipient,
        provider="brevo",
        timestamp=stamp,
        message_id=our_id or message_id,
        provider_message_id=message_id,
        event_id=":".join(str(p) for p in parts) if all(parts) else None,
        reason=c.text(raw.get("reason")),
        raw=raw,
    )


def _custom(value: Any) -> Any:
    # X-Mailin-custom echoes the header mailsdk sent its metadata in: a JSON object as text.
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except (ValueError, RecursionError):
        return None
