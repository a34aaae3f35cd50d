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
from mailsdk.webhooks._event import DeliveryEvent, WebhookSignatureError

_KINDS = c.kinds(
    "delivered: email.delivered; bounced: email.bounced; "
    "deferred: email.delivery_delayed; complained: email.complained; "
    "opened: email.opened; clicked: email.clicked; failed: email.failed; "
    "rejected: email.suppressed; other: email.sent, email.scheduled, email.received"
)


def _key(secret: Any) -> bytes:
    raw = c.secret_bytes(secret, "the Resend (Svix) signing secret")
    if raw.startswith(b"whsec_"):
        raw = raw[len(b"whsec_") :]
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise c.SecretTypeError("the Resend signing secret is not whsec_<base64>") from None


def verify(body: bytes, headers: Mapping[str, str], secret: Any) -> c.Proof:
    """Check the Svix signature; returns when it was signed and the svix-id."""
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
            return c.Proof(signed_at=c.signed_time(stamp, "svix-timestamp"), delivery_id=msg_id)
    raise WebhookSignatureError("Svix signature does not match")


def _read(hook: c.Webhook, payload: Any, proof: c.Proof) -> list[DeliveryEvent]:
    raw = c.as_object(payload, "a Resend webhook")
    data = c.as_object(raw.get("data"), "Resend data")
    kind = hook.kind(c.text(raw.get("type")))
    reason = None
    bounce = data.get("bounce") if isinstance(data.get("bounce"), dict) else None
    if kind[0] == "bounced":
        # Resend calls email.bounced permanent; a Transient/Undetermined type says otherwise.
        kind = ("bounced", "hard" if not bounce or bounce.get("type") == "Permanent" else "soft")
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
    timestamp = c.from_iso(stamp_value) if stamp_value is not None else proof.signed_at
    if timestamp is None:  # never: verify dates every request it lets through
        raise WebhookSignatureError("svix-timestamp missing")
    msg_id = proof.delivery_id
    return [
        hook.event(
            raw,
            kind,
            timestamp,
            recipient=recipient,
            message_id=message_id,
            provider_message_id=c.text(data.get("email_id")),
            # One POST may name several recipients; each keeps a distinct replay id.
            event_id=msg_id if len(recipients) == 1 else f"{msg_id}:{index}",
            reason=reason,
        )
        for index, recipient in enumerate(recipients)
    ]


WEBHOOK = c.Webhook(
    "resend", verify=verify, read=_read, kinds=_KINDS, tolerance=timedelta(minutes=5)
)
