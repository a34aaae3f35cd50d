"""Mailjet Event API: not signed, so HTTP Basic credentials (in the webhook URL) are required.

One event object per POST, or an array with "Version 2" grouping. Mailjet gives no event id;
one is made from the message id, event, address and time.
"""

from __future__ import annotations

from typing import Any

from mailsdk.webhooks import _common as c
from mailsdk.webhooks._event import DeliveryEvent

_KINDS = c.kinds(
    "delivered: sent; bounced: bounce; rejected: blocked; complained: spam; "
    "unsubscribed: unsub; opened: open; clicked: click"
)


def _event(hook: c.Webhook, raw: dict[str, Any]) -> DeliveryEvent:
    name = c.text(raw.get("event"))
    kind = hook.kind(name)
    if kind[0] == "bounced":
        if raw.get("hard_bounce") is True:
            kind = ("bounced", "hard")
        elif raw.get("error") == "greylisted":
            kind = ("deferred", None)
        else:
            kind = ("bounced", "soft")
    provider_id = c.text(raw.get("MessageID"))
    recipient = c.text(raw.get("email"))
    parts = (provider_id, name, recipient, c.text(raw.get("time")))
    custom = c.text(raw.get("CustomID"))
    reason = " ".join(
        t for t in (c.text(raw.get("error_related_to")), c.text(raw.get("error"))) if t
    )
    return hook.event(
        raw,
        kind,
        c.from_epoch(raw.get("time")),
        recipient=recipient,
        message_id=c.angle(custom) if custom and "@" in custom else None,
        provider_message_id=provider_id,
        event_id=":".join(str(p) for p in parts) if all(parts) else None,
        reason=reason or c.text(raw.get("comment")),
        code=c.text(raw.get("smtp_reply")),
    )


_READ = c.one_or_many("a Mailjet event", _event)
WEBHOOK = c.Webhook("mailjet", verify=c.basic_auth, read=_READ, kinds=_KINDS)
