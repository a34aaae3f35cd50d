"""Test keys made in the test run, and signers that sign as each provider documents."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import datetime, timedelta, timezone
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

NOW = datetime(2026, 3, 14, 15, 9, 26, tzinfo=timezone.utc)


def clock(at: datetime = NOW) -> Any:
    return lambda: at


def basic(user: str = "hook", password: str = "s3cret:pass") -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


BASIC_SECRET = "hook:s3cret:pass"


class SendGridKeys:
    """An ECDSA P-256 pair; ``verification_key`` is what the SendGrid console shows."""

    def __init__(self) -> None:
        self.private = ec.generate_private_key(ec.SECP256R1())
        der = self.private.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.verification_key = base64.b64encode(der).decode()

    def headers(self, body: bytes, at: datetime = NOW) -> dict[str, str]:
        stamp = str(int(at.timestamp()))
        signature = self.private.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
        return {
            "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
            "X-Twilio-Email-Event-Webhook-Timestamp": stamp,
            "Content-Type": "application/json",
        }


def mailgun_body(
    key: str,
    event_data: dict[str, Any],
    *,
    at: datetime = NOW,
    token: str = "a8ce0edb2dd8301dee6c2405235584e45aa91d1e9f979f3de0",
) -> bytes:
    stamp = str(int(at.timestamp()))
    signature = hmac.new(key.encode(), (stamp + token).encode(), hashlib.sha256).hexdigest()
    payload = {
        "signature": {"timestamp": stamp, "token": token, "signature": signature},
        "event-data": event_data,
    }
    return json.dumps(payload).encode()


SVIX_SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()


def svix_headers(
    body: bytes,
    *,
    msg_id: str = "msg_2Lh9KRb0pzN4LePd3XiA4v12Axj",
    at: datetime = NOW,
    secret: str = SVIX_SECRET,
) -> dict[str, str]:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    stamp = str(int(at.timestamp()))
    digest = hmac.new(key, f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
    good = base64.b64encode(digest).decode()
    return {
        "svix-id": msg_id,
        "svix-timestamp": stamp,
        # An old (rotated) key's signature first: any matching entry passes.
        "svix-signature": f"v1,{base64.b64encode(b'x' * 32).decode()} v1,{good}",
    }


def hex_hmac(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class SnsSigner:
    """A self-signed certificate standing in for SNS's, served by a fake fetcher."""

    CERT_URL = (
        "https://sns.us-east-1.amazonaws.com/"
        "SimpleNotificationService-7ff5318490ec183fbaddaa2a969abfda.pem"
    )

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(NOW - timedelta(days=1))
            .not_valid_after(NOW + timedelta(days=365))
            .sign(self.key, hashes.SHA256())
        )
        self.pem = self.cert.public_bytes(serialization.Encoding.PEM)
        self.fetched: list[str] = []

    def fetch(self, url: str) -> bytes:
        self.fetched.append(url)
        return self.pem

    def parse(self, body: bytes, **options: Any) -> list[Any]:
        """What an SES endpoint at NOW, fetching certificates from this signer, makes of *body*."""
        from mailsdk.webhooks import parse

        return parse(
            "ses", body=body, headers={}, now=clock(), fetch_certificate=self.fetch, **options
        )

    def sign(self, message: dict[str, Any], version: str = "1") -> dict[str, Any]:
        from mailsdk.webhooks.ses import canonical_string

        algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
        signed = dict(message, SignatureVersion=version, SigningCertURL=self.CERT_URL)
        signature = self.key.sign(canonical_string(signed), padding.PKCS1v15(), algorithm)
        signed["Signature"] = base64.b64encode(signature).decode()
        return signed

    def notification(
        self,
        ses_event: dict[str, Any],
        *,
        at: datetime = NOW,
        message_id: str = "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
        version: str = "1",
    ) -> bytes:
        envelope = {
            "Type": "Notification",
            "MessageId": message_id,
            "TopicArn": "arn:aws:sns:us-east-1:123456789012:ses-events",
            "Message": json.dumps(ses_event),
            "Timestamp": at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z",
            "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=arn:aws:sns:us-east-1:123456789012:ses-events:1",
        }
        return json.dumps(self.sign(envelope, version)).encode()
