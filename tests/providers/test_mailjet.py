"""Mailjet Send API v3.1: the exact request, per-message and per-recipient replies, secrets."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import respx
from contract_table import (
    MAILJET,
    MESSAGE_ID,
    PLAIN,
    PUBLIC_KEY,
    Post,
    Refused,
    b64,
    contacts,
    mailjet_accepted,
    mailjet_error,
    mailjet_message_error,
    sent_json,
)

from mailsdk import Attachment, PermanentError, RecipientsRefused, parse_url
from mailsdk.transports.http import mailjet as mailjet_module
from mailsdk.transports.http.mailjet import MailjetTransport

MAILJET_FIELDS = {"from": "From", "to": "To", "cc": "Cc", "bcc": "Bcc", "reply_to": "ReplyTo"}
ROW = MAILJET  # the transport fixture builds its transport
URL = ROW.endpoint
US_URL = "https://api.us.mailjet.com/v3.1/send"


def one_tag(make_outgoing: Callable[..., Any], **overrides: Any) -> Any:
    """The full message with a single tag: Mailjet has one CustomCampaign."""
    return make_outgoing(**{"tags": ["reports"], **overrides})


# -- the request -------------------------------------------------------------------------


async def test_request_carries_every_feature(
    transport: MailjetTransport,
    api_key: str,
    respx_mock: respx.MockRouter,
    make_outgoing: Callable[..., Any],
) -> None:
    route = respx_mock.post(URL).mock(return_value=mailjet_accepted())
    await transport.send(one_tag(make_outgoing))

    request = route.calls.last.request
    basic = base64.b64encode(f"{PUBLIC_KEY}:{api_key}".encode()).decode()
    assert request.headers["Authorization"] == f"Basic {basic}"
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.content) == {
        "Messages": [
            {
                **contacts("Email", "Name", rename=MAILJET_FIELDS),
                "Subject": "Your March report",
                "TextPart": "Hello Alice,\nyour report is attached.",
                "HTMLPart": '<p>Hello Alice,</p><img src="cid:logo@example.com">',
                # Mailjet refuses a Message-ID header (send-0011) and writes its own.
                "CustomID": MESSAGE_ID,
                "Headers": {"X-Campaign": "spring-2026"},
                "Attachments": [
                    {
                        "ContentType": "application/pdf",
                        "Filename": "report.pdf",
                        "Base64Content": b64(b"%PDF-1.4 fake"),
                    }
                ],
                "InlinedAttachments": [
                    {
                        "ContentType": "image/png",
                        "Filename": "logo.png",
                        "Base64Content": b64(b"\x89PNG fake"),
                        "ContentID": "logo@example.com",
                    }
                ],
                "CustomCampaign": "reports",
                "EventPayload": '{"account_id":"42","plan":"pro"}',
            }
        ]
    }


async def test_plain_message_sends_only_what_it_has(
    post: Post, make_outgoing: Callable[..., Any]
) -> None:
    outgoing = make_outgoing(html=None, **PLAIN)
    route = await post(outgoing)
    (message,) = sent_json(route)["Messages"]
    assert set(message) == {"From", "To", "Subject", "TextPart", "CustomID"}
    assert message["CustomID"] == outgoing.message_id  # a generated id travels the same way


async def test_failover_subset_sends_only_those_recipients(
    transport: MailjetTransport, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    route = respx_mock.post(URL).mock(return_value=mailjet_accepted())
    outgoing = one_tag(make_outgoing).restricted_to(["jane@example.org", "audit@example.com"])
    await transport.send(outgoing)
    (message,) = sent_json(route)["Messages"]
    assert message["To"] == [{"Email": "jane@example.org", "Name": "Doe, Jane"}]
    assert message["Bcc"] == [{"Email": "audit@example.com"}]
    assert "Cc" not in message


async def test_sandbox_mode_and_us_region(
    api_key: str, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    # In sandbox mode Mailjet validates without sending and answers MessageID 0.
    reply = {
        "Messages": [
            {
                "Status": "success",
                "CustomID": "",
                "To": [
                    {
                        "Email": "alice@example.com",
                        "MessageUUID": "",
                        "MessageID": 0,
                        "MessageHref": "https://api.mailjet.com/v3/message/0",
                    }
                ],
                "Cc": [],
                "Bcc": [],
            }
        ]
    }
    route = respx_mock.post(US_URL).mock(return_value=httpx.Response(200, json=reply))
    transport = MailjetTransport.from_url(
        parse_url(f"mailjet://{PUBLIC_KEY}:{api_key}@us?sandbox=true")
    )
    result = await transport.send(one_tag(make_outgoing))
    assert sent_json(route)["SandboxMode"] is True
    assert result.relay == "mailjet://us"
    assert result.provider_id is None


# -- refused before any request ----------------------------------------------------------


async def test_attachment_limits_are_checked_before_sending(
    refused: Refused, make_outgoing: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = Attachment(filename="empty.txt", content=b"")
    await refused(one_tag(make_outgoing, attachments=[empty]), r"empty attachment 'empty\.txt'")
    monkeypatch.setattr(mailjet_module, "_MAX_ATTACHMENTS", 16)  # 15 MB of test data is slow
    await refused(one_tag(make_outgoing), "more than 16 bytes of attachments")


# -- replies -----------------------------------------------------------------------------


async def test_invalid_recipient_is_refused_and_the_others_wait(
    transport: MailjetTransport, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    # mj-0013 names the field (To[1].Email): Mailjet refused the whole message for that one.
    body = mailjet_message_error(
        mailjet_error(
            "mj-0013", 400, '"jane@example.org" is an invalid email address.', "To[1].Email"
        )
    )
    respx_mock.post(URL).mock(return_value=httpx.Response(400, json=body))
    with pytest.raises(RecipientsRefused) as info:
        await transport.send(one_tag(make_outgoing))
    refused = info.value.refused
    assert refused["jane@example.org"] == (
        550,
        'mj-0013: "jane@example.org" is an invalid email address. [To[1].Email]',
    )
    waiting = {r: code for r, (code, _) in refused.items() if r != "jane@example.org"}
    # 4xx: a failover retry sends the message again to these three alone.
    assert waiting == {"alice@example.com": 451, "carol@example.net": 451, "audit@example.com": 451}
    assert info.value.relay == "mailjet://default"


async def test_a_200_with_an_error_status_is_still_an_error(
    transport: MailjetTransport, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    body = mailjet_message_error(
        mailjet_error("send-0003", 400, "At least HTMLPart or TextPart", "TextPart")
    )
    respx_mock.post(URL).mock(return_value=httpx.Response(200, json=body))
    with pytest.raises(PermanentError, match="send-0003"):
        await transport.send(one_tag(make_outgoing))


# -- secrets -----------------------------------------------------------------------------


# -- URLs --------------------------------------------------------------------------------
