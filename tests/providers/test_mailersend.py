"""MailerSend /v1/email: the exact request, headers by plan, suppressions, errors, URLs."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
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
    RecipientsRefused,
    RelayError,
    TransientError,
    parse_url,
)
from mailsdk.transports.failover import FailoverTransport
from mailsdk.transports.http.mailersend import MailerSendTransport
from mailsdk.transports.memory import MemoryTransport

URL = "https://api.mailersend.com/v1/email"
MAILERSEND_ID = "5e42957d51f1d94a1070a733"
# What the registry in mailsdk/config.py should hold for this scheme.
REGISTRY_ENTRY = "mailsdk.transports.http.mailersend:MailerSendTransport"
EVERYONE = ["alice@example.com", "jane@example.org", "carol@example.net", "audit@example.com"]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def accepted(message_id: str = MAILERSEND_ID, **body: Any) -> httpx.Response:
    # The body is empty (text/html) unless MailerSend has warnings for the request.
    if body:
        return httpx.Response(202, json=body, headers={"X-Message-Id": message_id})
    return httpx.Response(202, headers={"X-Message-Id": message_id})


def sent_json(route: respx.Route, index: int = -1) -> Any:
    return json.loads(route.calls[index].request.content)


def supported_fields(**overrides: Any) -> dict[str, Any]:
    """The full message as MailerSend can take it: no ',' in names, no Message-ID of its own,
    no metadata; threading headers added."""
    fields: dict[str, Any] = {
        "to": ["Alice Example <alice@example.com>", "Jane Doe <jane@example.org>"],
        "headers": {
            "X-Campaign": "spring-2026",
            "In-Reply-To": "<order-1234@shop.example.com>",
            "References": "<thread-1@shop.example.com> <order-1234@shop.example.com>",
            "Precedence": "bulk",
        },
        "metadata": {},
    }
    fields.update(overrides)
    return fields


@pytest.fixture
def transport(api_key: str) -> MailerSendTransport:
    return MailerSendTransport(api_key)


@pytest.fixture
def enterprise(api_key: str) -> MailerSendTransport:
    """A transport for a plan that allows custom headers."""
    return MailerSendTransport(api_key, custom_headers=True)


@pytest.fixture
def supported(make_outgoing: Callable[..., OutgoingMessage]) -> OutgoingMessage:
    return make_outgoing(**supported_fields())


@pytest.fixture
def plain(make_outgoing: Callable[..., OutgoingMessage]) -> OutgoingMessage:
    """What any plan can send: no custom headers."""
    return make_outgoing(**supported_fields(headers={}))


# -- the request -------------------------------------------------------------------------


async def test_request_carries_every_feature(
    enterprise: MailerSendTransport, respx_mock: respx.MockRouter, supported: OutgoingMessage
) -> None:
    route = respx_mock.post(URL).mock(return_value=accepted())
    await enterprise.send(supported)

    request = route.calls.last.request
    assert request.method == "POST"
    assert str(request.url) == URL
    assert request.headers["Authorization"] == f"Bearer {enterprise.api_key.get_secret_value()}"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Accept"] == "application/json"
    assert json.loads(request.content) == {
        "from": {"email": "reports@example.com", "name": "Reports Bot"},
        "to": [
            {"email": "alice@example.com", "name": "Alice Example"},
            {"email": "jane@example.org", "name": "Jane Doe"},
        ],
        "cc": [{"email": "carol@example.net"}],
        "bcc": [{"email": "audit@example.com"}],
        "reply_to": {"email": "support@example.com", "name": "Support"},
        "subject": "Your March report",
        "text": "Hello Alice,\nyour report is attached.",
        "html": '<p>Hello Alice,</p><img src="cid:logo@example.com">',
        # The generated Message-ID is not sent: MailerSend sets its own.
        "headers": [{"name": "X-Campaign", "value": "spring-2026"}],
        "in_reply_to": "order-1234@shop.example.com",
        "references": ["thread-1@shop.example.com", "order-1234@shop.example.com"],
        "precedence_bulk": True,
        "attachments": [
            {
                "content": b64(b"%PDF-1.4 fake"),
                "filename": "report.pdf",
                "disposition": "attachment",
            },
            {
                "content": b64(b"\x89PNG fake"),
                "filename": "logo.png",
                "disposition": "inline",
                "id": "logo@example.com",
            },
        ],
        "tags": ["reports", "monthly"],
    }


async def test_threading_fields_need_no_custom_header_plan(
    transport: MailerSendTransport,
    respx_mock: respx.MockRouter,
    make_outgoing: Callable[..., Any],
) -> None:
    route = respx_mock.post(URL).mock(return_value=accepted())
    headers = {"In-Reply-To": "<a@b.example>", "Precedence": "list"}
    await transport.send(make_outgoing(**supported_fields(headers=headers)))
    body = sent_json(route)
    assert (body["in_reply_to"], body["precedence_bulk"]) == ("a@b.example", True)
    assert "headers" not in body


async def test_text_only_message_has_only_what_it_uses(
    transport: MailerSendTransport,
    respx_mock: respx.MockRouter,
    make_outgoing: Callable[..., Any],
) -> None:
    route = respx_mock.post(URL).mock(return_value=accepted())
    await transport.send(
        make_outgoing(
            **supported_fields(
                html=None, attachments=[], cc=[], bcc=[], reply_to=[], tags=[], headers={}
            )
        )
    )
    assert set(sent_json(route)) == {"from", "to", "subject", "text"}


# -- features MailerSend cannot express are refused before any request --------------------


@pytest.mark.respx(assert_all_called=False)
@pytest.mark.parametrize(
    ("overrides", "feature"),
    [
        ({"metadata": {"account_id": "42"}}, "cannot send metadata"),
        ({"headers": {"X-Campaign": "x"}}, "custom headers need a Professional or Enterprise"),
        ({"headers": {"Message-ID": "<mine@example.com>"}}, "MailerSend sets the Message-ID"),
        ({"to": ['"Doe, Jane" <jane@example.org>']}, "display name 'Doe, Jane'"),
        ({"cc": ['"Ops; Team" <ops@example.org>']}, "display name 'Ops; Team'"),
        ({"reply_to": ["a@example.com", "b@example.com"]}, "2 reply_to addresses"),
        ({"to": [], "cc": ["carol@example.net"]}, "without To recipients"),
        ({"to": [f"r{i}@example.com" for i in range(51)]}, "51 to recipients \\(at most 50\\)"),
        ({"bcc": [f"b{i}@example.com" for i in range(11)]}, "11 bcc recipients \\(at most 10\\)"),
        ({"tags": [f"t{i}" for i in range(6)]}, "6 tags \\(at most 5\\)"),
        ({"subject": ""}, "without a subject"),
        ({"subject": "x" * 998}, "subject longer than 997"),
        ({"text": None, "html": None}, "without a body"),
        (
            {"attachments": [Attachment(filename="a.txt", content=b"x", content_type="text/csv")]},
            "as text/csv",
        ),
        ({"envelope_from": "bounces@example.com"}, "envelope_from"),
    ],
)
async def test_unsupported_features_raise_before_any_request(
    transport: MailerSendTransport,
    respx_mock: respx.MockRouter,
    make_outgoing: Callable[..., Any],
    overrides: dict[str, Any],
    feature: str,
) -> None:
    route = respx_mock.post(URL).mock(return_value=accepted())
    with pytest.raises(MessageError, match=feature):
        await transport.send(make_outgoing(**supported_fields(**{"headers": {}, **overrides})))
    assert not route.called


@pytest.mark.respx(assert_all_called=False)
async def test_header_names_must_be_letters_digits_and_hyphens(
    enterprise: MailerSendTransport, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    route = respx_mock.post(URL).mock(return_value=accepted())
    with pytest.raises(MessageError, match="header name 'X_Trace'"):
        await enterprise.send(make_outgoing(**supported_fields(headers={"X_Trace": "1"})))
    assert not route.called


# -- replies -----------------------------------------------------------------------------


async def test_success_reports_ids_recipients_and_attempt(
    transport: MailerSendTransport, respx_mock: respx.MockRouter, plain: OutgoingMessage
) -> None:
    respx_mock.post(URL).mock(return_value=accepted())
    result = await transport.send(plain)
    assert result.message_id == plain.message_id
    assert result.provider_id == MAILERSEND_ID
    assert result.relay == "mailersend://default"
    assert result.accepted == EVERYONE
    assert result.ok
    (attempt,) = result.attempts
    assert (attempt.relay, attempt.outcome, attempt.code) == (
        "mailersend://default",
        "delivered",
        202,
    )


async def test_some_suppressed_recipients_are_refused_for_good(
    transport: MailerSendTransport, respx_mock: respx.MockRouter, plain: OutgoingMessage
) -> None:
    warning = {
        "type": "SOME_SUPPRESSED",
        "warning": "Some of the recipients have been suppressed.",
        "recipients": [
            {"email": "carol@example.net", "name": None, "reasons": ["hard_bounced"]},
        ],
    }
    respx_mock.post(URL).mock(
        return_value=accepted(
            message="There are some warnings for your request.", warnings=[warning]
        )
    )
    result = await transport.send(plain)
    assert result.provider_id == MAILERSEND_ID
    assert result.accepted == ["alice@example.com", "jane@example.org", "audit@example.com"]
    # 5xx, SMTP-style: FailoverTransport would retry a 4xx refusal on the next relay.
    assert result.refused == {"carol@example.net": (550, "suppressed: hard_bounced")}
    assert result.attempts[0].text == "There are some warnings for your request."


async def test_all_suppressed_means_nothing_was_sent(
    transport: MailerSendTransport, respx_mock: respx.MockRouter, plain: OutgoingMessage
) -> None:
    warning = {
        "type": "ALL_SUPPRESSED",
        "message": "All of the recipients provided have been suppressed.",
        "recipients": [
            {"email": "alice@example.com", "name": None, "reasons": ["hard_bounced"]},
            {"email": "jane@example.org", "name": None, "reasons": ["unsubscribed", "blocklisted"]},
        ],
    }
    respx_mock.post(URL).mock(
        return_value=httpx.Response(
            202,
            json={"message": "There are some warnings for your request.", "warnings": [warning]},
        )
    )
    with pytest.raises(RecipientsRefused) as info:
        await transport.send(plain)
    refused = info.value.refused
    assert set(refused) == set(EVERYONE)
    assert refused["jane@example.org"] == (550, "suppressed: unsubscribed, blocklisted")
    assert refused["carol@example.net"] == (550, "not sent: every recipient was suppressed")
    assert not info.value.transient


async def test_a_suppressed_recipient_is_not_retried_on_the_next_relay(
    transport: MailerSendTransport, respx_mock: respx.MockRouter, plain: OutgoingMessage
) -> None:
    warning = {
        "type": "SOME_SUPPRESSED",
        # Spelled differently from the envelope: the refusal must still match it.
        "recipients": [{"email": "Carol@Example.NET", "reasons": ["spam_complaint"]}],
    }
    respx_mock.post(URL).mock(return_value=accepted(warnings=[warning]))
    backup = MemoryTransport("memory://backup")
    result = await FailoverTransport([transport, backup]).send(plain)
    assert backup.outbox == []
    assert result.refused == {"carol@example.net": (550, "suppressed: spam_complaint")}
    assert sorted(result.accepted) == sorted(set(EVERYONE) - {"carol@example.net"})


async def test_an_odd_warnings_body_does_not_lose_the_delivery(
    transport: MailerSendTransport, respx_mock: respx.MockRouter, plain: OutgoingMessage
) -> None:
    warning = {
        "type": "SOME_SUPPRESSED",
        "recipients": [{"email": 5}, "x", {"email": "carol@example.net", "reasons": "bounced"}],
    }
    respx_mock.post(URL).mock(return_value=accepted(message=7, warnings=[warning, "junk"]))
    result = await transport.send(plain)
    assert result.provider_id == MAILERSEND_ID
    assert result.refused == {"carol@example.net": (550, "suppressed: no reason given")}


def _invalid(field: str, message: str) -> dict[str, Any]:
    return {"message": "The given data was invalid.", "errors": {field: [message]}}


ERROR_CASES = [
    pytest.param(
        422,
        _invalid("from.email", "The from.email must be verified. #MS42207"),
        {},
        RelayError,
        "The given data was invalid. from.email: The from.email must be verified. #MS42207",
        id="422-unverified-domain",
    ),
    pytest.param(
        422,
        _invalid("to", "The trial domain unique recipients limit was reached. #MS42225"),
        {},
        RelayError,
        "#MS42225",
        id="422-trial-cap",
    ),
    pytest.param(
        422,
        _invalid("to.0.email", "The to.0.email must be a valid email address."),
        {},
        PermanentError,
        "to.0.email: The to.0.email must be a valid email address.",
        id="422-invalid-recipient",
    ),
    pytest.param(
        400,
        {"message": "Bad request."},
        {},
        PermanentError,
        "Bad request.",
        id="400",
    ),
    pytest.param(
        401, {"message": "Unauthenticated."}, {}, RelayError, "Unauthenticated.", id="401"
    ),
    pytest.param(
        403,
        {"message": "This action is unauthorized."},
        {},
        RelayError,
        "This action is unauthorized.",
        id="403",
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
        421,
        {"message": "Service isn't available, try again later"},
        {},
        TransientError,
        "try again later",
        id="421-maintenance",
    ),
    pytest.param(
        429,
        {"message": "Too Many Attempts."},
        {"Retry-After": "60", "X-RateLimit-Limit": "60", "X-RateLimit-Remaining": "0"},
        TransientError,
        "Too Many Attempts.",
        id="429-per-minute",
    ),
    pytest.param(500, {"message": "Server Error"}, {}, TransientError, "Server Error", id="500"),
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
    transport: MailerSendTransport,
    respx_mock: respx.MockRouter,
    reply: Callable[..., httpx.Response],
    assert_maps_to: Callable[..., None],
    plain: OutgoingMessage,
    status: int,
    body: dict[str, Any] | str,
    headers: dict[str, str],
    error: type[MailError],
    text: str,
) -> None:
    respx_mock.post(URL).mock(return_value=reply(status, body, headers))
    with pytest.raises(MailError) as info:
        await transport.send(plain)
    assert_maps_to(
        info.value,
        error,
        code=status,
        relay="mailersend://default",
        text=text,
        retry_after=headers.get("Retry-After"),
    )


@pytest.mark.parametrize(
    "reset",
    [
        (datetime.now(timezone.utc) + timedelta(hours=5)).isoformat(),
        (datetime.now(timezone.utc) + timedelta(hours=5)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        str(int(time.time()) + 5 * 3600),
    ],
)
async def test_429_for_the_daily_quota_waits_for_its_reset(
    transport: MailerSendTransport, respx_mock: respx.MockRouter, plain: OutgoingMessage, reset: str
) -> None:
    # Not the per-minute limit: its Retry-After would send a retry into the same wall.
    headers = {"Retry-After": "60", "x-apiquota-remaining": "0", "x-apiquota-reset": reset}
    respx_mock.post(URL).mock(
        return_value=httpx.Response(429, json={"message": "Too Many Attempts."}, headers=headers)
    )
    with pytest.raises(TransientError) as info:
        await transport.send(plain)
    assert info.value.retry_after is not None
    assert 5 * 3600 - 60 <= info.value.retry_after <= 5 * 3600


async def test_429_for_the_daily_quota_without_a_reset_waits_for_utc_midnight(
    transport: MailerSendTransport, respx_mock: respx.MockRouter, plain: OutgoingMessage
) -> None:
    headers = {"x-apiquota-remaining": "0"}
    respx_mock.post(URL).mock(return_value=httpx.Response(429, json={}, headers=headers))
    with pytest.raises(TransientError) as info:
        await transport.send(plain)
    now = datetime.now(timezone.utc)
    midnight = datetime(now.year, now.month, now.day, tzinfo=timezone.utc) + timedelta(days=1)
    assert info.value.retry_after == pytest.approx((midnight - now).total_seconds(), abs=5)


async def test_read_timeout_after_sending_is_delivery_unknown(
    transport: MailerSendTransport, respx_mock: respx.MockRouter, plain: OutgoingMessage
) -> None:
    # MailerSend has no idempotency key (its own SDK retries POSTs, which can duplicate).
    respx_mock.post(URL).mock(side_effect=httpx.ReadTimeout("timed out"))
    with pytest.raises(DeliveryUnknown, match="may have been delivered"):
        await transport.send(plain)


# -- secrets -----------------------------------------------------------------------------


async def test_secret_never_in_name_repr_errors_or_logs(
    api_key: str,
    respx_mock: respx.MockRouter,
    plain: OutgoingMessage,
    secret_logs: pytest.LogCaptureFixture,
    assert_secret_free: Callable[..., None],
    send_each: Callable[..., Any],
) -> None:
    transport = MailerSendTransport.from_url(parse_url(f"mailersend://{api_key}@default"))
    assert_secret_free(transport, api_key)

    outcomes: list[httpx.Response | Exception] = [
        accepted(),
        *(
            httpx.Response(
                status, json=_invalid("x", f"echo {api_key}"), headers={"Retry-After": "1"}
            )
            for status in (400, 401, 403, 413, 421, 422, 429, 500, 503)
        ),
        httpx.ConnectError(f"proxy refused key {api_key}"),
        httpx.ReadTimeout("timed out"),
    ]
    route = respx_mock.post(URL).mock(side_effect=outcomes)
    _, errors = await send_each(transport, lambda: plain, len(outcomes))
    assert len(errors) == len(outcomes) - 1
    for error in errors:
        assert_secret_free(error, api_key)
    assert route.calls.last.request.headers["Authorization"] == f"Bearer {api_key}"
    assert any(r.name == "mailsdk" for r in secret_logs.records)


# -- URLs --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("suffix", "base_url", "custom_headers", "name"),
    [
        ("default", "https://api.mailersend.com", False, "mailersend://default"),
        ("default?custom_headers=true", "https://api.mailersend.com", True, "mailersend://default"),
        ("default?custom_headers=no", "https://api.mailersend.com", False, "mailersend://default"),
        (
            "default?base_url=http://127.0.0.1:8025/ms/&timeout=5",
            "http://127.0.0.1:8025/ms",
            False,
            "mailersend://127.0.0.1",
        ),
    ],
)
def test_from_url(
    api_key: str, suffix: str, base_url: str, custom_headers: bool, name: str
) -> None:
    transport = MailerSendTransport.from_url(parse_url(f"mailersend://{api_key}@{suffix}"))
    assert transport.api_key.get_secret_value() == api_key
    assert (transport.base_url, transport.custom_headers, transport.name) == (
        base_url,
        custom_headers,
        name,
    )


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("mailersend://{key}@default?bogus=1", "unknown option"),
        ("mailersend://{key}@default?custom_headers=maybe", "is not a boolean"),
        ("mailersend://{key}@default?timeout=soon", "not a positive number"),
        ("mailersend://{key}@eu", "unknown region 'eu'"),
        ("mailersend://default", "no API key"),
    ],
)
def test_bad_urls_are_refused_without_echoing_the_key(
    api_key: str, assert_secret_free: Callable[..., None], url: str, complaint: str
) -> None:
    with pytest.raises(ConfigurationError, match=complaint) as info:
        MailerSendTransport.from_url(parse_url(url.format(key=api_key)))
    assert_secret_free(info.value, api_key)


def test_registry_entry_builds_the_transport(
    api_key: str, from_registry: Callable[[str, str], Any]
) -> None:
    # The line this module asks for in mailsdk.config._REGISTRY.
    transport = from_registry(REGISTRY_ENTRY, f"mailersend://{api_key}@default?custom_headers=true")
    assert isinstance(transport, MailerSendTransport)
    assert transport.custom_headers
