"""A transport that keeps every message in a list: for tests and development."""

from __future__ import annotations

import time

from mailsdk.config import TransportURL
from mailsdk.mime import OutgoingMessage
from mailsdk.result import Attempt, SendResult
from mailsdk.transports.base import Transport, check_deadline

__all__ = ["MemoryTransport"]


class MemoryTransport(Transport):
    """Accepts every message and appends it to :attr:`outbox`.

    Each entry is the :class:`~mailsdk.mime.OutgoingMessage` that was sent, so a test can look
    at the :class:`~mailsdk.Message`, its envelope, its Message-ID and its rendered bytes.
    """

    def __init__(self, name: str = "memory://") -> None:
        self.name = name
        self.outbox: list[OutgoingMessage] = []

    @classmethod
    def from_url(cls, url: TransportURL) -> MemoryTransport:
        """``memory://`` (or ``memory://NAME`` to tell several apart)."""
        url.check_options([])
        return cls(url.display())

    async def send(self, outgoing: OutgoingMessage, *, deadline: float | None = None) -> SendResult:
        """Record *outgoing* as delivered to every recipient (not once *deadline* passed)."""
        check_deadline(deadline, self.name)
        start = time.perf_counter()
        outgoing.raw  # noqa: B018 - render now, so a message that cannot render fails here too
        await outgoing.handing_over()
        self.outbox.append(outgoing)
        return SendResult(
            message_id=outgoing.message_id,
            relay=self.name,
            accepted=list(outgoing.envelope.rcpt_to),
            attempts=[
                Attempt(self.name, "delivered", duration=time.perf_counter() - start),
            ],
        )

    def clear(self) -> None:
        """Forget every recorded message."""
        self.outbox.clear()
