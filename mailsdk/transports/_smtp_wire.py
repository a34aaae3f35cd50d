"""The SMTP mail-transaction wire: pipelined commands and replies on an established session.

aiosmtplib opens the session (connect, TLS, EHLO, STARTTLS, AUTH). For the transaction itself
its protocol object reads one reply per awaited command and drops bytes that arrive while no
command is pending, so replies to pipelined commands (RFC 2920) would be lost. After the
handshake the transport is therefore handed to :class:`Wire`, which keeps every byte,
parses any number of replies, and writes large messages in slices under flow control.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import NamedTuple

__all__ = ["Reply", "Wire", "WireLost", "WireTimeout"]

_WRITE_SLICE = 1 << 20
_MAX_REPLY = 1 << 16


class Reply(NamedTuple):
    """One SMTP reply: its code and its text (lines of a multi-line reply joined by \\n)."""

    code: int
    text: str


class WireLost(ConnectionError):
    """The connection closed or failed."""


class WireTimeout(TimeoutError):
    """No reply came in time."""


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(WireTimeout("timed out waiting for the server's reply"))


class Wire(asyncio.Protocol):
    """Takes over an asyncio transport and speaks the mail transaction on it."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._loop = asyncio.get_running_loop()
        self._buffer = bytearray()
        self._lines: list[str] = []
        self._replies: deque[Reply] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._writable: asyncio.Future[None] | None = None
        self._lost: BaseException | None = None
        transport.set_protocol(self)

    @property
    def is_open(self) -> bool:
        """True while the connection can carry a command."""
        return self._lost is None and not self._transport.is_closing()

    # asyncio.Protocol -------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while True:
            end = self._buffer.find(b"\n")
            if end < 0:
                if len(self._buffer) > _MAX_REPLY:
                    self._fail(WireLost("reply line too long"))
                return
            line = bytes(self._buffer[: end + 1]).rstrip(b"\r\n")
            del self._buffer[: end + 1]
            try:
                code = int(line[:3])
            except ValueError:
                self._fail(WireLost(f"malformed reply {line[:40]!r}"))
                return
            self._lines.append(line[4:].decode("utf-8", "replace"))
            if line[3:4] != b"-":
                self._replies.append(Reply(code, "\n".join(self._lines)))
                self._lines = []
                self._wake()

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = exc or WireLost("connection closed by the server")
        self._wake()
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)

    def eof_received(self) -> bool:
        self._lost = WireLost("connection closed by the server")
        self._wake()
        return False

    def pause_writing(self) -> None:
        if self._writable is None or self._writable.done():
            self._writable = self._loop.create_future()

    def resume_writing(self) -> None:
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)

    # API -------------------------------------------------------------------------------

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _fail(self, exc: BaseException) -> None:
        self._lost = exc
        self._transport.abort()
        self._wake()

    def write(self, data: bytes) -> None:
        """Queue *data* for sending."""
        if not self.is_open:
            raise WireLost(str(self._lost or "connection closed"))
        self._transport.write(data)

    async def write_large(self, data: bytes) -> None:
        """Send *data* in slices, waiting while the transport's buffer is full, so that a
        large message is not copied whole into the transport's buffer."""
        view = memoryview(data)
        for start in range(0, len(view), _WRITE_SLICE):
            self.write(view[start : start + _WRITE_SLICE])  # type: ignore[arg-type]
            if self._writable is not None and not self._writable.done():
                await self._writable
        if not self.is_open:
            raise WireLost(str(self._lost or "connection closed"))

    async def read(self, timeout: float | None) -> Reply:
        """The next reply, in order. Raises WireLost or WireTimeout."""
        while not self._replies:
            if self._lost is not None:
                raise WireLost(str(self._lost) or type(self._lost).__name__)
            waiter = self._waiter = self._loop.create_future()
            # A timer on the waiter rather than asyncio.wait_for: this runs a few times per
            # message, and wait_for's extra task costs more than the rest of the read.
            timer = self._loop.call_later(timeout, _expire, waiter) if timeout is not None else None
            try:
                await waiter
            finally:
                if timer is not None:
                    timer.cancel()
        return self._replies.popleft()

    async def command(self, line: bytes, timeout: float | None) -> Reply:
        """Send one command line (CRLF added) and read its reply."""
        self.write(line + b"\r\n")
        return await self.read(timeout)

    def close(self) -> None:
        """Close the connection without a QUIT."""
        self._transport.close()
