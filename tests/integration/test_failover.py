"""Retry and failover across real relays (aiosmtpd on loopback); no test sleeps for real."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable

import pytest

from mailsdk import (
    AsyncSender,
    DeliveryFailed,
    DeliveryUnknown,
    Message,
    MessageError,
    RecipientsRefused,
)
from mailsdk.devserver import LocalRelay
from mailsdk.events import (
    AttemptFailed,
    AttemptStarted,
    Delivered,
    Event,
    Failed,
    FailedOver,
    Retrying,
)
from mailsdk.retry import RetryPolicy
from mailsdk.transports.failover import FailoverTransport
from tests.conftest import PASSWORD, USER
from tests.fake_time import FakeTime


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


def message(to: list[str] | None = None) -> Message:
    return Message(from_="app@example.com", to=to or ["alice@example.com"], subject="s", text="t")


def failover(urls: list[str], fake_time: FakeTime, **policy: object) -> FailoverTransport:
    sender = AsyncSender(urls, retry=RetryPolicy(jitter=0, **policy))  # type: ignore[arg-type]
    transport = sender.transport
    assert isinstance(transport, FailoverTransport)
    transport._clock = fake_time.clock
    transport._sleep = fake_time.sleep
    return transport


async def send(transport: FailoverTransport, msg: Message | None = None):  # type: ignore[no-untyped-def]
    from mailsdk import OutgoingMessage

    return await transport.send(OutgoingMessage(msg or message()))


@pytest.fixture
async def blackhole() -> AsyncIterator[int]:
    """A port that accepts connections and never says anything."""
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    async with server:
        yield server.sockets[0].getsockname()[1]


@pytest.fixture
def healthy(relay_factory: Callable[..., LocalRelay]) -> LocalRelay:
    return relay_factory()


def url(relay: LocalRelay) -> str:
    return relay.url(USER, PASSWORD)


async def test_primary_refusing_connections_fails_over(
    healthy: LocalRelay, fake_time: FakeTime
) -> None:
    transport = failover(["smtp://127.0.0.1:1?tls=none", url(healthy)], fake_time)
    result = await send(transport)
    assert [a.outcome for a in result.attempts] == ["transient"] * 3 + ["delivered"]
    assert fake_time.sleeps == [0.5, 1.0]  # exponential backoff, injected sleep
    assert result.relay == healthy_name(transport)
    assert len(healthy.messages) == 1


def healthy_name(transport: FailoverTransport) -> str:
    return transport.transports[-1].name


async def test_primary_answering_421_is_retried_then_failed_over(
    relay_factory: Callable[..., LocalRelay], healthy: LocalRelay, fake_time: FakeTime
) -> None:
    primary = relay_factory()
    primary.mail_reply = "421 4.3.2 Service shutting down"
    transport = failover([url(primary), url(healthy)], fake_time)
    result = await send(transport)
    assert [(a.outcome, a.code) for a in result.attempts[:3]] == [("transient", 421)] * 3
    assert result.attempts[-1].outcome == "delivered"
    assert primary.messages == []
    assert len(healthy.messages) == 1


async def test_soft_rejected_recipients_are_retried_alone_then_failed_over(
    relay_factory: Callable[..., LocalRelay], healthy: LocalRelay, fake_time: FakeTime
) -> None:
    primary = relay_factory()
    primary.rcpt_replies["bob@example.com"] = "451 4.7.1 Greylisted"
    transport = failover([url(primary), url(healthy)], fake_time)
    result = await send(transport, message(["alice@example.com", "bob@example.com"]))
    # alice was accepted by the primary once and never sent again; bob went on alone.
    assert [m.rcpt_tos for m in primary.messages] == [["alice@example.com"]]
    assert [m.rcpt_tos for m in healthy.messages] == [["bob@example.com"]]
    assert result.accepted == ["alice@example.com", "bob@example.com"]
    assert result.refused == {}
    # Both relays received the same Message-ID.
    ids = {
        m.data.split(b"Message-ID: ")[1].split(b"\r\n")[0]
        for m in primary.messages + healthy.messages
    }
    assert len(ids) == 1


async def test_hard_rejected_recipients_do_not_fail_over(
    relay_factory: Callable[..., LocalRelay], healthy: LocalRelay, fake_time: FakeTime
) -> None:
    primary = relay_factory()
    primary.rcpt_replies["nobody@example.com"] = "550 5.1.1 No such user"
    transport = failover([url(primary), url(healthy)], fake_time)
    result = await send(transport, message(["alice@example.com", "nobody@example.com"]))
    assert result.accepted == ["alice@example.com"]
    assert result.refused == {"nobody@example.com": (550, "5.1.1 No such user")}
    assert healthy.messages == []
    assert fake_time.sleeps == []


async def test_every_recipient_hard_rejected_raises_recipients_refused(
    relay_factory: Callable[..., LocalRelay], healthy: LocalRelay, fake_time: FakeTime
) -> None:
    primary = relay_factory()
    primary.rcpt_replies["nobody@example.com"] = "550 5.1.1 No such user"
    transport = failover([url(primary), url(healthy)], fake_time)
    with pytest.raises(RecipientsRefused) as info:
        await send(transport, message(["nobody@example.com"]))
    assert info.value.refused == {"nobody@example.com": (550, "5.1.1 No such user")}
    assert len(info.value.attempts) == 1
    assert healthy.messages == []


async def test_lost_after_final_dot_is_not_resent_by_default(
    relay_factory: Callable[..., LocalRelay], healthy: LocalRelay, fake_time: FakeTime
) -> None:
    primary = relay_factory()
    primary.drop_after_data = True
    transport = failover([url(primary), url(healthy)], fake_time)
    with pytest.raises(DeliveryUnknown) as info:
        await send(transport)
    assert [a.outcome for a in info.value.attempts] == ["unknown"]
    assert len(primary.messages) == 1
    assert healthy.messages == []


async def test_lost_after_final_dot_is_resent_when_at_least_once(
    relay_factory: Callable[..., LocalRelay], healthy: LocalRelay, fake_time: FakeTime
) -> None:
    primary = relay_factory()
    primary.drop_after_data = True
    transport = failover([url(primary), url(healthy)], fake_time, on_unknown="retry", attempts=3)
    result = await send(transport)
    # Once more, to the next relay: never back to the one that lost the reply.
    assert [a.outcome for a in result.attempts] == ["unknown", "delivered"]
    assert len(primary.messages) == 1
    assert len(healthy.messages) == 1
    first, last = primary.messages[0].data, healthy.messages[0].data
    assert first == last  # the same bytes, so receivers can de-duplicate on Message-ID


@pytest.mark.parametrize("relays", [1, 2, 3])
async def test_at_least_once_sends_at_most_one_more_copy(
    relay_factory: Callable[..., LocalRelay], fake_time: FakeTime, relays: int
) -> None:
    dropping = [relay_factory() for _ in range(relays)]
    for relay in dropping:
        relay.drop_after_data = True
    transport = failover([url(r) for r in dropping], fake_time, on_unknown="retry", attempts=3)
    events: list[Event] = []
    transport.on_event = events.append
    with pytest.raises(DeliveryUnknown) as info:
        await send(transport)
    failovers = [(e.from_relay, e.to_relay) for e in events if isinstance(e, FailedOver)]
    assert all(a != b for a, b in failovers)  # the only relay again is not a failover
    assert len(failovers) == (1 if relays > 1 else 0)
    assert sum(len(r.messages) for r in dropping) == 2
    assert [a.outcome for a in info.value.attempts] == ["unknown", "unknown"]
    if relays > 1:  # the second copy went to the next relay
        assert [len(r.messages) for r in dropping[:2]] == [1, 1]


async def test_at_least_once_after_a_later_failure_still_reports_unknown(
    relay_factory: Callable[..., LocalRelay], blackhole: int, fake_time: FakeTime
) -> None:
    primary = relay_factory()
    primary.drop_after_data = True
    transport = failover(
        [url(primary), f"smtp://127.0.0.1:{blackhole}?tls=none&timeout=0.2"],
        fake_time,
        on_unknown="retry",
        attempts=2,
    )
    # The first copy may have arrived: "failed" would invite the caller to send it again.
    with pytest.raises(DeliveryUnknown):
        await send(transport)
    assert len(primary.messages) == 1


async def test_primary_timing_out_respects_the_deadline(
    blackhole: int, healthy: LocalRelay, fake_time: FakeTime
) -> None:
    loop = asyncio.get_running_loop()
    transport = failover(
        [f"smtp://127.0.0.1:{blackhole}?tls=none&timeout=0.3", url(healthy)],
        fake_time,
        deadline=5.0,
    )
    started = loop.time()
    result = await send(transport)
    elapsed = loop.time() - started
    assert result.attempts[0].outcome == "transient"
    assert "timed out" in (result.attempts[0].text or "")
    assert len(healthy.messages) == 1
    assert elapsed < 5.0


async def test_deadline_stops_retries(blackhole: int, fake_time: FakeTime) -> None:
    transport = failover(
        [f"smtp://127.0.0.1:{blackhole}?tls=none&timeout=0.2"],
        fake_time,
        attempts=50,
        deadline=0.5,
        backoff=0.0,
    )
    with pytest.raises(DeliveryFailed) as info:
        await send(transport)
    assert 1 <= len(info.value.attempts) <= 4


async def test_all_relays_down_lists_every_attempt(fake_time: FakeTime) -> None:
    transport = failover(
        ["smtp://127.0.0.1:1?tls=none", "smtp://127.0.0.1:2?tls=none"], fake_time, attempts=2
    )
    with pytest.raises(DeliveryFailed) as info:
        await send(transport)
    err = info.value
    assert [a.relay for a in err.attempts] == [
        "smtp://127.0.0.1:1",
        "smtp://127.0.0.1:1",
        "smtp://127.0.0.1:2",
        "smtp://127.0.0.1:2",
    ]
    assert all(a.outcome == "transient" and a.error == "TransientError" for a in err.attempts)
    assert len(err.errors) == 2
    text = str(err)
    assert text.count("smtp://127.0.0.1:1: transient") == 2


async def test_cooldown_skips_a_dead_relay_then_probes_it(
    healthy: LocalRelay, fake_time: FakeTime
) -> None:
    transport = failover(["smtp://127.0.0.1:1?tls=none", url(healthy)], fake_time)
    transport.cooldown = 60
    first = await send(transport)
    assert len(first.attempts) == 4
    second = await send(transport)
    assert [a.outcome for a in second.attempts] == ["delivered"]  # the dead one was skipped
    fake_time.now += 61
    third = await send(transport)
    assert third.attempts[0].relay == "smtp://127.0.0.1:1"  # probed again after the cooldown


async def test_all_cooling_tries_the_one_that_recovers_first(fake_time: FakeTime) -> None:
    transport = failover(
        ["smtp://127.0.0.1:1?tls=none", "smtp://127.0.0.1:2?tls=none"], fake_time, attempts=1
    )
    transport._cooling_until = {0: fake_time.now + 50, 1: fake_time.now + 10}
    assert [t.name for t in transport.relay_order()] == [
        "smtp://127.0.0.1:2",
        "smtp://127.0.0.1:1",
    ]


async def test_events_and_logs_tell_the_story(
    healthy: LocalRelay, fake_time: FakeTime, caplog: pytest.LogCaptureFixture
) -> None:
    events: list[Event] = []
    transport = failover(["smtp://127.0.0.1:1?tls=none", url(healthy)], fake_time, attempts=2)
    transport.on_event = events.append
    with caplog.at_level(logging.DEBUG, logger="mailsdk"):
        await send(transport)
    assert [type(e) for e in events] == [
        AttemptStarted,
        AttemptFailed,
        Retrying,
        AttemptStarted,
        AttemptFailed,
        FailedOver,
        AttemptStarted,
        Delivered,
    ]
    # The first try runs before tenacity is built; its failure still counts as attempt 1,
    # so numbering and the wait after it are those of a loop run in tenacity throughout.
    assert [e.number for e in events if isinstance(e, AttemptStarted)] == [1, 2, 1]
    [retrying] = [e for e in events if isinstance(e, Retrying)]
    assert (retrying.number, retrying.relay) == (1, "smtp://127.0.0.1:1")
    assert retrying.delay == RetryPolicy(jitter=0, attempts=2).delay_for(1, None)
    assert fake_time.sleeps == [retrying.delay]
    assert "failing over from smtp://127.0.0.1:1" in caplog.text
    assert PASSWORD not in caplog.text


async def test_failed_event_and_async_callback(fake_time: FakeTime) -> None:
    seen: list[Event] = []

    async def collect(event: Event) -> None:
        seen.append(event)

    transport = failover(["smtp://127.0.0.1:1?tls=none"], fake_time, attempts=1)
    transport.on_event = collect
    with pytest.raises(DeliveryFailed):
        await send(transport)
    assert isinstance(seen[-1], Failed)


async def test_a_message_no_relay_can_take_is_the_callers_error(
    relay_factory: Callable[..., LocalRelay], fake_time: FakeTime
) -> None:
    ascii_only = [relay_factory(smtputf8=False) for _ in range(2)]
    transport = failover([url(r) for r in ascii_only], fake_time)
    with pytest.raises(MessageError, match="SMTPUTF8") as info:
        await send(transport, message(["josé@example.com"]))
    assert not isinstance(info.value, DeliveryFailed)
    assert len(info.value.attempts) == 2  # each relay was asked once, none retried
    assert all(r.messages == [] for r in ascii_only)


async def test_a_relay_offering_smtputf8_takes_what_another_cannot(
    relay_factory: Callable[..., LocalRelay], healthy: LocalRelay, fake_time: FakeTime
) -> None:
    transport = failover([url(relay_factory(smtputf8=False)), url(healthy)], fake_time)
    result = await send(transport, message(["josé@example.com"]))
    assert result.accepted == ["josé@example.com"]


async def test_smtputf8_refusal_next_to_a_relay_that_was_down_is_a_delivery_failure(
    relay_factory: Callable[..., LocalRelay], blackhole: int, fake_time: FakeTime
) -> None:
    # The relay that was down might take it later: that is not the caller's error.
    down = f"smtp://127.0.0.1:{blackhole}?tls=none&timeout=0.2"
    transport = failover([url(relay_factory(smtputf8=False)), down], fake_time, attempts=1)
    with pytest.raises(DeliveryFailed):
        await send(transport, message(["josé@example.com"]))
