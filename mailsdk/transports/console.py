"""A transport that prints each message to a stream: for development."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from mailsdk.config import TransportURL, relay_name
from mailsdk.mime import OutgoingMessage
from mailsdk.result import Attempt, SendResult
from mailsdk.transports.base import Transport, check_deadline

__all__ = ["ConsoleTransport"]


class ConsoleTransport(Transport):
    """Writes the envelope and the rendered message to *stream* (standard output by default)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream
        self.name = relay_name("console")

    @classmethod
    def from_url(cls, url: TransportURL) -> ConsoleTransport:
        """``console://``: print to standard output."""
        url.check_options([])
        return cls()

    async def send(self, outgoing: OutgoingMessage, *, deadline: float | None = None) -> SendResult:
        """Print the message and report it delivered (not once *deadline* passed)."""
        check_deadline(deadline, self.name)
        start = time.perf_counter()
        out = self.stream or sys.stdout
        env = outgoing.envelope
        await outgoing.handing_over()
        out.write(f"MAIL FROM:<{env.mail_from}>\n")
        for rcpt in env.rcpt_to:
            out.write(f"RCPT TO:<{rcpt}>\n")
        out.write(outgoing.raw.decode("utf-8", errors="replace").replace("\r\n", "\n"))
        out.write("\n" + "-" * 72 + "\n")
        out.flush()
        return SendResult(
            message_id=outgoing.message_id,
            relay=self.name,
            accepted=list(env.rcpt_to),
            attempts=[Attempt(self.name, "delivered", duration=time.perf_counter() - start)],
        )
