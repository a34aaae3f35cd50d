"""Mailtrap Email Sending API: the exact request, streams and sandbox, replies, errors, URLs."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import respx

from mailsdk import (
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
from mailsdk.transports.http.mailtrap import MailtrapTransport

URL = "https://send.api.mailtrap.io/api/send"
BULK_URL = "https://bulk.api.mailtrap.io/api/send"
SANDBOX_URL = "https://sandbox.api.mailtrap.io/api/send/2846072"
MESSAGE_ID = "<20260101120000.4242@example.com>"
IDS = [
    "0c7fd939-02cf-11ed-88c2-0a58a9feac02",
    "0c7fd93a-02cf-11ed-88c2-0a58a9feac02",
    "0c7fd93b-02cf-11ed-88c2-0a58a9feac02",
    "0c7fd93c-02cf-11ed-88c2-0a58a9feac02",
]
# What the registry in mailsdk/config.py should hold for this scheme.
REGISTRY_ENTRY = "mailsdk.transports.http.mailtrap:MailtrapTransport"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def sent(ids: list[str] = IDS) -> httpx.Response:
    return httpx.Response(200, json={"success": True, "message_ids": ids})


def sent_json(route: respx.Route, index: int = -1) -> Any:
    return json.loads(route.calls[index].request.content)


@pytest.fixture
def transport(api_key: str) -> MailtrapTransport:
    return MailtrapTransport(api_key)


@pytest.fixture
def supported(make_outgoing: Callable[..., OutgoingMessage]) -> OutgoingMessage:
    """The full message with one tag: Mailtrap takes a single category."""
    return make_outgoing(tags=["reports"])


# -- the request -------------------------------------------------------------------------


async def test_request_carries_every_feature(
    transport: MailtrapTransport, respx_mock: respx.MockRouter, supported: OutgoingMessage
) -> None:
    route = respx_mock.post(URL).mock(return_value=sent())
    await transport.send(supported)

    request = route.calls.last.request
    assert request.method == "POST"
    assert str(request.url) == URL
    assert request.headers["Api-Token"] == transport.api_key.get_secret_value()
    assert request.headers["Content-Type"] == "application/json"
    # The spec warns that requests without a normal User-Agent may be blocked at the edge.
    assert request.headers["User-Agent"].startswith("mailsdk")
    assert json.loads(request.content) == {
        "from": {"email": "reports@example.com", "name": "Reports Bot"},
        "to": [
            {"email": "alice@example.com", "name": "Alice Example"},
            {"email": "jane@example.org", "name": "Doe, Jane"},
        ],
        "cc": [{"email": "carol@example.net"}],
        "bcc": [{"email": "audit@example.com"}],
        "reply_to": {"email": "support@example.com", "name": "Support"},
        "subject": "Your March report",
        "text": "Hello Alice,\nyour report is attached.",
        "html": '<p>Hello Alice,</p><img src="cid:logo@example.com">',
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
        "custom_variables": {"account_id": "42", "plan": "pro"},
    }


async def test_text_only_message_has_only_what_it_uses(
    transport: MailtrapTransport,
    respx_mock: respx.MockRouter,
    make_outgoing: Callable[..., Any],
) -> None:
    route = respx_mock.post(URL).mock(return_value=sent(IDS[:2]))
    outgoing = make_outgoing(
        html=None, attachments=[], cc=[], bcc=[], reply_to=[], tags=[], metadata={}, headers={}
    )
    await transport.send(outgoing)
    body = sent_json(route)
    assert set(body) == {"from", "to", "subject", "text", "headers"}
    assert body["headers"] == {"Message-ID": outgoing.message_id}


async def test_several_reply_to_addresses_go_in_a_header(
    transport: MailtrapTransport, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    # reply_to takes one object; anymail writes the header for several, which Mailtrap passes.
    route = respx_mock.post(URL).mock(return_value=sent())
    await transport.send(
        make_outgoing(tags=[], reply_to=["Support <support@example.com>", '"Doe, J" <j@x.org>'])
    )
    body = sent_json(route)
    assert "reply_to" not in body
    assert body["headers"]["Reply-To"] == 'Support <support@example.com>, "Doe, J" <j@x.org>'


async def test_bulk_stream_posts_to_the_bulk_host(
    api_key: str, respx_mock: respx.MockRouter, supported: OutgoingMessage
) -> None:
    route = respx_mock.post(BULK_URL).mock(return_value=sent())
    transport = MailtrapTransport(api_key, region="bulk")
    result = await transport.send(supported)
    assert route.called
    assert result.relay == transport.name == "mailtrap://bulk"


async def test_sandbox_posts_to_the_inbox_and_returns_one_id(
    api_key: str, respx_mock: respx.MockRouter, supported: OutgoingMessage
) -> None:
    route = respx_mock.post(SANDBOX_URL).mock(return_value=sent(IDS[:1]))
    transport = MailtrapTransport.from_url(
        parse_url(f"mailtrap://{api_key}@sandbox?inbox_id=2846072")
    )
    result = await transport.send(supported)
    assert route.called
    assert result.provider_id == IDS[0]
    assert result.relay == "mailtrap://sandbox"


# -- features Mailtrap cannot express are refused before any request ----------------------


@pytest.mark.respx(assert_all_called=False)
@pytest.mark.parametrize(
    ("overrides", "feature"),
    [
        ({"tags": ["reports", "monthly"]}, "2 tags \\(Mailtrap takes one category\\)"),
        ({"tags": ["x" * 256]}, "longer than 255"),
        ({"subject": ""}, "without a subject"),
        ({"text": None, "html": None}, "without a body"),
        ({"text": "", "html": ""}, "without a body"),
        ({"to": [f"r{i}@example.com" for i in range(1001)]}, "1001 to recipients"),
        ({"envelope_from": "bounces@example.com"}, "envelope_from"),
    ],
)
async def test_unsupported_features_raise_before_any_request(
    transport: MailtrapTransport,
    respx_mock: respx.MockRouter,
    make_outgoing: Callable[..., Any],
    overrides: dict[str, Any],
    feature: str,
) -> None:
    route = respx_mock.post(URL).mock(return_value=sent())
    with pytest.raises(MessageError, match=feature):
        await transport.send(make_outgoing(**{"tags": ["reports"], **overrides}))
    assert not route.called


async def test_repeated_tags_count_once(
    transport: MailtrapTransport, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    route = respx_mock.post(URL).mock(return_value=sent())
    await transport.send(make_outgoing(tags=["a", "a"]))
    assert sent_json(route)["category"] == "a"


# -- replies -----------------------------------------------------------------------------


async def test_success_reports_every_id_recipients_and_attempt(
    transport: MailtrapTransport, respx_mock: respx.MockRouter, supported: OutgoingMessage
) -> None:
    respx_mock.post(URL).mock(return_value=sent())
    result = await transport.send(supported)
    assert result.message_id == MESSAGE_ID
    # One id per recipient, to then cc then bcc: all of them, in that order.
    assert result.provider_id == ",".join(IDS)
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


def _errors(*messages: str) -> dict[str, Any]:
    return {"success": False, "errors": list(messages)}


ERROR_CASES = [
    pytest.param(
        400,
        _errors("'from' is required", "'subject' is required"),
        {},
        PermanentError,
        "'from' is required; 'subject' is required",
        id="400-validation",
    ),
    pytest.param(401, _errors("Unauthorized"), {}, RelayError, "Unauthorized", id="401"),
    pytest.param(403, _errors("Forbidden"), {}, RelayError, "Forbidden", id="403-domain"),
    pytest.param(
        413,
        "<html><body><h1>413 Request Entity Too Large</h1></body></html>",
        {"Content-Type": "text/html"},
        PermanentError,
        "413 Request Entity Too Large",
        id="413-html",
    ),
    pytest.param(
        422,
        {"errors": {"to": ["is invalid", "is too long"]}},
        {},
        PermanentError,
        "to: is invalid, is too long",
        id="422",
    ),
    pytest.param(
        429,
        _errors("Too many requests"),
        {"Retry-After": "10"},
        TransientError,
        "Too many requests",
        id="429",
    ),
    pytest.param(
        500, _errors("Internal server error"), {}, TransientError, "Internal server", id="500"
    ),
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
    transport: MailtrapTransport,
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
        relay="mailtrap://default",
        text=text,
        retry_after=headers.get("Retry-After"),
    )


async def test_sandbox_bad_token_reads_the_account_api_error_shape(
    api_key: str, respx_mock: respx.MockRouter, supported: OutgoingMessage
) -> None:
    respx_mock.post(SANDBOX_URL).mock(
        return_value=httpx.Response(401, json={"error": "Incorrect API token"})
    )
    transport = MailtrapTransport(api_key, region="sandbox", inbox_id=2846072)
    with pytest.raises(RelayError, match="Incorrect API token"):
        await transport.send(supported)


async def test_read_timeout_after_sending_is_delivery_unknown(
    transport: MailtrapTransport, respx_mock: respx.MockRouter, supported: OutgoingMessage
) -> None:
    # Mailtrap has no idempotency key: a resend could deliver twice.
    respx_mock.post(URL).mock(side_effect=httpx.ReadTimeout("timed out"))
    with pytest.raises(DeliveryUnknown, match="may have been delivered"):
        await transport.send(supported)


# -- secrets -----------------------------------------------------------------------------


async def test_secret_never_in_name_repr_errors_or_logs(
    api_key: str,
    respx_mock: respx.MockRouter,
    supported: OutgoingMessage,
    secret_logs: pytest.LogCaptureFixture,
    assert_secret_free: Callable[..., None],
    send_each: Callable[..., Any],
) -> None:
    transport = MailtrapTransport.from_url(parse_url(f"mailtrap://{api_key}@default"))
    assert_secret_free(transport, api_key)

    outcomes: list[httpx.Response | Exception] = [
        sent(),
        *(
            httpx.Response(status, json=_errors(f"echo {api_key}"), headers={"Retry-After": "1"})
            for status in (400, 401, 403, 413, 422, 429, 500, 503)
        ),
        httpx.Response(200, json=_errors(f"echo {api_key}")),
        httpx.ConnectError(f"proxy refused key {api_key}"),
        httpx.ReadTimeout("timed out"),
    ]
    route = respx_mock.post(URL).mock(side_effect=outcomes)
    _, errors = await send_each(transport, lambda: supported, len(outcomes))
    assert len(errors) == len(outcomes) - 1
    for error in errors:
        assert_secret_free(error, api_key)
    assert route.calls.last.request.headers["Api-Token"] == api_key
    assert any(r.name == "mailsdk" for r in secret_logs.records)


# -- URLs --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("suffix", "base_url", "inbox_id", "name"),
    [
        ("default", "https://send.api.mailtrap.io", None, "mailtrap://default"),
        ("bulk", "https://bulk.api.mailtrap.io", None, "mailtrap://bulk"),
        ("sandbox?inbox_id=42", "https://sandbox.api.mailtrap.io", "42", "mailtrap://sandbox"),
        (
            "default?base_url=http://127.0.0.1:8025/mt/&timeout=5",
            "http://127.0.0.1:8025/mt",
            None,
            "mailtrap://127.0.0.1",
        ),
    ],
)
def test_from_url(
    api_key: str, suffix: str, base_url: str, inbox_id: str | None, name: str
) -> None:
    transport = MailtrapTransport.from_url(parse_url(f"mailtrap://{api_key}@{suffix}"))
    assert transport.api_key.get_secret_value() == api_key
    assert (transport.base_url, transport.inbox_id, transport.name) == (base_url, inbox_id, name)


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("mailtrap://{key}@default?bogus=1", "unknown option"),
        ("mailtrap://{key}@default?timeout=soon", "not a positive number"),
        ("mailtrap://{key}@eu", "unknown region 'eu'"),
        ("mailtrap://{key}@sandbox", "needs a numeric inbox_id"),
        ("mailtrap://{key}@sandbox?inbox_id=../../api", "needs a numeric inbox_id"),
        ("mailtrap://{key}@default?inbox_id=42", "inbox_id is for the sandbox"),
        ("mailtrap://default", "no API key"),
    ],
)
def test_bad_urls_are_refused_without_echoing_the_key(
    api_key: str, assert_secret_free: Callable[..., None], url: str, complaint: str
) -> None:
    with pytest.raises(ConfigurationError, match=complaint) as info:
        MailtrapTransport.from_url(parse_url(url.format(key=api_key)))
    assert_secret_free(info.value, api_key)


def test_registry_entry_builds_the_transport(
    api_key: str, from_registry: Callable[[str, str], Any]
) -> None:
    # The line this module asks for in mailsdk.config._REGISTRY.
    transport = from_registry(REGISTRY_ENTRY, f"mailtrap://{api_key}@bulk")
    assert isinstance(transport, MailtrapTransport)
    assert transport.name == "mailtrap://bulk"
