"""The transport seam: one coroutine that hands a prepared message to somewhere else.

Everything between the public API and the wire goes through this cut. An SMTP relay, a
provider's HTTP API, a failover group of relays and the in-memory outbox used in tests are all
transports, so they nest freely and tests plug in at the same seam users do.
"""

from __future__ import annotations

import abc
import functools
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any

from mailsdk.errors import TransientError
from mailsdk.mime import OutgoingMessage
from mailsdk.result import SendResult

__all__ = ["Transport", "check_deadline", "time_left"]


def time_left(deadline: float | None, default: float) -> float:
    """*default* seconds, or less if *deadline* (a ``time.monotonic()`` value) is nearer;
    0 once it passed."""
    if deadline is None:
        return default
    return max(0.0, min(default, deadline - time.monotonic()))


def _deadline_checked(
    send: Callable[[Any, OutgoingMessage], Awaitable[SendResult]],
) -> Callable[..., Awaitable[SendResult]]:
    """A ``send(outgoing)`` written before ``deadline=`` existed, taking it: such a transport
    keeps working where the deadline is passed, and is not started once it has passed."""

    @functools.wraps(send)
    async def checked(
        self: Transport, outgoing: OutgoingMessage, *, deadline: float | None = None
    ) -> SendResult:
        check_deadline(deadline, self.name)
        return await send(self, outgoing)

    return checked


def check_deadline(deadline: float | None, relay: str) -> None:
    """Raise TransientError when the send's *deadline* has passed (before any I/O)."""
    if deadline is not None and time.monotonic() >= deadline:
        raise TransientError("the send's deadline passed before this relay", relay=relay)


class Transport(abc.ABC):
    """Delivers :class:`~mailsdk.mime.OutgoingMessage` values; owns its connections.

    Subclasses implement :meth:`send` and, when they hold connections, :meth:`aclose`.
    ``name`` is the display name used in results, logs and errors: it never contains a
    secret.
    """

    name: str = "transport"
    carries_signature: bool = True
    """True when the relay hands over the rendered bytes unchanged, so a DKIM signature the
    sender made arrives intact; False for APIs that take fields and render again."""

    @abc.abstractmethod
    async def send(self, outgoing: OutgoingMessage, *, deadline: float | None = None) -> SendResult:
        """Deliver *outgoing* or raise a :class:`~mailsdk.MailError` subclass.

        The message is never modified: every relay and every retry gets the same bytes and
        the same Message-ID. *deadline* is a ``time.monotonic()`` value by which the send
        must have ended (None: only the transport's own timeouts); a transport bounds its
        waits by it and raises TransientError, before any I/O, once it has passed.
        Wrappers pass it on unchanged (or nearer).
        """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        send = cls.__dict__.get("send")
        if callable(send) and "deadline" not in inspect.signature(send).parameters:
            cls.send = _deadline_checked(send)  # type: ignore[method-assign,assignment]

    async def aclose(self) -> None:  # noqa: B027 - a transport without connections has nothing to close
        """Close every connection this transport holds. Safe to call more than once."""

    async def __aenter__(self) -> Transport:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"
