"""Amazon SES via SNS: SNS signatures v1/v2 checked against a self-signed certificate served
by an injected fetcher (never the internet); SES notifications as in the SES docs' examples."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from mailsdk.webhooks import WebhookPayloadError, WebhookSignatureError, parse
from mailsdk.webhooks.ses import SnsSubscription, confirm_subscription, valid_sns_url
from tests.webhooks.signing import NOW, SnsSigner, clock

BOUNCE: dict[str, Any] = {
    "notificationType": "Bounce",
    "bounce": {
        "bounceType": "Permanent",
        "bounceSubType": "General",
        "bouncedRecipients": [
            {
                "emailAddress": "jane@example.com",
                "action": "failed",
                "status": "5.1.1",
                "diagnosticCode": "smtp; 550 5.1.1 user unknown",
            },
            {
                "emailAddress": "richard@example.com",
                "action": "failed",
                "status": "5.1.1",
                "diagnosticCode": "smtp; 550 5.1.1 user unknown",
            },
        ],
        "timestamp": "2016-01-27T14:59:38.237Z",
        "feedbackId": "00000138111222aa-33322211-cccc-cccc-cccc-ddddaaaa0680-000000",
        "remoteMtaIp": "127.0.2.0",
    },
    "mail": {
        "timestamp": "2016-01-27T14:59:38.237Z",
        "messageId": "00000138111222aa-33322211-cccc-cccc-cccc-ddddaaaa0680-000000",
        "source": "john@example.com",
        "destination": ["jane@example.com", "mary@example.com", "richard@example.com"],
        "commonHeaders": {"messageId": "<our.4@example.com>", "subject": "Hello"},
    },
}
COMPLAINT = {
    "eventType": "Complaint",
    "complaint": {
        "complainedRecipients": [{"emailAddress": "richard@example.com"}],
        "timestamp": "2016-01-27T14:59:38.237Z",
        "feedbackId": "0000013786031775-fea503bc-7497-49e1-881b-a0379bb037d3-000000",
        "complaintFeedbackType": "abuse",
    },
    "mail": BOUNCE["mail"],
}


@pytest.fixture(scope="module")
def signer() -> SnsSigner:
    return SnsSigner()


@pytest.mark.parametrize("version", ["1", "2"])
def test_a_signed_bounce_names_each_recipient(signer: SnsSigner, version: str) -> None:
    body = signer.notification(BOUNCE, version=version)
    events = signer.parse(body)
    assert [(e.kind, e.bounce_type, e.recipient) for e in events] == [
        ("bounced", "hard", "jane@example.com"),
        ("bounced", "hard", "richard@example.com"),
    ]
    assert events[0].message_id == "<our.4@example.com>"
    assert events[0].code == "5.1.1"
    assert events[0].reason == "smtp; 550 5.1.1 user unknown"
    assert len({e.event_id for e in events}) == 2
    assert events[0].timestamp.isoformat() == "2016-01-27T14:59:38.237000+00:00"
    assert signer.fetched[-1] == SnsSigner.CERT_URL


def test_event_publishing_types(signer: SnsSigner) -> None:
    delay = {
        "eventType": "DeliveryDelay",
        "deliveryDelay": {
            "delayType": "TransientCommunicationFailure",
            "delayedRecipients": [
                {"emailAddress": "a@example.com", "status": "4.4.1", "diagnosticCode": "smtp; 421"}
            ],
            "timestamp": "2020-06-16T22:00:00.000Z",
        },
        "mail": BOUNCE["mail"],
    }
    novel = {"eventType": "Teleport", "mail": BOUNCE["mail"]}
    (complaint,) = signer.parse(signer.notification(COMPLAINT))
    (deferred,) = signer.parse(signer.notification(delay))
    others = signer.parse(signer.notification(novel))
    assert (complaint.kind, complaint.recipient) == ("complained", "richard@example.com")
    assert (deferred.kind, deferred.code) == ("deferred", "4.4.1")
    assert {e.kind for e in others} == {"other"}
    assert len(others) == 3


def test_a_changed_message_or_a_foreign_certificate_url_is_refused(signer: SnsSigner) -> None:
    envelope = json.loads(signer.notification(BOUNCE))
    envelope["Message"] = envelope["Message"].replace("Permanent", "Transient")
    with pytest.raises(WebhookSignatureError):
        signer.parse(json.dumps(envelope).encode())
    for url in (
        "http://sns.us-east-1.amazonaws.com/cert.pem",
        "https://sns.us-east-1.amazonaws.com.evil.example/cert.pem",
        "https://evil.example/sns.us-east-1.amazonaws.com/cert.pem",
        "https://sns.us-east-1.amazonaws.com:8443/cert.pem",
        "https://user@sns.us-east-1.amazonaws.com/cert.pem",
        "https://sns.us-east-1.amazonaws.com/cert.txt",
    ):
        forged = dict(json.loads(signer.notification(BOUNCE)), SigningCertURL=url)
        before = len(signer.fetched)
        with pytest.raises(WebhookSignatureError, match="SigningCertURL"):
            signer.parse(json.dumps(forged).encode())
        assert len(signer.fetched) == before  # refused before anything was fetched
    assert valid_sns_url("https://sns.cn-north-1.amazonaws.com.cn/x.pem", pem=True)


def test_another_certificate_does_not_verify() -> None:
    signer, impostor = SnsSigner(), SnsSigner()
    with pytest.raises(WebhookSignatureError):
        impostor.parse(signer.notification(BOUNCE))


def test_sns_keeps_the_publish_time_so_the_tolerance_is_an_hour(signer: SnsSigner) -> None:
    late = signer.notification(BOUNCE, at=NOW - timedelta(minutes=50))
    assert signer.parse(late)
    stale = signer.notification(BOUNCE, at=NOW - timedelta(minutes=61))
    with pytest.raises(WebhookSignatureError, match="tolerance"):
        signer.parse(stale)


def test_a_subscription_confirmation_is_verified_and_handed_over(signer: SnsSigner) -> None:
    message = signer.sign(
        {
            "Type": "SubscriptionConfirmation",
            "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
            "Token": "2336412f37fb687f5d51e6e241d09c805a5a57b30d712f794cc5f6a98866" * 3,
            "TopicArn": "arn:aws:sns:us-east-1:123456789012:ses-events",
            "Message": "You have chosen to subscribe to the topic "
            "arn:aws:sns:us-east-1:123456789012:ses-events.",
            "SubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription"
            "&TopicArn=arn:aws:sns:us-east-1:123456789012:ses-events&Token=2336412f",
            "Timestamp": "2026-03-14T15:09:00.000Z",
        }
    )
    seen: list[SnsSubscription] = []
    events = signer.parse(json.dumps(message).encode(), on_subscription=seen.append)
    assert events == []
    assert seen[0].topic_arn.endswith(":ses-events")
    confirm_subscription(seen[0], signer.fetch)
    assert signer.fetched[-1] == seen[0].subscribe_url
    forged = SnsSubscription(
        "SubscriptionConfirmation", "t", "https://evil.example/confirm", "x", "m"
    )
    with pytest.raises(WebhookSignatureError):
        confirm_subscription(forged, signer.fetch)
    with pytest.raises(WebhookSignatureError, match="topic"):
        signer.parse(json.dumps(message).encode(), topic_arns=("arn:aws:sns:us-east-1:1:other",))


def test_signed_but_unreadable_ses_content_is_a_payload_error(signer: SnsSigner) -> None:
    envelope = json.loads(signer.notification(BOUNCE))
    envelope["Message"] = "this is not JSON"
    with pytest.raises(WebhookPayloadError):
        signer.parse(json.dumps(signer.sign(envelope)).encode())
    with pytest.raises(WebhookPayloadError):
        signer.parse(b"[]")


def test_a_certificate_fetch_failure_is_a_signature_error() -> None:
    def broken(url: str) -> bytes:
        raise OSError("network is unreachable")

    body = SnsSigner().notification(BOUNCE, message_id="fresh-url-not-cached")
    envelope = dict(
        json.loads(body), SigningCertURL="https://sns.eu-west-1.amazonaws.com/other.pem"
    )
    with pytest.raises(WebhookSignatureError, match="certificate"):
        parse(
            "ses",
            body=json.dumps(envelope).encode(),
            headers={},
            now=clock(),
            fetch_certificate=broken,
        )
