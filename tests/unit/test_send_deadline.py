"""The send's deadline travels beside the message (``Transport.send(..., deadline=)``), never on
it, through every wrapper to the relay, and every transport honours it."""

from __future__ import annotations

import asyncio
import io
import time
from pathlib import Path

import pytest

from mailsdk import (
    ConsoleTransport,
    FailoverTransport,
    FileTransport,
    MemoryTransport,
    Message,
    RateLimitedTransport,
    RetryPolicy,
    SendResult,
    TokenBucket,
    TransientError,
    Transport,
)
from mailsdk.controls import ControlledTransport
from mailsdk.mime import OutgoingMessage
from mailsdk.sender import _SigningTransport
from mailsdk.suppressions import SuppressingTransport, Suppressions

PASSED = 0.0  # time.monotonic() is always past it


def outgoing() -> OutgoingMessage:
    return OutgoingMessage(
        Message(from_="a@example.com", to=["b@example.com"], subject="s", text="t")
    )


class Recording(Transport):
    """Delivers, and keeps the deadline each send was given."""

    def __init__(self, name: str = "recording") -> None:
        self.name = name
        self.deadlines: list[float | None] = []

    async def send(self, outgoing: OutgoingMessage, *, deadline: float | None = None) -> SendResult:
        self.deadlines.append(deadline)
        return await MemoryTransport(self.name).send(outgoing)


class Legacy(Transport):
    """A transport written before ``deadline=`` existed."""

    name = "legacy"

    def __init__(self) -> None:
        self.sent = 0

    async def send(self, outgoing: OutgoingMessage) -> SendResult:  # type: ignore[override]
        self.sent += 1
        return await MemoryTransport(self.name).send(outgoing)


def test_the_message_carries_no_deadline() -> None:
    assert not hasattr(outgoing(), "deadline")
    assert "deadline" not in OutgoingMessage.__slots__


@pytest.mark.parametrize(
    "make",
    [
        lambda tmp: MemoryTransport(),
        lambda tmp: FileTransport(tmp),
        lambda tmp: ConsoleTransport(stream=io.StringIO()),
    ],
    ids=["memory", "file", "console"],
)
async def test_local_transports_refuse_a_passed_deadline_and_send_within_one(
    make: object, tmp_path: Path
) -> None:
    transport: Transport = make(tmp_path)  # type: ignore[operator]
    with pytest.raises(TransientError, match="deadline passed") as caught:
        await transport.send(outgoing(), deadline=PASSED)
    assert caught.value.relay == transport.name
    assert not any(tmp_path.iterdir())  # noqa: ASYNC240 - a tmp folder, listed once
    if isinstance(transport, MemoryTransport):
        assert transport.outbox == []
    result = await transport.send(outgoing(), deadline=time.monotonic() + 60)
    assert result.accepted == ["b@example.com"]


async def test_failover_passes_the_nearer_of_its_own_and_the_callers_deadline() -> None:
    relay = Recording()
    failover = FailoverTransport([relay], retry=RetryPolicy(deadline=30.0))
    before = time.monotonic()
    await failover.send(outgoing())
    own = relay.deadlines[-1]
    assert own is not None
    assert before + 30.0 <= own <= time.monotonic() + 30.0
    nearer = time.monotonic() + 5.0
    await failover.send(outgoing(), deadline=nearer)
    assert relay.deadlines[-1] == nearer
    later = time.monotonic() + 500.0
    await failover.send(outgoing(), deadline=later)
    capped = relay.deadlines[-1]
    assert capped is not None
    assert capped < later


async def test_failover_without_a_policy_deadline_passes_the_callers() -> None:
    relay = Recording()
    failover = FailoverTransport([relay], retry=RetryPolicy(deadline=None))
    await failover.send(outgoing())
    await failover.send(outgoing(), deadline=1234.5)
    assert relay.deadlines == [None, 1234.5]


async def test_wrappers_pass_the_deadline_on_unchanged(tmp_path: Path) -> None:
    relay = Recording()
    with Suppressions(tmp_path / "s.sqlite3") as suppressions:
        wrapped: Transport = SuppressingTransport(
            _SigningTransport(
                ControlledTransport(
                    RateLimitedTransport(relay, "100/s", bucket=TokenBucket(100.0)),
                    allowed_recipients=["*@example.com"],
                ),
                signer=None,  # type: ignore[arg-type]
                signed=frozenset(),
            ),
            suppressions,
        )
        when = time.monotonic() + 42.0
        await wrapped.send(outgoing(), deadline=when)
        await wrapped.send(outgoing())
    assert relay.deadlines == [when, None]


async def test_waiting_for_the_rate_limit_counts_against_the_deadline() -> None:
    relay = Recording()

    async def never(seconds: float) -> None:
        await asyncio.sleep(3600)

    bucket = TokenBucket(1.0, burst=1.0, sleep=never)
    limited = RateLimitedTransport(relay, "1/s", bucket=bucket)
    await limited.send(outgoing(), deadline=time.monotonic() + 60)  # the one token
    with pytest.raises(TransientError, match="deadline passed waiting for the rate limit"):
        await limited.send(outgoing(), deadline=time.monotonic() + 0.01)
    assert len(relay.deadlines) == 1


async def test_a_transport_written_without_deadline_still_works_and_honours_it() -> None:
    legacy = Legacy()
    failover = FailoverTransport([legacy], retry=RetryPolicy(deadline=30.0))
    result = await failover.send(outgoing())
    assert result.accepted == ["b@example.com"]
    with pytest.raises(TransientError, match="deadline passed"):
        await legacy.send(outgoing(), deadline=PASSED)
    assert legacy.sent == 1
