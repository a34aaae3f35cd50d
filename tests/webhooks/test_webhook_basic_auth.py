"""Postmark, Brevo, SparkPost and Mailjet do not sign: Basic credentials are required and
compared in constant time. Payloads as in each provider's webhook documentation."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from mailsdk.webhooks import WebhookPayloadError, WebhookSignatureError, parse
from tests.webhooks.signing import BASIC_SECRET, basic, clock

POSTMARK_BOUNCE = {
    "RecordType": "Bounce",
    "MessageStream": "outbound",
    "ID": 4323372036854775807,
    "Type": "HardBounce",
    "TypeCode": 1,
    "Name": "Hard bounce",
    "Tag": "Invitation",
    "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
    "Metadata": {"a_key": "a_value", "mailsdk_message_id": "<our.5@example.com>"},
    "ServerID": 23,
    "Description": (
        "The server was unable to deliver your message (ex: unknown user, mailbox not found)."
    ),
    "Details": "Test bounce details",
    "Email": "john@example.com",
    "From": "sender@example.com",
    "BouncedAt": "2019-11-05T16:33:54.9070259Z",
    "Inactive": True,
    "CanActivate": True,
    "Subject": "Test subject",
}
POSTMARK_OTHERS = [
    {
        "RecordType": "Delivery",
        "MessageID": "m",
        "Recipient": "a@example.com",
        "DeliveredAt": "2019-11-05T16:33:54.9070259Z",
        "Details": "Test delivery webhook details",
    },
    {
        "RecordType": "SpamComplaint",
        "ID": 42,
        "Type": "SpamComplaint",
        "MessageID": "m",
        "Email": "b@example.com",
        "BouncedAt": "2019-11-05T16:33:54Z",
    },
    {
        "RecordType": "SubscriptionChange",
        "MessageID": "m",
        "Recipient": "c@example.com",
        "ChangedAt": "2020-02-01T10:53:34.416071Z",
        "SuppressSending": True,
        "SuppressionReason": "ManualSuppression",
    },
    {
        "RecordType": "SubscriptionChange",
        "MessageID": "m",
        "Recipient": "c@example.com",
        "ChangedAt": "2020-02-01T10:53:34Z",
        "SuppressSending": False,
    },
    {
        "RecordType": "Bounce",
        "ID": 43,
        "Type": "SoftBounce",
        "MessageID": "m",
        "Email": "d@example.com",
        "BouncedAt": "2019-11-05T16:33:54Z",
    },
    {
        "RecordType": "Bounce",
        "ID": 44,
        "Type": "Transient",
        "MessageID": "m",
        "Email": "e@example.com",
        "BouncedAt": "2019-11-05T16:33:54Z",
    },
    {"RecordType": "InboundRuleMatch", "ReceivedAt": "2019-11-05T16:33:54Z"},
]


def test_postmark_events_with_credentials() -> None:
    headers = {**basic(), "X-PM-Webhook-Trace-Id": "trace-1"}
    (bounce,) = parse(
        "postmark", body=json.dumps(POSTMARK_BOUNCE).encode(), headers=headers, secret=BASIC_SECRET
    )
    assert (bounce.kind, bounce.bounce_type) == ("bounced", "hard")
    assert bounce.recipient == "john@example.com"
    assert bounce.message_id == "<our.5@example.com>"
    assert bounce.provider_message_id == "883953f4-6105-42a2-a16a-77a8eac79483"
    assert (bounce.event_id, bounce.code) == ("trace-1", "1")
    assert bounce.timestamp.isoformat() == "2019-11-05T16:33:54.907025+00:00"
    kinds = [
        parse(
            "postmark", body=json.dumps(p).encode(), headers=basic(), secret=("hook", "s3cret:pass")
        )[0]
        for p in POSTMARK_OTHERS
    ]
    assert [(e.kind, e.bounce_type) for e in kinds] == [
        ("delivered", None),
        ("complained", None),
        ("unsubscribed", None),
        ("other", None),
        ("bounced", "soft"),
        ("deferred", None),
        ("other", None),
    ]


@pytest.mark.parametrize("provider", ["postmark", "brevo", "sparkpost", "mailjet"])
@pytest.mark.parametrize(
    "headers",
    [
        {},
        basic(password="wrong"),
        basic(user="other"),
        {"Authorization": "Bearer hook:s3cret:pass"},
        {"Authorization": "Basic !!!notbase64"},
    ],
)
def test_missing_or_wrong_credentials_are_refused(provider: str, headers: dict[str, str]) -> None:
    with pytest.raises(WebhookSignatureError):
        parse(provider, body=b"{}", headers=headers, secret=BASIC_SECRET)


def test_a_receiver_without_credentials_configured_is_a_setup_error() -> None:
    with pytest.raises(TypeError, match="required"):
        parse("postmark", body=b"{}", headers=basic())


BREVO = [
    {
        "event": "hard_bounce",
        "email": "example@domain.com",
        "id": 26224,
        "date": "2024-03-27 09:18:08",
        "ts": 1711527488,
        "message-id": "<202403270918.61187476791@smtp-relay.mailin.fr>",
        "ts_event": 1711527488,
        "subject": "Subject Line",
        "tag": "",
        "sending_ip": "185.41.28.109",
        "ts_epoch": 1711527488000,
        "reason": "550 5.1.1 user unknown",
    },
    {"event": "spam", "email": "b@domain.com", "ts_epoch": 1711527488123, "message-id": "<x@y>"},
    {
        "event": "unique_opened",
        "email": "c@domain.com",
        "ts_epoch": 1711527488123,
        "message-id": "<x@y>",
    },
    {
        "event": "soft_bounce",
        "email": "d@domain.com",
        "ts_event": 1711527488,
        "message-id": "<x@y>",
    },
    {"event": "loaded_by_proxy", "email": "e@domain.com", "ts": 1711527488},
]


def test_brevo_single_and_batched() -> None:
    (one,) = parse(
        "brevo", body=json.dumps(BREVO[0]).encode(), headers=basic(), secret=BASIC_SECRET
    )
    assert (one.kind, one.bounce_type, one.recipient) == ("bounced", "hard", "example@domain.com")
    assert one.message_id == "<202403270918.61187476791@smtp-relay.mailin.fr>"
    assert one.timestamp.isoformat() == "2024-03-27T08:18:08+00:00"
    assert one.event_id is not None
    assert one.reason == "550 5.1.1 user unknown"
    batch = parse("brevo", body=json.dumps(BREVO).encode(), headers=basic(), secret=BASIC_SECRET)
    assert [e.kind for e in batch] == ["bounced", "complained", "opened", "bounced", "other"]
    assert batch[3].bounce_type == "soft"


SPARKPOST = [
    {
        "msys": {
            "message_event": {
                "type": "bounce",
                "bounce_class": "10",
                "event_id": "92356927693813856",
                "message_id": "000443ee14578172be22",
                "rcpt_to": "recipient@example.com",
                "raw_reason": "550: 5.1.1 No such user",
                "error_code": "550",
                "reason": "550: 5.1.1 ...",
                "timestamp": "1460989507",
                "rcpt_meta": {"mailsdk_message_id": "<our.6@example.com>"},
            }
        }
    },
    {
        "msys": {
            "message_event": {
                "type": "bounce",
                "bounce_class": "21",
                "event_id": "2",
                "rcpt_to": "soft@example.com",
                "timestamp": "1460989507",
            }
        }
    },
    {
        "msys": {
            "message_event": {
                "type": "bounce",
                "bounce_class": "50",
                "event_id": "3",
                "rcpt_to": "blocked@example.com",
                "timestamp": "1460989507",
            }
        }
    },
    {
        "msys": {
            "message_event": {
                "type": "spam_complaint",
                "event_id": "4",
                "rcpt_to": "c@example.com",
                "timestamp": "1460989507",
            }
        }
    },
    {
        "msys": {
            "unsubscribe_event": {
                "type": "list_unsubscribe",
                "event_id": "5",
                "rcpt_to": "u@example.com",
                "timestamp": "1460989507",
            }
        }
    },
    {
        "msys": {
            "track_event": {
                "type": "amp_scroll",
                "event_id": "6",
                "rcpt_to": "o@example.com",
                "timestamp": "1460989507",
            }
        }
    },
    {"msys": {}},
]


def test_sparkpost_batches_and_the_ping() -> None:
    events = parse(
        "sparkpost", body=json.dumps(SPARKPOST).encode(), headers=basic(), secret=BASIC_SECRET
    )
    assert [(e.kind, e.bounce_type) for e in events] == [
        ("bounced", "hard"),
        ("bounced", "soft"),
        ("rejected", None),
        ("complained", None),
        ("unsubscribed", None),
        ("other", None),
    ]
    assert events[0].message_id == "<our.6@example.com>"
    assert (events[0].code, events[0].event_id) == ("550", "92356927693813856")
    assert parse("sparkpost", body=b'[{"msys": {}}]', headers=basic(), secret=BASIC_SECRET) == []


MAILJET: list[dict[str, Any]] = [
    {
        "event": "bounce",
        "time": 1430812195,
        "MessageID": 13792286917004336,
        "Message_GUID": "g",
        "email": "bounce@mailjet.com",
        "mj_campaign_id": 0,
        "CustomID": "",
        "Payload": "",
        "blocked": True,
        "hard_bounce": True,
        "error_related_to": "recipient",
        "error": "user unknown",
    },
    {
        "event": "bounce",
        "time": 1430812195,
        "MessageID": 1,
        "email": "grey@mailjet.com",
        "hard_bounce": False,
        "error_related_to": "recipient",
        "error": "greylisted",
    },
    {
        "event": "spam",
        "time": 1430812195,
        "MessageID": 2,
        "email": "s@mailjet.com",
        "source": "JMRPP",
    },
    {"event": "unsub", "time": 1430812195, "MessageID": 3, "email": "u@mailjet.com"},
    {
        "event": "sent",
        "time": 1430812195,
        "MessageID": 4,
        "email": "d@mailjet.com",
        "smtp_reply": "sent (250 2.0.0 OK)",
    },
    {
        "event": "blocked",
        "time": 1430812195,
        "MessageID": 5,
        "email": "b@mailjet.com",
        "error": "preblocked",
    },
]


def test_mailjet_events() -> None:
    events = parse(
        "mailjet", body=json.dumps(MAILJET).encode(), headers=basic(), secret=BASIC_SECRET
    )
    assert [(e.kind, e.bounce_type) for e in events] == [
        ("bounced", "hard"),
        ("deferred", None),
        ("complained", None),
        ("unsubscribed", None),
        ("delivered", None),
        ("rejected", None),
    ]
    assert events[0].provider_message_id == "13792286917004336"
    assert events[0].reason == "recipient user unknown"


@pytest.mark.parametrize("provider", ["postmark", "brevo", "sparkpost", "mailjet"])
@pytest.mark.parametrize(
    "body", [b"", b"not json", b"[[1]]", b'"text"', b'{"event": "sent", "time": "never"}', b"\xff"]
)
def test_authenticated_garbage_is_a_payload_error(provider: str, body: bytes) -> None:
    with pytest.raises(WebhookPayloadError):
        parse(provider, body=body, headers=basic(), secret=BASIC_SECRET)


def test_credentials_header_name_and_scheme_are_case_insensitive() -> None:
    token = base64.b64encode(BASIC_SECRET.encode()).decode()
    body = json.dumps(POSTMARK_BOUNCE).encode()
    assert parse(
        "postmark",
        body=body,
        headers={"authorization": f"basic {token}"},
        secret=BASIC_SECRET,
        now=clock(),
    )


def test_secrets_stay_out_of_errors_logs_and_reprs(caplog: pytest.LogCaptureFixture) -> None:
    from mailsdk.suppressions import Suppressions
    from mailsdk.webhooks.receiver import WebhookHandler

    secret = "hook:Very-Secret-Password-42"
    handler = WebhookHandler("postmark", secret=secret, suppressions=Suppressions(":memory:"))
    with caplog.at_level("DEBUG", logger="mailsdk"):
        response = handler.handle(b"{}", basic(password="wrong-guess"))
        with pytest.raises(WebhookSignatureError) as caught:
            parse("postmark", body=b"{}", headers=basic(password="wrong-guess"), secret=secret)
    assert response.status == 403
    for text in (repr(handler), str(caught.value), caplog.text, response.text):
        assert "Very-Secret" not in text
        assert "wrong-guess" not in text
