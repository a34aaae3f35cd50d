"""DSN (RFC 3461) and REQUIRETLS (RFC 8689) on the wire, against an in-process aiosmtpd relay
that advertises what a test asks for and records every MAIL and RCPT line exactly as sent."""

from __future__ import annotations

import json
import logging
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

from mailsdk import (
    DSN,
    AsyncSender,
    FailoverTransport,
    Message,
    MessageError,
    OutgoingMessage,
    RetryPolicy,
    SMTPTransport,
)
from mailsdk.transports.http.sendgrid import SendGridTransport
from tests.messages import message_factory

FIXED = {"Message-ID": "<dsn.1@example.com>", "Date": "Mon, 02 Feb 2026 10:00:00 +0000"}
_OURS = {"RET", "ENVID", "REQUIRETLS", "NOTIFY", "ORCPT"}


@dataclass
class _Record:
    advertise: tuple[str, ...]
    pipelining: bool
    mail: list[str] = field(default_factory=list)
    rcpt: list[str] = field(default_factory=list)
    messages: list[bytes] = field(default_factory=list)


def _without_ours(arg: str) -> str:
    """The command argument without the parameters aiosmtpd itself would refuse (555)."""
    address, *params = arg.split(" ")
    return " ".join([address, *(p for p in params if p.partition("=")[0].upper() not in _OURS)])


class _RecordingSMTP(SMTP):
    record: _Record

    async def smtp_MAIL(self, arg: str) -> None:
        self.record.mail.append(f"MAIL {arg}")
        await super().smtp_MAIL(_without_ours(arg))

    async def smtp_RCPT(self, arg: str) -> None:
        self.record.rcpt.append(f"RCPT {arg}")
        await super().smtp_RCPT(_without_ours(arg))


class _Handler:
    def __init__(self, record: _Record) -> None:
        self.record = record

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        extra = [e for e in self.record.advertise if e != "REQUIRETLS" or session.ssl]
        if self.record.pipelining:
            extra.append("PIPELINING")
        return [*responses[:-1], *(f"250-{e}" for e in extra), responses[-1]]

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.record.messages.append(envelope.original_content or envelope.content)
        return "250 2.0.0 OK queued as 1"


class _Controller(Controller):
    def __init__(self, record: _Record, **kwargs: Any) -> None:
        self.record = record
        super().__init__(_Handler(record), **kwargs)

    def factory(self) -> SMTP:
        server = _RecordingSMTP(self.handler, **self.SMTP_kwargs)
        server.record = self.record
        return server


@dataclass
class ExtRelay:
    record: _Record
    port: int
    ca_file: str

    def transport(self, **kwargs: Any) -> SMTPTransport:
        kwargs.setdefault("ca_file", self.ca_file)
        return SMTPTransport("127.0.0.1", self.port, **kwargs)


@pytest.fixture
def ext_relay(tmp_path: Path) -> Iterator[Any]:
    """Start relays that advertise the given EHLO keywords (REQUIRETLS only after STARTTLS)."""
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    ca_file = str(tmp_path / "ca.pem")
    ca.cert_pem.write_to_path(ca_file)
    started: list[Controller] = []

    def start(*advertise: str, pipelining: bool = False, tls: bool = True) -> ExtRelay:
        record = _Record(advertise, pipelining)
        controller = _Controller(
            record,
            hostname="127.0.0.1",
            port=_free_port(),
            decode_data=False,
            enable_SMTPUTF8=True,
            tls_context=context if tls else None,
            require_starttls=tls,
        )
        controller.start()
        started.append(controller)
        return ExtRelay(record, controller.port, ca_file)

    yield start
    for controller in started:
        controller.stop()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


make_message = message_factory(
    FIXED,
    from_="Reports <reports@example.com>",
    to=["alice@example.com", "bob+tag@example.com"],
    subject="Daily report",
    text="Hello\n",
)


async def send(transport: SMTPTransport, message: Message) -> Any:
    async with transport:
        return await transport.send(OutgoingMessage(message))


# -- DSN -------------------------------------------------------------------------------------


@pytest.mark.parametrize("pipelining", [False, True])
async def test_dsn_parameters_on_mail_and_every_rcpt(ext_relay: Any, pipelining: bool) -> None:
    relay = ext_relay("DSN", pipelining=pipelining)
    dsn = DSN(notify=["failure", "DELAY"], ret="HDRS", envid="order 42+a=b")
    result = await send(relay.transport(), make_message(dsn=dsn))

    size = len(make_message().as_bytes())
    assert relay.record.mail == [
        f"MAIL FROM:<reports@example.com> SIZE={size} RET=HDRS ENVID=order+2042+2Ba+3Db"
    ]
    assert relay.record.rcpt == [
        "RCPT TO:<alice@example.com> NOTIFY=FAILURE,DELAY ORCPT=rfc822;alice@example.com",
        "RCPT TO:<bob+tag@example.com> NOTIFY=FAILURE,DELAY ORCPT=rfc822;bob+2Btag@example.com",
    ]
    assert result.accepted == ["alice@example.com", "bob+tag@example.com"]
    assert relay.record.messages == [make_message().as_bytes()]


async def test_dsn_never_and_no_orcpt(ext_relay: Any) -> None:
    relay = ext_relay("DSN")
    await send(
        relay.transport(),
        make_message(to=["alice@example.com"], dsn=DSN(notify="never", orcpt=False)),
    )
    size = len(make_message(to=["alice@example.com"]).as_bytes())
    assert relay.record.mail == [f"MAIL FROM:<reports@example.com> SIZE={size}"]
    assert relay.record.rcpt == ["RCPT TO:<alice@example.com> NOTIFY=NEVER"]


async def test_dsn_orcpt_of_a_utf8_address_is_7bit(ext_relay: Any) -> None:
    relay = ext_relay("DSN")
    await send(
        relay.transport(), make_message(to=["jörg@example.com"], dsn=DSN(notify=["SUCCESS"]))
    )
    assert relay.record.mail[0].endswith(" SMTPUTF8 BODY=8BITMIME")
    assert relay.record.rcpt == [
        "RCPT TO:<jörg@example.com> NOTIFY=SUCCESS ORCPT=utf-8;j\\x{F6}rg@example.com"
    ]


async def test_advisory_dsn_is_left_out_where_the_relay_lacks_it(
    ext_relay: Any, caplog: pytest.LogCaptureFixture
) -> None:
    relay = ext_relay()  # no DSN in EHLO
    caplog.set_level(logging.WARNING, "mailsdk")
    result = await send(relay.transport(), make_message(dsn=DSN(notify=["FAILURE"], ret="FULL")))

    size = len(make_message().as_bytes())
    assert relay.record.mail == [f"MAIL FROM:<reports@example.com> SIZE={size}"]
    assert relay.record.rcpt == ["RCPT TO:<alice@example.com>", "RCPT TO:<bob+tag@example.com>"]
    assert result.accepted == ["alice@example.com", "bob+tag@example.com"]
    assert "does not offer DSN: <dsn.1@example.com> goes without" in caplog.text


async def test_required_dsn_refuses_a_relay_without_it_before_mail(ext_relay: Any) -> None:
    relay = ext_relay()
    transport = relay.transport()
    with pytest.raises(MessageError, match=r"requires DSN .* does not offer it") as caught:
        await send(transport, make_message(dsn=DSN(notify=["FAILURE"], required=True)))
    assert caught.value.relay == transport.name
    assert relay.record.mail == []


async def _second_relay_delivers(first: Any, second: Any, message: Message) -> None:
    """*message*, sent through a failover group of *first* then *second* (one try each), is
    refused by *first* before MAIL FROM and delivered by *second*."""
    failover = FailoverTransport(
        [first.transport(), second.transport()], retry=RetryPolicy(attempts=1)
    )
    async with AsyncSender(failover) as sender:
        result = await sender.send(message)
    assert first.record.mail == []
    assert result.relay == failover.transports[1].name


async def test_required_dsn_fails_over_to_a_relay_that_offers_it(ext_relay: Any) -> None:
    without, with_dsn = ext_relay(), ext_relay("DSN")
    await _second_relay_delivers(
        without, with_dsn, make_message(dsn=DSN(notify=["FAILURE"], required=True))
    )
    assert (
        with_dsn.record.rcpt[0]
        == "RCPT TO:<alice@example.com> NOTIFY=FAILURE ORCPT=rfc822;alice@example.com"
    )


# -- REQUIRETLS ------------------------------------------------------------------------------


async def test_requiretls_goes_on_mail_from_over_starttls(ext_relay: Any) -> None:
    relay = ext_relay("REQUIRETLS", "DSN")
    await send(relay.transport(), make_message(require_tls=True, dsn=DSN(ret="HDRS")))
    size = len(make_message().as_bytes())
    assert relay.record.mail == [f"MAIL FROM:<reports@example.com> SIZE={size} RET=HDRS REQUIRETLS"]


async def test_requiretls_refuses_a_relay_that_does_not_offer_it(ext_relay: Any) -> None:
    relay = ext_relay()
    with pytest.raises(MessageError, match=r"requires REQUIRETLS .* does not offer it"):
        await send(relay.transport(), make_message(require_tls=True))
    assert relay.record.mail == []


async def test_requiretls_fails_over_and_says_so_when_no_relay_offers_it(ext_relay: Any) -> None:
    plain, offering = ext_relay(), ext_relay("REQUIRETLS")
    await _second_relay_delivers(plain, offering, make_message(require_tls=True))
    assert offering.record.mail[0].endswith(" REQUIRETLS")

    nobody = FailoverTransport(
        [ext_relay().transport(), ext_relay().transport()], retry=RetryPolicy(attempts=1)
    )
    async with AsyncSender(nobody) as sender:
        with pytest.raises(
            MessageError, match=r"no relay can take <dsn.1@example.com>: .*REQUIRETLS"
        ):
            await sender.send(make_message(require_tls=True))


async def test_requiretls_never_connects_without_tls(ext_relay: Any) -> None:
    relay = ext_relay("REQUIRETLS", tls=False)
    transport = relay.transport(tls="none")
    with pytest.raises(MessageError, match=r"needs TLS, and relay .* tls=none"):
        await send(transport, make_message(require_tls=True))
    assert transport.connections_opened == 0


async def test_requiretls_never_connects_without_a_verified_certificate(ext_relay: Any) -> None:
    relay = ext_relay("REQUIRETLS")
    unverified = ssl.create_default_context()
    unverified.check_hostname = False
    unverified.verify_mode = ssl.CERT_NONE
    transport = relay.transport(ca_file=None, tls_context=unverified)
    with pytest.raises(MessageError, match="does not verify one"):
        await send(transport, make_message(require_tls=True))
    assert transport.connections_opened == 0


async def test_requiretls_is_not_advertised_before_starttls_so_it_is_checked_after(
    ext_relay: Any,
) -> None:
    # The relay lists REQUIRETLS only in its EHLO after STARTTLS (RFC 8689 section 2): the
    # send reads the post-STARTTLS list, so the message goes.
    relay = ext_relay("REQUIRETLS")
    await send(relay.transport(), make_message(require_tls=True))
    assert relay.record.mail[0].endswith(" REQUIRETLS")


# -- HTTP provider APIs ----------------------------------------------------------------------

SENDGRID_URL = "https://api.sendgrid.com/v3/mail/send"


@respx.mock
async def test_provider_api_refuses_requiretls_and_required_dsn_without_a_request() -> None:
    route = respx.post(SENDGRID_URL).mock(return_value=httpx.Response(202))
    async with SendGridTransport("SG.key") as transport:
        with pytest.raises(MessageError, match="cannot send a message that requires REQUIRETLS"):
            await transport.send(OutgoingMessage(make_message(require_tls=True)))
        with pytest.raises(MessageError, match="cannot send a required DSN request"):
            await transport.send(OutgoingMessage(make_message(dsn=DSN(required=True))))
    assert not route.called


@respx.mock
async def test_provider_api_sends_an_advisory_dsn_request_without_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    route = respx.post(SENDGRID_URL).mock(return_value=httpx.Response(202))
    caplog.set_level(logging.WARNING, "mailsdk")
    async with SendGridTransport("SG.key") as transport:
        await transport.send(OutgoingMessage(make_message(dsn=DSN(notify=["FAILURE"]))))
        await transport.send(OutgoingMessage(make_message()))
    with_dsn, without = (json.loads(call.request.content) for call in route.calls)
    assert with_dsn == without  # nothing of the request is added to the body
    assert "takes no DSN request: <dsn.1@example.com> goes without it" in caplog.text


@respx.mock
async def test_provider_api_says_once_per_relay_that_it_sends_no_dsn(
    caplog: pytest.LogCaptureFixture,
) -> None:
    respx.post(SENDGRID_URL).mock(return_value=httpx.Response(202))
    caplog.set_level(logging.WARNING, "mailsdk")
    async with SendGridTransport("SG.key") as transport:
        for _ in range(3):
            await transport.send(OutgoingMessage(make_message(dsn=DSN(notify=["FAILURE"]))))
    assert caplog.text.count("takes no DSN request") == 1
