"""SendGrid v3 Mail Send: the exact request, the OpenAPI schema, replies, errors, URLs, secrets."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import respx
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from mailsdk import (
    ConfigurationError,
    DeliveryUnknown,
    MailError,
    MessageError,
    PermanentError,
    RelayError,
    TransientError,
    parse_url,
)
from mailsdk.transports.http.sendgrid import SendGridTransport

URL = "https://api.sendgrid.com/v3/mail/send"
EU_URL = "https://api.eu.sendgrid.com/v3/mail/send"
MESSAGE_ID = "<20260101120000.4242@example.com>"
SENDGRID_ID = "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0"
# What the registry in mailsdk/config.py should hold for this scheme.
REGISTRY_ENTRY = "mailsdk.transports.http.sendgrid:SendGridTransport"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def accepted(message_id: str = SENDGRID_ID) -> httpx.Response:
    return httpx.Response(202, headers={"X-Message-Id": message_id})


def sent_json(route: respx.Route, index: int = -1) -> Any:
    return json.loads(route.calls[index].request.content)


@pytest.fixture
def transport(api_key: str) -> SendGridTransport:
    return SendGridTransport(api_key)


# -- the request -------------------------------------------------------------------------


async def test_request_carries_every_feature(
    transport: SendGridTransport, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    route = respx_mock.post(URL).mock(return_value=accepted())
    await transport.send(make_outgoing())

    request = route.calls.last.request
    assert request.method == "POST"
    assert str(request.url) == URL
    assert request.headers["Authorization"] == f"Bearer {transport.api_key.get_secret_value()}"
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.content) == {
        "personalizations": [
            {
                "to": [
                    {"email": "alice@example.com", "name": "Alice Example"},
                    # quoted by us: SendGrid would split the name at the comma (sendgrid-python#291)
                    {"email": "jane@example.org", "name": '"Doe, Jane"'},
                ],
                "cc": [{"email": "carol@example.net"}],
                "bcc": [{"email": "audit@example.com"}],
                "custom_args": {"account_id": "42", "plan": "pro"},
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
    route = respx_mock.post(URL).mock(return_value=accepted())
    await transport.send(
        make_outgoing(html=None, attachments=[], cc=[], bcc=[], reply_to=[], tags=[], metadata={})
    )
    body = sent_json(route)
    assert body["content"] == [
        {"type": "text/plain", "value": "Hello Alice,\nyour report is attached."}
    ]
    assert set(body) == {"personalizations", "from", "subject", "content", "headers"}
    assert set(body["personalizations"][0]) == {"to"}


async def test_generated_message_id_is_sent_as_a_header(
    transport: SendGridTransport, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    route = respx_mock.post(URL).mock(return_value=accepted())
    outgoing = make_outgoing(headers={})
    result = await transport.send(outgoing)
    assert sent_json(route)["headers"] == {"Message-ID": outgoing.message_id}
    assert result.message_id == outgoing.message_id


def _mail_send_validator(spec: Any) -> Draft202012Validator:
    # OpenAPI 3.1 schemas are JSON Schema 2020-12. The whole document is registered so that
    # "#/components/schemas/..." references resolve inside it.
    uri = "urn:sendgrid:tsg_mail_v3"
    resource = Resource.from_contents(spec, default_specification=DRAFT202012)
    pointer = "#/components/requestBodies/PostMailSend/content/application~1json/schema"
    return Draft202012Validator(
        {"$ref": uri + pointer},
        registry=Registry().with_resource(uri, resource),
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )


async def test_body_validates_against_sendgrid_openapi(
    transport: SendGridTransport,
    respx_mock: respx.MockRouter,
    make_outgoing: Callable[..., Any],
    load_spec: Callable[[str], Any],
) -> None:
    validator = _mail_send_validator(load_spec("sendgrid.json"))
    route = respx_mock.post(URL).mock(return_value=accepted())
    await transport.send(make_outgoing())
    validator.validate(sent_json(route))


def test_schema_check_is_not_vacuous(load_spec: Callable[[str], Any]) -> None:
    validator = _mail_send_validator(load_spec("sendgrid.json"))
    base = {"personalizations": [{"to": [{"email": "a@example.com"}]}]}
    validator.validate({**base, "from": {"email": "b@example.com"}})
    # Only a resolved $ref to MailFrom knows that "email" is required and must be an address.
    for bad_from in ({"name": "no address"}, {"email": "not-an-address"}):
        with pytest.raises(ValidationError):
            validator.validate({**base, "from": bad_from})
    with pytest.raises(ValidationError):
        validator.validate({**base, "from": {"email": "b@example.com"}, "categories": ["x", "x"]})


async def test_eu_region_posts_to_the_eu_host(
    api_key: str, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    route = respx_mock.post(EU_URL).mock(return_value=accepted())
    transport = SendGridTransport(api_key, region="eu")
    result = await transport.send(make_outgoing())
    assert route.called
    assert result.relay == transport.name == "sendgrid://eu"


# -- features SendGrid cannot express are refused before any request ----------------------


@pytest.mark.respx(assert_all_called=False)
@pytest.mark.parametrize(
    ("overrides", "feature"),
    [
        ({"to": [], "cc": ["carol@example.net"]}, "without To recipients"),
        ({"tags": [f"t{i}" for i in range(11)]}, "11 tags"),
        ({"tags": ["x" * 256]}, "longer than 255"),
        ({"from_": "bücher@example.com"}, "non-ASCII local part"),
        ({"to": [f"r{i}@example.com" for i in range(1000)]}, "1002 recipients"),
        ({"envelope_from": "bounces@example.com"}, "envelope_from"),
    ],
)
async def test_unsupported_features_raise_before_any_request(
    transport: SendGridTransport,
    respx_mock: respx.MockRouter,
    make_outgoing: Callable[..., Any],
    overrides: dict[str, Any],
    feature: str,
) -> None:
    route = respx_mock.post(URL).mock(return_value=accepted())
    with pytest.raises(MessageError, match=feature):
        await transport.send(make_outgoing(**overrides))
    assert not route.called


async def test_repeated_tags_are_sent_once(
    transport: SendGridTransport, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    route = respx_mock.post(URL).mock(return_value=accepted())
    await transport.send(make_outgoing(tags=["a", "b", "a"]))
    assert sent_json(route)["categories"] == ["a", "b"]


# -- replies -----------------------------------------------------------------------------


async def test_success_reports_ids_recipients_and_attempt(
    transport: SendGridTransport, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    respx_mock.post(URL).mock(return_value=accepted())
    result = await transport.send(make_outgoing())
    assert result.message_id == MESSAGE_ID
    assert result.provider_id == SENDGRID_ID
    assert result.relay == "sendgrid://default"
    assert result.accepted == [
        "alice@example.com",
        "jane@example.org",
        "carol@example.net",
        "audit@example.com",
    ]
    assert result.ok
    assert result.refused == {}
    (attempt,) = result.attempts
    assert (attempt.relay, attempt.outcome, attempt.code) == (
        "sendgrid://default",
        "delivered",
        202,
    )


def _errors(message: str, field: str | None = None) -> dict[str, Any]:
    return {"errors": [{"message": message, "field": field, "help": None}]}


ERROR_CASES = [
    pytest.param(
        400,
        _errors(
            "The to array is required for all personalization objects, and must have at "
            "least one email object with a valid email address.",
            "personalizations.0.to",
        ),
        {},
        PermanentError,
        "personalizations.0.to: The to array is required",
        id="400-validation",
    ),
    pytest.param(
        401,
        _errors("The provided authorization grant is invalid, expired, or revoked"),
        {},
        RelayError,
        "The provided authorization grant is invalid",
        id="401-bad-key",
    ),
    pytest.param(
        403,
        _errors(
            "The from address does not match a verified Sender Identity. Mail cannot be sent "
            "until this error is resolved.",
            "from",
        ),
        {},
        RelayError,
        "from: The from address does not match a verified Sender Identity",
        id="403-unverified-sender",
    ),
    pytest.param(
        403,
        _errors("Too many bad requests. Temporary block."),
        {},
        TransientError,
        "Temporary block",
        id="403-temporary-block",
    ),
    pytest.param(
        413, _errors("content too large"), {}, PermanentError, "content too large", id="413"
    ),
    pytest.param(
        429,
        _errors("too many requests"),
        {"Retry-After": "7"},
        TransientError,
        "too many requests",
        id="429",
    ),
    pytest.param(500, _errors("internal error"), {}, TransientError, "internal error", id="500"),
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
    transport: SendGridTransport,
    respx_mock: respx.MockRouter,
    reply: Callable[..., httpx.Response],
    assert_maps_to: Callable[..., None],
    make_outgoing: Callable[..., Any],
    status: int,
    body: dict[str, Any] | str,
    headers: dict[str, str],
    error: type[MailError],
    text: str,
) -> None:
    respx_mock.post(URL).mock(return_value=reply(status, body, headers))
    with pytest.raises(MailError) as info:
        await transport.send(make_outgoing())
    assert_maps_to(
        info.value,
        error,
        code=status,
        relay="sendgrid://default",
        text=text,
        retry_after=headers.get("Retry-After"),
    )


async def test_429_without_retry_after_uses_rate_limit_reset(
    transport: SendGridTransport, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    reset = str(int(time.time()) + 30)
    respx_mock.post(URL).mock(
        return_value=httpx.Response(
            429, json=_errors("too many requests"), headers={"X-RateLimit-Reset": reset}
        )
    )
    with pytest.raises(TransientError) as info:
        await transport.send(make_outgoing())
    assert info.value.retry_after is not None
    assert 25 <= info.value.retry_after <= 31


async def test_connect_error_is_transient(
    transport: SendGridTransport, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    respx_mock.post(URL).mock(side_effect=httpx.ConnectError("[Errno 111] Connection refused"))
    with pytest.raises(TransientError, match="Connection refused"):
        await transport.send(make_outgoing())


async def test_read_timeout_after_sending_is_delivery_unknown(
    transport: SendGridTransport, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    # SendGrid has no idempotency key: a resend could deliver twice.
    respx_mock.post(URL).mock(side_effect=httpx.ReadTimeout("timed out"))
    with pytest.raises(DeliveryUnknown, match="may have been delivered"):
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
    transport = SendGridTransport.from_url(parse_url(f"sendgrid://{api_key}@default"))
    assert_secret_free(transport, api_key)

    outcomes: list[httpx.Response | Exception] = [
        accepted(),
        *(
            httpx.Response(status, json=_errors(f"echo {api_key}"), headers={"Retry-After": "1"})
            for status in (400, 401, 403, 413, 429, 500, 503)
        ),
        httpx.ConnectError(f"proxy refused key {api_key}"),
        httpx.ReadTimeout("timed out"),
    ]
    route = respx_mock.post(URL).mock(side_effect=outcomes)
    _, errors = await send_each(transport, make_outgoing, len(outcomes))
    assert len(errors) == len(outcomes) - 1
    for error in errors:
        assert_secret_free(error, api_key)
    # The key did go where it belongs.
    assert route.calls.last.request.headers["Authorization"] == f"Bearer {api_key}"
    assert any(r.name == "mailsdk" for r in secret_logs.records)


# -- connections -------------------------------------------------------------------------


async def test_one_pooled_client_serves_every_send(
    transport: SendGridTransport, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    route = respx_mock.post(URL).mock(return_value=accepted())
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


@pytest.mark.parametrize(
    ("suffix", "base_url", "timeout", "name"),
    [
        ("default", "https://api.sendgrid.com", 30.0, "sendgrid://default"),
        ("eu", "https://api.eu.sendgrid.com", 30.0, "sendgrid://eu"),
        ("default?timeout=12.5", "https://api.sendgrid.com", 12.5, "sendgrid://default"),
        (
            "default?base_url=http://127.0.0.1:8025/sg/",
            "http://127.0.0.1:8025/sg",
            30.0,
            "sendgrid://127.0.0.1",
        ),
    ],
)
def test_from_url(api_key: str, suffix: str, base_url: str, timeout: float, name: str) -> None:
    transport = SendGridTransport.from_url(parse_url(f"sendgrid://{api_key}@{suffix}"))
    assert transport.api_key.get_secret_value() == api_key
    assert (transport.base_url, transport.timeout, transport.name) == (base_url, timeout, name)


def test_key_may_sit_in_the_password_slot(api_key: str) -> None:
    transport = SendGridTransport.from_url(parse_url(f"sendgrid://:{api_key}@eu"))
    assert transport.api_key.get_secret_value() == api_key


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("sendgrid://{key}@default?bogus=1", "unknown option"),
        ("sendgrid://{key}@default?timeout=soon", "not a positive number"),
        ("sendgrid://{key}@mars", "unknown region 'mars'"),
        ("sendgrid://default", "no API key"),
    ],
)
def test_bad_urls_are_refused_without_echoing_the_key(
    api_key: str, assert_secret_free: Callable[..., None], url: str, complaint: str
) -> None:
    with pytest.raises(ConfigurationError, match=complaint) as info:
        SendGridTransport.from_url(parse_url(url.format(key=api_key)))
    assert_secret_free(info.value, api_key)


def test_registry_entry_builds_the_transport(
    api_key: str, from_registry: Callable[[str, str], Any]
) -> None:
    # The line this module asks for in mailsdk.config._REGISTRY.
    transport = from_registry(REGISTRY_ENTRY, f"sendgrid://{api_key}@eu")
    assert isinstance(transport, SendGridTransport)
    assert transport.name == "sendgrid://eu"
