"""SparkPost Transmissions: the exact request (RFC822 content), replies, errors, URLs, secrets."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import pytest
import respx
from contract_table import (
    EVERYONE,
    MESSAGE_ID,
    SPARKPOST,
    Post,
    assert_rendered_in_full,
    sent_json,
    sparkpost_accepted,
    sparkpost_partial,
)

from mailsdk import RecipientsRefused
from mailsdk.transports.http.sparkpost import SparkPostTransport

ROW = SPARKPOST  # the transport fixture builds its transport
URL = ROW.endpoint


# -- the request -------------------------------------------------------------------------


async def test_request_carries_every_feature(
    api_key: str, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    transport = SparkPostTransport(api_key, subaccount=123)
    route = respx_mock.post(URL).mock(return_value=sparkpost_accepted())
    outgoing = make_outgoing(envelope_from="bounces@example.com")
    await transport.send(outgoing)

    request = route.calls.last.request
    assert request.headers["Authorization"] == api_key  # the key itself, no scheme
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["X-MSYS-SUBACCOUNT"] == "123"
    tags = ["reports", "monthly"]
    assert json.loads(request.content) == {
        # Envelope addresses only: the MIME's own To/Cc headers stand; audit (Bcc) is only here.
        "recipients": [{"address": {"email": email}, "tags": tags} for email in EVERYONE],
        "content": {"email_rfc822": outgoing.raw.decode()},
        "return_path": "bounces@example.com",
        "metadata": {"account_id": "42", "plan": "pro", "mailsdk_message_id": MESSAGE_ID},
    }
    assert_rendered_in_full(outgoing.raw)


async def test_plain_message_sends_only_what_it_has(
    transport: SparkPostTransport, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    route = respx_mock.post(URL).mock(return_value=sparkpost_accepted(2))
    outgoing = make_outgoing(cc=[], bcc=[], tags=[], metadata={})
    await transport.send(outgoing)
    request = route.calls.last.request
    assert "X-MSYS-SUBACCOUNT" not in request.headers
    body = json.loads(request.content)
    assert set(body) == {"recipients", "content", "metadata"}
    assert body["metadata"] == {"mailsdk_message_id": outgoing.message_id}
    assert body["recipients"] == [
        {"address": {"email": "alice@example.com"}},
        {"address": {"email": "jane@example.org"}},
    ]


async def test_failover_subset_lists_only_those_recipients(
    transport: SparkPostTransport, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    route = respx_mock.post(URL).mock(return_value=sparkpost_accepted(1))
    full = make_outgoing(tags=[])
    result = await transport.send(full.restricted_to(["audit@example.com"]))
    body = sent_json(route)
    assert body["recipients"] == [{"address": {"email": "audit@example.com"}}]
    assert body["content"]["email_rfc822"] == full.raw.decode()
    assert result.accepted == ["audit@example.com"]


# -- refused before any request ----------------------------------------------------------


async def test_repeated_tags_are_sent_once(post: Post) -> None:
    route = await post(tags=["a", "b", "a"])
    assert {tuple(r["tags"]) for r in sent_json(route)["recipients"]} == {("a", "b")}


# -- replies -----------------------------------------------------------------------------


def _error(message: str, description: str) -> dict[str, str]:
    """One entry of SparkPost's ``errors`` array."""
    return {"message": message, "description": description}


async def test_partial_success_pins_named_refusals(
    transport: SparkPostTransport, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    error = _error("invalid data format/type", "Invalid recipient address.email: carol@example.net")
    respx_mock.post(URL).mock(return_value=sparkpost_partial([{**error, "code": "1300"}], 1))
    result = await transport.send(make_outgoing())
    text = (
        "invalid data format/type: Invalid recipient address.email: carol@example.net (code 1300)"
    )
    assert result.refused == {"carol@example.net": (550, text)}
    assert result.accepted == ["alice@example.com", "jane@example.org", "audit@example.com"]


async def test_partial_success_without_names_is_reported_not_guessed(
    transport: SparkPostTransport,
    respx_mock: respx.MockRouter,
    make_outgoing: Callable[..., Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="mailsdk")
    error = _error("required field is missing", "address.email is required for each recipient")
    respx_mock.post(URL).mock(return_value=sparkpost_partial([{**error, "code": "1400"}], 1))
    result = await transport.send(make_outgoing())
    assert result.refused == {}
    note = result.attempts[0].text
    assert note is not None
    assert note.startswith("1 of 4 rejected: required field is missing")
    assert any("does not say which" in r.getMessage() for r in caplog.records)


async def test_every_recipient_rejected_raises(
    transport: SparkPostTransport, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    error = {"message": "recipient address suppressed", "code": "1902"}
    respx_mock.post(URL).mock(return_value=sparkpost_accepted(4, 4, rcpt_to_errors=[error]))
    with pytest.raises(RecipientsRefused) as info:
        await transport.send(make_outgoing())
    refused = info.value.refused
    assert set(refused) == set(EVERYONE)
    assert refused["alice@example.com"] == (550, "recipient address suppressed (code 1902)")
    assert not info.value.transient  # a permanent refusal: not retried elsewhere


# -- secrets -----------------------------------------------------------------------------


# -- URLs --------------------------------------------------------------------------------
