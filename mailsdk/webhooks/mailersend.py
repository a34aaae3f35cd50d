"""MailerSend webhooks: HMAC-SHA256 (hex) of the raw body with the webhook's signing secret, in
the ``Signature`` header. Nothing signed carries a time, so there is no timestamp check; the
event's ``data.id`` is the replay id.
"""

from __future__ import annotations

from typing import Any

from mailsdk.webhooks import _common as c
from mailsdk.webhooks._event import DeliveryEvent

_KINDS = c.kinds(
    "delivered: activity.delivered; hard: activity.hard_bounced; "
    "soft: activity.soft_bounced; deferred: activity.deferred; "
    "complained: activity.spam_complaint; unsubscribed: activity.unsubscribed; "
    "opened: activity.opened, activity.opened_unique; "
    "clicked: activity.clicked, activity.clicked_unique; other: activity.sent"
)


def _read(hook: c.Webhook, payload: Any, proof: c.Proof) -> list[DeliveryEvent]:
    raw = c.as_object(payload, "a MailerSend webhook")
    data = c.as_object(raw.get("data"), "MailerSend data")
    email = c.sub(data, "email")
    stamp = data.get("created_at", raw.get("created_at"))
    return [
        hook.event(
            raw,
            hook.kind(c.text(raw.get("type"))),
            c.from_iso(stamp),
            recipient=c.text(c.sub(email, "recipient").get("email")),
            provider_message_id=c.text(c.sub(email, "message").get("id")),
            event_id=c.text(data.get("id")),
            reason=c.text(c.sub(data, "morph").get("reason")),
        )
    ]


WEBHOOK = c.Webhook(
    "mailersend",
    verify=c.hmac_of_body("the MailerSend signing secret", "Signature"),
    read=_read,
    kinds=_KINDS,
)
