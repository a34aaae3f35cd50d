"""Fault injection with Postfix's smtp-sink: every class of failure, classified and handled."""

from __future__ import annotations

import pytest

from mailsdk import (
    AsyncSender,
    DeliveryUnknown,
    Message,
    OutgoingMessage,
    PermanentError,
    RecipientsRefused,
    RelayError,
    RetryPolicy,
    TransientError,
)
from mailsdk.config import transport_from_url
from tests.interop.conftest import SmtpSinkFactory


def message(to: tuple[str, ...] = ("alice@example.test",)) -> Message:
    return Message(from_="app@example.test", to=list(to), subject="fault", text="body\n")


def plain(sink: object) -> str:
    return f"smtp://{sink.host}:{sink.port}?tls=none&timeout=5"  # type: ignore[attr-defined]


async def one_try(url: str, msg: Message | None = None) -> object:
    async with transport_from_url(url) as transport:
        return await transport.send(OutgoingMessage(msg or message()))


async def test_default_sink_accepts(smtp_sink_factory: SmtpSinkFactory) -> None:
    result = await one_try(plain(smtp_sink_factory()))
    assert result.accepted == ["alice@example.test"]  # type: ignore[attr-defined]


async def test_soft_rejected_rcpt(smtp_sink_factory: SmtpSinkFactory) -> None:
    with pytest.raises(RecipientsRefused) as info:
        await one_try(plain(smtp_sink_factory(["-r", "RCPT"])))
    assert info.value.transient
    assert next(iter(info.value.refused.values()))[0] // 100 == 4


async def test_hard_rejected_rcpt(smtp_sink_factory: SmtpSinkFactory) -> None:
    with pytest.raises(RecipientsRefused) as info:
        await one_try(plain(smtp_sink_factory(["-f", "RCPT"])))
    assert not info.value.transient


async def test_hard_rejected_mail_from_is_a_relay_error(smtp_sink_factory: SmtpSinkFactory) -> None:
    with pytest.raises(RelayError) as info:
        await one_try(plain(smtp_sink_factory(["-f", "MAIL"])))
    assert info.value.code is not None
    assert info.value.code // 100 == 5


async def test_421_and_disconnect_at_mail(smtp_sink_factory: SmtpSinkFactory) -> None:
    with pytest.raises(TransientError) as info:
        await one_try(plain(smtp_sink_factory(["-Q", "MAIL"])))
    assert info.value.code == 421


async def test_disconnect_after_final_dot(smtp_sink_factory: SmtpSinkFactory) -> None:
    with pytest.raises(DeliveryUnknown):
        await one_try(plain(smtp_sink_factory(["-q", "."])))


async def test_disconnect_before_data_is_transient(smtp_sink_factory: SmtpSinkFactory) -> None:
    with pytest.raises(TransientError):
        await one_try(plain(smtp_sink_factory(["-q", "DATA"])))


async def test_abort_after_data(smtp_sink_factory: SmtpSinkFactory) -> None:
    with pytest.raises(PermanentError) as info:
        await one_try(plain(smtp_sink_factory(["-A", "1"])))
    assert info.value.code == 550


# smtp-sink answers pipelined commands out of order when -W delays one of them, so the
# delay tests turn its PIPELINING off (-p); real relays answer in order (RFC 2920).
async def test_slow_reply_is_waited_for(smtp_sink_factory: SmtpSinkFactory) -> None:
    result = await one_try(plain(smtp_sink_factory(["-p", "-W", "RCPT:1"])))
    assert result.accepted == ["alice@example.test"]  # type: ignore[attr-defined]


async def test_reply_slower_than_the_timeout(smtp_sink_factory: SmtpSinkFactory) -> None:
    sink = smtp_sink_factory(["-p", "-W", "MAIL:3"])
    with pytest.raises(TransientError):
        await one_try(f"smtp://{sink.host}:{sink.port}?tls=none&timeout=1")


async def test_pipelining_off_sends_one_command_at_a_time(
    smtp_sink_factory: SmtpSinkFactory,
) -> None:
    msg = message(("a@example.test", "b@example.test"))
    result = await one_try(plain(smtp_sink_factory(["-p"])), msg)
    assert result.accepted == ["a@example.test", "b@example.test"]  # type: ignore[attr-defined]


async def test_no_esmtp_still_sends(smtp_sink_factory: SmtpSinkFactory) -> None:
    result = await one_try(plain(smtp_sink_factory(["-e"])))
    assert result.accepted == ["alice@example.test"]  # type: ignore[attr-defined]


async def test_failover_from_a_421_sink_to_a_healthy_one(
    smtp_sink_factory: SmtpSinkFactory,
) -> None:
    busy = smtp_sink_factory(["-Q", "MAIL"])
    healthy = smtp_sink_factory()
    slept: list[float] = []

    async def no_sleep(seconds: float) -> None:
        slept.append(seconds)

    sender = AsyncSender([plain(busy), plain(healthy)], retry=RetryPolicy(attempts=2))
    sender.transport._sleep = no_sleep  # type: ignore[attr-defined]
    async with sender:
        result = await sender.send(message())
    assert [a.outcome for a in result.attempts] == ["transient", "transient", "delivered"]
    assert len(slept) == 1
    assert result.relay.endswith(str(healthy.port))
