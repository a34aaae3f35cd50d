"""Mailgun: HMAC-SHA256 over timestamp + token; payloads as in Mailgun's webhook examples."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from mailsdk.webhooks import WebhookPayloadError, WebhookSignatureError, parse
from tests.webhooks.signing import NOW, clock, mailgun_body

KEY = "key-of-the-webhook-signing-kind"


def failed(severity: str) -> dict[str, Any]:
    return {
        "id": "G9Bn5sl1TC6nu79C8C0bwg",
        "timestamp": 1521233195.375624,
        "event": "failed",
        "severity": severity,
        "reason": "bounce" if severity == "permanent" else "generic",
        "recipient": "alice@example.com",
        "delivery-status": {
            "code": 550,
            "message": "5.1.1 The email account that you tried to reach does not exist.",
            "description": "",
        },
        "message": {"headers": {"message-id": "20130503182626.18666.16540@example.com"}},
        "user-variables": {"mailsdk_message_id": "<our.2@example.com>"},
    }


def test_a_permanent_failure_is_a_hard_bounce() -> None:
    (event,) = parse(
        "mailgun", body=mailgun_body(KEY, failed("permanent")), headers={}, secret=KEY, now=clock()
    )
    assert (event.kind, event.bounce_type) == ("bounced", "hard")
    assert event.recipient == "alice@example.com"
    assert event.message_id == "<our.2@example.com>"
    assert event.provider_message_id == "<20130503182626.18666.16540@example.com>"
    assert event.code == "550"
    assert event.reason is not None
    assert event.reason.startswith("5.1.1")
    assert event.event_id == "G9Bn5sl1TC6nu79C8C0bwg"


def test_a_temporary_failure_is_deferred_and_unknown_events_are_other() -> None:
    (event,) = parse(
        "mailgun", body=mailgun_body(KEY, failed("temporary")), headers={}, secret=KEY, now=clock()
    )
    assert (event.kind, event.bounce_type) == ("deferred", None)
    data = {"event": "list_member_uploaded", "timestamp": 1521233195, "id": "x"}
    (other,) = parse("mailgun", body=mailgun_body(KEY, data), headers={}, secret=KEY, now=clock())
    assert other.kind == "other"
    assert other.raw["event"] == "list_member_uploaded"


def test_a_wrong_key_a_changed_token_or_no_signature_is_refused() -> None:
    body = mailgun_body(KEY, failed("permanent"))
    with pytest.raises(WebhookSignatureError):
        parse("mailgun", body=body, headers={}, secret="another-key", now=clock())
    tampered = json.loads(body)
    tampered["signature"]["token"] = "b" * 50
    with pytest.raises(WebhookSignatureError):
        parse("mailgun", body=json.dumps(tampered).encode(), headers={}, secret=KEY, now=clock())
    with pytest.raises(WebhookSignatureError):
        parse(
            "mailgun",
            body=json.dumps({"event-data": failed("permanent")}).encode(),
            headers={},
            secret=KEY,
            now=clock(),
        )


def test_a_stale_timestamp_is_refused() -> None:
    body = mailgun_body(KEY, failed("permanent"), at=NOW - timedelta(hours=9))
    with pytest.raises(WebhookSignatureError, match="tolerance"):
        parse("mailgun", body=body, headers={}, secret=KEY, now=clock())


def test_signed_but_malformed_event_data_is_a_payload_error() -> None:
    for data in ({"event": "failed", "timestamp": "yesterday"}, {"event": "delivered"}):
        with pytest.raises(WebhookPayloadError):
            parse("mailgun", body=mailgun_body(KEY, data), headers={}, secret=KEY, now=clock())
    body = json.loads(mailgun_body(KEY, {}))
    body["event-data"] = ["not", "an", "object"]
    with pytest.raises(WebhookPayloadError):
        parse("mailgun", body=json.dumps(body).encode(), headers={}, secret=KEY, now=clock())
