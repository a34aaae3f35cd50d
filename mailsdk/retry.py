"""RetryPolicy: how often, how patiently and how long one send may try each relay."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

__all__ = ["RetryPolicy"]


@dataclass(frozen=True)
class RetryPolicy:
    """Retry rules for one ``send``, applied to each relay in turn.

    Args:
        attempts: tries per relay, the first included (1 disables retries).
        backoff: the first delay in seconds; each later delay doubles, up to ``max_backoff``.
        max_backoff: the longest delay between two tries.
        jitter: up to this many seconds are added at random to each delay, so many senders
            that failed together do not retry together.
        deadline: seconds the whole send may take across all relays; no new try or wait
            starts after it, and every wait inside a try (connection, handshake, each reply
            and write) ends when it passes. Passing it while waiting for the reply after the
            final dot ends the send with DeliveryUnknown.
        max_retry_after: the longest server-requested delay (HTTP Retry-After) honoured; a
            relay asking for more is failed over instead of waited for.
        on_unknown: what to do when the connection is lost after the message was handed over
            (:class:`~mailsdk.DeliveryUnknown`): ``"fail"`` raises it (at-most-once, the
            default); ``"retry"`` sends it once more, to the next relay, accepting a possible
            duplicate (at-least-once, at most two copies; receivers can de-duplicate on the
            unchanged Message-ID).
    """

    attempts: int = 3
    backoff: float = 0.5
    max_backoff: float = 30.0
    jitter: float = 0.5
    deadline: float | None = 120.0
    max_retry_after: float = 60.0
    on_unknown: Literal["fail", "retry"] = "fail"

    def __post_init__(self) -> None:
        from mailsdk.config import ConfigurationError

        if self.attempts < 1:
            raise ConfigurationError("RetryPolicy.attempts must be at least 1")
        if self.on_unknown not in ("fail", "retry"):
            raise ConfigurationError('RetryPolicy.on_unknown must be "fail" or "retry"')
        if self.deadline is not None and self.deadline <= 0:
            raise ConfigurationError("RetryPolicy.deadline must be positive")
        for name in ("backoff", "max_backoff", "jitter", "max_retry_after"):
            if getattr(self, name) < 0:
                raise ConfigurationError(f"RetryPolicy.{name} must not be negative")

    def backoff_for(self, failures: int) -> float:
        """The exponential backoff with jitter after *failures* failed tries (1, 2, …)."""
        exponential: float = self.backoff * 2.0 ** max(0, failures - 1)
        return min(self.max_backoff, exponential) + random.uniform(0, self.jitter)  # noqa: S311

    def delay_for(self, failures: int, retry_after: float | None) -> float:
        """The wait after *failures* failed tries: the backoff, or longer if the server
        asked (Retry-After, capped by ``max_retry_after``)."""
        base = self.backoff_for(failures)
        if retry_after is not None:
            return max(base, min(retry_after, self.max_retry_after))
        return base


NO_RETRY = RetryPolicy(attempts=1, backoff=0.0, jitter=0.0)
"""Try each relay once."""
