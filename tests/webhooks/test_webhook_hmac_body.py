"""MailerSend and Mailtrap sign the raw body with HMAC-SHA256 (hex), without a timestamp."""

from __future__ import annotations

import json

import pytest

from mailsdk.webhooks import DeliveryEvent, WebhookPayloadError, WebhookSignatureError, parse
from tests.webhooks.signing import hex_hmac

SECRET = "Bdy1LJbpr1Sn6aVqjaUwdBrSd2qfjNDR"

MAILERSEND = {
    "type": "activity.hard_bounced",
    "domain_id": "yzkq340nv50d0976",
    "created_at": "2022-02-22T10:00:00.000000Z",
    "webhook_id": "0z76k5jg0o3lv5mj",
    "url": "https://example.com/webhook",
    "data": {
        "object": "activity",
        "id": "62149c2c5c2e9b41a9061f22",
        "type": "hard_bounced",
        "created_at": "2022-02-22T10:00:00.000000Z",
        "email": {
            "object": "email",
            "id": "62149c2c5c2e9b41a9061f21",
            "from": "test@example.com",
            "subject": "Test subject",
            "status": "rejected",
            "tags": None,
            "message": {
                "object": "message",
                "id": "62149c2c5c2e9b41a9061f20",
                "created_at": "2022-02-22T10:00:00.000000Z",
            },
            "recipient": {
                "object": "recipient",
                "id": "62149c2c5c2e9b41a9061f1f",
                "email": "test@example.com",
                "created_at": "2022-02-22T10:00:00.000000Z",
            },
        },
        "morph": {"object": "recipient_bounce", "reason": "Host or domain name not found"},
    },
}


def signed(provider: str, header: str, body: bytes) -> list[DeliveryEvent]:
    """*body* parsed as *provider*'s, signed with SECRET in *header*."""
    return parse(provider, body=body, headers={header: hex_hmac(SECRET, body)}, secret=SECRET)


def test_mailersend_signed_hard_bounce() -> None:
    body = json.dumps(MAILERSEND).encode()
    (event,) = signed("mailersend", "Signature", body)
    assert (event.kind, event.bounce_type) == ("bounced", "hard")
    assert event.recipient == "test@example.com"
    assert event.provider_message_id == "62149c2c5c2e9b41a9061f20"
    assert event.event_id == "62149c2c5c2e9b41a9061f22"
    assert event.reason == "Host or domain name not found"
    assert event.timestamp.isoformat() == "2022-02-22T10:00:00+00:00"
    novel = json.dumps(dict(MAILERSEND, type="activity.survey_submitted")).encode()
    (other,) = signed("mailersend", "signature", novel)
    assert other.kind == "other"


def test_mailersend_bad_signature_and_garbage() -> None:
    body = json.dumps(MAILERSEND).encode()
    for headers in ({}, {"Signature": hex_hmac("other", body)}, {"Signature": "zz"}):
        with pytest.raises(WebhookSignatureError):
            parse("mailersend", body=body, headers=headers, secret=SECRET)
    for junk in (b"{}", b"[]", b'{"data": {"created_at": 5}}'):
        with pytest.raises(WebhookPayloadError):
            signed("mailersend", "Signature", junk)


MAILTRAP_EVENTS = [
    {
        "event": "delivery",
        "message_id": "1df37d17-0286-4d8b-8edf-bc4ec5be86e6",
        "sending_stream": "transactional",
        "email": "receiver@example.com",
        "timestamp": 1726358034,
        "event_id": "bede7236-2284-43d6-a953-1fdcafd0fdbc",
        "category": "Password reset",
        "custom_variables": {"mailsdk_message_id": "<our.7@example.com>"},
    },
    {
        "event": "bounce",
        "message_id": "m2",
        "email": "gone@example.com",
        "timestamp": 1726358034,
        "event_id": "e2",
        "response": "550 5.1.1 unknown user",
        "response_code": 550,
        "bounce_category": "invalid",
    },
    {
        "event": "soft bounce",
        "message_id": "m3",
        "email": "full@example.com",
        "timestamp": 1726358034,
        "event_id": "e3",
        "response_code": 452,
    },
    {
        "event": "spam complaint",
        "message_id": "m4",
        "email": "c@example.com",
        "timestamp": 1726358034,
        "event_id": "e4",
    },
    {
        "event": "unsubscribe",
        "message_id": "m5",
        "email": "u@example.com",
        "timestamp": 1726358034,
        "event_id": "e5",
    },
    {
        "event": "suspension",
        "message_id": "m6",
        "email": "s@example.com",
        "timestamp": 1726358034,
        "event_id": "e6",
    },
    {
        "event": "reject",
        "message_id": "m7",
        "email": "r@example.com",
        "timestamp": 1726358034,
        "event_id": "e7",
    },
]


@pytest.mark.parametrize("header", ["Mailtrap-Signature", "X-Mailtrap-Signature"])
def test_mailtrap_json_and_json_lines(header: str) -> None:
    body = json.dumps({"events": MAILTRAP_EVENTS}).encode()
    events = signed("mailtrap", header, body)
    assert [(e.kind, e.bounce_type) for e in events] == [
        ("delivered", None),
        ("bounced", "hard"),
        ("bounced", "soft"),
        ("complained", None),
        ("unsubscribed", None),
        ("deferred", None),
        ("rejected", None),
    ]
    assert events[0].message_id == "<our.7@example.com>"
    assert (events[1].code, events[1].reason) == ("550", "550 5.1.1 unknown user")
    lines = "\n".join(json.dumps(e) for e in MAILTRAP_EVENTS[:2]).encode() + b"\n"
    assert len(signed("mailtrap", header, lines)) == 2


def test_mailtrap_bad_signature_and_garbage() -> None:
    body = json.dumps({"events": MAILTRAP_EVENTS}).encode()
    with pytest.raises(WebhookSignatureError):
        parse(
            "mailtrap",
            body=body,
            headers={"Mailtrap-Signature": hex_hmac(SECRET, body + b"\n")},
            secret=SECRET,
        )
    for junk in (b"{}", b"[1]\n[2]", b'{"events": [1]}', b"\xff"):
        with pytest.raises(WebhookPayloadError):
            signed("mailtrap", "Mailtrap-Signature", junk)
