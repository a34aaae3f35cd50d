"""Mailtrap Email Sending API: the exact request, streams and sandbox, replies, errors, URLs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
import respx
from contract_table import (
    MAILTRAP,
    MAILTRAP_IDS,
    MESSAGE_ID,
    PLAIN,
    Post,
    b64,
    bodies,
    contacts,
    json_request,
    mailtrap_sent,
    sent_json,
)

from mailsdk import OutgoingMessage, PermanentError, RelayError, parse_url
from mailsdk.transports.http.mailtrap import MailtrapTransport

ROW = MAILTRAP  # the transport fixture builds its transport
URL = ROW.endpoint
SANDBOX_URL = "https://sandbox.api.mailtrap.io/api/send/2846072"


@pytest.fixture
def supported(make_outgoing: Callable[..., OutgoingMessage]) -> OutgoingMessage:
    """The full message with one tag: Mailtrap takes a single category."""
    return make_outgoing(tags=["reports"])


# -- the request -------------------------------------------------------------------------


async def test_request_carries_every_feature(post: Post, supported: OutgoingMessage) -> None:
    request, body = json_request(await post(supported))
    # The spec warns that requests without a normal User-Agent may be blocked at the edge.
    assert request.headers["User-Agent"].startswith("mailsdk")
    assert body == {
        **contacts(),
        **bodies(),
        "headers": {"Message-ID": MESSAGE_ID, "X-Campaign": "spring-2026"},
        "attachments": [
            {
                "content": b64(b"%PDF-1.4 fake"),
                "filename": "report.pdf",
                "type": "application/pdf",
                "disposition": "attachment",
            },
            {
                "content": b64(b"\x89PNG fake"),
                "filename": "logo.png",
                "type": "image/png",
                "disposition": "inline",
                "content_id": "logo@example.com",
            },
        ],
        "category": "reports",
        "custom_variables": {
            "account_id": "42",
            "plan": "pro",
            "mailsdk_message_id": MESSAGE_ID,
        },
    }


async def test_text_only_message_has_only_what_it_uses(
    transport: MailtrapTransport,
    respx_mock: respx.MockRouter,
    make_outgoing: Callable[..., Any],
) -> None:
    route = respx_mock.post(URL).mock(return_value=mailtrap_sent(MAILTRAP_IDS[:2]))
    outgoing = make_outgoing(html=None, **PLAIN)
    await transport.send(outgoing)
    body = sent_json(route)
    assert set(body) == {"from", "to", "subject", "text", "headers", "custom_variables"}
    assert body["custom_variables"] == {"mailsdk_message_id": body["headers"]["Message-ID"]}
    assert body["headers"] == {"Message-ID": outgoing.message_id}


async def test_several_reply_to_addresses_go_in_a_header(
    transport: MailtrapTransport, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    # reply_to takes one object; anymail writes the header for several, which Mailtrap passes.
    route = respx_mock.post(URL).mock(return_value=mailtrap_sent())
    await transport.send(
        make_outgoing(tags=[], reply_to=["Support <support@example.com>", '"Doe, J" <j@x.org>'])
    )
    body = sent_json(route)
    assert "reply_to" not in body
    assert body["headers"]["Reply-To"] == 'Support <support@example.com>, "Doe, J" <j@x.org>'


async def test_sandbox_posts_to_the_inbox_and_returns_one_id(
    api_key: str, respx_mock: respx.MockRouter, supported: OutgoingMessage
) -> None:
    route = respx_mock.post(SANDBOX_URL).mock(return_value=mailtrap_sent(MAILTRAP_IDS[:1]))
    transport = MailtrapTransport.from_url(
        parse_url(f"mailtrap://{api_key}@sandbox?inbox_id=2846072")
    )
    result = await transport.send(supported)
    assert route.called
    assert result.provider_id == MAILTRAP_IDS[0]
    assert result.relay == "mailtrap://sandbox"


# -- features Mailtrap cannot express are refused before any request ----------------------


async def test_repeated_tags_count_once(post: Post) -> None:
    route = await post(tags=["a", "a"])
    assert sent_json(route)["category"] == "a"


# -- replies -----------------------------------------------------------------------------


async def test_success_reports_every_id_recipients_and_attempt(
    transport: MailtrapTransport, respx_mock: respx.MockRouter, supported: OutgoingMessage
) -> None:
    respx_mock.post(URL).mock(return_value=mailtrap_sent())
    result = await transport.send(supported)
    assert result.message_id == MESSAGE_ID
    # One id per recipient, to then cc then bcc: all of them, in that order.
    assert result.provider_id == ",".join(MAILTRAP_IDS)
    assert result.relay == "mailtrap://default"
    assert result.accepted == [
        "alice@example.com",
        "jane@example.org",
        "carol@example.net",
        "audit@example.com",
    ]
    assert result.ok
    (attempt,) = result.attempts
    assert (attempt.relay, attempt.outcome, attempt.code) == (
        "mailtrap://default",
        "delivered",
        200,
    )


async def test_a_200_with_success_false_is_a_refusal(
    transport: MailtrapTransport, respx_mock: respx.MockRouter, supported: OutgoingMessage
) -> None:
    body = {"success": False, "errors": ["'from' address is invalid"]}
    respx_mock.post(URL).mock(return_value=httpx.Response(200, json=body))
    with pytest.raises(PermanentError, match="'from' address is invalid") as info:
        await transport.send(supported)
    assert info.value.code == 200


async def test_sandbox_bad_token_reads_the_account_api_error_shape(
    api_key: str, respx_mock: respx.MockRouter, supported: OutgoingMessage
) -> None:
    respx_mock.post(SANDBOX_URL).mock(
        return_value=httpx.Response(401, json={"error": "Incorrect API token"})
    )
    transport = MailtrapTransport(api_key, region="sandbox", inbox_id=2846072)
    with pytest.raises(RelayError, match="Incorrect API token"):
        await transport.send(supported)


# -- secrets -----------------------------------------------------------------------------


# -- URLs --------------------------------------------------------------------------------
