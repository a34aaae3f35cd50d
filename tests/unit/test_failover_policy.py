"""Failover policy with scripted transports: round robin, Retry-After, nesting, deadlines."""

from __future__ import annotations

from collections import Counter

import pytest

from mailsdk import (
    AsyncSender,
    DeliveryFailed,
    MemoryTransport,
    Message,
    MessageError,
    OutgoingMessage,
    PermanentError,
    RelayError,
    SendResult,
    TransientError,
    Transport,
)
from mailsdk.errors import MailError
from mailsdk.retry import RetryPolicy
from mailsdk.transports.failover import FailoverTransport, RoundRobinTransport


class Scripted(Transport):
    """Raises the scripted errors in turn, then delivers."""

    def __init__(self, name: str, *errors: MailError | None) -> None:
        self.name = name
        self.script = list(errors)
        self.seen: list[OutgoingMessage] = []

    async def send(self, outgoing: OutgoingMessage) -> SendResult:
        self.seen.append(outgoing)
        error = self.script.pop(0) if self.script else None
        if error is not None:
            raise error
        return await MemoryTransport(self.name).send(outgoing)


class Dead(Scripted):
    async def send(self, outgoing: OutgoingMessage) -> SendResult:
        self.seen.append(outgoing)
        raise TransientError("connection refused", relay=self.name)


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []
        self.now = 0.0

    async def sleep(self, seconds: float) -> None:
        self.delays.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


def outgoing() -> OutgoingMessage:
    return OutgoingMessage(
        Message(from_="a@example.com", to=["b@example.com"], subject="s", text="t")
    )


def make(
    kind: type[FailoverTransport], relays: list[Transport], sleeps: Sleeps, **policy: object
) -> FailoverTransport:
    return kind(
        relays,
        retry=RetryPolicy(jitter=0.0, **policy),  # type: ignore[arg-type]
        clock=sleeps.clock,
        sleep=sleeps.sleep,
    )


async def test_round_robin_spreads_evenly() -> None:
    relays = [Scripted(f"r{i}") for i in range(3)]
    transport = make(RoundRobinTransport, relays, Sleeps())  # type: ignore[arg-type]
    for _ in range(99):
        await transport.send(outgoing())
    assert [len(r.seen) for r in relays] == [33, 33, 33]


async def test_round_robin_routes_around_a_dead_relay() -> None:
    relays: list[Scripted] = [Scripted("a"), Dead("dead"), Scripted("c")]
    transport = make(RoundRobinTransport, relays, Sleeps(), attempts=1)  # type: ignore[arg-type]
    transport.cooldown = 1e9
    delivered = Counter()
    for _ in range(100):
        result = await transport.send(outgoing())
        delivered[result.relay] += 1
    assert sum(delivered.values()) == 100  # nothing lost
    assert len(relays[1].seen) == 1  # tried once, then left to cool down
    assert abs(delivered["a"] - delivered["c"]) <= 2


async def test_retry_after_is_honoured() -> None:
    sleeps = Sleeps()
    relay = Scripted("p", TransientError("429", code=429, retry_after=7.0))
    result = await make(FailoverTransport, [relay], sleeps).send(outgoing())
    assert sleeps.delays == [7.0]
    assert [a.outcome for a in result.attempts] == ["transient", "delivered"]


async def test_retry_after_longer_than_allowed_fails_over_instead() -> None:
    sleeps = Sleeps()
    slow = Scripted("slow", TransientError("429", code=429, retry_after=3600.0))
    other = Scripted("other")
    result = await make(FailoverTransport, [slow, other], sleeps).send(outgoing())
    assert sleeps.delays == []
    assert result.relay == "other"


@pytest.mark.parametrize(
    "error", [RelayError("auth", code=535), PermanentError("552 too big", code=552)]
)
async def test_relay_and_permanent_errors_fail_over_without_retry(error: MailError) -> None:
    sleeps = Sleeps()
    first, second = Scripted("first", error), Scripted("second")
    result = await make(FailoverTransport, [first, second], sleeps).send(outgoing())
    assert len(first.seen) == 1
    assert sleeps.delays == []
    assert result.relay == "second"


async def test_permanent_error_does_not_cool_the_relay_down() -> None:
    first = Scripted("first", PermanentError("552 too big", code=552))
    transport = make(FailoverTransport, [first, Scripted("second")], Sleeps())
    await transport.send(outgoing())
    assert [t.name for t in transport.relay_order()] == ["first", "second"]


async def test_bad_input_is_raised_at_once() -> None:
    first = Scripted("first", MessageError("bad"))
    second = Scripted("second")
    with pytest.raises(MessageError):
        await make(FailoverTransport, [first, second], Sleeps()).send(outgoing())
    assert second.seen == []


async def test_relay_specific_message_error_fails_over() -> None:
    first = Scripted("first", MessageError("needs SMTPUTF8", relay="first"))
    result = await make(FailoverTransport, [first, Scripted("second")], Sleeps()).send(outgoing())
    assert result.relay == "second"


async def test_same_message_id_and_bytes_on_every_attempt() -> None:
    first = Scripted("first", TransientError("x"), TransientError("y"), TransientError("z"))
    second = Scripted("second")
    out = outgoing()
    await make(FailoverTransport, [first, second], Sleeps()).send(out)
    seen = first.seen + second.seen
    assert {o.message_id for o in seen} == {out.message_id}
    assert {o.raw for o in seen} == {out.raw}


async def test_nested_failover_merges_attempts() -> None:
    sleeps = Sleeps()
    inner = make(FailoverTransport, [Dead("i1"), Dead("i2")], sleeps, attempts=1)
    outer = make(FailoverTransport, [inner, Scripted("backup")], sleeps, attempts=2)
    result = await outer.send(outgoing())
    assert [a.relay for a in result.attempts] == ["i1", "i2", "backup"]


async def test_exhausted_relays_raise_delivery_failed_with_cause() -> None:
    with pytest.raises(DeliveryFailed) as info:
        await make(FailoverTransport, [Dead("a")], Sleeps(), attempts=2).send(outgoing())
    assert isinstance(info.value.__cause__, TransientError)
    assert [a.relay for a in info.value.attempts] == ["a", "a"]


async def test_sender_strategy_keyword() -> None:
    sender = AsyncSender([Scripted("a"), Scripted("b")], strategy="round_robin")
    assert isinstance(sender.transport, RoundRobinTransport)
    relays = {(await sender.send(outgoing().message)).relay for _ in range(4)}
    assert relays == {"a", "b"}


def test_policy_is_validated() -> None:
    from mailsdk import ConfigurationError

    with pytest.raises(ConfigurationError):
        RetryPolicy(attempts=0)
    with pytest.raises(ConfigurationError):
        RetryPolicy(on_unknown="maybe")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        AsyncSender("memory://", strategy="random")  # type: ignore[arg-type]


def test_backoff_grows_exponentially_up_to_the_cap() -> None:
    policy = RetryPolicy(backoff=1.0, max_backoff=5.0, jitter=0.0)
    assert [policy.backoff_for(n) for n in range(1, 6)] == [1.0, 2.0, 4.0, 5.0, 5.0]
    jittery = RetryPolicy(backoff=1.0, jitter=0.5)
    assert all(1.0 <= jittery.backoff_for(1) <= 1.5 for _ in range(50))
