"""The transport seam: one coroutine that hands a prepared message to somewhere else.

Everything between the public API and the wire goes through this cut. An SMTP relay, a
provider's HTTP API, a failover group of relays and the in-memory outbox used in tests are all
transports, so they nest freely and tests plug in at the same seam users do.
"""

from __future__ import annotations

import abc
from types import TracebackType

from mailsdk.mime import OutgoingMessage
from mailsdk.result import SendResult

__all__ = ["Transport"]


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
    async def send(self, outgoing: OutgoingMessage) -> SendResult:
        """Deliver *outgoing* or raise a :class:`~mailsdk.MailError` subclass.

        The message is never modified: every relay and every retry gets the same bytes and
        the same Message-ID.
        """

    async def aclose(self) -> None:  # noqa: B027 - a transport without connections has nothing to close
        """Close every connection this transport holds. Safe to call more than once."""

    async def __aenter__(self) -> Transport:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"
