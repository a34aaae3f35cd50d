"""Round trip: the metadata a provider transport sends comes back in that provider's webhook
events as DeliveryEvent.message_id (our Message-ID), however the provider had to carry it.

Each request is built by the real transport (no I/O); its metadata is put where the
provider's event documentation says the provider echoes it, and the event is parsed.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from mailsdk import Message, OutgoingMessage
from mailsdk.transports.http.brevo import BrevoTransport
from mailsdk.transports.http.resend import ResendTransport
from mailsdk.transports.http.ses import SESTransport
from mailsdk.webhooks import parse
from tests.webhooks.signing import BASIC_SECRET, SVIX_SECRET, SnsSigner, basic, clock, svix_headers
from tests.webhooks.test_webhook_basic_auth import BREVO
from tests.webhooks.test_webhook_resend import BOUNCED as RESEND_BOUNCED
from tests.webhooks.test_webhook_ses import BOUNCE as SES_BOUNCE

OUR_ID = "<20260314150926.77.a-long-local-part_with+signs@mail.example.com>"


def outgoing() -> OutgoingMessage:
    return OutgoingMessage(
        Message(
            from_="reports@example.com",
            to=["jane@example.com"],
            subject="Report",
            html="<p>hi</p>",
            headers={"Message-ID": OUR_ID},
        )
    )


def test_ses_tags_carry_the_id_in_base64url_and_come_back_decoded() -> None:
    request = SESTransport("AKIDEXAMPLE", "secret", region="us-east-1").build_request(outgoing())
    tags = {t["Name"]: t["Value"] for t in request.json["EmailTags"]}
    assert "@" not in tags["mailsdk_message_id"]  # SES tag values take no "@", "<" or "."
    notification: dict[str, Any] = json.loads(json.dumps(SES_BOUNCE))
    # SES event publishing lists each tag's values; its own Message-ID header is another id.
    notification["mail"]["tags"] = {name: [value] for name, value in tags.items()}
    notification["mail"]["commonHeaders"]["messageId"] = "<0100018e@email.amazonses.com>"
    signer = SnsSigner()
    events = signer.parse(signer.notification(notification))
    assert {e.message_id for e in events} == {OUR_ID}


def test_resend_tags_carry_the_id_in_base64url_and_come_back_decoded() -> None:
    request = ResendTransport("re_test").build_request(outgoing())
    event: dict[str, Any] = json.loads(json.dumps(RESEND_BOUNCED))
    # Resend echoes the send's tags in data.tags, as an object of name -> value.
    event["data"]["tags"] = {t["name"]: t["value"] for t in request.json["tags"]}
    body = json.dumps(event).encode()
    (parsed,) = parse(
        "resend", body=body, headers=svix_headers(body), secret=SVIX_SECRET, now=clock()
    )
    assert parsed.message_id == OUR_ID


def test_brevo_x_mailin_custom_comes_back_as_the_message_id() -> None:
    request = BrevoTransport("xkeysib-test").build_request(outgoing())
    event = dict(BREVO[0], **{"X-Mailin-custom": request.json["headers"]["X-Mailin-custom"]})
    (parsed,) = parse(
        "brevo", body=json.dumps(event).encode(), headers=basic(), secret=BASIC_SECRET
    )
    assert parsed.message_id == OUR_ID
    # Brevo's own id stays the provider's id.
    assert parsed.provider_message_id == BREVO[0]["message-id"]


@pytest.mark.parametrize(
    "value",
    ["not-base64-at-all!", "AAAA", "bm8gYXQgc2lnbg", ""],  # junk, NUL bytes, no "@", empty
)
def test_a_tag_value_that_is_not_an_encoded_id_is_no_message_id(value: str) -> None:
    event: dict[str, Any] = json.loads(json.dumps(RESEND_BOUNCED))
    event["data"]["tags"] = {"mailsdk_message_id": value}
    body = json.dumps(event).encode()
    (parsed,) = parse(
        "resend", body=body, headers=svix_headers(body), secret=SVIX_SECRET, now=clock()
    )
    assert parsed.message_id is None


def test_brevo_without_our_metadata_keeps_its_message_id_header() -> None:
    for custom in (None, "not json", '{"other": "x"}'):
        event = dict(BREVO[0])
        if custom is not None:
            event["X-Mailin-custom"] = custom
        (parsed,) = parse(
            "brevo", body=json.dumps(event).encode(), headers=basic(), secret=BASIC_SECRET
        )
        assert parsed.message_id == BREVO[0]["message-id"]
