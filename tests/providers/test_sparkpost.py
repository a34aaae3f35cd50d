"""SparkPost Transmissions: the exact request (RFC822 content), replies, errors, URLs, secrets."""

from __future__ import annotations

import json
import logging
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
    PermanentError,
    RecipientsRefused,
    RelayError,
    TransientError,
    parse_url,
)
from mailsdk.transports.http.sparkpost import SparkPostTransport

URL = "https://api.sparkpost.com/api/v1/transmissions"
EU_URL = "https://api.eu.sparkpost.com/api/v1/transmissions"
MESSAGE_ID = "<20260101120000.4242@example.com>"
TRANSMISSION_ID = "11668787484950529"
EVERYONE = ["alice@example.com", "jane@example.org", "carol@example.net", "audit@example.com"]
REGISTRY_ENTRY = "mailsdk.transports.http.sparkpost:SparkPostTransport"


def accepted(total: int = 4, rejected: int = 0, **extra: Any) -> httpx.Response:
    results = {
        "total_rejected_recipients": rejected,
        "total_accepted_recipients": total - rejected,
        "id": TRANSMISSION_ID,
        **extra,
    }
    return httpx.Response(200, json={"results": results})


def sent_json(route: respx.Route, index: int = -1) -> Any:
    return json.loads(route.calls[index].request.content)


@pytest.fixture
def transport(api_key: str) -> SparkPostTransport:
    return SparkPostTransport(api_key)


# -- the request -------------------------------------------------------------------------


async def test_request_carries_every_feature(
    api_key: str, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    transport = SparkPostTransport(api_key, subaccount=123)
    route = respx_mock.post(URL).mock(return_value=accepted())
    outgoing = make_outgoing(envelope_from="bounces@example.com")
    await transport.send(outgoing)

    request = route.calls.last.request
    assert request.method == "POST"
    assert str(request.url) == URL
    assert request.headers["Authorization"] == api_key  # the key itself, no scheme
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["X-MSYS-SUBACCOUNT"] == "123"
    tags = ["reports", "monthly"]
    assert json.loads(request.content) == {
        # Envelope addresses only: the MIME's own To/Cc headers stand; audit (Bcc) is only here.
        "recipients": [{"address": {"email": email}, "tags": tags} for email in EVERYONE],
        "content": {"email_rfc822": outgoing.raw.decode()},
        "return_path": "bounces@example.com",
        "metadata": {"account_id": "42", "plan": "pro"},
    }
    raw = outgoing.raw
    assert b"\r\nBcc:" not in raw
    assert b"audit@example.com" not in raw
    for piece in (
        b"From: Reports Bot <reports@example.com>",
        b'To: Alice Example <alice@example.com>, "Doe, Jane" <jane@example.org>',
        b"Cc: carol@example.net",
        b"Reply-To: Support <support@example.com>",
        f"Message-ID: {MESSAGE_ID}".encode(),
        b"X-Campaign: spring-2026",
        b"Content-ID: <logo@example.com>",
        b'filename="report.pdf"',
    ):
        assert piece in raw


async def test_plain_message_sends_only_what_it_has(
    transport: SparkPostTransport, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    route = respx_mock.post(URL).mock(return_value=accepted(2))
    await transport.send(make_outgoing(cc=[], bcc=[], tags=[], metadata={}))
    request = route.calls.last.request
    assert "X-MSYS-SUBACCOUNT" not in request.headers
    body = json.loads(request.content)
    assert set(body) == {"recipients", "content"}
    assert body["recipients"] == [
        {"address": {"email": "alice@example.com"}},
        {"address": {"email": "jane@example.org"}},
    ]


async def test_failover_subset_lists_only_those_recipients(
    transport: SparkPostTransport, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    route = respx_mock.post(URL).mock(return_value=accepted(1))
    full = make_outgoing(tags=[])
    result = await transport.send(full.restricted_to(["audit@example.com"]))
    body = sent_json(route)
    assert body["recipients"] == [{"address": {"email": "audit@example.com"}}]
    assert body["content"]["email_rfc822"] == full.raw.decode()
    assert result.accepted == ["audit@example.com"]


async def test_eu_region_posts_to_the_eu_host(
    api_key: str, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    route = respx_mock.post(EU_URL).mock(return_value=accepted())
    transport = SparkPostTransport(api_key, region="eu")
    result = await transport.send(make_outgoing())
    assert route.called
    assert result.relay == transport.name == "sparkpost://eu"


# -- refused before any request ----------------------------------------------------------


@pytest.mark.respx(assert_all_called=False)
@pytest.mark.parametrize(
    ("overrides", "feature"),
    [
        ({"subject": "Hello {{name}}"}, "template language"),
        ({"html": "<p>{{{ raw }}}</p>"}, "template language"),
        ({"text": "a }} b"}, "template language"),
        ({"headers": {"X-Note": "{{x}}"}}, "template language"),
        ({"to": ["{{who}} <alice@example.com>"]}, "template language"),
        ({"tags": [f"t{i}" for i in range(11)]}, "11 tags"),
        ({"metadata": {"blob": "x" * 1000}}, "bytes of metadata"),
    ],
)
async def test_unsupported_features_raise_before_any_request(
    transport: SparkPostTransport,
    respx_mock: respx.MockRouter,
    make_outgoing: Callable[..., Any],
    overrides: dict[str, Any],
    feature: str,
) -> None:
    route = respx_mock.post(URL).mock(return_value=accepted())
    with pytest.raises(MessageError, match=feature) as info:
        await transport.send(make_outgoing(**overrides))
    assert info.value.relay == "sparkpost://default"
    assert not route.called


async def test_repeated_tags_are_sent_once(
    transport: SparkPostTransport, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    route = respx_mock.post(URL).mock(return_value=accepted())
    await transport.send(make_outgoing(tags=["a", "b", "a"]))
    assert {tuple(r["tags"]) for r in sent_json(route)["recipients"]} == {("a", "b")}


# -- replies -----------------------------------------------------------------------------


async def test_success_reports_ids_recipients_and_attempt(
    transport: SparkPostTransport, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    respx_mock.post(URL).mock(return_value=accepted())
    result = await transport.send(make_outgoing())
    assert result.message_id == MESSAGE_ID
    assert result.provider_id == TRANSMISSION_ID
    assert result.relay == "sparkpost://default"
    assert result.accepted == EVERYONE
    assert result.refused == {}
    (attempt,) = result.attempts
    assert (attempt.outcome, attempt.code) == ("delivered", 200)


def _partial(errors: list[dict[str, str]], rejected: int) -> httpx.Response:
    # transmissions.apib: a 200 that created the transmission "but with validation errors".
    return httpx.Response(
        200,
        json={
            "errors": [
                {"message": "transmission created, but with validation errors", "code": "2000"}
            ],
            "results": {
                "rcpt_to_errors": errors,
                "total_rejected_recipients": rejected,
                "total_accepted_recipients": 4 - rejected,
                "id": TRANSMISSION_ID,
            },
        },
    )


async def test_partial_success_pins_named_refusals(
    transport: SparkPostTransport, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    error = {
        "message": "invalid data format/type",
        "description": "Invalid recipient address.email: carol@example.net",
        "code": "1300",
    }
    respx_mock.post(URL).mock(return_value=_partial([error], 1))
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
    error = {
        "message": "required field is missing",
        "description": "address.email is required for each recipient",
        "code": "1400",
    }
    respx_mock.post(URL).mock(return_value=_partial([error], 1))
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
    respx_mock.post(URL).mock(return_value=accepted(4, 4, rcpt_to_errors=[error]))
    with pytest.raises(RecipientsRefused) as info:
        await transport.send(make_outgoing())
    refused = info.value.refused
    assert set(refused) == set(EVERYONE)
    assert refused["alice@example.com"] == (550, "recipient address suppressed (code 1902)")
    assert not info.value.transient  # a permanent refusal: not retried elsewhere


def _errors(message: str, code: str | None = None, description: str | None = None) -> Any:
    error = {"message": message}
    error.update({k: v for k, v in (("code", code), ("description", description)) if v})
    return {"errors": [error]}


ERROR_CASES = [
    pytest.param(
        400,
        _errors("Invalid domain", "7001", "Unconfigured or unverified sending domain."),
        {},
        RelayError,
        "Invalid domain: Unconfigured or unverified sending domain. (code 7001)",
        None,
        id="400-unverified-domain",
    ),
    pytest.param(
        400,
        _errors("invalid data format/type", "1300", "Content is not valid RFC822 MIME"),
        {},
        PermanentError,
        "invalid data format/type: Content is not valid RFC822 MIME (code 1300)",
        None,
        id="400-bad-content",
    ),
    pytest.param(401, _errors("Unauthorized."), {}, RelayError, "Unauthorized.", None, id="401"),
    pytest.param(
        403,
        _errors("Forbidden.", description="API key lacks transmissions:modify"),
        {},
        RelayError,
        "Forbidden.: API key lacks transmissions:modify",
        None,
        id="403",
    ),
    pytest.param(
        404,
        _errors("resource not found", "1600", "Resource not found"),
        {},
        RelayError,
        "resource not found: Resource not found (code 1600)",
        None,
        id="404",
    ),
    pytest.param(
        413,
        "<html><body>413 Request Entity Too Large</body></html>",
        {"Content-Type": "text/html"},
        PermanentError,
        "413 Request Entity Too Large",
        None,
        id="413-html",
    ),
    pytest.param(
        422,
        _errors("required field is missing", "1400", "recipients is a required field"),
        {},
        PermanentError,
        "required field is missing: recipients is a required field (code 1400)",
        None,
        id="422",
    ),
    pytest.param(
        420,
        _errors("Exceed Sending Limit (hourly)", "2101"),
        {},
        TransientError,
        "Exceed Sending Limit (hourly) (code 2101)",
        3600.0,
        id="420-hourly",
    ),
    pytest.param(
        420,
        _errors("Exceed Sending Limit (daily)", "2102"),
        {},
        TransientError,
        "Exceed Sending Limit (daily)",
        86400.0,
        id="420-daily",
    ),
    pytest.param(
        420,
        _errors("Exceed Sending Limit (sandbox)", "2103"),
        {},
        RelayError,
        "Exceed Sending Limit (sandbox)",
        None,
        id="420-sandbox",
    ),
    pytest.param(
        429,
        _errors("Too many requests"),
        {"Retry-After": "3"},
        TransientError,
        "Too many requests",
        3.0,
        id="429",
    ),
    pytest.param(
        500, _errors("internal error"), {}, TransientError, "internal error", None, id="500"
    ),
    pytest.param(
        503,
        _errors("Service Unavailable", description="higher than normal levels of traffic"),
        {"Retry-After": "30"},
        TransientError,
        "Service Unavailable: higher than normal levels of traffic",
        30.0,
        id="503",
    ),
]


@pytest.mark.parametrize(("status", "body", "headers", "error", "text", "retry_after"), ERROR_CASES)
async def test_error_replies_map_to_the_error_tree(
    transport: SparkPostTransport,
    respx_mock: respx.MockRouter,
    reply: Callable[..., httpx.Response],
    assert_maps_to: Callable[..., None],
    make_outgoing: Callable[..., Any],
    status: int,
    body: Any,
    headers: dict[str, str],
    error: type[MailError],
    text: str,
    retry_after: float | None,
) -> None:
    respx_mock.post(URL).mock(return_value=reply(status, body, headers))
    with pytest.raises(MailError) as info:
        await transport.send(make_outgoing())
    assert_maps_to(
        info.value,
        error,
        code=status,
        relay="sparkpost://default",
        text=text,
        retry_after=retry_after,
    )


async def test_read_timeout_after_sending_is_delivery_unknown(
    transport: SparkPostTransport, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    respx_mock.post(URL).mock(side_effect=httpx.ReadTimeout("timed out"))
    with pytest.raises(DeliveryUnknown):
        await transport.send(make_outgoing())


# -- secrets -----------------------------------------------------------------------------


async def test_secret_never_in_name_repr_errors_or_logs(
    api_key: str,
    respx_mock: respx.MockRouter,
    make_outgoing: Callable[..., Any],
    secret_logs: pytest.LogCaptureFixture,
    assert_secret_free: Callable[..., None],
    send_each: Callable[..., Any],
) -> None:
    transport = SparkPostTransport.from_url(parse_url(f"sparkpost://{api_key}@default"))
    assert_secret_free(transport, api_key)
    outcomes: list[httpx.Response | Exception] = [
        accepted(),
        _partial([{"message": f"echo {api_key}", "code": "1300"}], 1),
        *(
            httpx.Response(status, json=_errors(f"echo {api_key}"), headers={"Retry-After": "1"})
            for status in (400, 401, 403, 413, 420, 429, 500, 503)
        ),
        httpx.ConnectError(f"proxy refused key {api_key}"),
        httpx.ReadTimeout("timed out"),
    ]
    route = respx_mock.post(URL).mock(side_effect=outcomes)
    results, errors = await send_each(transport, make_outgoing, len(outcomes))
    assert len(errors) == len(outcomes) - 2
    for error in errors:
        assert_secret_free(error, api_key)
    texts = [str(attempt.text) for result in results for attempt in result.attempts]
    assert all(api_key not in text for text in texts)
    assert route.calls.last.request.headers["Authorization"] == api_key
    assert any(r.name == "mailsdk" for r in secret_logs.records)


# -- URLs --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("suffix", "base_url", "name", "subaccount"),
    [
        ("default", "https://api.sparkpost.com/api/v1", "sparkpost://default", None),
        ("eu", "https://api.eu.sparkpost.com/api/v1", "sparkpost://eu", None),
        ("default?region=eu", "https://api.eu.sparkpost.com/api/v1", "sparkpost://eu", None),
        (
            "eu?region=eu&subaccount=42",
            "https://api.eu.sparkpost.com/api/v1",
            "sparkpost://eu",
            "42",
        ),
        (
            "default?base_url=https://sparkpost.example.com/api/v1&timeout=5",
            "https://sparkpost.example.com/api/v1",
            "sparkpost://sparkpost.example.com",
            None,
        ),
    ],
)
def test_from_url(
    api_key: str, suffix: str, base_url: str, name: str, subaccount: str | None
) -> None:
    transport = SparkPostTransport.from_url(parse_url(f"sparkpost://{api_key}@{suffix}"))
    assert transport.api_key.get_secret_value() == api_key
    assert (transport.base_url, transport.name, transport.subaccount) == (
        base_url,
        name,
        subaccount,
    )


def test_ca_file_option(api_key: str, tmp_path: Any) -> None:
    ca = str(tmp_path / "ca.pem")
    transport = SparkPostTransport.from_url(parse_url(f"sparkpost://{api_key}@eu?ca_file={ca}"))
    assert transport.ca_file == ca


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("sparkpost://{key}@default?bogus=1", "unknown option"),
        ("sparkpost://{key}@eu?region=default", "disagree"),
        ("sparkpost://{key}@default?region=mars", "unknown region 'mars'"),
        ("sparkpost://{key}@default?subaccount=abc", "not a number"),
        ("sparkpost://{key}@default?timeout=0", "not a positive number"),
        ("sparkpost://default", "no API key"),
    ],
)
def test_bad_urls_are_refused_without_echoing_the_key(
    api_key: str, assert_secret_free: Callable[..., None], url: str, complaint: str
) -> None:
    with pytest.raises(ConfigurationError, match=complaint) as info:
        SparkPostTransport.from_url(parse_url(url.format(key=api_key)))
    assert_secret_free(info.value, api_key)


def test_registry_entry_builds_the_transport(
    api_key: str, from_registry: Callable[[str, str], Any]
) -> None:
    transport = from_registry(REGISTRY_ENTRY, f"sparkpost://{api_key}@eu")
    assert isinstance(transport, SparkPostTransport)
    assert transport.name == "sparkpost://eu"
