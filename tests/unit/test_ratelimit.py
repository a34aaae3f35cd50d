"""Per-relay rate limits: parsing, the token bucket on a fake clock, 421/429 slow-down, sharing."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from mailsdk import (
    ConfigurationError,
    MemoryTransport,
    Message,
    Outbox,
    RateLimitedTransport,
    SendResult,
    TokenBucket,
    TransientError,
    Transport,
)
from mailsdk.config import transport_from_url
from mailsdk.mime import OutgoingMessage
from mailsdk.ratelimit import parse_rate
from tests.fake_time import FakeTime


@pytest.mark.parametrize(
    ("text", "rate"),
    [("20/s", 20.0), ("600/min", 10.0), ("7200/h", 2.0), ("5", 5.0), (" 0.5 / s ", 0.5), (3, 3.0)],
)
def test_parse_rate(text: str | float, rate: float) -> None:
    assert parse_rate(text) == rate


@pytest.mark.parametrize("text", ["fast", "20/day", "0/s", "-1", ""])
def test_parse_rate_refuses_nonsense(text: str) -> None:
    with pytest.raises(ConfigurationError):
        parse_rate(text)


async def test_the_bucket_allows_a_burst_then_the_rate() -> None:
    t = FakeTime()
    bucket = TokenBucket(20.0, clock=t, sleep=t.sleep)
    start = t.now
    for _ in range(20):
        await bucket.acquire()
    assert t.now == start  # one second's worth at once
    for _ in range(100):
        await bucket.acquire()
    assert t.now - start == pytest.approx(5.0)


async def test_a_slow_down_pauses_halves_and_recovers() -> None:
    t = FakeTime()
    bucket = TokenBucket(10.0, burst=1, recovery=60.0, clock=t, sleep=t.sleep)
    await bucket.acquire()
    bucket.slow_down(retry_after=30.0)
    assert bucket.current_rate() == pytest.approx(5.0)
    before = t.now
    await bucket.acquire()
    assert t.now - before == pytest.approx(30.0)  # Retry-After honoured
    assert 5.0 < bucket.current_rate() < 10.0  # climbing back
    t.now += 60.0
    assert bucket.current_rate() == 10.0


class Busy(Transport):
    name = "smtp://busy.example.com:587"

    def __init__(self, code: int, retry_after: float | None = None) -> None:
        self.code = code
        self.retry_after = retry_after

    async def send(self, outgoing: OutgoingMessage) -> SendResult:
        raise TransientError("too fast", code=self.code, retry_after=self.retry_after)


@pytest.mark.parametrize("code", [421, 429])
async def test_421_and_429_slow_the_relay_down(code: int) -> None:
    t = FakeTime()
    bucket = TokenBucket(10.0, clock=t, sleep=t.sleep)
    limited = RateLimitedTransport(Busy(code, retry_after=12.0), "10/s", bucket=bucket)
    msg = OutgoingMessage(Message(from_="a@example.com", to=["b@example.com"], text="x"))
    with pytest.raises(TransientError):
        await limited.send(msg)
    assert bucket.current_rate() == pytest.approx(5.0)
    before = t.now
    await bucket.acquire()
    assert t.now - before == pytest.approx(12.0)


async def test_other_transient_errors_do_not_slow_down() -> None:
    t = FakeTime()
    bucket = TokenBucket(10.0, clock=t, sleep=t.sleep)
    limited = RateLimitedTransport(Busy(451), "10/s", bucket=bucket)
    msg = OutgoingMessage(Message(from_="a@example.com", to=["b@example.com"], text="x"))
    with pytest.raises(TransientError):
        await limited.send(msg)
    assert bucket.current_rate() == 10.0


def test_the_url_option_wraps_the_relay_and_shares_its_bucket() -> None:
    one = transport_from_url("smtp://127.0.0.1:2525?tls=none&rate=20/s")
    two = transport_from_url("smtp://127.0.0.1:2525?tls=none&rate=20/s&timeout=5")
    assert isinstance(one, RateLimitedTransport)
    assert isinstance(two, RateLimitedTransport)
    assert one.name == "smtp://127.0.0.1:2525"
    assert one.bucket is two.bucket
    assert one.bucket.rate == 20.0
    with pytest.raises(ConfigurationError, match="rate"):
        transport_from_url("smtp://127.0.0.1:2525?tls=none&rate=lots")


async def test_the_outbox_worker_honours_the_rate(tmp_path: Path) -> None:
    t = FakeTime()
    memory = MemoryTransport()
    limited = RateLimitedTransport(memory, "5/s", bucket=TokenBucket(5.0, clock=t, sleep=t.sleep))
    outbox = Outbox(tmp_path / "o.sqlite3", clock=lambda: datetime.now(timezone.utc))
    outbox.enqueue_many(
        [Message(from_="a@example.com", to=["b@example.com"], text=str(n)) for n in range(25)]
    )
    start = t.now
    stats = await outbox.arun(limited, concurrency=16, poll_interval=0.01)
    assert stats.sent == 25
    assert len(memory.outbox) == 25
    assert t.now - start == pytest.approx(4.0)  # 5 at once, then 20 more at 5/s
