"""Brevo /v3/smtp/email: the exact request, idempotency, replies, errors, URLs, secrets."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from email.header import decode_header, make_header
from typing import Any

import httpx
import pytest
import respx

from mailsdk import (
    Attachment,
    ConfigurationError,
    DeliveryUnknown,
    MailError,
    MessageError,
    OutgoingMessage,
    PermanentError,
    RelayError,
    TransientError,
    parse_url,
)
from mailsdk.transports.failover import FailoverTransport
from mailsdk.transports.http.brevo import BrevoPayload, BrevoTransport
from mailsdk.transports.memory import MemoryTransport

URL = "https://api.brevo.com/v3/smtp/email"
MESSAGE_ID = "<20260101120000.4242@example.com>"
BREVO_ID = "<202601011200.12345678901@smtp-relay.mailin.fr>"
# What the registry in mailsdk/config.py should hold for this scheme.
REGISTRY_ENTRY = "mailsdk.transports.http.brevo:BrevoTransport"
PDF = Attachment(filename="report.pdf", content=b"%PDF-1.4 fake", content_type="application/pdf")
LOGO = Attachment(filename="logo.png", content=b"\x89PNG fake", inline=True, cid="logo@example.com")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def created(message_id: str = BREVO_ID) -> httpx.Response:
    return httpx.Response(201, json={"messageId": message_id})


def sent_json(route: respx.Route, index: int = -1) -> Any:
    return json.loads(route.calls[index].request.content)


def key_of(transport: BrevoTransport, outgoing: OutgoingMessage) -> str:
    return BrevoPayload(transport, outgoing).idempotency_uuid()


@pytest.fixture
def transport(api_key: str) -> BrevoTransport:
    return BrevoTransport(api_key)


@pytest.fixture
def supported(make_outgoing: Callable[..., OutgoingMessage]) -> OutgoingMessage:
    """The full message minus its inline image, which Brevo cannot send."""
    return make_outgoing(attachments=[PDF])


# -- the request -------------------------------------------------------------------------


async def test_request_carries_every_feature(
    transport: BrevoTransport, respx_mock: respx.MockRouter, supported: OutgoingMessage
) -> None:
    route = respx_mock.post(URL).mock(return_value=created())
    await transport.send(supported)

    request = route.calls.last.request
    assert request.method == "POST"
    assert str(request.url) == URL
    assert request.headers["api-key"] == transport.api_key.get_secret_value()
    assert "Authorization" not in request.headers
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Accept"] == "application/json"
    assert json.loads(request.content) == {
        "sender": {"email": "reports@example.com", "name": "Reports Bot"},
        "to": [
            {"email": "alice@example.com", "name": "Alice Example"},
            {"email": "jane@example.org", "name": "Doe, Jane"},
        ],
        "cc": [{"email": "carol@example.net"}],
        "bcc": [{"email": "audit@example.com"}],
        "replyTo": {"email": "support@example.com", "name": "Support"},
        "subject": "Your March report",
        "textContent": "Hello Alice,\nyour report is attached.",
        "htmlContent": '<p>Hello Alice,</p><img src="cid:logo@example.com">',
        "attachment": [{"content": b64(b"%PDF-1.4 fake"), "name": "report.pdf"}],
        "tags": ["reports", "monthly"],
        "headers": {
            "Message-ID": MESSAGE_ID,
            "X-Campaign": "spring-2026",
            "X-Mailin-custom": '{"account_id":"42","plan":"pro"}',
            "idempotencyKey": key_of(transport, supported),
        },
    }


async def test_html_only_message_has_only_what_it_uses(
    transport: BrevoTransport, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    route = respx_mock.post(URL).mock(return_value=created())
    outgoing = make_outgoing(
        text=None, attachments=[], cc=[], bcc=[], reply_to=[], tags=[], metadata={}, headers={}
    )
    await transport.send(outgoing)
    body = sent_json(route)
    assert set(body) == {"sender", "to", "subject", "htmlContent", "headers"}
    assert body["headers"] == {
        "Message-ID": outgoing.message_id,
        "idempotencyKey": key_of(transport, outgoing),
    }


async def test_non_ascii_names_with_specials_are_rfc2047_encoded(
    transport: BrevoTransport, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    # Brevo drops such names (anymail brevo.py); plain non-ASCII names go as they are.
    route = respx_mock.post(URL).mock(return_value=created())
    await transport.send(
        make_outgoing(
            from_='"Zoë, Müller" <zoe@example.com>',
            to=["Zoë Müller <zm@example.com>"],
            attachments=[],
        )
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
    route = respx_mock.post(URL).mock(side_effect=[httpx.ReadTimeout("timed out"), created()])
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
    route = respx_mock.post(URL).mock(return_value=created())
    mine = "0f8fad5b-d9cb-469f-a165-70867728950e"
    await transport.send(make_outgoing(attachments=[PDF], headers={"idempotencyKey": mine}))
    headers = sent_json(route)["headers"]
    assert [v for k, v in headers.items() if k.lower() == "idempotencykey"] == [mine]


# -- features Brevo cannot express are refused before any request ------------------------


@pytest.mark.respx(assert_all_called=False)
@pytest.mark.parametrize(
    ("overrides", "feature"),
    [
        ({"attachments": [PDF, LOGO]}, "inline images"),
        ({"reply_to": ["a@example.com", "b@example.com"]}, "2 reply_to addresses"),
        ({"html": None}, "without an HTML body"),
        ({"html": ""}, "without an HTML body"),
        ({"subject": ""}, "without a subject"),
        ({"to": [], "cc": ["carol@example.net"]}, "without To recipients"),
        ({"headers": {"X-Note": "café"}}, "non-ASCII characters in the X-Note header"),
        ({"metadata": {"city": "Zürich"}}, "non-ASCII characters in metadata"),
        ({"headers": {"X-Mailin-custom": "x"}}, "metadata together with an X-Mailin-custom"),
        (
            {"attachments": [Attachment(filename="run.exe", content=b"MZ")]},
            "'run.exe' \\(Brevo refuses that file type\\)",
        ),
        (
            {"attachments": [Attachment(filename="notes", content=b"x")]},
            "'notes' \\(Brevo refuses that file type\\)",
        ),
        (
            {"attachments": [Attachment(filename="a.txt", content=b"x", content_type="text/csv")]},
            "as text/csv",
        ),
        ({"envelope_from": "bounces@example.com"}, "envelope_from"),
    ],
)
async def test_unsupported_features_raise_before_any_request(
    transport: BrevoTransport,
    respx_mock: respx.MockRouter,
    make_outgoing: Callable[..., Any],
    overrides: dict[str, Any],
    feature: str,
) -> None:
    route = respx_mock.post(URL).mock(return_value=created())
    with pytest.raises(MessageError, match=feature):
        await transport.send(make_outgoing(**{"attachments": [PDF], **overrides}))
    assert not route.called


# -- replies -----------------------------------------------------------------------------


async def test_success_reports_ids_recipients_and_attempt(
    transport: BrevoTransport, respx_mock: respx.MockRouter, supported: OutgoingMessage
) -> None:
    respx_mock.post(URL).mock(return_value=created())
    result = await transport.send(supported)
    assert result.message_id == MESSAGE_ID
    assert result.provider_id == BREVO_ID
    assert result.relay == "brevo://default"
    assert result.accepted == [
        "alice@example.com",
        "jane@example.org",
        "carol@example.net",
        "audit@example.com",
    ]
    assert result.ok
    (attempt,) = result.attempts
    assert (attempt.relay, attempt.outcome, attempt.code) == ("brevo://default", "delivered", 201)


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


def _error(code: str, message: str) -> dict[str, str]:
    return {"code": code, "message": message}


ERROR_CASES = [
    pytest.param(
        400,
        _error("invalid_parameter", "email is not valid in to"),
        {},
        PermanentError,
        "invalid_parameter: email is not valid in to",
        id="400-invalid-parameter",
    ),
    pytest.param(
        400,
        _error("missing_parameter", "sender is missing"),
        {},
        PermanentError,
        "missing_parameter: sender is missing",
        id="400-missing-parameter",
    ),
    pytest.param(
        401,
        _error("unauthorized", "Key not found"),
        {},
        RelayError,
        "unauthorized: Key not found",
        id="401-bad-key",
    ),
    pytest.param(
        402,
        _error("not_enough_credits", "Not enough credit, plan upgrade needed"),
        {},
        RelayError,
        "not_enough_credits: Not enough credit",
        id="402-no-credits",
    ),
    pytest.param(
        403,
        _error(
            "permission_denied",
            "Unable to send email. Your SMTP account is not yet activated.",
        ),
        {},
        RelayError,
        "permission_denied: Unable to send email",
        id="403-not-activated",
    ),
    pytest.param(
        400,
        _error("account_under_validation", "Your account is under validation"),
        {},
        RelayError,
        "account_under_validation",
        id="400-account-under-validation",
    ),
    pytest.param(
        413,
        "<html><body><h1>413 Request Entity Too Large</h1></body></html>",
        {"Content-Type": "text/html"},
        PermanentError,
        "413 Request Entity Too Large",
        id="413-html",
    ),
    pytest.param(
        429,
        _error("too_many_requests", "The expected rate limit is exceeded."),
        {"Retry-After": "7"},
        TransientError,
        "The expected rate limit is exceeded.",
        id="429",
    ),
    pytest.param(500, _error("internal_error", "oops"), {}, TransientError, "oops", id="500"),
    pytest.param(
        503,
        "<html><body>Service Unavailable</body></html>",
        {"Retry-After": "120", "Content-Type": "text/html"},
        TransientError,
        "Service Unavailable",
        id="503-html",
    ),
]


@pytest.mark.parametrize(("status", "body", "headers", "error", "text"), ERROR_CASES)
async def test_error_replies_map_to_the_error_tree(
    transport: BrevoTransport,
    respx_mock: respx.MockRouter,
    reply: Callable[..., httpx.Response],
    assert_maps_to: Callable[..., None],
    supported: OutgoingMessage,
    status: int,
    body: dict[str, Any] | str,
    headers: dict[str, str],
    error: type[MailError],
    text: str,
) -> None:
    respx_mock.post(URL).mock(return_value=reply(status, body, headers))
    with pytest.raises(MailError) as info:
        await transport.send(supported)
    assert_maps_to(
        info.value,
        error,
        code=status,
        relay="brevo://default",
        text=text,
        retry_after=headers.get("Retry-After"),
    )


async def test_429_without_retry_after_uses_the_sib_reset_header(
    transport: BrevoTransport, respx_mock: respx.MockRouter, supported: OutgoingMessage
) -> None:
    headers = {"x-sib-ratelimit-limit": "1000", "x-sib-ratelimit-remaining": "0"}
    respx_mock.post(URL).mock(
        return_value=httpx.Response(
            429,
            json=_error("too_many_requests", "The expected rate limit is exceeded."),
            headers={**headers, "x-sib-ratelimit-reset": "12"},  # seconds from now
        )
    )
    with pytest.raises(TransientError) as info:
        await transport.send(supported)
    assert info.value.retry_after == 12.0


# -- secrets -----------------------------------------------------------------------------


async def test_secret_never_in_name_repr_errors_or_logs(
    api_key: str,
    respx_mock: respx.MockRouter,
    supported: OutgoingMessage,
    secret_logs: pytest.LogCaptureFixture,
    assert_secret_free: Callable[..., None],
    send_each: Callable[..., Any],
) -> None:
    transport = BrevoTransport.from_url(parse_url(f"brevo://{api_key}@default"))
    assert_secret_free(transport, api_key)

    outcomes: list[httpx.Response | Exception] = [
        created(),
        *(
            httpx.Response(
                status, json=_error("x", f"echo {api_key}"), headers={"Retry-After": "1"}
            )
            for status in (400, 401, 402, 403, 413, 429, 500, 503)
        ),
        httpx.Response(400, json=_error("duplicate_parameter", f"key {api_key}")),
        httpx.ConnectError(f"proxy refused key {api_key}"),
        httpx.ReadTimeout(f"timed out {api_key}"),
    ]
    route = respx_mock.post(URL).mock(side_effect=outcomes)
    _, errors = await send_each(transport, lambda: supported, len(outcomes))
    assert len(errors) == len(outcomes) - 1
    for error in errors:
        assert_secret_free(error, api_key)
    assert route.calls.last.request.headers["api-key"] == api_key
    assert any(r.name == "mailsdk" for r in secret_logs.records)


# -- URLs --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("suffix", "base_url", "timeout", "name"),
    [
        ("default", "https://api.brevo.com", 30.0, "brevo://default"),
        ("default?timeout=12.5", "https://api.brevo.com", 12.5, "brevo://default"),
        (
            "default?base_url=http://127.0.0.1:8025/brevo/",
            "http://127.0.0.1:8025/brevo",
            30.0,
            "brevo://127.0.0.1",
        ),
    ],
)
def test_from_url(api_key: str, suffix: str, base_url: str, timeout: float, name: str) -> None:
    transport = BrevoTransport.from_url(parse_url(f"brevo://{api_key}@{suffix}"))
    assert transport.api_key.get_secret_value() == api_key
    assert (transport.base_url, transport.timeout, transport.name) == (base_url, timeout, name)


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("brevo://{key}@default?bogus=1", "unknown option"),
        ("brevo://{key}@default?timeout=soon", "not a positive number"),
        ("brevo://{key}@eu", "unknown region 'eu'"),
        ("brevo://default", "no API key"),
    ],
)
def test_bad_urls_are_refused_without_echoing_the_key(
    api_key: str, assert_secret_free: Callable[..., None], url: str, complaint: str
) -> None:
    with pytest.raises(ConfigurationError, match=complaint) as info:
        BrevoTransport.from_url(parse_url(url.format(key=api_key)))
    assert_secret_free(info.value, api_key)


def test_registry_entry_builds_the_transport(
    api_key: str, from_registry: Callable[[str, str], Any]
) -> None:
    # The line this module asks for in mailsdk.config._REGISTRY.
    transport = from_registry(REGISTRY_ENTRY, f"brevo://{api_key}@default")
    assert isinstance(transport, BrevoTransport)
    assert transport.name == "brevo://default"
