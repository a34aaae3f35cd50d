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
from contract_table import DOMAIN, EVERYONE, MAILGUN, MESSAGE_ID, Post, Refused, mailgun_queued

from mailsdk import ConfigurationError, MessageError, RelayError, TransientError
from mailsdk.transports.http import mailgun
from mailsdk.transports.http.mailgun import MailgunTransport

ROW = MAILGUN  # the transport fixture builds its transport
URL = ROW.endpoint
EU_URL = f"https://api.eu.mailgun.net/v3/{DOMAIN}/messages.mime"

Part = tuple[str, str | None, str | None, bytes]


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


# -- the request -------------------------------------------------------------------------


async def test_request_posts_the_rendered_mime_to_every_envelope_recipient(
    transport: MailgunTransport, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    route = respx_mock.post(URL).mock(return_value=mailgun_queued())
    outgoing = make_outgoing()
    await transport.send(outgoing)

    request = route.calls.last.request
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
        ("v:mailsdk_message_id", None, None, MESSAGE_ID.encode()),
        ("message", "message.mime", "message/rfc822", outgoing.raw),
    ]


async def test_the_mime_carries_every_feature_mailgun_is_not_asked_to_rebuild(post: Post) -> None:
    route = await post()
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
    route = respx_mock.post(URL).mock(return_value=mailgun_queued())
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
    route = respx_mock.post(URL).mock(return_value=mailgun_queued())
    outgoing = make_outgoing(cc=[], bcc=[], tags=[], metadata={}, attachments=[])
    await transport.send(outgoing)
    parts = form_parts(route.calls.last.request)
    assert [name for name, *_ in parts] == ["to", "to", "v:mailsdk_message_id", "message"]
    assert parts[2][3] == outgoing.message_id.encode()  # webhook events map back by it


async def test_eu_region_posts_to_the_eu_host(
    api_key: str, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    route = respx_mock.post(EU_URL).mock(return_value=mailgun_queued())
    transport = MailgunTransport(api_key, DOMAIN, region="eu")
    result = await transport.send(make_outgoing())
    assert route.called
    assert result.relay == transport.name == f"mailgun://{DOMAIN}?region=eu"


# -- features Mailgun cannot take are refused before any request --------------------------


async def test_a_message_over_25_mib_is_refused(
    refused: Refused, make_outgoing: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mailgun, "_MAX_MESSAGE", 1000)  # the check, without 25 MiB of test data
    await refused(make_outgoing(), "at most 25 MiB")


async def test_repeated_tags_are_sent_once(post: Post) -> None:
    route = await post(tags=["a", "b", "a", "c", "b"])
    tags = [v for name, _, _, v in form_parts(route.calls.last.request) if name == "o:tag"]
    assert tags == [b"a", b"b", b"c"]


# -- replies -----------------------------------------------------------------------------


async def test_magnificent_api_200_is_a_misrouted_request(
    transport: MailgunTransport, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    respx_mock.post(URL).mock(return_value=httpx.Response(200, text="Mailgun Magnificent API"))
    with pytest.raises(RelayError, match="nothing was sent"):
        await transport.send(make_outgoing())


@pytest.mark.parametrize("minutes", [3, 600])
async def test_429_reads_the_reset_time_from_the_text(
    transport: MailgunTransport,
    respx_mock: respx.MockRouter,
    make_outgoing: Callable[..., Any],
    minutes: int,
) -> None:
    # Mailgun has no rate-limit headers; its text names the time (RFC 2822, "UTC").
    now = datetime(2026, 3, 3, 9, 30, 0, tzinfo=timezone.utc)
    transport.wall_clock = now.timestamp  # frozen: no race with the wall clock
    when = now + timedelta(minutes=minutes)
    text = (
        f"Domain {DOMAIN} is not allowed to send: recipient limit exceeded, try again after "
        + format_datetime(when).replace("+0000", "UTC")
    )
    respx_mock.post(URL).mock(return_value=httpx.Response(429, json={"message": text}))
    with pytest.raises(TransientError) as info:
        await transport.send(make_outgoing())
    # Far off (a quota), the failover layer moves on instead of waiting: see max_retry_after.
    assert info.value.retry_after == pytest.approx(minutes * 60)


# -- secrets -----------------------------------------------------------------------------


# -- URLs --------------------------------------------------------------------------------


def test_a_domain_with_a_slash_is_refused(api_key: str) -> None:
    # Mailgun would answer 200 "Mailgun Magnificent API" and send nothing.
    with pytest.raises(ConfigurationError, match="not a sending domain"):
        MailgunTransport(api_key, "mg.example.com/../x")


@pytest.mark.respx(assert_all_called=False)
async def test_a_provider_option_that_is_not_form_text_is_refused(
    transport: MailgunTransport, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    route = respx_mock.post(URL).mock(return_value=mailgun_queued())
    outgoing = make_outgoing(provider_options={"mailgun": {"o:testmode": True}})
    with pytest.raises(MessageError, match="'o:testmode' must be text"):
        await transport.send(outgoing)
    assert not route.called


@pytest.mark.respx(assert_all_called=False)
async def test_provider_options_count_towards_the_16_kb_of_options(
    transport: MailgunTransport, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    route = respx_mock.post(URL).mock(return_value=mailgun_queued())
    big = {"mailgun": {"v:blob": "x" * 16 * 1024}}
    with pytest.raises(MessageError, match="bytes of tags, metadata and provider options"):
        await transport.send(make_outgoing(provider_options=big))
    assert not route.called
