"""Postmark webhooks: not signed, so HTTP Basic credentials (in the webhook URL) are required.

One JSON object per POST with a ``RecordType``; ``X-PM-Webhook-Trace-Id`` names the delivery
attempt's event and is kept as the event id for dropping replays.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mailsdk.webhooks import _common as c
from mailsdk.webhooks._event import DeliveryEvent

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

_KINDS = c.kinds(
    "delivered: Delivery; bounced: Bounce; complained: SpamComplaint; opened: Open; "
    "clicked: Click; unsubscribed: SubscriptionChange"
)


def _verify(body: bytes, headers: Mapping[str, str], secret: Any) -> c.Proof:
    # Nothing signed carries a time; the trace id names the delivery attempt's event.
    c.check_basic_auth(headers, secret)
    return c.Proof(delivery_id=c.header(headers, "X-PM-Webhook-Trace-Id"))


def _read(hook: c.Webhook, payload: Any, proof: c.Proof) -> list[DeliveryEvent]:
    raw = c.as_object(payload, "a Postmark webhook")
    record = c.text(raw.get("RecordType")) or ""
    kind = hook.kind(record)
    if record == "Bounce":
        kind = _bounce(c.text(raw.get("Type")) or "")
    elif record == "SubscriptionChange" and raw.get("SuppressSending") is not True:
        kind = ("other", None)  # SuppressSending false is a re-subscription: not a suppression.
    stamp_field = _TIME_FIELD.get(record)
    stamp = raw.get(stamp_field) if stamp_field else None
    ident = c.text(raw.get("ID"))
    event = hook.event(
        raw,
        kind,
        c.from_iso(stamp) if stamp is not None else c.from_iso(raw.get("ReceivedAt")),
        recipient=c.text(raw.get("Recipient")) or c.text(raw.get("Email")),
        message_id=c.from_metadata(raw.get("Metadata")),
        provider_message_id=c.text(raw.get("MessageID")),
        event_id=proof.delivery_id or (f"{record}:{ident}" if ident else None),
        reason=c.text(raw.get("Description"))
        or c.text(raw.get("Details"))
        or c.text(raw.get("SuppressionReason")),
        code=c.text(raw.get("TypeCode")),
    )
    return [event]


def _bounce(bounce: str) -> c.Kind:
    if bounce in _HARD:
        return "bounced", "hard"
    if bounce in _DEFERRED:
        return "deferred", None
    if bounce in _REJECTED:
        return "rejected", None
    return "bounced", "soft"


WEBHOOK = c.Webhook("postmark", verify=_verify, read=_read, kinds=_KINDS)
