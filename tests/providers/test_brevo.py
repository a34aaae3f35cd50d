"""Brevo /v3/smtp/email: the exact request, idempotency, replies, errors, URLs, secrets."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from email.header import decode_header, make_header
from typing import Any

import httpx
import pytest
import respx
from contract_table import (
    BREVO,
    BREVO_ID,
    MESSAGE_ID,
    PDF,
    PLAIN,
    Post,
    b64,
    bodies,
    brevo_created,
    brevo_error,
    contacts,
    json_request,
    sent_json,
)

from mailsdk import DeliveryUnknown, OutgoingMessage, TransientError
from mailsdk.transports.failover import FailoverTransport
from mailsdk.transports.http.brevo import BrevoPayload, BrevoTransport
from mailsdk.transports.memory import MemoryTransport

ROW = BREVO  # the transport fixture builds its transport
URL = ROW.endpoint


def key_of(transport: BrevoTransport, outgoing: OutgoingMessage) -> str:
    return BrevoPayload(transport, outgoing).idempotency_uuid()


@pytest.fixture
def supported(make_outgoing: Callable[..., OutgoingMessage]) -> OutgoingMessage:
    """The full message minus its inline image, which Brevo cannot send."""
    return make_outgoing(attachments=[PDF])


# -- the request -------------------------------------------------------------------------


async def test_request_carries_every_feature(
    post: Post, transport: BrevoTransport, supported: OutgoingMessage
) -> None:
    request, body = json_request(await post(supported), accepts_json=True)
    assert "Authorization" not in request.headers
    assert body == {
        **contacts(rename={"from": "sender", "reply_to": "replyTo"}),
        **bodies("textContent", "htmlContent"),
        "attachment": [{"content": b64(b"%PDF-1.4 fake"), "name": "report.pdf"}],
        "tags": ["reports", "monthly"],
        "headers": {
            "Message-ID": MESSAGE_ID,
            "X-Campaign": "spring-2026",
            "X-Mailin-custom": (
                '{"account_id":"42","plan":"pro","mailsdk_message_id":"' + MESSAGE_ID + '"}'
            ),
            "idempotencyKey": key_of(transport, supported),
        },
    }


async def test_html_only_message_has_only_what_it_uses(
    transport: BrevoTransport, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    route = respx_mock.post(URL).mock(return_value=brevo_created())
    outgoing = make_outgoing(text=False, **PLAIN)
    await transport.send(outgoing)
    body = sent_json(route)
    assert set(body) == {"sender", "to", "subject", "htmlContent", "headers"}
    assert body["headers"] == {
        "Message-ID": outgoing.message_id,
        # Our Message-ID as metadata, so that webhook events map back to the message.
        "X-Mailin-custom": json.dumps(
            {"mailsdk_message_id": outgoing.message_id}, separators=(",", ":")
        ),
        "idempotencyKey": key_of(transport, outgoing),
    }


async def test_non_ascii_names_with_specials_are_rfc2047_encoded(post: Post) -> None:
    # Brevo drops such names (anymail brevo.py); plain non-ASCII names go as they are.
    route = await post(
        from_='"Zoë, Müller" <zoe@example.com>', to=["Zoë Müller <zm@example.com>"], attachments=[]
    )
    body = sent_json(route)
    encoded = body["sender"]["name"]
    assert encoded.startswith("=?utf-8?")
    assert encoded.isascii()
    assert str(make_header(decode_header(encoded))) == "Zoë, Müller"
    assert body["to"] == [{"email": "zm@example.com", "name": "Zoë Müller"}]


# -- idempotency -------------------------------------------------------------------------


def test_idempotency_key_is_a_stable_uuid_per_send(
    transport: BrevoTransport, supported: OutgoingMessage, make_outgoing: Callable[..., Any]
) -> None:
    key = key_of(transport, supported)
    assert uuid.UUID(key).version == 4  # Brevo asks for a UUID
    assert key == key_of(transport, supported)
    other = make_outgoing(attachments=[PDF], headers={"Message-ID": "<other@example.com>"})
    assert key_of(transport, other) != key
    # A failover retry of deferred recipients keeps the Message-ID: a new key, or Brevo
    # would refuse it as a duplicate for 30 minutes.
    assert key_of(transport, supported.restricted_to(["carol@example.net"])) != key


async def test_read_timeout_is_retryable_because_the_key_dedupes(
    transport: BrevoTransport, respx_mock: respx.MockRouter, supported: OutgoingMessage
) -> None:
    route = respx_mock.post(URL).mock(side_effect=[httpx.ReadTimeout("timed out"), brevo_created()])
    with pytest.raises(TransientError, match="timed out"):
        await transport.send(supported)
    result = await transport.send(supported)
    assert result.provider_id == BREVO_ID
    first, second = (sent_json(route, i)["headers"]["idempotencyKey"] for i in (0, 1))
    assert first == second


async def test_a_key_seen_before_means_delivery_unknown_not_failover(
    transport: BrevoTransport, respx_mock: respx.MockRouter, supported: OutgoingMessage
) -> None:
    body = {"code": "duplicate_parameter", "message": "Idempotency key already used"}
    respx_mock.post(URL).mock(return_value=httpx.Response(400, json=body))
    with pytest.raises(DeliveryUnknown, match="most likely sent") as info:
        await transport.send(supported)
    assert info.value.code == 400


async def _no_sleep(seconds: float) -> None:
    return None


async def test_failover_retries_brevo_after_a_lost_reply_and_never_sends_twice(
    transport: BrevoTransport, respx_mock: respx.MockRouter, supported: OutgoingMessage
) -> None:
    duplicate = {"code": "duplicate_parameter", "message": "Idempotency key already used"}
    route = respx_mock.post(URL).mock(
        side_effect=[httpx.ReadTimeout("timed out"), httpx.Response(400, json=duplicate)]
    )
    backup = MemoryTransport("memory://backup")
    with pytest.raises(DeliveryUnknown):
        await FailoverTransport([transport, backup], sleep=_no_sleep).send(supported)
    assert backup.outbox == []  # the first try most likely went out: no second provider
    keys = {sent_json(route, i)["headers"]["idempotencyKey"] for i in (0, 1)}
    assert len(keys) == 1


async def test_a_key_given_by_the_message_is_kept(
    transport: BrevoTransport, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    route = respx_mock.post(URL).mock(return_value=brevo_created())
    mine = "0f8fad5b-d9cb-469f-a165-70867728950e"
    await transport.send(make_outgoing(attachments=[PDF], headers={"idempotencyKey": mine}))
    headers = sent_json(route)["headers"]
    assert [v for k, v in headers.items() if k.lower() == "idempotencykey"] == [mine]


# -- features Brevo cannot express are refused before any request ------------------------


# -- replies -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "provider_id"),
    [
        (
            httpx.Response(201, json={"messageIds": ["<a@relay>", "<b@relay>"]}),
            "<a@relay>,<b@relay>",
        ),
        (httpx.Response(201), None),  # anymail has seen an empty body
        (httpx.Response(202, json={"messageId": "<c@relay>"}), "<c@relay>"),
    ],
)
async def test_other_success_shapes(
    transport: BrevoTransport,
    respx_mock: respx.MockRouter,
    supported: OutgoingMessage,
    reply: httpx.Response,
    provider_id: str | None,
) -> None:
    respx_mock.post(URL).mock(return_value=reply)
    assert (await transport.send(supported)).provider_id == provider_id


async def test_429_without_retry_after_uses_the_sib_reset_header(
    transport: BrevoTransport, respx_mock: respx.MockRouter, supported: OutgoingMessage
) -> None:
    headers = {"x-sib-ratelimit-limit": "1000", "x-sib-ratelimit-remaining": "0"}
    respx_mock.post(URL).mock(
        return_value=httpx.Response(
            429,
            json=brevo_error("too_many_requests", "The expected rate limit is exceeded."),
            headers={**headers, "x-sib-ratelimit-reset": "12"},  # seconds from now
        )
    )
    with pytest.raises(TransientError) as info:
        await transport.send(supported)
    assert info.value.retry_after == 12.0


# -- secrets -----------------------------------------------------------------------------


# -- URLs --------------------------------------------------------------------------------


async def test_a_message_setting_x_mailin_custom_itself_keeps_it(
    transport: BrevoTransport, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    # Only our mailsdk_message_id is left out (Brevo events still carry the Message-ID);
    # metadata of the message's own beside the header is refused (contract table).
    route = respx_mock.post(URL).mock(return_value=brevo_created())
    outgoing = make_outgoing(text=None, **{**PLAIN, "headers": {"X-Mailin-custom": "ours"}})
    await transport.send(outgoing)
    assert sent_json(route)["headers"]["X-Mailin-custom"] == "ours"
