"""Fault injection: every failure of every SMTP phase is one of our errors, bounded in size
and time, and retried or failed over like any other."""

from __future__ import annotations

import asyncio
import time
from urllib.parse import quote

import pytest

from mailsdk import (
    AsyncSender,
    DeliveryUnknown,
    MailError,
    Message,
    OutgoingMessage,
    RelayError,
    RetryPolicy,
    SendResult,
    TransientError,
)
from mailsdk.config import transport_from_url
from mailsdk.devserver import LocalRelay
from mailsdk.transports._smtp_wire import MAX_REPLY_BYTES
from tests.integration.faulty_relays import (
    EHLO_PLAIN,
    ResettingRelay,
    Script,
    ehlo_breaking_relay,
    plain_handshake,
    reply,
    scripted_relay,
)

MESSAGE = Message(
    from_="reports@example.com", to=["alice@example.com"], subject="Report", text="Hello\n"
)


async def send(url: str, message: Message = MESSAGE) -> SendResult:
    """One try on one relay: the transport's own classification."""
    async with transport_from_url(url) as transport:
        return await transport.send(OutgoingMessage(message))


def plain(port: int, timeout: float = 2.0) -> str:
    return f"smtp://127.0.0.1:{port}?tls=none&timeout={timeout}"


# -- the handshake --------------------------------------------------------------------------


async def close_at_ehlo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reply(writer, b"220 faulty.test ESMTP")
    await reader.readline()
    writer.close()


async def stall_at_ehlo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reply(writer, b"220 faulty.test ESMTP")
    await reader.readline()
    await asyncio.sleep(3600)


async def garbage_greeting(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reply(writer, b"hello, this is not SMTP")
    await asyncio.sleep(3600)


async def huge_greeting(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    # 10 MB: one line without an end, as the fault-injection trial sent.
    writer.write(b"220 " + b"x" * (10 * 1024 * 1024))
    await writer.drain()
    await asyncio.sleep(3600)


async def endless_greeting(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while True:
        writer.write(b"220-and more\r\n" * 1000)
        await writer.drain()


async def unterminated_ehlo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reply(writer, b"220 faulty.test ESMTP")
    await reader.readline()
    await reply(writer, b"250-faulty.test", b"250-PIPELINING")  # the last line never comes
    await asyncio.sleep(3600)


async def endless_ehlo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reply(writer, b"220 faulty.test ESMTP")
    await reader.readline()
    while True:
        writer.write(b"250-X-EXTENSION more\r\n" * 1000)
        await writer.drain()


@pytest.mark.parametrize(
    ("script", "text"),
    [
        (close_at_ehlo, "during EHLO"),
        (stall_at_ehlo, "timed out in EHLO"),
        (garbage_greeting, "broke the protocol"),
        (huge_greeting, "broke the protocol"),
        (endless_greeting, "broke the protocol"),
        (unterminated_ehlo, "timed out in EHLO"),
        (endless_ehlo, "broke the protocol"),
    ],
)
async def test_a_broken_handshake_is_a_transient_error(script, text: str) -> None:  # type: ignore[no-untyped-def]
    async with scripted_relay(script) as port:
        with pytest.raises(TransientError, match=text) as info:
            await send(plain(port, timeout=0.5))
    assert info.value.relay is not None
    assert info.value.__context__ is None  # nothing of aiosmtplib's hangs off it


@pytest.mark.parametrize("mode", ["close", "stall"])
async def test_ehlo_after_starttls_failing_is_a_transient_error(mode: str) -> None:
    with (
        ehlo_breaking_relay(mode) as (port, ca_file),
        pytest.raises(TransientError, match="EHLO after STARTTLS"),
    ):
        await send(f"smtp://127.0.0.1:{port}?ca_file={ca_file}&timeout=0.5")


async def test_a_broken_handshake_is_retried_then_failed_over(relay_factory) -> None:  # type: ignore[no-untyped-def]
    good = relay_factory(tls="none")
    connections = 0

    async def counting(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await close_at_ehlo(reader, writer)

    async with scripted_relay(counting) as port:
        policy = RetryPolicy(attempts=2, backoff=0, jitter=0)
        async with AsyncSender([plain(port), good.url()], retry=policy) as sender:
            result = await sender.send(MESSAGE)
    assert connections == 2  # tried, retried, then failed over
    assert result.relay == transport_from_url(good.url()).name
    assert [a.outcome for a in result.attempts] == ["transient", "transient", "delivered"]


async def test_greeting_timeout_on_any_port_hints_at_implicit_tls(relay_factory) -> None:  # type: ignore[no-untyped-def]
    implicit = relay_factory(tls="implicit")  # a free port, not 465: the hint does not care
    with pytest.raises(TransientError, match="use smtps://"):
        await send(f"smtp://127.0.0.1:{implicit.port}?tls=none&timeout=0.5")


async def test_implicit_tls_to_a_plain_port_hints_at_smtp(relay_factory) -> None:  # type: ignore[no-untyped-def]
    plain_relay = relay_factory(tls="none")
    with pytest.raises(RelayError, match="use smtp://"):
        await send(f"smtps://127.0.0.1:{plain_relay.port}?timeout=2")


# -- every phase, closed, stalled or garbled ---------------------------------------------------


def phase_fault(phase: bytes, action: str, ehlo: tuple[bytes, ...] = tuple(EHLO_PLAIN)) -> Script:
    """A relay that speaks plain SMTP until the client sends *phase* (a verb, or b"." for the
    final dot), then closes, stalls or answers garbage."""

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reply(writer, b"220 faulty.test ESMTP")
        in_data = False
        while True:
            line = await reader.readline()
            if not line:
                return
            if in_data and line != b".\r\n":
                continue
            verb = b"." if in_data else line[:4].upper().rstrip()
            if verb == phase:
                if action == "close":
                    return
                if action == "garbage":
                    await reply(writer, b"this is not an SMTP reply")
                await reader.read()  # stall until the client gives up
                return
            if verb == b"EHLO":
                await reply(writer, *ehlo)
            elif verb == b"DATA":
                in_data = True
                await reply(writer, b"354 go ahead")
            elif verb == b".":
                in_data = False
                await reply(writer, b"250 2.0.0 queued")
            elif verb == b"AUTH":
                await reply(writer, b"235 2.7.0 Authentication successful")
            else:
                await reply(writer, b"250 2.0.0 OK")

    return script


PHASES = [b"MAIL", b"RCPT", b"DATA"]


@pytest.mark.parametrize("action", ["close", "stall", "garbage"])
@pytest.mark.parametrize("phase", PHASES)
async def test_every_transaction_phase_fault_is_a_transient_error(
    phase: bytes, action: str
) -> None:
    async with scripted_relay(phase_fault(phase, action)) as port:
        with pytest.raises(TransientError) as info:
            await send(plain(port, timeout=0.5))
    assert info.value.relay is not None


@pytest.mark.parametrize("action", ["close", "stall", "garbage"])
async def test_a_fault_at_auth_is_a_transient_error(action: str) -> None:
    ehlo = (b"250-faulty.test", b"250 AUTH PLAIN LOGIN")
    async with scripted_relay(phase_fault(b"AUTH", action, ehlo)) as port:
        secret = quote(WRONG, safe="")
        url = f"smtp://u:{secret}@127.0.0.1:{port}?tls=none&allow_insecure_auth=true&timeout=0.5"
        with pytest.raises(TransientError, match="AUTH") as info:
            await send(url)
    assert _frames_holding(info.value, WRONG) == []


@pytest.mark.parametrize("action", ["close", "stall", "garbage"])
async def test_a_fault_at_starttls_is_one_of_our_errors(action: str) -> None:
    async def starttls_fault(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reply(writer, b"220 faulty.test ESMTP")
        await reader.readline()
        await reply(writer, b"250-faulty.test", b"250 STARTTLS")
        await reader.readline()
        if action == "close":
            return
        # "stall": ready, then no TLS; "garbage": ready, then plain text instead of TLS
        await reply(writer, b"220 2.0.0 Ready to start TLS")
        if action == "garbage":
            await reply(writer, b"this is not TLS at all, not even close")
        await reader.read()

    async with scripted_relay(starttls_fault) as port:
        with pytest.raises((TransientError, RelayError), match=r"STARTTLS|TLS") as info:
            await send(f"smtp://127.0.0.1:{port}?timeout=0.5")
    assert info.value.relay is not None
    assert info.value.__context__ is None


async def test_no_reply_after_the_final_dot_is_delivery_unknown() -> None:
    async with scripted_relay(phase_fault(b".", "stall")) as port:
        url = f"smtp://127.0.0.1:{port}?tls=none&timeout=0.5"
        async with AsyncSender(url, retry=RetryPolicy(deadline=1.0)) as sender:
            with pytest.raises(DeliveryUnknown, match="may have been delivered"):
                await sender.send(MESSAGE)


# -- the transaction ------------------------------------------------------------------------


async def test_an_endless_reply_is_cut_and_is_a_transient_error() -> None:
    sent = 0

    async def endless_mail_reply(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        nonlocal sent
        await plain_handshake(reader, writer)
        await reader.readline()
        chunk = b"250-still going\r\n" * 1000
        while True:
            writer.write(chunk)
            await writer.drain()
            sent += len(chunk)

    async with scripted_relay(endless_mail_reply) as port:
        with pytest.raises(TransientError, match="longer than"):
            await send(plain(port, timeout=5))
    # The client dropped the connection soon after the limit, so the relay could not go on.
    assert sent < 100 * MAX_REPLY_BYTES


async def test_a_trickled_reply_cannot_stretch_a_timeout() -> None:
    async def trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await plain_handshake(reader, writer)
        await reader.readline()
        for byte in b"250 but very slowly" * 100:
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(0.05)

    async with scripted_relay(trickle) as port:
        started = time.monotonic()
        with pytest.raises(TransientError, match="timed out"):
            await send(plain(port, timeout=0.5))
    # Each byte arrives well within the timeout; the reply as a whole would take 95 s.
    assert time.monotonic() - started < 10


async def test_the_deadline_bounds_a_slow_loris_handshake() -> None:
    async def slow_loris(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reply(writer, b"220 faulty.test ESMTP")
        await reader.readline()
        # Each EHLO line arrives just within the per-command timeout; all of them never do.
        while True:
            await reply(writer, b"250-X-SLOW")
            await asyncio.sleep(0.2)

    async with scripted_relay(slow_loris) as port:
        policy = RetryPolicy(attempts=3, backoff=0, jitter=0, deadline=1.0)
        async with AsyncSender(plain(port, timeout=30), retry=policy) as sender:
            started = time.monotonic()
            with pytest.raises(MailError, match="deadline"):
                await sender.send(MESSAGE)
    assert time.monotonic() - started < 10  # the per-command timeouts alone allow 90 s


async def test_a_reset_before_the_final_dot_was_read_is_not_delivery_unknown() -> None:
    with (
        ResettingRelay() as relay,
        pytest.raises(TransientError, match="not delivered") as info,
    ):
        await send(plain(relay.port, timeout=5))
    assert not isinstance(info.value, DeliveryUnknown)


async def test_a_reset_message_is_retried(relay_factory) -> None:  # type: ignore[no-untyped-def]
    good = relay_factory(tls="none")
    with ResettingRelay() as bad:
        policy = RetryPolicy(attempts=2, backoff=0, jitter=0)
        async with AsyncSender([plain(bad.port, timeout=5), good.url()], retry=policy) as sender:
            result = await sender.send(MESSAGE)
    assert bad.connections == 2
    assert len(good.messages) == 1
    assert result.accepted == ["alice@example.com"]


async def test_an_orderly_close_after_the_final_dot_stays_unknown(relay: LocalRelay) -> None:
    from tests.conftest import PASSWORD, USER

    relay.drop_after_data = True
    with pytest.raises(DeliveryUnknown):
        await send(relay.url(USER, PASSWORD))


# -- secrets --------------------------------------------------------------------------------


def _frames_holding(error: BaseException, secret: str) -> list[str]:
    """Every traceback frame, along the whole __cause__/__context__ chain, one of whose locals
    shows *secret* (error trackers such as Sentry capture these)."""
    found: list[str] = []
    seen: set[int] = set()
    pending: list[BaseException | None] = [error]
    while pending:
        exc = pending.pop()
        if exc is None or id(exc) in seen:
            continue
        seen.add(id(exc))
        pending += [exc.__cause__, exc.__context__]
        pending += list(getattr(exc, "errors", None) or [])  # DeliveryFailed keeps them all
        assert secret not in str(exc)
        assert secret not in repr(exc)
        tb = exc.__traceback__
        while tb is not None:
            frame = tb.tb_frame
            for name, value in frame.f_locals.items():
                text = value.decode("latin-1") if isinstance(value, bytes) else None
                if text is None:
                    try:
                        text = value if isinstance(value, str) else repr(value)
                    except Exception:
                        text = ""
                if secret in text:
                    found.append(f"{frame.f_code.co_qualname}:{name}")
            tb = tb.tb_next
    return found


WRONG = "Wrong-Secret/2026 with spaces"


@pytest.mark.parametrize("mechanism", ["plain", "login", "xoauth2"])
async def test_a_failed_auth_leaves_no_secret_in_any_frame(
    relay: LocalRelay, mechanism: str
) -> None:
    from tests.conftest import USER

    async with AsyncSender(
        relay.url(USER, WRONG) + f"&auth={mechanism}", retry=RetryPolicy(attempts=1)
    ) as sender:
        with pytest.raises(MailError) as info:
            await sender.send(MESSAGE)
    assert isinstance(info.value.__cause__, RelayError)
    assert _frames_holding(info.value, WRONG) == []


def test_a_failed_auth_through_the_sync_sender_leaves_no_secret(relay: LocalRelay) -> None:
    from mailsdk import Sender
    from tests.conftest import USER

    with (
        Sender(relay.url(USER, WRONG), retry=RetryPolicy(attempts=1)) as sender,
        pytest.raises(MailError) as info,
    ):
        sender.send(MESSAGE)
    assert _frames_holding(info.value, WRONG) == []


def test_an_oauth_token_is_held_as_a_secret() -> None:
    from mailsdk import SMTPTransport

    transport = SMTPTransport("mail.example.com", username="u", oauth_token=WRONG)
    assert WRONG not in repr(vars(transport))


async def test_a_silent_port_on_smtps_hints_at_smtp() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # neither a greeting nor a TLS handshake

    async with scripted_relay(silent) as port:
        with pytest.raises(TransientError, match="use smtp://"):
            await send(f"smtps://127.0.0.1:{port}?timeout=0.5")
