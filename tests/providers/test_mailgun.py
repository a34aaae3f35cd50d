"""Mailgun messages.mime: the exact multipart request, replies, errors, URLs, secrets."""

from __future__ import annotations

import base64
import email
import email.policy
import re
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
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
    RelayError,
    TransientError,
    parse_url,
)
from mailsdk.transports.http import mailgun
from mailsdk.transports.http.mailgun import MailgunTransport

DOMAIN = "mg.example.com"
URL = f"https://api.mailgun.net/v3/{DOMAIN}/messages.mime"
EU_URL = f"https://api.eu.mailgun.net/v3/{DOMAIN}/messages.mime"
MESSAGE_ID = "<20260101120000.4242@example.com>"
MAILGUN_ID = "<20260101120001.25659.5817@mg.example.com>"
EVERYONE = ["alice@example.com", "jane@example.org", "carol@example.net", "audit@example.com"]
REGISTRY_ENTRY = "mailsdk.transports.http.mailgun:MailgunTransport"

Part = tuple[str, str | None, str | None, bytes]


def queued(message_id: str = MAILGUN_ID) -> httpx.Response:
    return httpx.Response(200, json={"id": message_id, "message": "Queued. Thank you."})


def form_parts(request: httpx.Request) -> list[Part]:
    """Split a multipart/form-data body into (name, filename, content type, exact bytes)."""
    boundary = request.headers["Content-Type"].split("boundary=", 1)[1].encode()
    body = request.content
    assert body.endswith(b"--" + boundary + b"--\r\n")
    parts: list[Part] = []
    for chunk in body.split(b"--" + boundary)[1:-1]:
        head, _, value = chunk.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        headers = dict(line.split(": ", 1) for line in head.decode().split("\r\n") if ": " in line)
        disposition = headers["Content-Disposition"]
        name = re.search(r' name="([^"]*)"', disposition)
        filename = re.search(r' filename="([^"]*)"', disposition)
        assert name is not None
        parts.append(
            (
                name.group(1),
                filename.group(1) if filename else None,
                headers.get("Content-Type"),
                value.removesuffix(b"\r\n"),
            )
        )
    return parts


@pytest.fixture
def transport(api_key: str) -> MailgunTransport:
    return MailgunTransport(api_key, DOMAIN)


# -- the request -------------------------------------------------------------------------


async def test_request_posts_the_rendered_mime_to_every_envelope_recipient(
    transport: MailgunTransport, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    route = respx_mock.post(URL).mock(return_value=queued())
    outgoing = make_outgoing()
    await transport.send(outgoing)

    request = route.calls.last.request
    assert request.method == "POST"
    assert str(request.url) == URL
    credentials = base64.b64encode(f"api:{transport.api_key.get_secret_value()}".encode())
    assert request.headers["Authorization"] == f"Basic {credentials.decode()}"
    assert request.headers["Content-Type"].startswith("multipart/form-data; boundary=")
    assert form_parts(request) == [
        # Bcc (audit@) travels only here: the envelope, never a header.
        *(("to", None, None, rcpt.encode()) for rcpt in EVERYONE),
        ("o:tag", None, None, b"reports"),
        ("o:tag", None, None, b"monthly"),
        ("v:account_id", None, None, b"42"),
        ("v:plan", None, None, b"pro"),
        ("message", "message.mime", "message/rfc822", outgoing.raw),
    ]


async def test_the_mime_carries_every_feature_mailgun_is_not_asked_to_rebuild(
    transport: MailgunTransport, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    route = respx_mock.post(URL).mock(return_value=queued())
    await transport.send(make_outgoing())
    (raw,) = [v for name, _, _, v in form_parts(route.calls.last.request) if name == "message"]
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert parsed["From"] == "Reports Bot <reports@example.com>"
    assert parsed["To"] == 'Alice Example <alice@example.com>, "Doe, Jane" <jane@example.org>'
    assert parsed["Cc"] == "carol@example.net"
    assert parsed["Bcc"] is None
    assert parsed["Reply-To"] == "Support <support@example.com>"
    assert parsed["Subject"] == "Your March report"
    assert parsed["Message-ID"] == MESSAGE_ID
    assert parsed["X-Campaign"] == "spring-2026"
    files = {
        part.get_filename(): (part.get_content_type(), part["Content-ID"])
        for part in parsed.walk()
        if part.get_filename()
    }
    assert files == {
        "report.pdf": ("application/pdf", None),
        "logo.png": ("image/png", "<logo@example.com>"),
    }


async def test_a_restricted_envelope_goes_only_to_those_recipients(
    transport: MailgunTransport, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    # A failover retry of the recipients another relay deferred: same bytes, fewer "to".
    route = respx_mock.post(URL).mock(return_value=queued())
    outgoing = make_outgoing().restricted_to(["carol@example.net", "audit@example.com"])
    result = await transport.send(outgoing)
    parts = form_parts(route.calls.last.request)
    assert [v for name, _, _, v in parts if name == "to"] == [
        b"carol@example.net",
        b"audit@example.com",
    ]
    assert result.accepted == ["carol@example.net", "audit@example.com"]


async def test_plain_message_sends_only_recipients_and_mime(
    transport: MailgunTransport, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    route = respx_mock.post(URL).mock(return_value=queued())
    outgoing = make_outgoing(cc=[], bcc=[], tags=[], metadata={}, attachments=[])
    await transport.send(outgoing)
    assert [name for name, *_ in form_parts(route.calls.last.request)] == ["to", "to", "message"]


async def test_eu_region_posts_to_the_eu_host(
    api_key: str, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    route = respx_mock.post(EU_URL).mock(return_value=queued())
    transport = MailgunTransport(api_key, DOMAIN, region="eu")
    result = await transport.send(make_outgoing())
    assert route.called
    assert result.relay == transport.name == f"mailgun://{DOMAIN}?region=eu"


# -- features Mailgun cannot take are refused before any request --------------------------


@pytest.mark.respx(assert_all_called=False)
@pytest.mark.parametrize(
    ("overrides", "feature"),
    [
        ({"tags": ["a", "b", "c", "d"]}, "4 tags"),
        ({"envelope_from": "bounces@example.com"}, "envelope_from"),
        ({"to": [f"r{i}@example.com" for i in range(999)]}, "1001 recipients"),
        ({"metadata": {"blob": "x" * 17000}}, "at most 16 kB"),
    ],
)
async def test_unsupported_features_raise_before_any_request(
    transport: MailgunTransport,
    respx_mock: respx.MockRouter,
    make_outgoing: Callable[..., Any],
    overrides: dict[str, Any],
    feature: str,
) -> None:
    route = respx_mock.post(URL).mock(return_value=queued())
    with pytest.raises(MessageError, match=feature) as info:
        await transport.send(make_outgoing(**overrides))
    assert info.value.relay == transport.name  # another relay may take it
    assert not route.called


@pytest.mark.respx(assert_all_called=False)
async def test_a_message_over_25_mib_is_refused(
    transport: MailgunTransport,
    respx_mock: respx.MockRouter,
    make_outgoing: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(mailgun, "_MAX_MESSAGE", 1000)  # the check, without 25 MiB of test data
    route = respx_mock.post(URL).mock(return_value=queued())
    with pytest.raises(MessageError, match="at most 25 MiB"):
        await transport.send(make_outgoing())
    assert not route.called


async def test_repeated_tags_are_sent_once(
    transport: MailgunTransport, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    route = respx_mock.post(URL).mock(return_value=queued())
    await transport.send(make_outgoing(tags=["a", "b", "a", "c", "b"]))
    tags = [v for name, _, _, v in form_parts(route.calls.last.request) if name == "o:tag"]
    assert tags == [b"a", b"b", b"c"]


# -- replies -----------------------------------------------------------------------------


async def test_success_reports_ids_recipients_and_attempt(
    transport: MailgunTransport, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    respx_mock.post(URL).mock(return_value=queued())
    result = await transport.send(make_outgoing())
    assert result.message_id == MESSAGE_ID
    assert result.provider_id == MAILGUN_ID  # angle brackets kept, as Mailgun's events show it
    assert result.relay == f"mailgun://{DOMAIN}"
    assert result.accepted == EVERYONE
    assert result.ok
    (attempt,) = result.attempts
    assert (attempt.outcome, attempt.code, attempt.text) == ("delivered", 200, "Queued. Thank you.")


async def test_magnificent_api_200_is_a_misrouted_request(
    transport: MailgunTransport, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    respx_mock.post(URL).mock(return_value=httpx.Response(200, text="Mailgun Magnificent API"))
    with pytest.raises(RelayError, match="nothing was sent"):
        await transport.send(make_outgoing())


ERROR_CASES = [
    pytest.param(
        400,
        {"message": "'from' parameter is not a valid address. please check documentation"},
        {},
        PermanentError,
        "'from' parameter is not a valid address",
        id="400-validation",
    ),
    pytest.param(
        400,
        {
            "message": f"Domain {DOMAIN} is not allowed to send: The domain is unverified and "
            "requires DNS configuration. Log in to your control panel to view required DNS "
            "records."
        },
        {},
        RelayError,
        "is not allowed to send: The domain is unverified",
        id="400-domain-not-allowed",
    ),
    pytest.param(401, "Forbidden", {}, RelayError, "Forbidden", id="401-bad-key"),
    pytest.param(
        402,
        {"message": "Request Failed - Parameters were valid but request failed"},
        {},
        RelayError,
        "Parameters were valid but request failed",
        id="402",
    ),
    pytest.param(
        403,
        {"message": f"Domain {DOMAIN} is not allowed to send large batches yet"},
        {},
        RelayError,
        "not allowed to send large batches yet",
        id="403",
    ),
    pytest.param(
        404,
        {"message": f"Domain not found: {DOMAIN}"},
        {},
        RelayError,
        f"Domain not found: {DOMAIN} (is {DOMAIN} on https://api.mailgun.net? check region=)",
        id="404-wrong-region",
    ),
    pytest.param(
        413,
        {"message": "request size exceeds 52.4MiB limit"},
        {},
        PermanentError,
        "request size exceeds 52.4MiB limit",
        id="413",
    ),
    pytest.param(
        429,
        {"message": "Too many requests"},
        {"Retry-After": "7"},
        TransientError,
        "Too many requests",
        id="429-retry-after",
    ),
    pytest.param(
        500, {"message": "Internal Server Error"}, {}, TransientError, "Internal", id="500"
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
    transport: MailgunTransport,
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
        relay=f"mailgun://{DOMAIN}",
        text=text,
        retry_after=headers.get("Retry-After"),
    )


@pytest.mark.parametrize(("minutes", "low", "high"), [(3, 170, 181), (600, 35990, 36001)])
async def test_429_reads_the_reset_time_from_the_text(
    transport: MailgunTransport,
    respx_mock: respx.MockRouter,
    make_outgoing: Callable[..., Any],
    minutes: int,
    low: float,
    high: float,
) -> None:
    # Mailgun has no rate-limit headers; its text names the time (RFC 2822, "UTC").
    when = datetime.now(timezone.utc) + timedelta(minutes=minutes)
    text = (
        f"Domain {DOMAIN} is not allowed to send: recipient limit exceeded, try again after "
        + format_datetime(when).replace("+0000", "UTC")
    )
    respx_mock.post(URL).mock(return_value=httpx.Response(429, json={"message": text}))
    with pytest.raises(TransientError) as info:
        await transport.send(make_outgoing())
    # Far off (a quota), the failover layer moves on instead of waiting: see max_retry_after.
    assert info.value.retry_after is not None
    assert low <= info.value.retry_after <= high


async def test_connect_error_is_transient(
    transport: MailgunTransport, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    respx_mock.post(URL).mock(side_effect=httpx.ConnectError("[Errno 111] Connection refused"))
    with pytest.raises(TransientError, match="Connection refused"):
        await transport.send(make_outgoing())


async def test_read_timeout_after_sending_is_delivery_unknown(
    transport: MailgunTransport, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    # Mailgun has no idempotency key: a resend could deliver twice.
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
    transport = MailgunTransport.from_url(parse_url(f"mailgun://{api_key}@{DOMAIN}"))
    basic = base64.b64encode(f"api:{api_key}".encode()).decode()
    assert_secret_free(transport, api_key, basic)

    outcomes: list[httpx.Response | Exception] = [
        queued(),
        *(
            httpx.Response(
                status,
                json={"message": f"echo {api_key} Authorization: Basic {basic}"},
                headers={"Retry-After": "1"},
            )
            for status in (400, 401, 403, 404, 413, 429, 500, 503)
        ),
        httpx.ConnectError(f"proxy refused key {api_key}"),
        httpx.ReadTimeout("timed out"),
    ]
    route = respx_mock.post(URL).mock(side_effect=outcomes)
    _, errors = await send_each(transport, make_outgoing, len(outcomes))
    assert len(errors) == len(outcomes) - 1
    for error in errors:
        assert_secret_free(error, api_key, basic)
    assert route.calls.last.request.headers["Authorization"] == f"Basic {basic}"
    assert any(r.name == "mailsdk" for r in secret_logs.records)


# -- URLs --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("suffix", "base_url", "timeout", "name"),
    [
        (DOMAIN, "https://api.mailgun.net", 30.0, f"mailgun://{DOMAIN}"),
        (f"{DOMAIN}?region=us", "https://api.mailgun.net", 30.0, f"mailgun://{DOMAIN}"),
        (
            f"{DOMAIN}?region=eu",
            "https://api.eu.mailgun.net",
            30.0,
            f"mailgun://{DOMAIN}?region=eu",
        ),
        (f"{DOMAIN}?timeout=12.5", "https://api.mailgun.net", 12.5, f"mailgun://{DOMAIN}"),
        (
            f"{DOMAIN}?base_url=http://127.0.0.1:8025/mg/",
            "http://127.0.0.1:8025/mg",
            30.0,
            f"mailgun://{DOMAIN}?base_url=127.0.0.1",
        ),
    ],
)
def test_from_url(api_key: str, suffix: str, base_url: str, timeout: float, name: str) -> None:
    transport = MailgunTransport.from_url(parse_url(f"mailgun://{api_key}@{suffix}"))
    assert transport.api_key.get_secret_value() == api_key
    assert transport.domain == DOMAIN
    assert (transport.base_url, transport.timeout, transport.name) == (base_url, timeout, name)


def test_ca_file_option(api_key: str) -> None:
    url = f"mailgun://{api_key}@{DOMAIN}?region=eu&ca_file=/etc/ssl/corp.pem"
    transport = MailgunTransport.from_url(parse_url(url))
    assert (transport.ca_file, transport.region) == ("/etc/ssl/corp.pem", "eu")
    assert MailgunTransport.from_url(parse_url(f"mailgun://{api_key}@{DOMAIN}")).ca_file is None


def test_key_may_sit_in_the_password_slot(api_key: str) -> None:
    transport = MailgunTransport.from_url(parse_url(f"mailgun://:{api_key}@{DOMAIN}?region=eu"))
    assert transport.api_key.get_secret_value() == api_key
    assert transport.region == "eu"


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("mailgun://{key}@" + DOMAIN + "?bogus=1", "unknown option"),
        ("mailgun://{key}@" + DOMAIN + "?timeout=soon", "not a positive number"),
        ("mailgun://{key}@" + DOMAIN + "?region=mars", "unknown region 'mars'"),
        ("mailgun://{key}@default", "'default' is not a sending domain"),
        ("mailgun://" + DOMAIN, "no API key"),
    ],
)
def test_bad_urls_are_refused_without_echoing_the_key(
    api_key: str, assert_secret_free: Callable[..., None], url: str, complaint: str
) -> None:
    with pytest.raises(ConfigurationError, match=complaint) as info:
        MailgunTransport.from_url(parse_url(url.format(key=api_key)))
    assert_secret_free(info.value, api_key)


def test_a_domain_with_a_slash_is_refused(api_key: str) -> None:
    # Mailgun would answer 200 "Mailgun Magnificent API" and send nothing.
    with pytest.raises(ConfigurationError, match="not a sending domain"):
        MailgunTransport(api_key, "mg.example.com/../x")


def test_registry_entry_builds_the_transport(
    api_key: str, from_registry: Callable[[str, str], Any]
) -> None:
    transport = from_registry(REGISTRY_ENTRY, f"mailgun://{api_key}@{DOMAIN}?region=eu")
    assert isinstance(transport, MailgunTransport)
    assert transport.name == f"mailgun://{DOMAIN}?region=eu"
