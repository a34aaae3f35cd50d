"""Brevo (ex-Sendinblue) transactional webhooks: not signed, so HTTP Basic credentials (in the
webhook URL) are required.

One event object per POST, or an array of them when the webhook is ``batched``. Brevo gives
no event id; one is made from the message id, event, address and ``ts_epoch`` so that a retry
of the same event is dropped.
"""

from __future__ import annotations

import json
from typing import Any

from mailsdk.webhooks import _common as c
from mailsdk.webhooks._event import DeliveryEvent

_KINDS = c.kinds(
    "delivered: delivered; hard: hard_bounce; soft: soft_bounce; deferred: deferred; "
    "complained: spam, complaint; unsubscribed: unsubscribed, unsubscribe; "
    "opened: opened, unique_opened, proxy_open, unique_proxy_open; clicked: click; "
    "rejected: blocked, invalid_email; failed: error; other: request"
)


def _event(hook: c.Webhook, raw: dict[str, Any]) -> DeliveryEvent:
    name = c.text(raw.get("event"))
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
    return hook.event(
        raw,
        hook.kind(name),
        stamp,
        recipient=recipient,
        message_id=our_id or message_id,
        provider_message_id=message_id,
        event_id=":".join(str(p) for p in parts) if all(parts) else None,
        reason=c.text(raw.get("reason")),
    )


def _custom(value: Any) -> Any:
    # X-Mailin-custom echoes the header mailsdk sent its metadata in: a JSON object as text.
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except (ValueError, RecursionError):
        return None


_READ = c.one_or_many("a Brevo event", _event)
WEBHOOK = c.Webhook("brevo", verify=c.basic_auth, read=_READ, kinds=_KINDS)
