"""SendGrid Event Webhook: ECDSA-signed batches, as in SendGrid's event examples."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from mailsdk.webhooks import WebhookPayloadError, WebhookSignatureError, parse
from tests.webhooks.signing import NOW, SendGridKeys, clock

# Shapes from SendGrid's "Event Webhook reference" examples.
EVENTS = [
    {
        "email": "example@test.com",
        "timestamp": 1513299569,
        "smtp-id": "<14c5d75ce93.dfd.64b469@ismtpd-555>",
        "event": "bounce",
        "category": "cat facts",
        "sg_event_id": "6g4ZI7SA-xmRDv57GoPIPw==",
        "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0",
        "reason": "500 unknown recipient",
        "status": "5.0.0",
        "type": "bounce",
        "mailsdk_message_id": "<our.1@example.com>",
    },
    {
        "email": "example@test.com",
        "timestamp": 1513299569,
        "smtp-id": "<14c5d75ce93.dfd.64b469@ismtpd-555>",
        "event": "bounce",
        "type": "blocked",
        "sg_event_id": "blocked-1",
        "status": "4.0.0",
        "reason": "temporary block",
    },
    {"email": "b@test.com", "timestamp": 1513299569, "event": "spamreport", "sg_event_id": "sp-1"},
    {
        "email": "c@test.com",
        "timestamp": 1513299569,
        "event": "group_unsubscribe",
        "sg_event_id": "u-1",
        "asm_group_id": 1,
    },
    {
        "email": "d@test.com",
        "timestamp": 1513299569,
        "event": "deferred",
        "sg_event_id": "d-1",
        "response": "400 try again later",
        "attempt": "5",
    },
    {
        "email": "e@test.com",
        "timestamp": 1513299569,
        "event": "dropped",
        "sg_event_id": "dr-1",
        "reason": "Bounced Address",
    },
    {
        "email": "f@test.com",
        "timestamp": 1513299569,
        "event": "delivered",
        "sg_event_id": "dl-1",
        "response": "250 OK",
    },
    {
        "email": "g@test.com",
        "timestamp": 1513299569,
        "event": "machine_opened_new",
        "sg_event_id": "n-1",
    },
]


@pytest.fixture(scope="module")
def keys() -> SendGridKeys:
    return SendGridKeys()


def test_a_signed_batch_becomes_normalised_events(keys: SendGridKeys) -> None:
    body = json.dumps(EVENTS).encode()
    events = parse(
        "sendgrid", body=body, headers=keys.headers(body), secret=keys.verification_key, now=clock()
    )
    kinds = [(e.kind, e.bounce_type) for e in events]
    assert kinds == [
        ("bounced", "hard"),
        ("bounced", "soft"),
        ("complained", None),
        ("unsubscribed", None),
        ("deferred", None),
        ("rejected", None),
        ("delivered", None),
        ("other", None),
    ]
    first = events[0]
    assert first.recipient == "example@test.com"
    # The custom_args mailsdk sent win over smtp-id, which may be SendGrid's own Message-ID.
    assert first.message_id == "<our.1@example.com>"
    assert events[1].message_id == "<14c5d75ce93.dfd.64b469@ismtpd-555>"  # no custom_args
    assert first.provider_message_id == "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0"
    assert first.event_id == "6g4ZI7SA-xmRDv57GoPIPw=="
    assert first.timestamp.isoformat() == "2017-12-15T00:59:29+00:00"
    assert (first.reason, first.code) == ("500 unknown recipient", "5.0.0")
    assert first.raw["category"] == "cat facts"
    assert events[4].reason == "400 try again later"
    assert events[-1].raw["event"] == "machine_opened_new"


def test_a_pem_key_works_too(keys: SendGridKeys) -> None:
    from cryptography.hazmat.primitives import serialization

    pem = keys.private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    body = json.dumps(EVENTS[:1]).encode()
    assert parse("sendgrid", body=body, headers=keys.headers(body), secret=pem, now=clock())


def test_a_changed_byte_or_another_key_is_refused(keys: SendGridKeys) -> None:
    body = json.dumps(EVENTS).encode()
    headers = keys.headers(body)
    with pytest.raises(WebhookSignatureError):
        parse(
            "sendgrid",
            body=body.replace(b"bounce", b"bounci", 1),
            headers=headers,
            secret=keys.verification_key,
            now=clock(),
        )
    with pytest.raises(WebhookSignatureError):
        parse(
            "sendgrid",
            body=body,
            headers=headers,
            secret=SendGridKeys().verification_key,
            now=clock(),
        )
    with pytest.raises(WebhookSignatureError):
        parse("sendgrid", body=body, headers={}, secret=keys.verification_key, now=clock())
    stamp = dict(
        headers, **{"X-Twilio-Email-Event-Webhook-Timestamp": str(int(NOW.timestamp()) + 1)}
    )
    with pytest.raises(WebhookSignatureError):
        parse("sendgrid", body=body, headers=stamp, secret=keys.verification_key, now=clock())


def test_a_replayed_request_older_than_the_tolerance_is_refused(keys: SendGridKeys) -> None:
    body = json.dumps(EVENTS[:1]).encode()
    headers = keys.headers(body, at=NOW - timedelta(hours=25))
    with pytest.raises(WebhookSignatureError, match="tolerance"):
        parse("sendgrid", body=body, headers=headers, secret=keys.verification_key, now=clock())
    fresh = keys.headers(body, at=NOW - timedelta(minutes=10))
    with pytest.raises(WebhookSignatureError):
        parse(
            "sendgrid",
            body=body,
            headers=fresh,
            secret=keys.verification_key,
            tolerance=300,
            now=clock(),
        )
    assert parse("sendgrid", body=body, headers=fresh, secret=keys.verification_key, now=clock())


def test_signed_garbage_is_a_payload_error(keys: SendGridKeys) -> None:
    for body in (
        b"not json",
        b'{"event": "bounce"}',
        b"[1, 2]",
        b'[{"event": "open", "timestamp": "soon"}]',
    ):
        with pytest.raises(WebhookPayloadError):
            parse(
                "sendgrid",
                body=body,
                headers=keys.headers(body),
                secret=keys.verification_key,
                now=clock(),
            )
