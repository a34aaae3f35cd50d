"""Postmark webhooks: not signed, so HTTP Basic credentials (in the webhook URL) are required.

One JSON object per POST with a ``RecordType``; ``X-PM-Webhook-Trace-Id`` names the delivery
attempt's event and is kept as the event id for dropping replays.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from mailsdk.webhooks import _common as c
from mailsdk.webhooks._event import BounceType, DeliveryEvent, EventKind

DEFAULT_TOLERANCE: timedelta | None = None  # nothing signed carries a time

# Bounce "Type" values (Postmark's bounce API): hard for good, soft may pass, rejected by policy.
_HARD = {"HardBounce", "BadEmailAddress", "ManuallyDeactivated", "SpamNotification"}
_DEFERRED = {"Transient", "DnsError", "AutoResponder", "OutOfOffice"}
_REJECTED = {"Blocked", "DMARCPolicy", "InboundError", "Unsubscribe", "VirusNotification"}
_TIME_FIELD = {
    "Delivery": "DeliveredAt",
    "Bounce": "BouncedAt",
    "SpamComplaint": "BouncedAt",
    "Open": "ReceivedAt",
    "Click": "ReceivedAt",
    "SubscriptionChange": "ChangedAt",
}


def parse(
    body: bytes,
    headers: Mapping[str, str],
    *,
    secret: Any,
    tolerance: timedelta | None,
    now: c.Clock,
) -> list[DeliveryEvent]:
    """Check the Basic credentials and parse one Postmark webhook POST."""
    c.check_basic_auth(headers, secret)
    raw = c.as_object(c.load_json(body), "a Postmark webhook")
    return [_event(raw, c.header(headers, "X-PM-Webhook-Trace-Id"))]


def _event(raw: dict[str, Any], trace_id: str | None) -> DeliveryEvent:
    record = c.text(raw.get("RecordType")) or ""
    kind: EventKind
    bounce_type: BounceType | None = None
    if record == "Delivery":
        kind = "delivered"
    elif record == "Bounce":
        kind, bounce_type = _bounce(c.text(raw.get("Type")) or "")
    elif record == "SpamComplaint":
        kind = "complained"
    elif record == "Open":
        kind = "opened"
    elif record == "Click":
        kind = "clicked"
    elif record == "SubscriptionChange":
        # SuppressSending false is a re-subscription: not a suppression.
        kind = "unsubscribed" if raw.get("SuppressSending") is True else "other"
    else:
        c.unknown("postmark", record)
        kind = "other"
    stamp_field = _TIME_FIELD.get(record)
    stamp = raw.get(stamp_field) if stamp_field else None
    recipient = c.text(raw.get("Recipient")) or c.text(raw.get("Email"))
    ident = c.text(raw.get("ID"))
    return DeliveryEvent(
        kind=kind,
        bounce_type=bounce_type,
        recipient=recipient,
        provider="postmark",
        timestamp=c.from_iso(stamp) if stamp is not None else c.from_iso(raw.get("ReceivedAt")),
        message_id=c.from_metadata(raw.get("Metadata")),
        provider_message_id=c.text(raw.get("MessageID")),
        event_id=trace_id or (f"{record}:{ident}" if ident else None),
        reason=c.text(raw.get("Description"))
        or c.text(raw.get("Details"))
        or c.text(raw.get("SuppressionReason")),
        code=c.text(raw.get("TypeCode")),
        raw=raw,
    )


def _bounce(bounce: str) -> tuple[EventKind, BounceType | None]:
    if bounce in _HARD:
        return "bounced", "hard"
    if bounce in _DEFERRED:
        return "deferred", None
    if bounce in _REJECTED:
        return "rejected", None
    return "bounced", "soft"
