"""Postmark /email: the exact request, replies, ErrorCode mapping, inactive recipients, URLs."""

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
    PermanentError,
    RecipientsRefused,
    RelayError,
    TransientError,
    parse_url,
)
from mailsdk.transports.http.postmark import PostmarkTransport

URL = "https://api.postmarkapp.com/email"
MESSAGE_ID = "<20260101120000.4242@example.com>"
POSTMARK_ID = "b7bc2f4a-e38e-4336-af7d-e6c392c2f817"
EVERYONE = ["alice@example.com", "jane@example.org", "carol@example.net", "audit@example.com"]
REGISTRY_ENTRY = "mailsdk.transports.http.postmark:PostmarkTransport"
INACTIVE_TAIL = (
    "Inactive recipients are ones that have generated a hard bounce or a spam complaint."
)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def ok(message: str = "OK", **extra: Any) -> httpx.Response:
    body = {
        "To": "alice@example.com",
        "SubmittedAt": "2026-01-01T12:00:00.0000000-05:00",
        "MessageID": POSTMARK_ID,
        "ErrorCode": 0,
        "Message": message,
        **extra,
    }
    return httpx.Response(200, json=body)


def sent_json(route: respx.Route) -> Any:
    return json.loads(route.calls.last.request.content)


@pytest.fixture
def transport(api_key: str) -> PostmarkTransport:
    return PostmarkTransport(api_key)


# -- the request -------------------------------------------------------------------------


async def test_request_carries_every_feature(
    transport: PostmarkTransport, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    route = respx_mock.post(URL).mock(return_value=ok())
    await transport.send(make_outgoing(tags=["reports"]))

    request = route.calls.last.request
    assert request.method == "POST"
    assert str(request.url) == URL
    assert request.headers["X-Postmark-Server-Token"] == transport.api_key.get_secret_value()
    assert "Authorization" not in request.headers
    assert request.headers["Accept"] == "application/json"
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.content) == {
        "From": "Reports Bot <reports@example.com>",
        "To": 'Alice Example <alice@example.com>, "Doe, Jane" <jane@example.org>',
        "Cc": "carol@example.net",
        "Bcc": "audit@example.com",
        "ReplyTo": "Support <support@example.com>",
        "Subject": "Your March report",
        "TextBody": "Hello Alice,\nyour report is attached.",
        "HtmlBody": '<p>Hello Alice,</p><img src="cid:logo@example.com">',
        "Headers": [
            {"Name": "Message-ID", "Value": MESSAGE_ID},
            {"Name": "X-Campaign", "Value": "spring-2026"},
        ],
        "Attachments": [
            {
                "Name": "report.pdf",
                "Content": b64(b"%PDF-1.4 fake"),
                "ContentType": "application/pdf",
            },
            {
                "Name": "logo.png",
                "Content": b64(b"\x89PNG fake"),
                "ContentType": "image/png",
                "ContentID": "cid:logo@example.com",
            },
        ],
        "Tag": "reports",
        "Metadata": {"account_id": "42", "plan": "pro"},
        "MessageStream": "outbound",
    }


async def test_unicode_domains_go_out_as_idna(
    transport: PostmarkTransport, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    route = respx_mock.post(URL).mock(return_value=ok())
    await transport.send(make_outgoing(to=["Zoë <zoe@bücher.example>"], cc=[], bcc=[], tags=[]))
    assert sent_json(route)["To"] == "Zoë <zoe@xn--bcher-kva.example>"


async def test_plain_message_has_only_what_it_uses(
    transport: PostmarkTransport, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    route = respx_mock.post(URL).mock(return_value=ok())
    outgoing = make_outgoing(
        html=None, attachments=[], cc=[], bcc=[], reply_to=[], tags=[], metadata={}, headers={}
    )
    await transport.send(outgoing)
    assert set(sent_json(route)) == {
        "From",
        "To",
        "Subject",
        "TextBody",
        "Headers",
        "MessageStream",
    }
    assert sent_json(route)["Headers"] == [{"Name": "Message-ID", "Value": outgoing.message_id}]


async def test_a_restricted_envelope_sends_only_those_recipients(
    transport: PostmarkTransport, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    route = respx_mock.post(URL).mock(return_value=ok())
    await transport.send(make_outgoing(tags=[]).restricted_to(["jane@example.org"]))
    body = sent_json(route)
    assert body["To"] == '"Doe, Jane" <jane@example.org>'
    assert "Cc" not in body
    assert "Bcc" not in body


async def test_message_stream_from_the_url(
    api_key: str, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    route = respx_mock.post(URL).mock(return_value=ok())
    transport = PostmarkTransport.from_url(
        parse_url(f"postmark://{api_key}@default?message_stream=broadcast")
    )
    await transport.send(make_outgoing(tags=[]))
    assert sent_json(route)["MessageStream"] == "broadcast"


# -- features Postmark cannot express are refused before any request ----------------------


@pytest.mark.respx(assert_all_called=False)
@pytest.mark.parametrize(
    ("overrides", "feature"),
    [
        ({"tags": ["reports", "monthly"]}, "2 tags"),
        ({"to": [f"r{i}@example.com" for i in range(51)]}, "51 to recipients"),
        ({"bcc": [f"r{i}@example.com" for i in range(51)]}, "51 bcc recipients"),
        ({"envelope_from": "bounces@example.com"}, "envelope_from"),
    ],
)
async def test_unsupported_features_raise_before_any_request(
    transport: PostmarkTransport,
    respx_mock: respx.MockRouter,
    make_outgoing: Callable[..., Any],
    overrides: dict[str, Any],
    feature: str,
) -> None:
    route = respx_mock.post(URL).mock(return_value=ok())
    with pytest.raises(MessageError, match=feature) as info:
        await transport.send(make_outgoing(**overrides))
    assert info.value.relay == "postmark://default"
    assert not route.called


async def test_a_repeated_tag_is_one_tag(
    transport: PostmarkTransport, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    route = respx_mock.post(URL).mock(return_value=ok())
    await transport.send(make_outgoing(tags=["reports", "reports"]))
    assert sent_json(route)["Tag"] == "reports"


# -- replies -----------------------------------------------------------------------------


async def test_success_reports_ids_recipients_and_attempt(
    transport: PostmarkTransport, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    respx_mock.post(URL).mock(return_value=ok())
    result = await transport.send(make_outgoing(tags=[]))
    assert result.message_id == MESSAGE_ID
    assert result.provider_id == POSTMARK_ID
    assert result.relay == "postmark://default"
    assert result.accepted == EVERYONE
    assert result.ok
    (attempt,) = result.attempts
    assert (attempt.outcome, attempt.code, attempt.text) == ("delivered", 200, "OK")


async def test_delayed_delivery_without_error_code_is_accepted(
    transport: PostmarkTransport, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    body = {"MessageID": POSTMARK_ID, "Message": "Message accepted, but delivery may be delayed."}
    respx_mock.post(URL).mock(return_value=httpx.Response(200, json=body))
    result = await transport.send(make_outgoing(tags=[]))
    assert result.provider_id == POSTMARK_ID
    assert result.accepted == EVERYONE


async def test_inactive_recipients_in_a_success_are_refused_one_by_one(
    transport: PostmarkTransport, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    text = (
        "Message OK, but will not deliver to these inactive addresses: carol@example.net, "
        f"audit@example.com. {INACTIVE_TAIL}"
    )
    respx_mock.post(URL).mock(return_value=ok(text))
    # Postmark reports addresses in lower case; the result names them as the envelope does.
    result = await transport.send(make_outgoing(tags=[], cc=["Carol@example.net"]))
    assert result.accepted == ["alice@example.com", "jane@example.org"]
    assert result.refused == {
        "Carol@example.net": (550, text),
        "audit@example.com": (550, text),
    }
    assert result.provider_id == POSTMARK_ID
    assert not result.ok


async def test_every_recipient_inactive_raises_recipients_refused(
    transport: PostmarkTransport, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    text = (
        "You tried to send to recipient(s) that have been marked as inactive.\n"
        f"Found inactive addresses: alice@example.com. {INACTIVE_TAIL}"
    )
    reply = httpx.Response(422, json={"ErrorCode": 406, "Message": text})
    respx_mock.post(URL).mock(return_value=reply)
    outgoing = make_outgoing(to=["Alice <Alice@example.com>"], cc=[], bcc=[], tags=[])
    with pytest.raises(RecipientsRefused) as info:
        await transport.send(outgoing)
    exc = info.value
    assert list(exc.refused) == ["Alice@example.com"]
    code, said = exc.refused["Alice@example.com"]
    assert code == 550  # permanent: the failover layer must not resend to it
    assert "Found inactive addresses: alice@example.com" in said
    assert not exc.transient
    assert exc.relay == "postmark://default"
    assert exc.__context__ is None


ERROR_CASES = [
    pytest.param(
        401,
        {
            "ErrorCode": 10,
            "Message": "The Server Token you provided in the X-Postmark-Server-Token"
            " request header was invalid. Please verify that you are using a valid token.",
        },
        {},
        RelayError,
        "ErrorCode 10: The Server Token you provided",
        id="401-bad-token",
    ),
    pytest.param(
        422,
        {
            "ErrorCode": 300,
            "Message": "Invalid 'From' address: 'reports@example.com' is not a verified sender "
            "signature.",
        },
        {},
        RelayError,
        "ErrorCode 300: Invalid 'From' address",
        id="422-300-unverified-sender",
    ),
    pytest.param(
        422,
        {"ErrorCode": 300, "Message": "Error parsing 'Cc': Illegal email address 'carol'."},
        {},
        PermanentError,
        "ErrorCode 300: Error parsing 'Cc'",
        id="422-300-invalid-request",
    ),
    pytest.param(
        422,
        {"ErrorCode": 401, "Message": "Sender signature not confirmed."},
        {},
        RelayError,
        "ErrorCode 401: Sender signature not confirmed",
        id="422-401-signature",
    ),
    pytest.param(
        422,
        {"ErrorCode": 405, "Message": "Not allowed to send. You have run out of credits."},
        {},
        RelayError,
        "ErrorCode 405: Not allowed to send",
        id="422-405-no-credits",
    ),
    pytest.param(
        422,
        {"ErrorCode": 412, "Message": "Account is pending approval."},
        {},
        RelayError,
        "ErrorCode 412",
        id="422-412-pending",
    ),
    pytest.param(
        422,
        {"ErrorCode": 411, "Message": "Forbidden attachment type: 'setup.exe'."},
        {},
        PermanentError,
        "ErrorCode 411: Forbidden attachment type",
        id="422-411-attachment",
    ),
    pytest.param(
        422,
        {"ErrorCode": 100, "Message": "Maintenance. The API is down for maintenance."},
        {},
        TransientError,
        "ErrorCode 100: Maintenance",
        id="422-100-maintenance",
    ),
    pytest.param(
        413,
        "Request exceeded Postmark's size limit of 10 MB for our Email API.",
        {},
        PermanentError,
        "size limit of 10 MB",
        id="413",
    ),
    pytest.param(
        429,
        {"ErrorCode": 429, "Message": "Rate limit exceeded."},
        {"Retry-After": "7"},
        TransientError,
        "ErrorCode 429: Rate limit exceeded",
        id="429",
    ),
    pytest.param(
        500,
        "Internal Server Error",
        {},
        TransientError,
        "Internal Server Error",
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


@pytest.mark.parametrize(("status", "body", "headers", "error", "text"), ERROR_CASES)
async def test_error_replies_map_to_the_error_tree(
    transport: PostmarkTransport,
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
        await transport.send(make_outgoing(tags=[]))
    assert_maps_to(
        info.value,
        error,
        code=status,
        relay="postmark://default",
        text=text,
        retry_after=headers.get("Retry-After"),
    )


async def test_a_200_carrying_an_error_code_is_an_error(
    transport: PostmarkTransport, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    body = {"ErrorCode": 405, "Message": "Not allowed to send. You have run out of credits."}
    respx_mock.post(URL).mock(return_value=httpx.Response(200, json=body))
    with pytest.raises(RelayError, match="ErrorCode 405"):
        await transport.send(make_outgoing(tags=[]))


async def test_read_timeout_after_sending_is_delivery_unknown(
    transport: PostmarkTransport, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    # Postmark has no idempotency key (its own SDK retries anyway, and can duplicate mail).
    respx_mock.post(URL).mock(side_effect=httpx.ReadTimeout("timed out"))
    with pytest.raises(DeliveryUnknown, match="may have been delivered"):
        await transport.send(make_outgoing(tags=[]))


async def test_connect_error_is_transient(
    transport: PostmarkTransport, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    respx_mock.post(URL).mock(side_effect=httpx.ConnectError("[Errno 111] Connection refused"))
    with pytest.raises(TransientError, match="Connection refused"):
        await transport.send(make_outgoing(tags=[]))


# -- secrets -----------------------------------------------------------------------------


async def test_secret_never_in_name_repr_errors_or_logs(
    api_key: str,
    respx_mock: respx.MockRouter,
    make_outgoing: Callable[..., Any],
    secret_logs: pytest.LogCaptureFixture,
    assert_secret_free: Callable[..., None],
    send_each: Callable[..., Any],
) -> None:
    transport = PostmarkTransport.from_url(parse_url(f"postmark://{api_key}@default"))
    assert_secret_free(transport, api_key)

    inactive = f"Found inactive addresses: alice@example.com. {INACTIVE_TAIL} {api_key}"
    outcomes: list[httpx.Response | Exception] = [
        ok(),
        ok(
            f"Message OK, but will not deliver to these inactive addresses: "
            f"audit@example.com. {INACTIVE_TAIL} {api_key}"
        ),
        httpx.Response(422, json={"ErrorCode": 406, "Message": inactive}),
        httpx.Response(200, json={"ErrorCode": 405, "Message": f"echo {api_key}"}),
        *(
            httpx.Response(
                status,
                json={"ErrorCode": 10, "Message": f"echo {api_key}"},
                headers={"Retry-After": "1"},
            )
            for status in (401, 413, 422, 429, 500, 503)
        ),
        httpx.ConnectError(f"proxy refused key {api_key}"),
        httpx.ReadTimeout("timed out"),
    ]
    route = respx_mock.post(URL).mock(side_effect=outcomes)
    results, errors = await send_each(transport, lambda: make_outgoing(tags=[]), len(outcomes))
    assert len(errors) == len(outcomes) - 2
    for error in errors:
        assert_secret_free(error, api_key)
    assert api_key not in repr(results)
    assert route.calls.last.request.headers["X-Postmark-Server-Token"] == api_key
    assert any(r.name == "mailsdk" for r in secret_logs.records)


# -- URLs --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("suffix", "base_url", "timeout", "stream", "name"),
    [
        ("default", "https://api.postmarkapp.com", 30.0, "outbound", "postmark://default"),
        (
            "default?message_stream=outbound&timeout=5",
            "https://api.postmarkapp.com",
            5.0,
            "outbound",
            "postmark://default",
        ),
        (
            "default?message_stream=broadcast",
            "https://api.postmarkapp.com",
            30.0,
            "broadcast",
            "postmark://default",
        ),
        (
            "default?base_url=http://127.0.0.1:8025/pm/",
            "http://127.0.0.1:8025/pm",
            30.0,
            "outbound",
            "postmark://127.0.0.1",
        ),
    ],
)
def test_from_url(
    api_key: str, suffix: str, base_url: str, timeout: float, stream: str, name: str
) -> None:
    transport = PostmarkTransport.from_url(parse_url(f"postmark://{api_key}@{suffix}"))
    assert transport.api_key.get_secret_value() == api_key
    assert (transport.base_url, transport.timeout, transport.name) == (base_url, timeout, name)
    assert transport.message_stream == stream


def test_ca_file_and_stream_options_together(api_key: str) -> None:
    url = f"postmark://{api_key}@default?message_stream=broadcast&ca_file=/etc/ssl/corp.pem"
    transport = PostmarkTransport.from_url(parse_url(url))
    assert (transport.ca_file, transport.message_stream) == ("/etc/ssl/corp.pem", "broadcast")


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("postmark://{key}@default?stream=outbound", "unknown option"),
        ("postmark://{key}@default?timeout=soon", "not a positive number"),
        ("postmark://{key}@eu", "unknown region 'eu'"),
        ("postmark://default", "no API key"),
    ],
)
def test_bad_urls_are_refused_without_echoing_the_key(
    api_key: str, assert_secret_free: Callable[..., None], url: str, complaint: str
) -> None:
    with pytest.raises(ConfigurationError, match=complaint) as info:
        PostmarkTransport.from_url(parse_url(url.format(key=api_key)))
    assert_secret_free(info.value, api_key)


def test_registry_entry_builds_the_transport(
    api_key: str, from_registry: Callable[[str, str], Any]
) -> None:
    transport = from_registry(
        REGISTRY_ENTRY, f"postmark://{api_key}@default?message_stream=broadcast"
    )
    assert isinstance(transport, PostmarkTransport)
    assert transport.message_stream == "broadcast"
