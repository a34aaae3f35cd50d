"""Amazon SES events delivered by SNS: the SNS message signature is checked, then the SES
notification inside ``Message`` is read.

SNS signs a canonical string (``Key\\nValue\\n`` for a fixed list of fields, in order) with RSA:
``SignatureVersion`` 1 is SHA1withRSA, 2 is SHA256withRSA. The certificate comes from
``SigningCertURL``, which must be https on ``sns.<region>.amazonaws.com`` (or ``.com.cn``) and
end in ``.pem`` before anything is fetched; it is fetched through ``fetch_certificate`` (an
injectable callable, cached per URL). SNS retries keep the publish-time ``Timestamp`` and the
same signature (custom policies retry for up to an hour), so the default tolerance is one hour
and the SNS ``MessageId`` is the replay id.

A ``SubscriptionConfirmation`` is verified like a notification and handed to
``on_subscription`` (for example :func:`confirm_subscription`), never auto-confirmed silently;
it yields no delivery event.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from mailsdk.webhooks import _common as c
from mailsdk.webhooks._event import (
    BounceType,
    DeliveryEvent,
    EventKind,
    WebhookPayloadError,
    WebhookSignatureError,
)

__all__ = ["SnsSubscription", "confirm_subscription", "parse", "valid_sns_url"]

log = logging.getLogger("mailsdk.webhooks")

_TOLERANCE = timedelta(hours=1)

CertificateFetcher = Callable[[str], bytes]
"""Takes a validated https SNS URL, returns the PEM bytes found there."""

_SNS_HOST = re.compile(r"^sns\.[a-zA-Z0-9\-]{3,}\.amazonaws\.com(\.cn)?$")
_NOTIFICATION_FIELDS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
_CONFIRMATION_FIELDS = (
    "Message",
    "MessageId",
    "SubscribeURL",
    "Timestamp",
    "Token",
    "TopicArn",
    "Type",
)


@dataclass(frozen=True, slots=True)
class SnsSubscription:
    """A verified SNS SubscriptionConfirmation (or UnsubscribeConfirmation)."""

    type: str
    topic_arn: str
    subscribe_url: str
    token: str
    message: str


def valid_sns_url(url: str, *, pem: bool = False) -> bool:
    """True for an https URL on an SNS host (``sns.<region>.amazonaws.com[.cn]``), no port, no
    credentials; with *pem*, also ending in ``.pem`` (a signing certificate)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return False
    return (
        parts.scheme == "https"
        and port is None
        and parts.username is None
        and _SNS_HOST.match(parts.hostname or "") is not None
        and (not pem or parts.path.endswith(".pem"))
    )


def _https_fetch(url: str) -> bytes:
    import httpx

    response = httpx.get(url, timeout=10.0, follow_redirects=False)
    response.raise_for_status()
    return response.content


# Keyed by the fetcher too, so a test's (or tenant's) fetcher never sees another's certificate.
_cache: dict[tuple[str, CertificateFetcher], rsa.RSAPublicKey] = {}
_cache_lock = threading.Lock()


def _public_key(url: str, fetch: CertificateFetcher) -> rsa.RSAPublicKey:
    if not valid_sns_url(url, pem=True):
        raise WebhookSignatureError("SigningCertURL is not an https SNS certificate URL")
    with _cache_lock:
        cached = _cache.get((url, fetch))
    if cached is not None:
        return cached
    try:
        cert = x509.load_pem_x509_certificate(fetch(url))
    except WebhookSignatureError:
        raise
    except Exception as exc:
        raise WebhookSignatureError(
            f"could not get the SNS signing certificate: {type(exc).__name__}"
        ) from None
    key = cert.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise WebhookSignatureError("the SNS signing certificate has no RSA key")
    with _cache_lock:
        if len(_cache) > 64:
            _cache.clear()
        _cache[(url, fetch)] = key
    return key


def canonical_string(message: Mapping[str, Any]) -> bytes:
    """The string SNS signs for *message* (fields by type, ``Subject`` only when present)."""
    kind = message.get("Type")
    fields = _NOTIFICATION_FIELDS if kind == "Notification" else _CONFIRMATION_FIELDS
    out = []
    for name in fields:
        value = message.get(name)
        if value is None:
            if name == "Subject":
                continue
            raise WebhookSignatureError(f"SNS message has no {name}")
        if not isinstance(value, str):
            raise WebhookSignatureError(f"SNS field {name} is not a string")
        out.append(f"{name}\n{value}\n")
    return "".join(out).encode("utf-8", "surrogatepass")


def verify(message: Mapping[str, Any], fetch: CertificateFetcher) -> None:
    """Check an SNS message's signature (v1 SHA1, v2 SHA256)."""
    version = message.get("SignatureVersion")
    algorithm: hashes.HashAlgorithm
    if version == "1":
        algorithm = hashes.SHA1()  # noqa: S303 - SNS SignatureVersion 1 is SHA1withRSA
    elif version == "2":
        algorithm = hashes.SHA256()
    else:
        raise WebhookSignatureError(f"unsupported SNS SignatureVersion {version!r:.20}")
    signature, url = message.get("Signature"), message.get("SigningCertURL")
    if not isinstance(signature, str) or not isinstance(url, str):
        raise WebhookSignatureError("SNS Signature or SigningCertURL missing")
    try:
        raw_signature = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        raise WebhookSignatureError("SNS Signature is not base64") from None
    signed = canonical_string(message)
    key = _public_key(url, fetch)
    try:
        key.verify(raw_signature, signed, padding.PKCS1v15(), algorithm)
    except (InvalidSignature, ValueError):
        raise WebhookSignatureError("SNS signature does not match") from None


def confirm_subscription(
    subscription: SnsSubscription, fetch: CertificateFetcher = _https_fetch
) -> None:
    """Confirm a subscription by GET on its SubscribeURL (checked to be an SNS https URL)."""
    if not valid_sns_url(subscription.subscribe_url):
        raise WebhookSignatureError("SubscribeURL is not an https SNS URL")
    fetch(subscription.subscribe_url)


def parse(
    body: bytes,
    headers: Mapping[str, str],
    *,
    secret: Any,
    tolerance: timedelta | None,
    now: c.Clock,
    fetch_certificate: CertificateFetcher | None = None,
    on_subscription: Callable[[SnsSubscription], None] | None = None,
    topic_arns: tuple[str, ...] | None = None,
) -> list[DeliveryEvent]:
    """Verify and parse one SNS POST carrying SES events.

    *secret*, when given, is Basic credentials checked as well (SNS sends them when the
    subscription URL has them). *topic_arns* limits the topics accepted.
    """
    if secret is not None:
        c.check_basic_auth(headers, secret)
    envelope = c.as_object(c.load_json(body), "an SNS message")
    verify(envelope, fetch_certificate or _https_fetch)
    signed_at = c.from_iso(envelope.get("Timestamp"))
    c.check_fresh(signed_at, tolerance, now)
    topic = envelope.get("TopicArn")
    if topic_arns is not None and topic not in topic_arns:
        raise WebhookSignatureError(f"SNS topic {topic!r:.200} is not one of ours")
    kind = envelope["Type"]
    if kind in ("SubscriptionConfirmation", "UnsubscribeConfirmation"):
        subscription = SnsSubscription(
            type=kind,
            topic_arn=envelope["TopicArn"],
            subscribe_url=envelope["SubscribeURL"],
            token=envelope["Token"],
            message=envelope["Message"],
        )
        if on_subscription is not None:
            on_subscription(subscription)
        else:
            log.warning(
                "SNS %s for %s not confirmed (pass on_subscription=): %s",
                kind,
                subscription.topic_arn,
                subscription.subscribe_url,
            )
        return []
    if kind != "Notification":
        raise WebhookPayloadError(f"unknown SNS message Type {kind!r:.40}")
    try:
        notification = json.loads(envelope["Message"])
    except (ValueError, RecursionError):
        raise WebhookPayloadError("SNS Message is not an SES JSON notification") from None
    return _events(c.as_object(notification, "an SES notification"), envelope["MessageId"])


def _events(raw: dict[str, Any], sns_id: str) -> list[DeliveryEvent]:
    name = c.text(raw.get("eventType")) or c.text(raw.get("notificationType")) or ""
    mail = c.sub(raw, "mail")
    common = c.sub(mail, "commonHeaders")
    tags = c.sub(mail, "tags")
    meta_id = tags.get("mailsdk_message_id")
    our_id = (
        c.from_metadata({"mailsdk_message_id": meta_id[0]})
        if isinstance(meta_id, list) and meta_id
        else None
    )
    base = {
        "provider": "ses",
        "message_id": our_id or c.angle(common.get("messageId")),
        "provider_message_id": c.text(mail.get("messageId")),
        "raw": raw,
    }
    # SES detail blocks are named after the type with a lower-case first letter.
    detail_key = name[:1].lower() + name[1:] if name else ""
    detail = c.sub(raw, detail_key)
    stamp_value = detail.get("timestamp") or mail.get("timestamp")
    stamp = c.from_iso(stamp_value)
    kind: EventKind
    bounce_type: BounceType | None = None
    people: list[tuple[str | None, str | None, str | None]]  # (address, reason, code)

    def listed(
        key: str, address_key: str = "emailAddress"
    ) -> list[tuple[str | None, str | None, str | None]]:
        items = detail.get(key)
        if not isinstance(items, list):
            return [(None, None, None)]
        out = []
        for item in items:
            if isinstance(item, dict):
                out.append(
                    (
                        c.text(item.get(address_key)),
                        c.text(item.get("diagnosticCode")),
                        c.text(item.get("status")),
                    )
                )
            else:
                out.append((c.text(item), None, None))
        return out or [(None, None, None)]

    if name == "Bounce":
        bounce = c.text(detail.get("bounceType"))
        kind, bounce_type = "bounced", "hard" if bounce == "Permanent" else "soft"
        people = listed("bouncedRecipients")
    elif name == "Complaint":
        kind = "complained"
        people = listed("complainedRecipients")
    elif name == "Delivery":
        kind = "delivered"
        smtp = c.text(detail.get("smtpResponse"))
        people = [(a, smtp, None) for a, _, _ in listed("recipients")]
    elif name == "DeliveryDelay":
        kind = "deferred"
        people = listed("delayedRecipients")
    elif name in ("Reject", "Rendering Failure"):
        kind = "rejected" if name == "Reject" else "failed"
        reason = c.text(detail.get("reason")) or c.text(detail.get("errorMessage"))
        people = [(a, reason, None) for a in _destination(mail)]
    elif name in ("Open", "Click", "Subscription", "Send"):
        kind = {"Open": "opened", "Click": "clicked", "Subscription": "unsubscribed"}.get(
            name, "other"
        )  # type: ignore[assignment]
        people = [(a, None, None) for a in _destination(mail)]
    else:
        c.unknown("ses", name)
        kind = "other"
        people = [(a, None, None) for a in _destination(mail)]
    many = len(people) > 1
    return [
        DeliveryEvent(
            kind=kind,
            bounce_type=bounce_type,
            recipient=address,
            timestamp=stamp,
            event_id=f"{sns_id}:{index}" if many else sns_id,
            reason=reason,
            code=code,
            **base,  # type: ignore[arg-type]
        )
        for index, (address, reason, code) in enumerate(people)
    ]


def _destination(mail: Mapping[str, Any]) -> list[str | None]:
    items = mail.get("destination")
    if isinstance(items, list) and items:
        return [c.text(item) for item in items]
    return [None]


WEBHOOK = c.Custom(parse, tolerance=_TOLERANCE)
