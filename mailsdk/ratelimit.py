"""Per-relay rate limits: a token bucket shared by every send through one relay in a process.

``smtp://relay.example.com:587?rate=20/s`` (or ``RateLimitedTransport(transport,
rate_limit="20/s")``) lets at most 20 messages a second through that relay, in bursts of at
most ``burst``. Every transport for the same relay name in the process shares one bucket, so
two senders (or an outbox worker and a web process's sender) do not each take the full rate.
When the relay answers 421 (SMTP) or 429 (HTTP), the bucket pauses for the server's
Retry-After (or one token's time), halves its rate, and climbs back to the configured rate
over ``recovery`` seconds: the relay said we were too fast.
"""

from __future__ import annotations

import asyncio
import math
import re
import threading
import time
from collections.abc import Awaitable, Callable

from mailsdk.errors import ConfigurationError, TransientError
from mailsdk.mime import OutgoingMessage
from mailsdk.result import SendResult
from mailsdk.transports.base import Transport, time_left

__all__ = ["RateLimitedTransport", "TokenBucket", "parse_rate"]

_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:/\s*(s|sec|second|m|min|minute|h|hour))?\s*$")
_PER = {"s": 1.0, "sec": 1.0, "second": 1.0, "m": 60.0, "min": 60.0, "minute": 60.0}
_PER.update({"h": 3600.0, "hour": 3600.0})
_SLOW_DOWN_CODES = (421, 429)


def parse_rate(value: str | float) -> float:
    """Messages per second from ``"20/s"``, ``"600/min"``, ``"5000/h"`` or a number."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        rate = float(value)
    else:
        match = _RATE.match(str(value))
        if match is None:
            raise ConfigurationError(
                f"rate {value!r} is not a rate; write e.g. 20/s, 600/min or 5000/h"
            )
        rate = float(match.group(1)) / _PER[match.group(2) or "s"]
    if rate <= 0:
        raise ConfigurationError("a rate limit must be positive")
    return rate


class TokenBucket:
    """Tokens refill at ``rate`` per second up to ``burst``; each send takes one.

    ``clock`` (monotonic seconds) and ``sleep`` are injectable so tests never wait.
    Thread-safe: senders on different event-loop threads may share one bucket.
    """

    def __init__(
        self,
        rate: float,
        burst: float | None = None,
        *,
        recovery: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.rate = rate
        self.burst = max(1.0, burst if burst is not None else rate)
        self.recovery = recovery
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = self.burst
        self._stamp = clock()
        self._paused_until = 0.0
        self._reduced: float | None = None
        self._slowed_at = 0.0

    def current_rate(self) -> float:
        """The rate now: the configured one, or less while recovering from a slow-down."""
        return self._rate_at(self._clock())

    def _rate_at(self, now: float) -> float:
        if self._reduced is None:
            return self.rate
        climbed = self._reduced + (now - self._slowed_at) * (self.rate - self._reduced) / max(
            self.recovery, 1e-9
        )
        if climbed >= self.rate:
            self._reduced = None
            return self.rate
        return climbed

    def _take(self) -> float:
        """Take a token and return 0, or return how long to wait for one."""
        with self._lock:
            now = self._clock()
            if now < self._paused_until:
                return self._paused_until - now
            rate = self._rate_at(now)
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * rate)
            self._stamp = now
            if self._tokens >= 1.0 - 1e-9:  # rounding must not leave a sub-nanosecond wait
                self._tokens = max(0.0, self._tokens - 1.0)
                return 0.0
            return (1.0 - self._tokens) / rate

    async def acquire(self) -> None:
        """Wait until a send may start."""
        while (wait := self._take()) > 0:
            await self._sleep(wait)

    def slow_down(self, retry_after: float | None = None) -> None:
        """The relay said "too fast": pause, then continue at half the current rate."""
        with self._lock:
            now = self._clock()
            rate = self._rate_at(now)
            self._reduced = max(rate / 2.0, self.rate / 64.0)
            self._slowed_at = now
            self._tokens = 0.0
            self._stamp = now
            pause = retry_after if retry_after is not None else 1.0 / self._reduced
            self._paused_until = max(self._paused_until, now + pause)


_buckets: dict[str, TokenBucket] = {}
_buckets_lock = threading.Lock()


def shared_bucket(relay: str, rate: float, burst: float | None = None) -> TokenBucket:
    """The process-wide bucket for *relay* (created at *rate* on first use; a later,
    different rate replaces the configured rate, keeping the tokens)."""
    with _buckets_lock:
        bucket = _buckets.get(relay)
        if bucket is None:
            bucket = _buckets[relay] = TokenBucket(rate, burst)
        elif bucket.rate != rate:
            bucket.rate = rate
            bucket.burst = max(1.0, burst if burst is not None else rate)
        return bucket


class RateLimitedTransport(Transport):
    """Wraps one relay's transport so that sends through it respect a rate limit.

    Args:
        transport: the relay.
        rate_limit: ``"20/s"``, ``"600/min"``, ``"5000/h"`` or messages per second.
        burst: how many sends may start at once after a quiet spell (default: one second's
            worth).
        bucket: a TokenBucket to use instead of the process-wide one for this relay (tests
            inject one with a fake clock).
    """

    def __init__(
        self,
        transport: Transport,
        rate_limit: str | float,
        *,
        burst: float | None = None,
        bucket: TokenBucket | None = None,
    ) -> None:
        self.transport = transport
        self.name = transport.name
        rate = parse_rate(rate_limit)
        self.bucket = bucket or shared_bucket(transport.name, rate, burst)

    async def send(self, outgoing: OutgoingMessage, *, deadline: float | None = None) -> SendResult:
        """Wait for a token, send, and slow the relay's bucket down on 421/429.

        Waiting for a token counts against *deadline*: none left raises TransientError."""
        wait = time_left(deadline, math.inf)
        if deadline is None:
            await self.bucket.acquire()
        else:
            try:
                await asyncio.wait_for(self.bucket.acquire(), wait)
            except asyncio.TimeoutError:
                raise TransientError(
                    "the send's deadline passed waiting for the rate limit", relay=self.name
                ) from None
        try:
            return await self.transport.send(outgoing, deadline=deadline)
        except TransientError as exc:
            if exc.code in _SLOW_DOWN_CODES:
                self.bucket.slow_down(exc.retry_after)
            raise

    async def aclose(self) -> None:
        """Close the wrapped transport."""
        await self.transport.aclose()

    def __repr__(self) -> str:
        return f"RateLimitedTransport({self.name!r}, {self.bucket.rate:g}/s)"
