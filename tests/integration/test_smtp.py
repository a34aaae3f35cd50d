"""SMTPTransport against a real in-process SMTP server (aiosmtpd) with TLS and AUTH."""

from __future__ import annotations

import asyncio
import email
import logging
from collections.abc import Callable
from email import policy

import pytest

from mailsdk import (
    AsyncSender,
    ConfigurationError,
    DeliveryUnknown,
    Message,
    MessageError,
    OutgoingMessage,
    PermanentError,
    RecipientsRefused,
    RelayError,
    SendResult,
    SMTPTransport,
    TransientError,
)
from mailsdk.config import transport_from_url
from mailsdk.devserver import LocalRelay
from tests.conftest import PASSWORD, USER
from tests.messages import message_factory

FIXED = {"Message-ID": "<fixed.1@example.com>", "Date": "Mon, 02 Feb 2026 10:00:00 +0000"}


make_message = message_factory(
    FIXED,
    from_="Reports <reports@example.com>",
    to=["alice@example.com"],
    subject="Daily report",
    text="Hello\nworld\n",
)


async def send(url: str, message: Message) -> SendResult:
    """One try on one relay, so each test sees the transport's own classification."""
    async with transport_from_url(url) as transport:
        return await transport.send(OutgoingMessage(message))


async def test_starttls_auth_plain_delivers_exact_bytes(relay: LocalRelay) -> None:
    message = make_message(cc=["Bob <bob@example.com>"], bcc=["carol@example.com"])
    result = await send(relay.url(USER, PASSWORD), message)
    received = relay.messages[0]
    assert received.data == message.as_bytes()
    assert received.login == USER
    assert received.mail_from == "reports@example.com"
    assert received.rcpt_tos == ["alice@example.com", "bob@example.com", "carol@example.com"]
    assert b"carol" not in received.data  # Bcc only in the envelope
    assert result.accepted == received.rcpt_tos
    assert result.refused == {}
    assert result.message_id == "<fixed.1@example.com>"
    assert result.provider_id == "000001"
    assert PASSWORD not in result.relay


async def test_implicit_tls(relay_factory: Callable[..., LocalRelay]) -> None:
    relay = relay_factory(tls="implicit", require_auth=True)
    assert relay.url().startswith("smtps://")
    await send(relay.url(USER, PASSWORD), make_message())
    assert relay.messages[0].login == USER


@pytest.mark.parametrize("mechanism", ["plain", "login"])
async def test_auth_mechanism_can_be_forced(relay: LocalRelay, mechanism: str) -> None:
    await send(relay.url(USER, PASSWORD) + f"&auth={mechanism}", make_message())
    assert relay.messages[0].login == USER


async def test_xoauth2_with_token_callable(relay_factory: Callable[..., LocalRelay]) -> None:
    relay = relay_factory(users={USER: "ya29.token"}, require_auth=True)
    calls = []

    async def fresh_token() -> str:
        calls.append(1)
        return "ya29.token"

    transport = SMTPTransport(
        relay.host, relay.port, username=USER, oauth_token=fresh_token, ca_file=relay.ca_file
    )
    async with AsyncSender(transport) as sender:
        await sender.send(make_message())
    assert relay.messages[0].login == USER
    assert calls == [1]


async def test_xoauth2_token_in_url(relay_factory: Callable[..., LocalRelay]) -> None:
    relay = relay_factory(users={USER: "tok"}, require_auth=True)
    await send(relay.url(USER, "tok") + "&auth=xoauth2", make_message())
    assert relay.messages[0].login == USER


async def test_wrong_password_is_relay_error_without_secret(relay: LocalRelay) -> None:
    secret = "hunter2-not-the-password"
    with pytest.raises(RelayError) as info:
        await send(relay.url(USER, secret), make_message())
    err = info.value
    assert err.code == 535
    assert err.enhanced_code == "5.7.8"
    for text in (str(err), repr(err), err.relay or ""):
        assert secret not in text
    assert relay.messages == []


async def test_untrusted_certificate_is_refused(relay: LocalRelay) -> None:
    url = relay.url(USER, PASSWORD).split("?")[0]  # no ca_file: the system store
    with pytest.raises(RelayError, match="certificate verification failed"):
        await send(url, make_message())
    assert relay.sessions == 0


async def test_relay_without_starttls_gets_nothing(
    relay_factory: Callable[..., LocalRelay],
) -> None:
    plain = relay_factory(tls="none")
    url = f"smtp://{USER}:{PASSWORD}@{plain.host}:{plain.port}"
    with pytest.raises(RelayError, match="does not offer STARTTLS") as info:
        await send(url, make_message())
    assert PASSWORD not in str(info.value)
    assert plain.sessions == 0  # no MAIL FROM (and no AUTH) was sent
    assert plain.messages == []


async def test_implicit_tls_to_a_plain_port_hints_at_starttls(relay: LocalRelay) -> None:
    url = f"smtps://{relay.host}:{relay.port}?ca_file={relay.ca_file}&timeout=5"
    with pytest.raises(RelayError, match=r"use smtp:// \(STARTTLS\)"):
        await send(url, make_message())


def test_auth_without_tls_is_refused_before_any_io() -> None:
    with pytest.raises(ConfigurationError, match="allow_insecure_auth"):
        AsyncSender(f"smtp://{USER}:{PASSWORD}@127.0.0.1:9?tls=none")


async def test_insecure_auth_when_allowed(relay_factory: Callable[..., LocalRelay]) -> None:
    plain = relay_factory(tls="none", require_auth=True)
    url = f"smtp://{USER}:{PASSWORD}@{plain.host}:{plain.port}?tls=none&allow_insecure_auth=true"
    await send(url, make_message())
    assert plain.messages[0].login == USER


async def test_some_recipients_refused(relay: LocalRelay) -> None:
    relay.rcpt_replies["nobody@example.com"] = "550 5.1.1 No such user"
    message = make_message(to=["alice@example.com", "nobody@example.com"])
    async with AsyncSender(relay.url(USER, PASSWORD)) as sender:
        result = await sender.send(message)
    assert result.accepted == ["alice@example.com"]
    assert result.refused == {"nobody@example.com": (550, "5.1.1 No such user")}
    assert relay.messages[0].rcpt_tos == ["alice@example.com"]


async def test_all_recipients_refused(relay: LocalRelay) -> None:
    relay.rcpt_replies["a@example.com"] = "550 5.1.1 No such user"
    relay.rcpt_replies["b@example.com"] = "451 4.3.0 Try later"
    message = make_message(to=["a@example.com", "b@example.com"])
    with pytest.raises(RecipientsRefused) as info:
        await send(relay.url(USER, PASSWORD), message)
    assert info.value.refused == {
        "a@example.com": (550, "5.1.1 No such user"),
        "b@example.com": (451, "4.3.0 Try later"),
    }
    assert not info.value.transient
    assert relay.messages == []


async def test_too_many_recipients_continues_in_a_new_transaction(relay: LocalRelay) -> None:
    relay.rcpt_replies["c@example.com"] = "452 4.5.3 Too many recipients"
    message = make_message(to=["a@example.com", "b@example.com", "c@example.com"])
    result = await send(relay.url(USER, PASSWORD), message)
    # The first transaction carries a and b; c is tried again alone and refused again.
    assert [m.rcpt_tos for m in relay.messages] == [["a@example.com", "b@example.com"]]
    assert result.refused == {"c@example.com": (452, "4.5.3 Too many recipients")}


async def test_utf8_body_arrives_intact(relay: LocalRelay) -> None:
    text = "Grüße, 東京, emoji 📬\n" * 5
    await send(relay.url(USER, PASSWORD), make_message(text=text, subject="Übersicht ✓"))
    parsed = email.message_from_bytes(relay.messages[0].data, policy=policy.default)
    assert parsed["Subject"] == "Übersicht ✓"
    # Text parts are canonical CRLF text once decoded (RFC 2045 section 2.10).
    assert parsed.get_content().replace("\r\n", "\n") == text


async def test_smtputf8_address(relay: LocalRelay) -> None:
    message = make_message(to=["Jörg <jörg@exämple.com>"])
    await send(relay.url(USER, PASSWORD), message)
    received = relay.messages[0]
    assert "SMTPUTF8" in received.mail_options
    assert received.rcpt_tos == ["jörg@exämple.com"]
    parsed = email.message_from_string(received.data.decode("utf-8"), policy=policy.default)
    assert parsed["To"].addresses[0].addr_spec == "jörg@exämple.com"


async def test_idn_domain_needs_no_smtputf8(relay: LocalRelay) -> None:
    await send(relay.url(USER, PASSWORD), make_message(to=["info@bücher.de"]))
    received = relay.messages[0]
    assert "SMTPUTF8" not in received.mail_options
    assert received.rcpt_tos == ["info@xn--bcher-kva.de"]


async def test_smtputf8_needed_but_not_offered(relay_factory: Callable[..., LocalRelay]) -> None:
    relay = relay_factory(smtputf8=False)
    with pytest.raises(MessageError, match="SMTPUTF8"):
        await send(relay.url(USER, PASSWORD), make_message(to=["jörg@example.com"]))
    assert relay.messages == []


async def test_size_limit_checked_before_data(relay_factory: Callable[..., LocalRelay]) -> None:
    relay = relay_factory(size_limit=2000)
    with pytest.raises(PermanentError, match="at most 2000"):
        await send(relay.url(USER, PASSWORD), make_message(text="x" * 5000))
    assert relay.sessions == 0  # refused before MAIL FROM


async def test_connection_is_reused(relay: LocalRelay) -> None:
    async with AsyncSender(relay.url(USER, PASSWORD)) as sender:
        for _ in range(5):
            await sender.send(make_message(headers={}))
        smtp = sender.transports[0]
        assert isinstance(smtp, SMTPTransport)
        assert smtp.connections_opened == 1
    assert relay.sessions == 1
    assert len(relay.messages) == 5


async def test_concurrent_sends_use_at_most_max_connections(relay: LocalRelay) -> None:
    url = relay.url(USER, PASSWORD) + "&max_connections=3"
    async with AsyncSender(url) as sender:
        results = await sender.send_many(
            [make_message(headers={}) for _ in range(12)], concurrency=12
        )
    assert all(not isinstance(r, Exception) for r in results)
    assert 1 <= relay.sessions <= 3
    assert len(relay.messages) == 12


async def test_dead_pooled_connection_is_replaced(relay_factory: Callable[..., LocalRelay]) -> None:
    first = relay_factory()
    async with AsyncSender(first.url(USER, PASSWORD) + "&max_connections=1") as sender:
        await sender.send(make_message())
        port = first.port
        first.stop()
        second = relay_factory(port=port)
        transport = sender.transports[0]
        assert isinstance(transport, SMTPTransport)
        transport._tls_context.load_verify_locations(second.ca_file)  # the new relay's CA
        result = await sender.send(make_message())
    assert len(second.messages) == 1
    assert len(result.attempts) == 1


async def test_max_messages_per_connection(relay: LocalRelay) -> None:
    async with AsyncSender(relay.url(USER, PASSWORD) + "&max_messages=2") as sender:
        for _ in range(5):
            await sender.send(make_message(headers={}))
    assert relay.sessions == 3


async def test_mail_from_refused_is_relay_error(relay: LocalRelay) -> None:
    relay.mail_reply = "553 5.7.1 Sender not allowed"
    with pytest.raises(RelayError) as info:
        await send(relay.url(USER, PASSWORD), make_message())
    assert info.value.code == 553


async def test_421_at_mail_from_is_transient(relay: LocalRelay) -> None:
    relay.mail_reply = "421 4.3.2 Shutting down"
    with pytest.raises(TransientError) as info:
        await send(relay.url(USER, PASSWORD), make_message())
    assert "421" in str(info.value)


@pytest.mark.parametrize(
    ("reply", "error"), [("554 5.7.1 Spam", PermanentError), ("451 4.7.1 Later", TransientError)]
)
async def test_refused_after_data(relay: LocalRelay, reply: str, error: type[Exception]) -> None:
    relay.data_reply = reply
    with pytest.raises(error) as info:
        await send(relay.url(USER, PASSWORD), make_message())
    assert info.value.code == int(reply[:3])  # type: ignore[attr-defined]


async def test_connection_lost_after_final_dot_is_delivery_unknown(relay: LocalRelay) -> None:
    relay.drop_after_data = True
    with pytest.raises(DeliveryUnknown, match="may have been delivered"):
        await send(relay.url(USER, PASSWORD), make_message())
    assert len(relay.messages) == 1  # it did arrive: that is why it is not resent


async def test_connect_refused_is_transient() -> None:
    with pytest.raises(TransientError, match="cannot connect"):
        await send("smtp://127.0.0.1:1?tls=none", make_message())


async def test_greeting_timeout_is_transient() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        with pytest.raises(TransientError, match="timed out"):
            await send(f"smtp://127.0.0.1:{port}?tls=none&timeout=0.5", make_message())


async def test_a_spent_deadline_fails_before_taking_a_free_connection(relay: LocalRelay) -> None:
    # A free pool slot is taken without asyncio.wait_for, but only while time is left: a
    # send whose deadline has passed fails as before, naming the wait, and never connects.
    transport = transport_from_url(relay.url())
    assert isinstance(transport, SMTPTransport)
    outgoing = OutgoingMessage(make_message())
    with pytest.raises(TransientError, match="deadline passed waiting for a connection"):
        await transport.send(outgoing, deadline=0.0)  # time.monotonic() is always past it
    assert relay.messages == []
    assert relay.sessions == 0
    await transport.aclose()


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"track_opens": True}, "open or click tracking"),
        ({"track_clicks": True, "track_opens": False}, "open or click tracking"),
        ({"provider_options": {"smtp": {"x": 1}}}, r"provider_options\['smtp'\]"),
    ],
)
async def test_what_smtp_cannot_honour_is_refused_before_connecting(
    relay: LocalRelay, options: dict[str, object], match: str
) -> None:
    with pytest.raises(MessageError, match=match) as info:
        await send(relay.url(USER, PASSWORD), make_message(**options))
    assert info.value.relay is not None
    assert relay.sessions == 0


async def test_tracking_off_and_other_providers_options_hold_over_smtp(relay: LocalRelay) -> None:
    # SMTP never tracks, so "off" is what happens; a provider's own options are its own.
    message = make_message(
        track_opens=False,
        track_clicks=False,
        provider_options={"sendgrid": {"ip_pool_name": "transactional"}},
    )
    await send(relay.url(USER, PASSWORD), message)
    assert relay.messages[0].data == message.as_bytes()
    assert b"ip_pool_name" not in relay.messages[0].data


async def test_tags_and_metadata_are_not_sent_over_smtp_and_the_log_says_so(
    relay: LocalRelay, caplog: pytest.LogCaptureFixture
) -> None:
    # They label a message for providers' events; refusing them would break failing over
    # from a provider to one's own relay, so the relay sends without them, not silently.
    message = make_message(tags=["invoice"], metadata={"order": "8f2a"})
    with caplog.at_level(logging.INFO, logger="mailsdk"):
        await send(relay.url(USER, PASSWORD), message)
    assert relay.messages[0].data == message.as_bytes()
    assert b"8f2a" not in relay.messages[0].data
    assert b"invoice" not in relay.messages[0].data
    assert any(
        "tags and metadata have no SMTP field" in record.getMessage() for record in caplog.records
    )
