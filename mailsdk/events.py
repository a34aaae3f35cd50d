"""Typed events about a send's attempts, for ``on_event`` callbacks (metrics, tracing, logs)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from mailsdk.errors import MailError
from mailsdk.result import Attempt, SendResult

__all__ = [
    "AttemptFailed",
    "AttemptStarted",
    "Delivered",
    "Event",
    "EventHandler",
    "Failed",
    "FailedOver",
    "Retrying",
]


@dataclass(frozen=True, slots=True)
class AttemptStarted:
    """A try at one relay begins. ``number`` counts tries at this relay, from 1."""

    message_id: str
    relay: str
    number: int
    recipients: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AttemptFailed:
    """A try failed; ``attempt`` has the class, code and server text."""

    message_id: str
    attempt: Attempt
    error: MailError


@dataclass(frozen=True, slots=True)
class Retrying:
    """The same relay will be tried again after ``delay`` seconds."""

    message_id: str
    relay: str
    number: int
    delay: float


@dataclass(frozen=True, slots=True)
class FailedOver:
    """The send moves on from ``from_relay`` to ``to_relay``."""

    message_id: str
    from_relay: str
    to_relay: str
    reason: str


@dataclass(frozen=True, slots=True)
class Delivered:
    """The send ended with at least one recipient accepted."""

    message_id: str
    result: SendResult


@dataclass(frozen=True, slots=True)
class Failed:
    """The send ended without delivering; ``error`` is what the caller receives."""

    message_id: str
    error: MailError


Event = AttemptStarted | AttemptFailed | Retrying | FailedOver | Delivered | Failed
EventHandler = Callable[[Event], Awaitable[None] | None]
"""A callback taking an Event; it may be a coroutine function."""
