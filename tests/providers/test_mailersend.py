"""MailerSend /v1/email: the exact request, headers by plan, suppressions, errors, URLs."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
import respx
from contract_table import (
    EVERYONE,
    MAILERSEND,
    MAILERSEND_ID,
    Post,
    b64,
    bodies,
    contacts,
    json_request,
    mailersend_accepted,
    mailersend_fields,
    sent_json,
)

from mailsdk import MessageError, OutgoingMessage, RecipientsRefused, TransientError
from mailsdk.transports.failover import FailoverTransport
from mailsdk.transports.http.mailersend import MailerSendTransport
from mailsdk.transports.memory import MemoryTransport

ROW = MAILERSEND  # the transport fixture builds its transport
URL = ROW.endpoint


@pytest.fixture
def enterprise(api_key: str) -> MailerSendTransport:
    """A transport for a plan that allows custom headers."""
    return MailerSendTransport(api_key, custom_headers=True)


@pytest.fixture
def supported(make_outgoing: Callable[..., OutgoingMessage]) -> OutgoingMessage:
    return make_outgoing(**mailersend_fields())


@pytest.fixture
def plain(make_outgoing: Callable[..., OutgoingMessage]) -> OutgoingMessage:
    """What any plan can send: no custom headers."""
    return make_outgoing(**mailersend_fields(headers={}))


# -- the request -------------------------------------------------------------------------


async def test_request_carries_every_feature(
    enterprise: MailerSendTransport, respx_mock: respx.MockRouter, supported: OutgoingMessage
) -> None:
    route = respx_mock.post(URL).mock(return_value=mailersend_accepted())
    await enterprise.send(supported)
    request, body = json_request(route, accepts_json=True)
    assert request.headers["Authorization"] == f"Bearer {enterprise.api_key.get_secret_value()}"
    assert body == {
        **contacts(jane="Jane Doe"),
        **bodies(),
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
    post: Post, make_outgoing: Callable[..., Any]
) -> None:
    headers = {"In-Reply-To": "<a@b.example>", "Precedence": "list"}
    body = sent_json(await post(make_outgoing(**mailersend_fields(headers=headers))))
    assert (body["in_reply_to"], body["precedence_bulk"]) == ("a@b.example", True)
    assert "headers" not in body


async def test_text_only_message_has_only_what_it_uses(
    post: Post, make_outgoing: Callable[..., Any]
) -> None:
    fields = mailersend_fields(
        html=None, attachments=[], cc=[], bcc=[], reply_to=[], tags=[], headers={}
    )
    route = await post(make_outgoing(**fields))
    assert set(sent_json(route)) == {"from", "to", "subject", "text"}


# -- features MailerSend cannot express are refused before any request --------------------


@pytest.mark.respx(assert_all_called=False)
async def test_header_names_must_be_letters_digits_and_hyphens(
    enterprise: MailerSendTransport, respx_mock: respx.MockRouter, make_outgoing: Callable[..., Any]
) -> None:
    route = respx_mock.post(URL).mock(return_value=mailersend_accepted())
    with pytest.raises(MessageError, match="header name 'X_Trace'"):
        await enterprise.send(make_outgoing(**mailersend_fields(headers={"X_Trace": "1"})))
    assert not route.called


# -- replies -----------------------------------------------------------------------------


def _suppression(kind: str, *recipients: tuple[str, list[str]], **text: str) -> dict[str, Any]:
    """A MailerSend warning of *kind* naming each ``(address, reasons)`` recipient."""
    people = [{"email": address, "name": None, "reasons": why} for address, why in recipients]
    return {"type": kind, **text, "recipients": people}


async def test_some_suppressed_recipients_are_refused_for_good(
    transport: MailerSendTransport, respx_mock: respx.MockRouter, plain: OutgoingMessage
) -> None:
    warning = _suppression(
        "SOME_SUPPRESSED",
        ("carol@example.net", ["hard_bounced"]),
        warning="Some of the recipients have been suppressed.",
    )
    respx_mock.post(URL).mock(
        return_value=mailersend_accepted(
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
    warning = _suppression(
        "ALL_SUPPRESSED",
        ("alice@example.com", ["hard_bounced"]),
        ("jane@example.org", ["unsubscribed", "blocklisted"]),
        message="All of the recipients provided have been suppressed.",
    )
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
    # Spelled differently from the envelope: the refusal must still match it.
    warning = _suppression("SOME_SUPPRESSED", ("Carol@Example.NET", ["spam_complaint"]))
    respx_mock.post(URL).mock(return_value=mailersend_accepted(warnings=[warning]))
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
    respx_mock.post(URL).mock(
        return_value=mailersend_accepted(message=7, warnings=[warning, "junk"])
    )
    result = await transport.send(plain)
    assert result.provider_id == MAILERSEND_ID
    assert result.refused == {"carol@example.net": (550, "suppressed: no reason given")}


# The transport's wall clock is frozen here: times computed when the test is collected (or a
# moment before the transport reads its clock) would drift while the suite runs.
NOW = datetime(2026, 3, 3, 18, 30, 15, 250_000, tzinfo=timezone.utc)
IN_FIVE_HOURS = NOW + timedelta(hours=5)


@pytest.mark.parametrize(
    ("reset", "expected"),
    [
        (IN_FIVE_HOURS.isoformat(), 5 * 3600),
        (IN_FIVE_HOURS.strftime("%Y-%m-%dT%H:%M:%SZ"), 5 * 3600 - 0.25),
        (IN_FIVE_HOURS.replace(tzinfo=None).isoformat(), 5 * 3600),  # no zone: UTC
        (str(int(IN_FIVE_HOURS.timestamp())), 5 * 3600 - 0.25),
        ((NOW - timedelta(minutes=1)).isoformat(), 0),  # already past: no negative wait
    ],
)
async def test_429_for_the_daily_quota_waits_for_its_reset(
    transport: MailerSendTransport,
    respx_mock: respx.MockRouter,
    plain: OutgoingMessage,
    reset: str,
    expected: float,
) -> None:
    transport.wall_clock = NOW.timestamp
    # Not the per-minute limit: its Retry-After would send a retry into the same wall.
    headers = {"Retry-After": "60", "x-apiquota-remaining": "0", "x-apiquota-reset": reset}
    respx_mock.post(URL).mock(
        return_value=httpx.Response(429, json={"message": "Too Many Attempts."}, headers=headers)
    )
    with pytest.raises(TransientError) as info:
        await transport.send(plain)
    assert info.value.retry_after == pytest.approx(expected)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (NOW, (5 * 3600 + 29 * 60 + 44.75)),
        (datetime(2026, 3, 3, 23, 59, 59, tzinfo=timezone.utc), 1),
        (datetime(2026, 3, 4, tzinfo=timezone.utc), 86400),
    ],
)
async def test_429_for_the_daily_quota_without_a_reset_waits_for_utc_midnight(
    transport: MailerSendTransport,
    respx_mock: respx.MockRouter,
    plain: OutgoingMessage,
    now: datetime,
    expected: float,
) -> None:
    transport.wall_clock = now.timestamp
    headers = {"x-apiquota-remaining": "0"}
    respx_mock.post(URL).mock(return_value=httpx.Response(429, json={}, headers=headers))
    with pytest.raises(TransientError) as info:
        await transport.send(plain)
    assert info.value.retry_after == pytest.approx(expected)


# -- secrets -----------------------------------------------------------------------------


# -- URLs --------------------------------------------------------------------------------
