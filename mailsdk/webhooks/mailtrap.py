"""Mailtrap sending webhooks: HMAC-SHA256 (hex) of the raw body with the webhook's signing
secret in ``Mailtrap-Signature`` (``X-Mailtrap-Signature`` in older documentation). The body is
``{"events": [...]}`` or JSON Lines; ``event_id`` is the replay id. No signed timestamp.
"""

from __future__ import annotations

import json
from typing import Any

from mailsdk.webhooks import _common as c
from mailsdk.webhooks._event import DeliveryEvent, WebhookPayloadError

_KINDS = c.kinds(
    "delivered: delivery; hard: bounce; soft: soft bounce; deferred: suspension; "
    "complained: spam complaint, spam; unsubscribed: unsubscribe; opened: open; "
    "clicked: click; rejected: reject"
)


def _read(hook: c.Webhook, body: bytes, proof: c.Proof) -> list[DeliveryEvent]:
    try:
        payload = c.load_json(body)
        items = c.as_object(payload, "a Mailtrap webhook").get("events")
        if not isinstance(items, list):
            raise WebhookPayloadError("Mailtrap webhook has no events array")
    except WebhookPayloadError:
        items = _json_lines(body)
    return [_event(hook, raw) for raw in c.as_objects(items, "a Mailtrap event")]


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


def _event(hook: c.Webhook, raw: dict[str, Any]) -> DeliveryEvent:
    return hook.event(
        raw,
        hook.kind(c.text(raw.get("event"))),
        c.from_epoch(raw.get("timestamp")),
        recipient=c.text(raw.get("email")),
        message_id=c.from_metadata(raw.get("custom_variables")),
        provider_message_id=c.text(raw.get("message_id")),
        event_id=c.text(raw.get("event_id")),
        reason=c.text(raw.get("response")) or c.text(raw.get("reason")),
        code=c.text(raw.get("response_code")),
    )


_VERIFY = c.hmac_of_body(
    "the Mailtrap signing secret", "Mailtrap-Signature", "X-Mailtrap-Signature"
)
# JSON or JSON Lines: _read tells them apart.
WEBHOOK = c.Webhook("mailtrap", verify=_VERIFY, read=_read, kinds=_KINDS, load=bytes)
