"""Mailjet Send API v3.1: the exact request, per-message and per-recipient replies, secrets."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
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
    PermanentError,
    RecipientsRefused,
    RelayError,
    TransientError,
    parse_url,
)
from mailsdk.transports.http import mailjet as mailjet_module
from mailsdk.transports.http.mailjet import MailjetTransport

URL = "https://api.mailjet.com/v3.1/send"
US_URL = "https://api.us.mailjet.com/v3.1/send"
MESSAGE_ID = "<20260101120000.4242@example.com>"
PUBLIC_KEY = "f1e2d3c4b5a697887766554433221100"
REGISTRY_ENTRY = "mailsdk.transports.http.mailjet:MailjetTransport"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _sent(email: str, message_id: int) -> dict[str, Any]:
    return {
        "Email": email,
        "MessageUUID": f"uuid-{message_id}",
        "MessageID": message_id,
        "MessageHref": f"https://api.mailjet.com/v3/REST/message/{message_id}",
    }


def accepted() -> httpx.Response:
    # guides/_send-api.md: one result per message, one MessageID per recipient.
    message = {
        "Status": "success",
        "CustomID": MESSAGE_ID,
        "To": [
            _sent("alice@example.com", 288230376151711001),
            _sent("jane@example.org", 288230376151711002),
        ],
        "Cc": [_sent("carol@example.net", 288230376151711003)],
        "Bcc": [_sent("audit@example.com", 288230376151711004)],
    }
    return httpx.Response(200, json={"Messages": [message]})


def sent_json(route: respx.Route, index: int = -1) -> Any:
    return json.loads(route.calls[index].request.content)


@pytest.fixture
def transport(api_key: str) -> MailjetTransport:
    # The conftest key plays the secret key, so secret_logs watches it.
    return MailjetTransport(PUBLIC_KEY, api_key)


def one_tag(make_outgoing: Callable[..., Any], **overrides: Any) -> Any:
    """The full message with a single tag: Mailjet has one CustomCampaign."""
    return make_outgoing(**{"tags": ["reports"], **overrides})


# -- the request -------------------------------------------------------------------------


async def test_request_carries_every_feature(
    transport: MailjetTransport,
    api_key: str,
    respx_mock: respx.MockRouter,
    make_outgoing: Callable[..., Any],
) -> None:
    route = respx_mock.post(URL).mock(return_value=accepted())
    await transport.send(one_tag(make_outgoing))

    request = route.calls.last.request
    assert request.method == "POST"
    assert str(request.url) == URL
    basic = base64.b64encode(f"{PUBLIC_KEY}:{api_key}".encode()).decode()
    assert request.headers["Authorization"] == f"Basic {basic}"
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.content) == {
        "Messages": [
            {
                "From": {"Email": "reports@example.com", "Name": "Reports Bot"},
                "To": [
                    {"Email": "alice@example.com", "Name": "Alice Example"},
                    {"Email": "jane@example.org", "Name": "Doe, Jane"},
                ],
                "Cc": [{"Email": "carol@example.net"}],
                "Bcc": [{"Email": "audit@example.com"}],
                "ReplyTo": {"Email": "support@example.com", "Name": "Support"},
                "Subject": "Your March report",
                "TextPart": "Hello Alice,\nyour report is attached.",
                "HTMLPart": '<p>Hello Alice,</p><img src="cid:logo@example.com">',
                # Mailjet refuses a Message-ID header (send-0011) and writes its own.
                "CustomID": MESSAGE_ID,
                "Headers": {"X-Campaign": "spring-2026"},
                "Attachments": [
                    {
                        "ContentType": "application/pdf",
                        "Filename": "report.pdf",
                        "Base64Content": b64(b"%PDF-1.4 fake"),
                    }
                ],
                "InlinedAttachments": [
                    {
                        "ContentType": "image/png",
                        "Filename": "logo.png",
                        "Base64Content": b64(b"\x89PNG fake"),
                        "ContentID": "logo@example.com",
                    }
                ],
                "CustomCampaign": "reports",
                "EventPayload": '{"account_id":"42","plan":"pro"}',
            }
        ]
    }


async def test_plain_message_sends_only_what_it_has(
    transport: MailjetTransport, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    route = respx_mock.post(URL).mock(return_value=accepted())
    outgoing = make_outgoing(
        html=None, attachments=[], cc=[], bcc=[], reply_to=[], tags=[], metadata={}, headers={}
    )
    await transport.send(outgoing)
    (message,) = sent_json(route)["Messages"]
    assert set(message) == {"From", "To", "Subject", "TextPart", "CustomID"}
    assert message["CustomID"] == outgoing.message_id  # a generated id travels the same way


async def test_failover_subset_sends_only_those_recipients(
    transport: MailjetTransport, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    route = respx_mock.post(URL).mock(return_value=accepted())
    outgoing = one_tag(make_outgoing).restricted_to(["jane@example.org", "audit@example.com"])
    await transport.send(outgoing)
    (message,) = sent_json(route)["Messages"]
    assert message["To"] == [{"Email": "jane@example.org", "Name": "Doe, Jane"}]
    assert message["Bcc"] == [{"Email": "audit@example.com"}]
    assert "Cc" not in message


async def test_sandbox_mode_and_us_region(
    api_key: str, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    # In sandbox mode Mailjet validates without sending and answers MessageID 0.
    reply = {
        "Messages": [
            {
                "Status": "success",
                "CustomID": "",
                "To": [
                    {
                        "Email": "alice@example.com",
                        "MessageUUID": "",
                        "MessageID": 0,
                        "MessageHref": "https://api.mailjet.com/v3/message/0",
                    }
                ],
                "Cc": [],
                "Bcc": [],
            }
        ]
    }
    route = respx_mock.post(US_URL).mock(return_value=httpx.Response(200, json=reply))
    transport = MailjetTransport.from_url(
        parse_url(f"mailjet://{PUBLIC_KEY}:{api_key}@us?sandbox=true")
    )
    result = await transport.send(one_tag(make_outgoing))
    assert sent_json(route)["SandboxMode"] is True
    assert result.relay == "mailjet://us"
    assert result.provider_id is None


# -- refused before any request ----------------------------------------------------------


@pytest.mark.respx(assert_all_called=False)
@pytest.mark.parametrize(
    ("overrides", "feature"),
    [
        ({"tags": ["reports", "monthly"]}, "2 tags"),
        ({"to": [], "cc": ["carol@example.net"]}, "without To recipients"),
        ({"reply_to": ["a@example.com", "b@example.com"]}, "2 reply_to addresses"),
        ({"text": None, "html": None}, "without a text or HTML body"),
        ({"subject": "x" * 256}, "256 characters"),
        ({"headers": {"Date": "Thu, 01 Jan 2026 12:00:00 +0000"}}, "the Date header"),
        ({"headers": {"List-Id": "<news.example.com>"}}, "the List-Id header"),
        ({"headers": {"X-MJ-Vars": "{}"}}, "the X-MJ-Vars header"),
        ({"headers": {"X-Mailjet-Campaign": "c"}}, "the X-Mailjet-Campaign header"),
        ({"headers": {f"X-H{i}": "v" for i in range(51)}}, "51 custom headers"),
        ({"to": [f"r{i}@example.com" for i in range(49)]}, "51 recipients"),
        ({"envelope_from": "bounces@example.com"}, "envelope_from"),
    ],
)
async def test_unsupported_features_raise_before_any_request(
    transport: MailjetTransport,
    respx_mock: respx.MockRouter,
    make_outgoing: Callable[..., Any],
    overrides: dict[str, Any],
    feature: str,
) -> None:
    route = respx_mock.post(URL).mock(return_value=accepted())
    with pytest.raises(MessageError, match=feature) as info:
        await transport.send(one_tag(make_outgoing, **overrides))
    assert info.value.relay == "mailjet://default"
    assert not route.called


@pytest.mark.respx(assert_all_called=False)
async def test_attachment_limits_are_checked_before_sending(
    transport: MailjetTransport,
    respx_mock: respx.MockRouter,
    make_outgoing: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    route = respx_mock.post(URL).mock(return_value=accepted())
    empty = Attachment(filename="empty.txt", content=b"")
    with pytest.raises(MessageError, match=r"empty attachment 'empty\.txt'"):
        await transport.send(one_tag(make_outgoing, attachments=[empty]))
    monkeypatch.setattr(mailjet_module, "_MAX_ATTACHMENTS", 16)  # 15 MB of test data is slow
    with pytest.raises(MessageError, match="more than 16 bytes of attachments"):
        await transport.send(one_tag(make_outgoing))
    assert not route.called


# -- replies -----------------------------------------------------------------------------


async def test_success_reports_ids_recipients_and_attempt(
    transport: MailjetTransport, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    respx_mock.post(URL).mock(return_value=accepted())
    result = await transport.send(one_tag(make_outgoing))
    assert result.message_id == MESSAGE_ID
    assert result.provider_id == "288230376151711001"  # the first To's MessageID
    assert result.relay == "mailjet://default"
    assert result.accepted == [
        "alice@example.com",
        "jane@example.org",
        "carol@example.net",
        "audit@example.com",
    ]
    (attempt,) = result.attempts
    assert (attempt.outcome, attempt.code) == ("delivered", 200)
    assert attempt.text is not None
    assert "audit@example.com 288230376151711004" in attempt.text


def _message_error(*errors: dict[str, Any]) -> dict[str, Any]:
    return {"Messages": [{"Status": "error", "Errors": list(errors)}]}


def _error(code: str, status: int, message: str, *related: str) -> dict[str, Any]:
    return {
        "ErrorIdentifier": "f987008f-251a-4dff-8ffc-40f1583ad7bc",
        "ErrorCode": code,
        "StatusCode": status,
        "ErrorMessage": message,
        "ErrorRelatedTo": list(related),
    }


async def test_invalid_recipient_is_refused_and_the_others_wait(
    transport: MailjetTransport, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    # mj-0013 names the field (To[1].Email): Mailjet refused the whole message for that one.
    body = _message_error(
        _error("mj-0013", 400, '"jane@example.org" is an invalid email address.', "To[1].Email")
    )
    respx_mock.post(URL).mock(return_value=httpx.Response(400, json=body))
    with pytest.raises(RecipientsRefused) as info:
        await transport.send(one_tag(make_outgoing))
    refused = info.value.refused
    assert refused["jane@example.org"] == (
        550,
        'mj-0013: "jane@example.org" is an invalid email address. [To[1].Email]',
    )
    waiting = {r: code for r, (code, _) in refused.items() if r != "jane@example.org"}
    # 4xx: a failover retry sends the message again to these three alone.
    assert waiting == {"alice@example.com": 451, "carol@example.net": 451, "audit@example.com": 451}
    assert info.value.relay == "mailjet://default"


ERROR_CASES = [
    pytest.param(
        400,
        {
            "ErrorIdentifier": "06df1144-c6f3-4ca7-8885-7ec5d4344113",
            "ErrorCode": "mj-0002",
            "ErrorMessage": "Malformed JSON, please review the syntax and properties types.",
            "StatusCode": 400,
        },
        {},
        PermanentError,
        "mj-0002: Malformed JSON, please review the syntax and properties types.",
        id="400-global",
    ),
    pytest.param(
        400,
        _message_error(
            _error("mj-0004", 400, 'Type mismatch. Expected type "array of emails".', "HTMLPart"),
            _error("mj-0005", 400, "The To is mandatory but missing from the input", "To"),
        ),
        {},
        PermanentError,
        'mj-0004: Type mismatch. Expected type "array of emails". [HTMLPart]; '
        "mj-0005: The To is mandatory but missing from the input [To]",
        id="400-message",
    ),
    pytest.param(
        400,
        _message_error(
            _error(
                "send-0008",
                403,
                '"reports@example.com" is not an authorized sender email address for your account.',
                "From",
            )
        ),
        {},
        RelayError,
        'send-0008: "reports@example.com" is not an authorized sender',
        id="400-unauthorised-sender",
    ),
    pytest.param(
        400,
        _message_error(_error("mj-0011", 400, "Payload size is over the limit.")),
        {},
        PermanentError,
        "mj-0011: Payload size is over the limit.",
        id="400-too-large",
    ),
    pytest.param(
        401,
        {
            "ErrorIdentifier": "ce3a1b4b-8b8f-4c41-9c5c-6a1d0b4d2c11",
            "ErrorCode": "mj-0015",
            "ErrorMessage": "API key authentication/authorization failure.",
            "StatusCode": 401,
        },
        {},
        RelayError,
        "mj-0015: API key authentication/authorization failure.",
        id="401-bad-key",
    ),
    pytest.param(
        401,
        {"ErrorCode": "mj-0001", "ErrorMessage": "Your API key is suspended.", "StatusCode": 401},
        {},
        RelayError,
        "mj-0001: Your API key is suspended.",
        id="401-suspended",
    ),
    pytest.param(
        403,
        _message_error(
            _error("send-0007", 403, "The SenderID provided is not validated.", "SenderID")
        ),
        {},
        RelayError,
        "send-0007: The SenderID provided is not validated.",
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
        429,
        {
            "ErrorMessage": "You have reached the maximum number of calls allowed per minute.",
            "StatusCode": 429,
        },
        {"Retry-After": "20"},
        TransientError,
        "maximum number of calls allowed per minute",
        id="429",
    ),
    pytest.param(
        500,
        {
            "ErrorIdentifier": "a3f5c0e2-7b1d-4c8e-9f60-1d2e3f4a5b6c",
            "ErrorCode": "",
            "ErrorMessage": "Internal Server Error",
            "StatusCode": 500,
        },
        {},
        TransientError,
        "Internal Server Error",
        id="500",
    ),
    pytest.param(
        503,
        "Service Unavailable",
        {"Retry-After": "60"},
        TransientError,
        "Service Unavailable",
        id="503",
    ),
]


@pytest.mark.parametrize(("status", "body", "headers", "error", "text"), ERROR_CASES)
async def test_error_replies_map_to_the_error_tree(
    transport: MailjetTransport,
    respx_mock: respx.MockRouter,
    reply: Callable[..., httpx.Response],
    assert_maps_to: Callable[..., None],
    make_outgoing: Callable[..., Any],
    status: int,
    body: Any,
    headers: dict[str, str],
    error: type[MailError],
    text: str,
) -> None:
    respx_mock.post(URL).mock(return_value=reply(status, body, headers))
    with pytest.raises(MailError) as info:
        await transport.send(one_tag(make_outgoing))
    assert_maps_to(
        info.value,
        error,
        code=status,
        relay="mailjet://default",
        text=text,
        retry_after=headers.get("Retry-After"),
    )


async def test_a_200_with_an_error_status_is_still_an_error(
    transport: MailjetTransport, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    body = _message_error(_error("send-0003", 400, "At least HTMLPart or TextPart", "TextPart"))
    respx_mock.post(URL).mock(return_value=httpx.Response(200, json=body))
    with pytest.raises(PermanentError, match="send-0003"):
        await transport.send(one_tag(make_outgoing))


async def test_read_timeout_after_sending_is_delivery_unknown(
    transport: MailjetTransport, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    respx_mock.post(URL).mock(side_effect=httpx.ReadTimeout("timed out"))
    with pytest.raises(DeliveryUnknown):
        await transport.send(one_tag(make_outgoing))


# -- secrets -----------------------------------------------------------------------------


async def test_secret_never_in_name_repr_errors_or_logs(
    api_key: str,
    respx_mock: respx.MockRouter,
    make_outgoing: Callable[..., Any],
    secret_logs: pytest.LogCaptureFixture,
    assert_secret_free: Callable[..., None],
    send_each: Callable[..., Any],
) -> None:
    transport = MailjetTransport.from_url(parse_url(f"mailjet://{PUBLIC_KEY}:{api_key}@default"))
    basic = base64.b64encode(f"{PUBLIC_KEY}:{api_key}".encode()).decode()
    secrets = [api_key, PUBLIC_KEY, basic]
    assert_secret_free(transport, *secrets)
    echo = f"echo {api_key} {PUBLIC_KEY} {basic}"
    outcomes: list[httpx.Response | Exception] = [
        accepted(),
        httpx.Response(400, json=_message_error(_error("mj-0013", 400, echo, "To[0].Email"))),
        *(
            httpx.Response(
                status,
                json={"ErrorCode": "mj-0002", "ErrorMessage": echo, "StatusCode": status},
                headers={"Retry-After": "1"},
            )
            for status in (400, 401, 403, 413, 429, 500, 503)
        ),
        httpx.ConnectError(f"proxy refused {basic}"),
        httpx.ReadTimeout("timed out"),
    ]
    respx_mock.post(URL).mock(side_effect=outcomes)
    _, errors = await send_each(transport, lambda: one_tag(make_outgoing), len(outcomes))
    assert len(errors) == len(outcomes) - 1
    for error in errors:
        assert_secret_free(error, *secrets)
    assert any(r.name == "mailsdk" for r in secret_logs.records)


# -- URLs --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("suffix", "base_url", "name", "sandbox", "timeout"),
    [
        ("default", "https://api.mailjet.com", "mailjet://default", False, 30.0),
        ("us", "https://api.us.mailjet.com", "mailjet://us", False, 30.0),
        ("default?sandbox=yes&timeout=9", "https://api.mailjet.com", "mailjet://default", True, 9),
        (
            "default?base_url=http://localhost:8025",
            "http://localhost:8025",
            "mailjet://localhost",
            False,
            30.0,
        ),
    ],
)
def test_from_url(
    api_key: str, suffix: str, base_url: str, name: str, sandbox: bool, timeout: float
) -> None:
    transport = MailjetTransport.from_url(parse_url(f"mailjet://{PUBLIC_KEY}:{api_key}@{suffix}"))
    assert transport.api_key.get_secret_value() == PUBLIC_KEY
    assert transport.secret_key.get_secret_value() == api_key
    assert (transport.base_url, transport.name, transport.sandbox, transport.timeout) == (
        base_url,
        name,
        sandbox,
        timeout,
    )


def test_ca_file_option(api_key: str, tmp_path: Any) -> None:
    ca = str(tmp_path / "ca.pem")
    transport = MailjetTransport.from_url(
        parse_url(f"mailjet://{PUBLIC_KEY}:{api_key}@default?ca_file={ca}")
    )
    assert transport.ca_file == ca


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("mailjet://{public}:{key}@default?bogus=1", "unknown option"),
        ("mailjet://{public}:{key}@default?sandbox=maybe", "not a boolean"),
        ("mailjet://{public}:{key}@mars", "unknown region 'mars'"),
        ("mailjet://{public}@default", "secret key"),
        ("mailjet://:{key}@default", "API key and the secret key"),
        ("mailjet://default", "API key and the secret key"),
    ],
)
def test_bad_urls_are_refused_without_echoing_the_key(
    api_key: str, assert_secret_free: Callable[..., None], url: str, complaint: str
) -> None:
    with pytest.raises(ConfigurationError, match=complaint) as info:
        MailjetTransport.from_url(parse_url(url.format(public=PUBLIC_KEY, key=api_key)))
    assert_secret_free(info.value, api_key, PUBLIC_KEY)


def test_registry_entry_builds_the_transport(
    api_key: str, from_registry: Callable[[str, str], Any]
) -> None:
    transport = from_registry(REGISTRY_ENTRY, f"mailjet://{PUBLIC_KEY}:{api_key}@default")
    assert isinstance(transport, MailjetTransport)
    assert transport.name == "mailjet://default"
