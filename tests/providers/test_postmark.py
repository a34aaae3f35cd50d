"""Postmark /email: the exact request, replies, ErrorCode mapping, inactive recipients, URLs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
import respx
from contract_table import (
    EVERYONE,
    INACTIVE_TAIL,
    MESSAGE_ID,
    PLAIN,
    POSTMARK,
    POSTMARK_ID,
    Post,
    b64,
    json_request,
    postmark_ok,
    sent_json,
)

from mailsdk import RecipientsRefused, RelayError, parse_url
from mailsdk.transports.http.postmark import PostmarkTransport

ROW = POSTMARK  # the transport fixture builds its transport
URL = ROW.endpoint


# -- the request -------------------------------------------------------------------------


async def test_request_carries_every_feature(post: Post) -> None:
    request, body = json_request(await post(tags=["reports"]), accepts_json=True)
    assert "Authorization" not in request.headers
    assert body == {
        "From": "Reports Bot <reports@example.com>",
        "To": 'Alice Example <alice@example.com>, "Doe, Jane" <jane@example.org>',
        "Cc": "carol@example.net",
        "Bcc": "audit@example.com",
        "ReplyTo": "Support <support@example.com>",
        "Subject": "Your March report",
        "TextBody": "Hello Alice,\nyour report is attached.",
        "HtmlBody": '<p>Hello Alice,</p><img src="cid:logo@example.com">',
        "Headers": [
            {"Name": "Message-ID", "Value": MESSAGE_ID},
            {"Name": "X-Campaign", "Value": "spring-2026"},
        ],
        "Attachments": [
            {
                "Name": "report.pdf",
                "Content": b64(b"%PDF-1.4 fake"),
                "ContentType": "application/pdf",
            },
            {
                "Name": "logo.png",
                "Content": b64(b"\x89PNG fake"),
                "ContentType": "image/png",
                "ContentID": "cid:logo@example.com",
            },
        ],
        "Tag": "reports",
        "Metadata": {"account_id": "42", "plan": "pro", "mailsdk_message_id": MESSAGE_ID},
        "MessageStream": "outbound",
    }


async def test_unicode_domains_go_out_as_idna(post: Post) -> None:
    route = await post(to=["Zoë <zoe@bücher.example>"], cc=[], bcc=[], tags=[])
    assert sent_json(route)["To"] == "Zoë <zoe@xn--bcher-kva.example>"


async def test_plain_message_has_only_what_it_uses(
    post: Post, make_outgoing: Callable[..., Any]
) -> None:
    outgoing = make_outgoing(html=None, **PLAIN)
    route = await post(outgoing)
    assert set(sent_json(route)) == {
        "From",
        "To",
        "Subject",
        "TextBody",
        "Headers",
        "MessageStream",
        "Metadata",
    }
    assert sent_json(route)["Metadata"] == {"mailsdk_message_id": outgoing.message_id}
    assert sent_json(route)["Headers"] == [{"Name": "Message-ID", "Value": outgoing.message_id}]


async def test_a_restricted_envelope_sends_only_those_recipients(
    transport: PostmarkTransport, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    route = respx_mock.post(URL).mock(return_value=postmark_ok())
    await transport.send(make_outgoing(tags=[]).restricted_to(["jane@example.org"]))
    body = sent_json(route)
    assert body["To"] == '"Doe, Jane" <jane@example.org>'
    assert "Cc" not in body
    assert "Bcc" not in body


async def test_message_stream_from_the_url(
    api_key: str, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    route = respx_mock.post(URL).mock(return_value=postmark_ok())
    transport = PostmarkTransport.from_url(
        parse_url(f"postmark://{api_key}@default?message_stream=broadcast")
    )
    await transport.send(make_outgoing(tags=[]))
    assert sent_json(route)["MessageStream"] == "broadcast"


# -- features Postmark cannot express are refused before any request ----------------------


async def test_a_repeated_tag_is_one_tag(post: Post) -> None:
    route = await post(tags=["reports", "reports"])
    assert sent_json(route)["Tag"] == "reports"


# -- replies -----------------------------------------------------------------------------


async def test_delayed_delivery_without_error_code_is_accepted(
    transport: PostmarkTransport, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    body = {"MessageID": POSTMARK_ID, "Message": "Message accepted, but delivery may be delayed."}
    respx_mock.post(URL).mock(return_value=httpx.Response(200, json=body))
    result = await transport.send(make_outgoing(tags=[]))
    assert result.provider_id == POSTMARK_ID
    assert result.accepted == EVERYONE


async def test_inactive_recipients_in_a_success_are_refused_one_by_one(
    transport: PostmarkTransport, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    text = (
        "Message OK, but will not deliver to these inactive addresses: carol@example.net, "
        f"audit@example.com. {INACTIVE_TAIL}"
    )
    respx_mock.post(URL).mock(return_value=postmark_ok(text))
    # Postmark reports addresses in lower case; the result names them as the envelope does.
    result = await transport.send(make_outgoing(tags=[], cc=["Carol@example.net"]))
    assert result.accepted == ["alice@example.com", "jane@example.org"]
    assert result.refused == {
        "Carol@example.net": (550, text),
        "audit@example.com": (550, text),
    }
    assert result.provider_id == POSTMARK_ID
    assert not result.ok


async def test_every_recipient_inactive_raises_recipients_refused(
    transport: PostmarkTransport, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    text = (
        "You tried to send to recipient(s) that have been marked as inactive.\n"
        f"Found inactive addresses: alice@example.com. {INACTIVE_TAIL}"
    )
    reply = httpx.Response(422, json={"ErrorCode": 406, "Message": text})
    respx_mock.post(URL).mock(return_value=reply)
    outgoing = make_outgoing(to=["Alice <Alice@example.com>"], cc=[], bcc=[], tags=[])
    with pytest.raises(RecipientsRefused) as info:
        await transport.send(outgoing)
    exc = info.value
    assert list(exc.refused) == ["Alice@example.com"]
    code, said = exc.refused["Alice@example.com"]
    assert code == 550  # permanent: the failover layer must not resend to it
    assert "Found inactive addresses: alice@example.com" in said
    assert not exc.transient
    assert exc.relay == "postmark://default"
    assert exc.__context__ is None


async def test_a_200_carrying_an_error_code_is_an_error(
    transport: PostmarkTransport, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    body = {"ErrorCode": 405, "Message": "Not allowed to send. You have run out of credits."}
    respx_mock.post(URL).mock(return_value=httpx.Response(200, json=body))
    with pytest.raises(RelayError, match="ErrorCode 405"):
        await transport.send(make_outgoing(tags=[]))


# -- secrets -----------------------------------------------------------------------------


# -- URLs --------------------------------------------------------------------------------
