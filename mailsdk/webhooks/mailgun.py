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
from mailsdk.webhooks._event import DeliveryEvent, WebhookSignatureError

_KINDS = c.kinds(
    "delivered: delivered; bounced: failed; rejected: rejected; "
    "complained: complained; unsubscribed: unsubscribed; opened: opened; "
    "clicked: clicked; other: accepted, stored"
)


def _verify(body: bytes, headers: Mapping[str, str], secret: Any) -> c.Proof:
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
    signed_at = c.signed_time(timestamp, "Mailgun signed timestamp")
    return c.Proof(signed_at=signed_at, delivery_id=token)


def _read(hook: c.Webhook, payload: Any, proof: c.Proof) -> list[DeliveryEvent]:
    raw = c.as_object(payload.get("event-data"), "Mailgun event-data")
    name = c.text(raw.get("event"))
    kind = hook.kind(name)
    if name == "failed":
        kind = ("deferred", None) if raw.get("severity") == "temporary" else ("bounced", "hard")
    status = c.sub(raw, "delivery-status")
    our_id = c.angle(c.sub(c.sub(raw, "message"), "headers").get("message-id"))
    reason = c.text(status.get("description")) or c.text(status.get("message"))
    event = hook.event(
        raw,
        kind,
        c.from_epoch(raw.get("timestamp")),
        recipient=c.text(raw.get("recipient")),
        message_id=c.from_metadata(raw.get("user-variables")) or our_id,
        provider_message_id=our_id,
        event_id=c.text(raw.get("id")) or proof.delivery_id,
        reason=reason or c.text(raw.get("reason")),
        code=c.text(status.get("code")),
    )
    return [event]


# Mailgun retries for about 8 hours without saying whether it signs again.
WEBHOOK = c.Webhook(
    "mailgun", verify=_verify, read=_read, kinds=_KINDS, tolerance=timedelta(hours=8)
)
