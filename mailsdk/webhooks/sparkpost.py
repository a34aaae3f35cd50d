"""SparkPost webhooks: ``auth_type`` basic (required here; the others cannot be checked from the
request alone) and a JSON array of ``{"msys": {"<class>_event": {...}}}`` (``{"msys": {}}`` is the
ping SparkPost sends when a webhook is created).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from mailsdk.webhooks import _common as c
from mailsdk.webhooks._event import BounceType, DeliveryEvent, EventKind, WebhookPayloadError

DEFAULT_TOLERANCE: timedelta | None = None

_KINDS: dict[str, EventKind] = {
    "delivery": "delivered",
    "bounce": "bounced",
    "out_of_band": "bounced",
    "delay": "deferred",
    "spam_complaint": "complained",
    "list_unsubscribe": "unsubscribed",
    "link_unsubscribe": "unsubscribed",
    "open": "opened",
    "initial_open": "opened",
    "amp_open": "opened",
    "amp_initial_open": "opened",
    "click": "clicked",
    "amp_click": "clicked",
    "policy_rejection": "rejected",
    "generation_rejection": "rejected",
    "generation_failure": "failed",
    "injection": "other",
}
# Bounce classes (SparkPost's bounce classification codes): hard for good, and the refusals.
_HARD_CLASSES = {"10", "30", "90"}
_REJECT_CLASSES = {"25", "50", "51", "52", "53", "54", "80"}


def parse(
    body: bytes,
    headers: Mapping[str, str],
    *,
    secret: Any,
    tolerance: timedelta | None,
    now: c.Clock,
) -> list[DeliveryEvent]:
    """Check the Basic credentials and parse one SparkPost webhook batch."""
    c.check_basic_auth(headers, secret)
    payload = c.load_json(body)
    if not isinstance(payload, list):
        raise WebhookPayloadError("SparkPost sends a JSON array of events")
    events = []
    for item in c.as_objects(payload, "a SparkPost event"):
        msys = c.as_object(item.get("msys"), "SparkPost msys")
        for raw in msys.values():
            events.append(_event(c.as_object(raw, "a SparkPost event")))
    return events


def _event(raw: dict[str, Any]) -> DeliveryEvent:
    name = c.text(raw.get("type"))
    kind = _KINDS.get(name or "")
    if kind is None:
        c.unknown("sparkpost", name)
        kind = "other"
    bounce_type: BounceType | None = None
    bounce_class = c.text(raw.get("bounce_class"))
    if kind == "bounced":
        if bounce_class in _REJECT_CLASSES:
            kind = "rejected"
        else:
            bounce_type = "hard" if bounce_class in _HARD_CLASSES else "soft"
    meta = raw.get("rcpt_meta")
    return DeliveryEvent(
        kind=kind,
        bounce_type=bounce_type,
        recipient=c.text(raw.get("rcpt_to")) or c.text(raw.get("raw_rcpt_to")),
        provider="sparkpost",
        timestamp=c.from_epoch(raw.get("timestamp")),
        message_id=c.from_metadata(meta),
        provider_message_id=c.text(raw.get("message_id")),
        event_id=c.text(raw.get("event_id")),
        reason=c.text(raw.get("raw_reason")) or c.text(raw.get("reason")),
        code=c.text(raw.get("error_code")),
        raw=raw,
    )
