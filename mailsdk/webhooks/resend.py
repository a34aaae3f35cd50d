"""Resend webhooks, signed by Svix (Standard Webhooks).

The signed content is ``{svix-id}.{svix-timestamp}.{raw body}``, HMAC-SHA256 with the
base64-decoded part of the ``whsec_...`` secret; ``svix-signature`` holds space-separated
``v1,<base64>`` entries, any of which may match (secret rotation). Every retry is signed
afresh with a new timestamp and the same ``svix-id``, so the tolerance is 5 minutes and the
``svix-id`` is the replay id.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from mailsdk.webhooks import _common as c
from mailsdk.webhooks._event import (
    BounceType,
    DeliveryEvent,
    EventKind,
    WebhookSignatureError,
)

DEFAULT_TOLERANCE: timedelta | None = timedelta(minutes=5)

_KINDS: dict[str, EventKind] = {
    "email.delivered": "delivered",
    "email.bounced": "bounced",
    "email.delivery_delayed": "deferred",
    "email.complained": "complained",
    "email.opened": "opened",
    "email.clicked": "clicked",
    "email.failed": "failed",
    "email.suppressed": "rejected",
    "email.sent": "other",
    "email.scheduled": "other",
    "email.received": "other",
}


def _key(secret: Any) -> bytes:
    raw = c.secret_bytes(secret, "the Resend (Svix) signing secret")
    if raw.startswith(b"whsec_"):
        raw = raw[len(b"whsec_") :]
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise c.SecretTypeError("the Resend signing secret is not whsec_<base64>") from None


def verify(body: bytes, headers: Mapping[str, str], secret: Any) -> tuple[str, str]:
    """Check the Svix signature; returns (svix-id, svix-timestamp)."""
    key = _key(secret)
    msg_id = c.header(headers, "svix-id") or c.header(headers, "webhook-id")
    stamp = c.header(headers, "svix-timestamp") or c.header(headers, "webhook-timestamp")
    given = c.header(headers, "svix-signature") or c.header(headers, "webhook-signature")
    if not msg_id or not stamp or not given:
        raise WebhookSignatureError("Svix id, timestamp or signature header missing")
    try:
        signed = f"{msg_id}.{stamp}.".encode() + bytes(body)
    except UnicodeEncodeError:
        raise WebhookSignatureError("Svix headers are not text") from None
    expected = base64.b64encode(hmac.new(key, signed, "sha256").digest())
    for entry in given.split():
        version, _, value = entry.partition(",")
        if version == "v1" and hmac.compare_digest(expected, value.encode("ascii", "replace")):
            return msg_id, stamp
    raise WebhookSignatureError("Svix signature does not match")


def parse(
    body: bytes,
    headers: Mapping[str, str],
    *,
    secret: Any,
    tolerance: timedelta | None,
    now: c.Clock,
) -> list[DeliveryEvent]:
    """Verify and parse one Resend webhook POST."""
    msg_id, stamp = verify(body, headers, secret)
    try:
        signed_at = c.from_epoch(int(stamp))
    except ValueError:
        raise WebhookSignatureError("svix-timestamp is not a Unix time") from None
    c.check_fresh(signed_at, tolerance, now)
    raw = c.as_object(c.load_json(body), "a Resend webhook")
    data = c.as_object(raw.get("data"), "Resend data")
    name = c.text(raw.get("type"))
    kind = _KINDS.get(name or "")
    if kind is None:
        c.unknown("resend", name)
        kind = "other"
    bounce_type: BounceType | None = None
    reason = None
    bounce = data.get("bounce") if isinstance(data.get("bounce"), dict) else None
    if kind == "bounced":
        # Resend calls email.bounced permanent; a Transient/Undetermined type says otherwise.
        bounce_type = "hard" if not bounce or bounce.get("type") == "Permanent" else "soft"
    if bounce:
        reason = c.text(bounce.get("message"))
    failed = data.get("failed") if isinstance(data.get("failed"), dict) else None
    if failed and not reason:
        reason = c.text(failed.get("reason"))
    stamp_value = raw.get("created_at", data.get("created_at"))
    to = data.get("to")
    recipients = ([c.text(r) for r in to] if isinstance(to, list) else [c.text(to)]) or [None]
    tags = data.get("tags")
    message_id = c.from_metadata(tags) if isinstance(tags, dict) else None
    if message_id is None and isinstance(tags, list):
        pairs = {t.get("name"): t.get("value") for t in tags if isinstance(t, dict)}
        message_id = c.from_metadata(pairs)
    timestamp = c.from_iso(stamp_value) if stamp_value is not None else signed_at
    return [
        DeliveryEvent(
            kind=kind,
            bounce_type=bounce_type,
            recipient=recipient,
            provider="resend",
            timestamp=timestamp,
            message_id=message_id,
            provider_message_id=c.text(data.get("email_id")),
            # One POST may name several recipients; each keeps a distinct replay id.
            event_id=msg_id if len(recipients) == 1 else f"{msg_id}:{index}",
            reason=reason,
            raw=raw,
        )
        for index, recipient in enumerate(recipients)
    ]
