"""Resend /emails: the exact request, its OpenAPI schema, idempotency, errors, URLs, secrets."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import respx
from contract_table import (
    MESSAGE_ID,
    PLAIN,
    RESEND,
    Post,
    b64,
    bodies,
    json_request,
    resend_error,
    resend_ok,
    sent_json,
    tag_id,
    tags,
)
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from schemas import resend_validator

from mailsdk import Attachment, DeliveryUnknown, TransientError
from mailsdk.transports.http.resend import ResendTransport

ROW = RESEND  # the transport fixture builds its transport
URL = ROW.endpoint
KEY = hashlib.sha256(MESSAGE_ID.encode()).hexdigest()  # Payload.idempotency_key()


# -- the request -------------------------------------------------------------------------


async def test_request_carries_every_feature(post: Post) -> None:
    request, body = json_request(await post())
    assert request.headers["Idempotency-Key"] == KEY
    assert body == {
        "from": "Reports Bot <reports@example.com>",
        "to": [
            "Alice Example <alice@example.com>",
            # Resend refuses the quoted form ("Doe, Jane" <...>) but takes an encoded word.
            "=?utf-8?q?Doe=2C_Jane?= <jane@example.org>",
        ],
        "cc": ["carol@example.net"],
        "bcc": ["audit@example.com"],
        "reply_to": ["Support <support@example.com>"],
        **bodies(),
        "headers": {"Message-ID": MESSAGE_ID, "X-Campaign": "spring-2026"},
        "attachments": [
            {
                "content": b64(b"%PDF-1.4 fake"),
                "filename": "report.pdf",
                "content_type": "application/pdf",
            },
            {
                "content": b64(b"\x89PNG fake"),
                "filename": "logo.png",
                "content_type": "image/png",
                "content_id": "logo@example.com",
            },
        ],
        "tags": tags(),
    }


async def test_plain_message_has_only_what_it_uses(
    post: Post, make_outgoing: Callable[..., Any]
) -> None:
    outgoing = make_outgoing(html=None, **PLAIN)
    route = await post(outgoing)
    assert sent_json(route) == {
        "from": "Reports Bot <reports@example.com>",
        "to": ["Alice Example <alice@example.com>", "=?utf-8?q?Doe=2C_Jane?= <jane@example.org>"],
        "subject": "Your March report",
        "text": "Hello Alice,\nyour report is attached.",
        "headers": {"Message-ID": outgoing.message_id},
        "tags": [{"name": "mailsdk_message_id", "value": tag_id(outgoing.message_id)}],
    }


async def test_names_and_domains_resend_would_mangle(post: Post) -> None:
    route = await post(
        from_="Zoë Bücher <zoe@example.com>",
        to=["Zoë <zoe@bücher.example>", "J. Doe <jd@example.com>"],
        cc=[],
        bcc=[],
        reply_to=[],
    )
    body = sent_json(route)
    # From: unquoted and unencoded (Resend answers 451 to an encoded word there).
    assert body["from"] == "Zoë Bücher <zoe@example.com>"
    assert body["to"] == [
        "=?utf-8?q?Zo=C3=AB?= <zoe@xn--bcher-kva.example>",
        "=?utf-8?q?J=2E_Doe?= <jd@example.com>",
    ]


async def test_body_and_idempotency_key_validate_against_resend_openapi(
    transport: ResendTransport,
    respx_mock: respx.MockRouter,
    make_outgoing: Callable[..., Any],
    load_spec: Callable[[str], Any],
) -> None:
    spec = load_spec("resend.yaml")
    route = respx_mock.post(URL).mock(return_value=resend_ok())
    await transport.send(make_outgoing())
    resend_validator(spec).validate(sent_json(route))
    (parameter,) = [
        p for p in spec["paths"]["/emails"]["post"]["parameters"] if p["name"] == "Idempotency-Key"
    ]
    assert parameter["in"] == "header"
    Draft202012Validator(parameter["schema"]).validate(
        route.calls.last.request.headers["Idempotency-Key"]
    )


def test_schema_check_is_not_vacuous(load_spec: Callable[[str], Any]) -> None:
    validator = resend_validator(load_spec("resend.yaml"))
    good = {"from": "a@example.com", "to": ["b@example.com"], "subject": "hi"}
    validator.validate(good)
    for bad in (
        {k: v for k, v in good.items() if k != "subject"},  # required
        {**good, "to": [f"r{i}@example.com" for i in range(51)]},  # maxItems 50
        {**good, "tags": ["plain"]},  # only a resolved $ref to Tag knows it is an object
        {**good, "attachments": [{"filename": 3}]},
    ):
        with pytest.raises(ValidationError):
            validator.validate(bad)


# -- idempotency -------------------------------------------------------------------------


async def test_every_retry_of_a_message_carries_the_same_key(
    transport: ResendTransport, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    route = respx_mock.post(URL).mock(
        side_effect=[
            httpx.Response(500, json=resend_error(500, "application_error", "oops")),
            resend_ok(),
        ]
    )
    outgoing = make_outgoing()
    with pytest.raises(TransientError):
        await transport.send(outgoing)
    await transport.send(outgoing)
    keys = [call.request.headers["Idempotency-Key"] for call in route.calls]
    assert keys == [KEY, KEY]


async def test_a_restricted_envelope_gets_its_own_key(
    transport: ResendTransport, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    # A different body under the same key would be refused (409 invalid_idempotent_request).
    route = respx_mock.post(URL).mock(return_value=resend_ok())
    subset = ["alice@example.com", "carol@example.net"]
    await transport.send(make_outgoing().restricted_to(subset))
    key = route.calls.last.request.headers["Idempotency-Key"]
    suffix = hashlib.sha256("\n".join(sorted(subset)).encode()).hexdigest()[:16]
    assert key == f"{KEY}-{suffix}"
    body = sent_json(route)
    assert body["to"] == ["Alice Example <alice@example.com>"]
    assert body["cc"] == ["carol@example.net"]
    assert "bcc" not in body


async def test_read_timeout_is_transient_because_the_key_makes_a_resend_safe(
    transport: ResendTransport, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    respx_mock.post(URL).mock(side_effect=httpx.ReadTimeout("timed out"))
    with pytest.raises(TransientError) as info:
        await transport.send(make_outgoing())
    assert not isinstance(info.value, DeliveryUnknown)


# -- features Resend cannot express are refused before any request ------------------------


async def test_an_attachment_without_a_known_extension_keeps_its_type(
    transport: ResendTransport, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    route = respx_mock.post(URL).mock(return_value=resend_ok())
    blob = Attachment(filename="export", content=b"a,b", content_type="text/csv")
    await transport.send(make_outgoing(attachments=[blob]))
    assert sent_json(route)["attachments"] == [
        {"content": b64(b"a,b"), "filename": "export", "content_type": "text/csv"}
    ]


# -- replies -----------------------------------------------------------------------------


async def test_429_without_retry_after_uses_ratelimit_reset(
    transport: ResendTransport, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    body = resend_error(429, "rate_limit_exceeded", "Too many requests.")
    respx_mock.post(URL).mock(
        return_value=httpx.Response(429, json=body, headers={"ratelimit-reset": "3"})
    )
    with pytest.raises(TransientError) as info:
        await transport.send(make_outgoing())
    assert info.value.retry_after == 3.0


# -- secrets -----------------------------------------------------------------------------


# -- URLs --------------------------------------------------------------------------------
