"""SendGrid v3 Mail Send: the exact request, the OpenAPI schema, replies, errors, URLs, secrets."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
import respx
from contract_table import (
    MESSAGE_ID,
    PLAIN,
    SENDGRID,
    Post,
    b64,
    json_request,
    sendgrid_accepted,
    sendgrid_errors,
    sent_json,
)
from jsonschema.exceptions import ValidationError
from schemas import sendgrid_validator

from mailsdk import TransientError
from mailsdk.transports.http.sendgrid import SendGridTransport

ROW = SENDGRID  # the transport fixture builds its transport
URL = ROW.endpoint


# -- the request -------------------------------------------------------------------------


async def test_request_carries_every_feature(post: Post) -> None:
    _, body = json_request(await post())
    assert body == {
        "personalizations": [
            {
                "to": [
                    {"email": "alice@example.com", "name": "Alice Example"},
                    # quoted by us: SendGrid would split the name at the comma (sendgrid-python#291)
                    {"email": "jane@example.org", "name": '"Doe, Jane"'},
                ],
                "cc": [{"email": "carol@example.net"}],
                "bcc": [{"email": "audit@example.com"}],
                "custom_args": {
                    "account_id": "42",
                    "plan": "pro",
                    "mailsdk_message_id": MESSAGE_ID,
                },
            }
        ],
        "from": {"email": "reports@example.com", "name": "Reports Bot"},
        "reply_to_list": [{"email": "support@example.com", "name": "Support"}],
        "subject": "Your March report",
        "content": [
            {"type": "text/plain", "value": "Hello Alice,\nyour report is attached."},
            {"type": "text/html", "value": '<p>Hello Alice,</p><img src="cid:logo@example.com">'},
        ],
        "headers": {"Message-ID": MESSAGE_ID, "X-Campaign": "spring-2026"},
        "attachments": [
            {
                "content": b64(b"%PDF-1.4 fake"),
                "type": "application/pdf",
                "filename": "report.pdf",
                "disposition": "attachment",
            },
            {
                "content": b64(b"\x89PNG fake"),
                "type": "image/png",
                "filename": "logo.png",
                "disposition": "inline",
                "content_id": "logo@example.com",
            },
        ],
        "categories": ["reports", "monthly"],
    }


async def test_text_only_message_has_only_text_content(
    transport: SendGridTransport, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    route = respx_mock.post(URL).mock(return_value=sendgrid_accepted())
    await transport.send(
        make_outgoing(html=None, **{**PLAIN, "headers": {"Message-ID": MESSAGE_ID}})
    )
    body = sent_json(route)
    assert body["content"] == [
        {"type": "text/plain", "value": "Hello Alice,\nyour report is attached."}
    ]
    assert set(body) == {"personalizations", "from", "subject", "content", "headers"}
    assert set(body["personalizations"][0]) == {"to", "custom_args"}
    # Only our Message-ID, so that webhook events map back to the message.
    assert body["personalizations"][0]["custom_args"] == {"mailsdk_message_id": MESSAGE_ID}


async def test_generated_message_id_is_sent_as_a_header(
    transport: SendGridTransport, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    route = respx_mock.post(URL).mock(return_value=sendgrid_accepted())
    outgoing = make_outgoing(headers={})
    result = await transport.send(outgoing)
    assert sent_json(route)["headers"] == {"Message-ID": outgoing.message_id}
    assert result.message_id == outgoing.message_id


def test_schema_check_is_not_vacuous(load_spec: Callable[[str], Any]) -> None:
    validator = sendgrid_validator(load_spec("sendgrid.json"))
    base = {"personalizations": [{"to": [{"email": "a@example.com"}]}]}
    validator.validate({**base, "from": {"email": "b@example.com"}})
    # Only a resolved $ref to MailFrom knows that "email" is required and must be an address.
    for bad_from in ({"name": "no address"}, {"email": "not-an-address"}):
        with pytest.raises(ValidationError):
            validator.validate({**base, "from": bad_from})
    with pytest.raises(ValidationError):
        validator.validate({**base, "from": {"email": "b@example.com"}, "categories": ["x", "x"]})


# -- features SendGrid cannot express are refused before any request ----------------------


async def test_repeated_tags_are_sent_once(post: Post) -> None:
    route = await post(tags=["a", "b", "a"])
    assert sent_json(route)["categories"] == ["a", "b"]


# -- replies -----------------------------------------------------------------------------


async def test_429_without_retry_after_uses_rate_limit_reset(
    transport: SendGridTransport, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    transport.wall_clock = lambda: 1_772_530_000.5  # frozen: no race with the wall clock
    reset = "1772530030"
    respx_mock.post(URL).mock(
        return_value=httpx.Response(
            429, json=sendgrid_errors("too many requests"), headers={"X-RateLimit-Reset": reset}
        )
    )
    with pytest.raises(TransientError) as info:
        await transport.send(make_outgoing())
    assert info.value.retry_after is not None
    assert info.value.retry_after == pytest.approx(29.5)


# -- secrets -----------------------------------------------------------------------------


# -- connections -------------------------------------------------------------------------


async def test_one_pooled_client_serves_every_send(
    transport: SendGridTransport, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    route = respx_mock.post(URL).mock(return_value=sendgrid_accepted())
    await transport.send(make_outgoing())
    client = transport._client
    await transport.send(make_outgoing())
    assert route.call_count == 2
    assert transport.clients_created == 1
    assert transport._client is client
    assert client is not None
    await transport.aclose()
    assert client.is_closed


# -- URLs --------------------------------------------------------------------------------
