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
from mailsdk.webhooks._event import DeliveryEvent, WebhookPayloadError, WebhookSignatureError

# processed and group_resubscribe are known, not outcomes: "other" without a log line.
_KINDS = c.kinds(
    "delivered: delivered; bounced: bounce; deferred: deferred; rejected: dropped; "
    "complained: spamreport; unsubscribed: unsubscribe, group_unsubscribe; "
    "opened: open; clicked: click; other: processed, group_resubscribe"
)


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


def verify(body: bytes, headers: Mapping[str, str], secret: Any) -> c.Proof:
    """Check the signature; returns when it was signed."""
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
    return c.Proof(signed_at=c.signed_time(timestamp.strip(), "SendGrid timestamp header"))


def _read(hook: c.Webhook, payload: Any, proof: c.Proof) -> list[DeliveryEvent]:
    if not isinstance(payload, list):
        raise WebhookPayloadError("SendGrid sends a JSON array of events")
    return [_event(hook, item) for item in c.as_objects(payload, "a SendGrid event")]


def _event(hook: c.Webhook, raw: dict[str, Any]) -> DeliveryEvent:
    kind = hook.kind(c.text(raw.get("event")))
    if kind[0] == "bounced":
        # type=blocked is a refusal by the receiving server that may pass (a soft bounce).
        kind = ("bounced", "soft" if raw.get("type") == "blocked" else "hard")
    return hook.event(
        raw,
        kind,
        c.from_epoch(raw.get("timestamp")),
        recipient=c.text(raw.get("email")),
        # Our metadata first: smtp-id may be the Message-ID SendGrid wrote, not ours.
        message_id=c.from_metadata(raw) or c.angle(raw.get("smtp-id")),
        provider_message_id=c.text(raw.get("sg_message_id")),
        event_id=c.text(raw.get("sg_event_id")),
        reason=c.text(raw.get("reason")) or c.text(raw.get("response")),
        code=c.text(raw.get("status")),
    )


WEBHOOK = c.Webhook(
    "sendgrid", verify=verify, read=_read, kinds=_KINDS, tolerance=timedelta(hours=24)
)
