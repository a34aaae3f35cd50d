"""SendGrid Event Webhook: ECDSA P-256 signed, a JSON array of events.

SendGrid signs ``timestamp header + raw body`` with ECDSA over SHA-256 and sends the
base64 DER signature in ``X-Twilio-Email-Event-Webhook-Signature`` and the timestamp in
``X-Twilio-Email-Event-Webhook-Timestamp``; the verification key shown in the SendGrid
console is the base64 DER of the public key. Retries go on for up to 24 hours and whether they
are signed afresh is not documented, so the default tolerance is 24 hours (replays within it
are dropped by ``sg_event_id``).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from mailsdk.webhooks import _common as c
from mailsdk.webhooks._event import (
    BounceType,
    DeliveryEvent,
    EventKind,
    WebhookPayloadError,
    WebhookSignatureError,
)

DEFAULT_TOLERANCE: timedelta | None = timedelta(hours=24)

_KINDS: dict[str, EventKind] = {
    "delivered": "delivered",
    "bounce": "bounced",
    "deferred": "deferred",
    "dropped": "rejected",
    "spamreport": "complained",
    "unsubscribe": "unsubscribed",
    "group_unsubscribe": "unsubscribed",
    "open": "opened",
    "click": "clicked",
    # Known, but not a delivery outcome: kept as "other" without a log line.
    "processed": "other",
    "group_resubscribe": "other",
}


def _public_key(secret: Any) -> ec.EllipticCurvePublicKey:
    if isinstance(secret, ec.EllipticCurvePublicKey):
        return secret
    data = c.secret_bytes(secret, "the SendGrid verification key")
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            key = serialization.load_pem_public_key(data)
        else:
            key = serialization.load_der_public_key(base64.b64decode(data, validate=True))
    except (ValueError, binascii.Error, TypeError) as exc:
        raise c.SecretTypeError(
            f"the SendGrid verification key is not an EC public key: {exc}"
        ) from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise c.SecretTypeError("the SendGrid verification key is not an EC public key")
    return key


def verify(body: bytes, headers: Mapping[str, str], secret: Any) -> str:
    """Check the signature; returns the signed timestamp header."""
    key = _public_key(secret)
    signature = c.header(headers, "X-Twilio-Email-Event-Webhook-Signature")
    timestamp = c.header(headers, "X-Twilio-Email-Event-Webhook-Timestamp")
    if not signature or not timestamp:
        raise WebhookSignatureError("SendGrid signature or timestamp header missing")
    try:
        der = base64.b64decode(signature.strip(), validate=True)
        key.verify(der, timestamp.encode("utf-8") + bytes(body), ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, binascii.Error, ValueError, UnicodeEncodeError):
        raise WebhookSignatureError("SendGrid signature does not match") from None
    return timestamp


def parse(
    body: bytes,
    headers: Mapping[str, str],
    *,
    secret: Any,
    tolerance: timedelta | None,
    now: c.Clock,
) -> list[DeliveryEvent]:
    """Verify and parse one SendGrid Event Webhook POST."""
    timestamp = verify(body, headers, secret)
    try:
        signed_at = c.from_epoch(timestamp.strip())
    except WebhookPayloadError:
        raise WebhookSignatureError("SendGrid timestamp header is not a Unix time") from None
    c.check_fresh(signed_at, tolerance, now)
    payload = c.load_json(body)
    if not isinstance(payload, list):
        raise WebhookPayloadError("SendGrid sends a JSON array of events")
    return [_event(item) for item in c.as_objects(payload, "a SendGrid event")]


def _event(raw: dict[str, Any]) -> DeliveryEvent:
    name = c.text(raw.get("event"))
    kind = _KINDS.get(name or "")
    if kind is None:
        c.unknown("sendgrid", name)
        kind = "other"
    bounce_type: BounceType | None = None
    if kind == "bounced":
        # type=blocked is a refusal by the receiving server that may pass (a soft bounce).
        bounce_type = "soft" if raw.get("type") == "blocked" else "hard"
    provider_id = c.text(raw.get("sg_message_id"))
    return DeliveryEvent(
        kind=kind,
        bounce_type=bounce_type,
        recipient=c.text(raw.get("email")),
        provider="sendgrid",
        timestamp=c.from_epoch(raw.get("timestamp")),
        # Our metadata first: smtp-id may be the Message-ID SendGrid wrote, not ours.
        message_id=c.from_metadata(raw) or c.angle(raw.get("smtp-id")),
        provider_message_id=provider_id,
        event_id=c.text(raw.get("sg_event_id")),
        reason=c.text(raw.get("reason")) or c.text(raw.get("response")),
        code=c.text(raw.get("status")),
        raw=raw,
    )
