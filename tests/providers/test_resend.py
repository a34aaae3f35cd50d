"""Resend /emails: the exact request, its OpenAPI schema, idempotency, errors, URLs, secrets."""

from __future__ import annotations

import base64
import hashlib
import json
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
    Attachment,
    ConfigurationError,
    DeliveryUnknown,
    MailError,
    MessageError,
    PermanentError,
    RelayError,
    TransientError,
    parse_url,
)
from mailsdk.transports.http.resend import ResendTransport

URL = "https://api.resend.com/emails"
MESSAGE_ID = "<20260101120000.4242@example.com>"
RESEND_ID = "49a3999c-0ce1-4ea6-ab68-afcd6dc2e794"
KEY = hashlib.sha256(MESSAGE_ID.encode()).hexdigest()  # Payload.idempotency_key()
EVERYONE = ["alice@example.com", "jane@example.org", "carol@example.net", "audit@example.com"]
REGISTRY_ENTRY = "mailsdk.transports.http.resend:ResendTransport"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def ok(email_id: str = RESEND_ID) -> httpx.Response:
    return httpx.Response(200, json={"id": email_id})


def sent_json(route: respx.Route, index: int = -1) -> Any:
    return json.loads(route.calls[index].request.content)


def error(status: int, name: str, message: str) -> dict[str, Any]:
    return {"statusCode": status, "message": message, "name": name}


@pytest.fixture
def transport(api_key: str) -> ResendTransport:
    return ResendTransport(api_key)


# -- the request -------------------------------------------------------------------------


async def test_request_carries_every_feature(
    transport: ResendTransport, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    route = respx_mock.post(URL).mock(return_value=ok())
    await transport.send(make_outgoing())

    request = route.calls.last.request
    assert request.method == "POST"
    assert str(request.url) == URL
    assert request.headers["Authorization"] == f"Bearer {transport.api_key.get_secret_value()}"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Idempotency-Key"] == KEY
    assert json.loads(request.content) == {
        "from": "Reports Bot <reports@example.com>",
        "to": [
            "Alice Example <alice@example.com>",
            # Resend refuses the quoted form ("Doe, Jane" <...>) but takes an encoded word.
            "=?utf-8?q?Doe=2C_Jane?= <jane@example.org>",
        ],
        "cc": ["carol@example.net"],
        "bcc": ["audit@example.com"],
        "reply_to": ["Support <support@example.com>"],
        "subject": "Your March report",
        "text": "Hello Alice,\nyour report is attached.",
        "html": '<p>Hello Alice,</p><img src="cid:logo@example.com">',
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
        "tags": [
            {"name": "reports", "value": "true"},
            {"name": "monthly", "value": "true"},
            {"name": "account_id", "value": "42"},
            {"name": "plan", "value": "pro"},
        ],
    }


async def test_plain_message_has_only_what_it_uses(
    transport: ResendTransport, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    route = respx_mock.post(URL).mock(return_value=ok())
    outgoing = make_outgoing(
        html=None, attachments=[], cc=[], bcc=[], reply_to=[], tags=[], metadata={}, headers={}
    )
    await transport.send(outgoing)
    assert sent_json(route) == {
        "from": "Reports Bot <reports@example.com>",
        "to": ["Alice Example <alice@example.com>", "=?utf-8?q?Doe=2C_Jane?= <jane@example.org>"],
        "subject": "Your March report",
        "text": "Hello Alice,\nyour report is attached.",
        "headers": {"Message-ID": outgoing.message_id},
    }


async def test_names_and_domains_resend_would_mangle(
    transport: ResendTransport, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    route = respx_mock.post(URL).mock(return_value=ok())
    await transport.send(
        make_outgoing(
            from_="Zoë Bücher <zoe@example.com>",
            to=["Zoë <zoe@bücher.example>", "J. Doe <jd@example.com>"],
            cc=[],
            bcc=[],
            reply_to=[],
        )
    )
    body = sent_json(route)
    # From: unquoted and unencoded (Resend answers 451 to an encoded word there).
    assert body["from"] == "Zoë Bücher <zoe@example.com>"
    assert body["to"] == [
        "=?utf-8?q?Zo=C3=AB?= <zoe@xn--bcher-kva.example>",
        "=?utf-8?q?J=2E_Doe?= <jd@example.com>",
    ]


def _validator(spec: Any, pointer: str) -> Draft202012Validator:
    # OpenAPI 3.1 schemas are JSON Schema 2020-12; register the whole document so that
    # "#/components/schemas/..." references resolve inside it.
    uri = "urn:resend:openapi"
    resource = Resource.from_contents(spec, default_specification=DRAFT202012)
    return Draft202012Validator(
        {"$ref": uri + pointer}, registry=Registry().with_resource(uri, resource)
    )


def _send_email_validator(spec: Any) -> Draft202012Validator:
    return _validator(spec, "#/components/schemas/SendEmailRequest")


async def test_body_and_idempotency_key_validate_against_resend_openapi(
    transport: ResendTransport,
    respx_mock: respx.MockRouter,
    make_outgoing: Callable[..., Any],
    load_spec: Callable[[str], Any],
) -> None:
    spec = load_spec("resend.yaml")
    route = respx_mock.post(URL).mock(return_value=ok())
    await transport.send(make_outgoing())
    _send_email_validator(spec).validate(sent_json(route))
    (parameter,) = [
        p for p in spec["paths"]["/emails"]["post"]["parameters"] if p["name"] == "Idempotency-Key"
    ]
    assert parameter["in"] == "header"
    Draft202012Validator(parameter["schema"]).validate(
        route.calls.last.request.headers["Idempotency-Key"]
    )


def test_schema_check_is_not_vacuous(load_spec: Callable[[str], Any]) -> None:
    validator = _send_email_validator(load_spec("resend.yaml"))
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
        side_effect=[httpx.Response(500, json=error(500, "application_error", "oops")), ok()]
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
    route = respx_mock.post(URL).mock(return_value=ok())
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


@pytest.mark.respx(assert_all_called=False)
@pytest.mark.parametrize(
    ("overrides", "feature"),
    [
        ({"to": [], "cc": ["carol@example.net"]}, "without To recipients"),
        ({"to": [f"r{i}@example.com" for i in range(51)]}, "51 To recipients"),
        ({"from_": '"Reports, Inc." <reports@example.com>'}, "From display name"),
        ({"from_": "bücher@example.com"}, "non-ASCII local part"),
        ({"bcc": ["bücher@example.com"]}, "non-ASCII local part"),
        ({"tags": ["monthly report"]}, "'monthly report'"),
        ({"metadata": {"email": "a@example.com"}}, "'a@example.com'"),
        ({"tags": ["plan"], "metadata": {"plan": "pro"}}, "both named 'plan'"),
        ({"tags": [f"t{i}" for i in range(74)]}, "76 tags and metadata keys"),
        ({"envelope_from": "bounces@example.com"}, "envelope_from"),
        (
            {
                "attachments": [
                    Attachment(filename="data.txt", content=b"a,b", content_type="text/csv")
                ]
            },
            "would type it text/plain",
        ),
    ],
)
async def test_unsupported_features_raise_before_any_request(
    transport: ResendTransport,
    respx_mock: respx.MockRouter,
    make_outgoing: Callable[..., Any],
    overrides: dict[str, Any],
    feature: str,
) -> None:
    route = respx_mock.post(URL).mock(return_value=ok())
    with pytest.raises(MessageError, match=feature) as info:
        await transport.send(make_outgoing(**overrides))
    assert info.value.relay == "resend://default"
    assert not route.called


async def test_an_attachment_without_a_known_extension_keeps_its_type(
    transport: ResendTransport, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    route = respx_mock.post(URL).mock(return_value=ok())
    blob = Attachment(filename="export", content=b"a,b", content_type="text/csv")
    await transport.send(make_outgoing(attachments=[blob]))
    assert sent_json(route)["attachments"] == [
        {"content": b64(b"a,b"), "filename": "export", "content_type": "text/csv"}
    ]


# -- replies -----------------------------------------------------------------------------


async def test_success_reports_ids_recipients_and_attempt(
    transport: ResendTransport, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    respx_mock.post(URL).mock(return_value=ok())
    result = await transport.send(make_outgoing())
    assert result.message_id == MESSAGE_ID
    assert result.provider_id == RESEND_ID
    assert result.relay == "resend://default"
    assert result.accepted == EVERYONE
    assert result.ok
    (attempt,) = result.attempts
    assert (attempt.outcome, attempt.code) == ("delivered", 200)


ERROR_CASES = [
    pytest.param(
        400,
        error(400, "validation_error", "Invalid `to` field. Please use our testing email."),
        {},
        PermanentError,
        "validation_error: Invalid `to` field",
        id="400-validation",
    ),
    pytest.param(
        400,
        error(400, "validation_error", "API key is invalid"),
        {},
        RelayError,
        "validation_error: API key is invalid",
        id="400-malformed-key",
    ),
    pytest.param(
        401,
        error(401, "missing_api_key", "Missing API key in the authorization header."),
        {},
        RelayError,
        "missing_api_key: Missing API key",
        id="401-missing-key",
    ),
    pytest.param(
        403,
        error(403, "invalid_api_key", "API key is invalid."),
        {},
        RelayError,
        "invalid_api_key: API key is invalid",
        id="403-bad-key",
    ),
    pytest.param(
        403,
        error(
            403,
            "validation_error",
            "The example.com domain is not verified. Please, add and verify your domain on "
            "https://resend.com/domains",
        ),
        {},
        RelayError,
        "validation_error: The example.com domain is not verified",
        id="403-unverified-domain",
    ),
    pytest.param(
        404,
        error(404, "not_found", "The requested endpoint does not exist."),
        {},
        RelayError,
        "not_found: The requested endpoint does not exist.",
        id="404",
    ),
    pytest.param(
        409,
        error(
            409,
            "invalid_idempotent_request",
            "Same idempotency key used with a different request payload.",
        ),
        {},
        PermanentError,
        "invalid_idempotent_request",
        id="409-different-payload",
    ),
    pytest.param(
        409,
        error(
            409,
            "concurrent_idempotent_requests",
            "Same idempotency key used while original request is still in progress.",
        ),
        {},
        TransientError,
        "concurrent_idempotent_requests",
        id="409-in-progress",
    ),
    pytest.param(
        413, "Request Entity Too Large", {}, PermanentError, "Request Entity Too Large", id="413"
    ),
    pytest.param(
        422,
        error(
            422,
            "invalid_from_address",
            "Invalid `from` field. The email address needs to follow the `email@example.com` or "
            "`Name <email@example.com>` format.",
        ),
        {},
        PermanentError,
        "invalid_from_address: Invalid `from` field",
        id="422-from",
    ),
    pytest.param(
        429,
        error(
            429,
            "rate_limit_exceeded",
            "Too many requests. You can only make 2 requests per second.",
        ),
        {"Retry-After": "1", "ratelimit-reset": "1"},
        TransientError,
        "rate_limit_exceeded: Too many requests",
        id="429-rate",
    ),
    pytest.param(
        429,
        error(429, "daily_quota_exceeded", "You have reached your daily email sending quota."),
        {},
        RelayError,
        "daily_quota_exceeded",
        id="429-daily-quota",
    ),
    pytest.param(
        451,
        error(451, "security_error", "The email payload contain invalid characters."),
        {},
        RelayError,
        "security_error",
        id="451",
    ),
    pytest.param(
        500,
        error(500, "application_error", "An unexpected error occurred."),
        {},
        TransientError,
        "application_error: An unexpected error occurred.",
        id="500",
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


@pytest.mark.parametrize(("status", "body", "headers", "error_class", "text"), ERROR_CASES)
async def test_error_replies_map_to_the_error_tree(
    transport: ResendTransport,
    respx_mock: respx.MockRouter,
    reply: Callable[..., httpx.Response],
    assert_maps_to: Callable[..., None],
    make_outgoing: Callable[..., Any],
    status: int,
    body: dict[str, Any] | str,
    headers: dict[str, str],
    error_class: type[MailError],
    text: str,
) -> None:
    respx_mock.post(URL).mock(return_value=reply(status, body, headers))
    with pytest.raises(MailError) as info:
        await transport.send(make_outgoing())
    assert_maps_to(
        info.value,
        error_class,
        code=status,
        relay="resend://default",
        text=text,
        retry_after=headers.get("Retry-After"),
    )


async def test_429_without_retry_after_uses_ratelimit_reset(
    transport: ResendTransport, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    body = error(429, "rate_limit_exceeded", "Too many requests.")
    respx_mock.post(URL).mock(
        return_value=httpx.Response(429, json=body, headers={"ratelimit-reset": "3"})
    )
    with pytest.raises(TransientError) as info:
        await transport.send(make_outgoing())
    assert info.value.retry_after == 3.0


async def test_connect_error_is_transient(
    transport: ResendTransport, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    respx_mock.post(URL).mock(side_effect=httpx.ConnectError("[Errno 111] Connection refused"))
    with pytest.raises(TransientError, match="Connection refused"):
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
    transport = ResendTransport.from_url(parse_url(f"resend://{api_key}@default"))
    assert_secret_free(transport, api_key)

    outcomes: list[httpx.Response | Exception] = [
        ok(),
        *(
            httpx.Response(
                status,
                json=error(status, "validation_error", f"echo {api_key}"),
                headers={"Retry-After": "1"},
            )
            for status in (400, 401, 403, 409, 413, 422, 429, 451, 500, 503)
        ),
        httpx.ConnectError(f"proxy refused key {api_key}"),
        httpx.ReadTimeout("timed out"),
    ]
    route = respx_mock.post(URL).mock(side_effect=outcomes)
    _, errors = await send_each(transport, make_outgoing, len(outcomes))
    assert len(errors) == len(outcomes) - 1
    for exc in errors:
        assert_secret_free(exc, api_key)
    assert route.calls.last.request.headers["Authorization"] == f"Bearer {api_key}"
    assert any(r.name == "mailsdk" for r in secret_logs.records)


# -- URLs --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("suffix", "base_url", "timeout", "name"),
    [
        ("default", "https://api.resend.com", 30.0, "resend://default"),
        ("default?timeout=12.5", "https://api.resend.com", 12.5, "resend://default"),
        (
            "default?base_url=http://127.0.0.1:8025/rs/",
            "http://127.0.0.1:8025/rs",
            30.0,
            "resend://127.0.0.1",
        ),
    ],
)
def test_from_url(api_key: str, suffix: str, base_url: str, timeout: float, name: str) -> None:
    transport = ResendTransport.from_url(parse_url(f"resend://{api_key}@{suffix}"))
    assert transport.api_key.get_secret_value() == api_key
    assert (transport.base_url, transport.timeout, transport.name) == (base_url, timeout, name)


def test_key_may_sit_in_the_password_slot(api_key: str) -> None:
    transport = ResendTransport.from_url(parse_url(f"resend://:{api_key}@default"))
    assert transport.api_key.get_secret_value() == api_key


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("resend://{key}@default?bogus=1", "unknown option"),
        ("resend://{key}@default?timeout=soon", "not a positive number"),
        ("resend://{key}@eu", "unknown region 'eu'"),
        ("resend://default", "no API key"),
    ],
)
def test_bad_urls_are_refused_without_echoing_the_key(
    api_key: str, assert_secret_free: Callable[..., None], url: str, complaint: str
) -> None:
    with pytest.raises(ConfigurationError, match=complaint) as info:
        ResendTransport.from_url(parse_url(url.format(key=api_key)))
    assert_secret_free(info.value, api_key)


def test_registry_entry_builds_the_transport(
    api_key: str, from_registry: Callable[[str, str], Any]
) -> None:
    transport = from_registry(REGISTRY_ENTRY, f"resend://{api_key}@default")
    assert isinstance(transport, ResendTransport)
    assert transport.name == "resend://default"
