"""SparkPost webhooks: ``auth_type`` basic (required here; the others cannot be checked from the
request alone) and a JSON array of ``{"msys": {"<class>_event": {...}}}`` (``{"msys": {}}`` is the
ping SparkPost sends when a webhook is created).
"""

from __future__ import annotations

from typing import Any

from mailsdk.webhooks import _common as c
from mailsdk.webhooks._event import DeliveryEvent, WebhookPayloadError

# Bounce classes (SparkPost's bounce classification codes): hard for good, and the refusals.
_HARD_CLASSES = {"10", "30", "90"}
_REJECT_CLASSES = {"25", "50", "51", "52", "53", "54", "80"}

_KINDS = c.kinds(
    "delivered: delivery; bounced: bounce, out_of_band; deferred: delay; "
    "complained: spam_complaint; unsubscribed: list_unsubscribe, link_unsubscribe; "
    "opened: open, initial_open, amp_open, amp_initial_open; "
    "clicked: click, amp_click; rejected: policy_rejection, generation_rejection; "
    "failed: generation_failure; other: injection"
)


def _read(hook: c.Webhook, payload: Any, proof: c.Proof) -> list[DeliveryEvent]:
    if not isinstance(payload, list):
        raise WebhookPayloadError("SparkPost sends a JSON array of events")
    events: list[DeliveryEvent] = []
    for item in c.as_objects(payload, "a SparkPost event"):
        msys = c.as_object(item.get("msys"), "SparkPost msys")
        events.extend(_event(hook, c.as_object(raw, "a SparkPost event")) for raw in msys.values())
    return events


def _event(hook: c.Webhook, raw: dict[str, Any]) -> DeliveryEvent:
    kind = hook.kind(c.text(raw.get("type")))
    bounce_class = c.text(raw.get("bounce_class"))
    if kind[0] == "bounced":
        if bounce_class in _REJECT_CLASSES:
            kind = ("rejected", None)
        else:
            kind = ("bounced", "hard" if bounce_class in _HARD_CLASSES else "soft")
    return hook.event(
        raw,
        kind,
        c.from_epoch(raw.get("timestamp")),
        recipient=c.text(raw.get("rcpt_to")) or c.text(raw.get("raw_rcpt_to")),
        message_id=c.from_metadata(raw.get("rcpt_meta")),
        provider_message_id=c.text(raw.get("message_id")),
        event_id=c.text(raw.get("event_id")),
        reason=c.text(raw.get("raw_reason")) or c.text(raw.get("reason")),
        code=c.text(raw.get("error_code")),
    )


WEBHOOK = c.Webhook("sparkpost", verify=c.basic_auth, read=_read, kinds=_KINDS)
