"""Resend: Svix signatures (Standard Webhooks); payloads as in Resend's event schemas."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from mailsdk.webhooks import WebhookPayloadError, WebhookSignatureError, parse
from tests.webhooks.signing import NOW, SVIX_SECRET, clock, svix_headers

BOUNCED = {
    "type": "email.bounced",
    "created_at": "2024-11-22T23:41:12.126Z",
    "data": {
        "created_at": "2024-11-22T23:41:11.894719+00:00",
        "email_id": "56761188-7520-42d8-8898-ff6fc54ce618",
        "from": "Acme <onboarding@resend.dev>",
        "to": ["delivered@resend.dev"],
        "subject": "Sending this example",
        "bounce": {
            "message": (
                "The recipient's email address is on the suppression list because it has a "
                "recent history of producing hard bounces."
            ),
            "subType": "Suppressed",
            "type": "Permanent",
        },
        "tags": {"mailsdk_message_id": "<our.3@example.com>"},
    },
}


def test_a_signed_bounce_is_a_hard_bounce() -> None:
    body = json.dumps(BOUNCED).encode()
    (event,) = parse(
        "resend", body=body, headers=svix_headers(body), secret=SVIX_SECRET, now=clock()
    )
    assert (event.kind, event.bounce_type) == ("bounced", "hard")
    assert event.recipient == "delivered@resend.dev"
    assert event.provider_message_id == "56761188-7520-42d8-8898-ff6fc54ce618"
    assert event.message_id == "<our.3@example.com>"
    assert event.event_id == "msg_2Lh9KRb0pzN4LePd3XiA4v12Axj"
    assert event.timestamp.isoformat() == "2024-11-22T23:41:12.126000+00:00"
    assert event.reason is not None
    assert "suppression list" in event.reason


def test_transient_bounces_delays_and_new_types() -> None:
    soft = json.loads(json.dumps(BOUNCED))
    soft["data"]["bounce"]["type"] = "Transient"
    delayed = dict(BOUNCED, type="email.delivery_delayed")
    future = dict(BOUNCED, type="email.teleported")
    results = []
    for payload in (soft, delayed, future):
        body = json.dumps(payload).encode()
        results.append(
            parse("resend", body=body, headers=svix_headers(body), secret=SVIX_SECRET, now=clock())[
                0
            ]
        )
    assert [(e.kind, e.bounce_type) for e in results] == [
        ("bounced", "soft"),
        ("deferred", None),
        ("other", None),
    ]


def test_bad_signatures_and_stale_timestamps_are_refused() -> None:
    body = json.dumps(BOUNCED).encode()
    headers = svix_headers(body)
    other = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo="
    with pytest.raises(WebhookSignatureError):
        parse("resend", body=body, headers=headers, secret=other, now=clock())
    with pytest.raises(WebhookSignatureError):
        parse("resend", body=body + b" ", headers=headers, secret=SVIX_SECRET, now=clock())
    with pytest.raises(WebhookSignatureError):
        parse(
            "resend",
            body=body,
            headers=dict(headers, **{"svix-id": "msg_other"}),
            secret=SVIX_SECRET,
            now=clock(),
        )
    old = svix_headers(body, at=NOW - timedelta(minutes=6))
    with pytest.raises(WebhookSignatureError, match="tolerance"):
        parse("resend", body=body, headers=old, secret=SVIX_SECRET, now=clock())
    ahead = svix_headers(body, at=NOW + timedelta(minutes=6))
    with pytest.raises(WebhookSignatureError):
        parse("resend", body=body, headers=ahead, secret=SVIX_SECRET, now=clock())


def test_a_signed_body_without_data_is_a_payload_error() -> None:
    for body in (b'{"type": "email.bounced"}', b"[]", b"\xff\xfe"):
        with pytest.raises(WebhookPayloadError):
            parse("resend", body=body, headers=svix_headers(body), secret=SVIX_SECRET, now=clock())
