"""The SMTP mail-transaction wire: pipelined commands and replies on an established session.

aiosmtplib opens the session (connect, TLS, EHLO, STARTTLS, AUTH). For the transaction itself
its protocol object reads one reply per awaited command and drops bytes that arrive while no
command is pending, so replies to pipelined commands (RFC 2920) would be lost. After the
handshake the transport is therefore handed to :class:`Wire`, which keeps every byte,
parses any number of replies, and writes large messages in slices under flow control.

Everything the relay sends is bounded, as MTAs bound it: a reply line may be
:data:`MAX_LINE` octets (RFC 5321 4.5.3.1.5 allows 512; servers exceed that a little), a reply
:data:`MAX_REPLY_LINES` lines and :data:`MAX_REPLY_BYTES` octets; a relay that sends more is
misbehaving and the connection is dropped. A read waits at most until its own end time, however
slowly the relay trickles bytes, and a write under flow control waits no longer.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import NamedTuple

__all__ = [
    "MAX_LINE",
    "MAX_REPLY_BYTES",
    "MAX_REPLY_LINES",
    "Reply",
    "Wire",
    "WireLost",
    "WireTimeout",
]

_WRITE_SLICE = 1 << 20
MAX_LINE = 2048
"""The longest reply line accepted (RFC 5321 says 512 octets; some servers send more)."""
MAX_REPLY_LINES = 200
"""The most lines one (multi-line) reply may have."""
MAX_REPLY_BYTES = 64 * 1024
"""The most octets one reply may have, all lines together."""
# Distinct one-line replies a connection keeps for reuse (see Wire._known); replies that
# carry a queue id or an address are each new, so the first few fill it and the rest are
# parsed as before.
_KNOWN_REPLIES = 16


class Reply(NamedTuple):
    """One SMTP reply: its code and its text (lines of a multi-line reply joined by \\n)."""

    code: int
    text: str


class WireLost(ConnectionError):
    """The connection closed or failed.

    ``reset`` is true when the relay's side reset the connection (TCP RST, a broken pipe)
    rather than closing it in order: a host that closes a connection with received data still
    unread resets it (RFC 1122 4.2.2.13), so the relay did not read everything we sent.
    """

    def __init__(self, text: str, *, reset: bool = False, unsent: int = 0) -> None:
        super().__init__(text)
        self.reset = reset
        self.unsent = unsent
        """Bytes we had written that were still in our buffer when the relay closed."""

    @property
    def unread(self) -> bool:
        """True when the relay cannot have read everything we wrote: it reset the connection,
        or our last bytes never left this process."""
        return self.reset or self.unsent > 0

    def again(self) -> WireLost:
        """A fresh copy to raise (raising one object again grows its traceback)."""
        return WireLost(str(self), reset=self.reset, unsent=self.unsent)


class WireTimeout(TimeoutError):
    """No reply came in time (or the relay stopped reading what we write)."""


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(WireTimeout("timed out waiting for the server's reply"))


def _is_reset(exc: BaseException | None) -> bool:
    return isinstance(exc, (ConnectionResetError, BrokenPipeError, ConnectionAbortedError))


class Wire(asyncio.Protocol):
    """Takes over an asyncio transport and speaks the mail transaction on it."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._loop = asyncio.get_running_loop()
        self._buffer = bytearray()
        self._lines: list[str] = []
        self._reply_bytes = 0
        self._replies: deque[Reply] = deque()
        # One-line replies seen before, by their bytes: a relay answers most RCPTs with the
        # same line, and a Reply is immutable, so one object serves them all.
        self._known: dict[bytes, Reply] = {}
        self._waiter: asyncio.Future[None] | None = None
        self._writable: asyncio.Future[None] | None = None
        self._lost: WireLost | None = None
        self.deadline: float | None = None
        """A loop-clock time no read or write of this wire waits past (the send's deadline)."""
        transport.set_protocol(self)

    @property
    def is_open(self) -> bool:
        """True while the connection can carry a command."""
        return self._lost is None and not self._transport.is_closing()

    @property
    def lost(self) -> WireLost | None:
        """Why the connection ended, once it has."""
        return self._lost

    def unsent(self) -> int:
        """Bytes written but still in our transport's buffer, not yet handed to the kernel."""
        return self._transport.get_write_buffer_size()

    # asyncio.Protocol -------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self._lost is not None:
            return
        buffer = self._buffer
        buffer += data
        last = buffer.rfind(b"\n")
        if last < 0:
            if len(buffer) > MAX_LINE:
                self._fail(WireLost(f"reply line longer than {MAX_LINE} octets"))
            return
        # Every complete line at once: a pipelined batch brings one reply per recipient.
        complete = bytes(buffer[: last + 1])
        del buffer[: last + 1]
        replies = self._replies
        woken = len(replies)
        for raw in complete.split(b"\n")[:-1]:
            if len(raw) >= MAX_LINE:
                self._fail(WireLost(f"reply line longer than {MAX_LINE} octets"))
                return
            line = raw.rstrip(b"\r")
            if not self._lines:
                known = self._known.get(line)
                if known is not None:
                    replies.append(known)
                    continue
            try:
                code = int(line[:3])
            except ValueError:
                self._fail(WireLost(f"malformed reply {line[:40]!r}"))
                return
            if line[3:4] != b"-" and not self._lines:
                # A one-line reply (every reply to a pipelined RCPT, as a rule): no joining.
                reply = Reply(code, line[4:].decode("utf-8", "replace"))
                if len(self._known) < _KNOWN_REPLIES:
                    self._known[line] = reply
                replies.append(reply)
                continue
            self._lines.append(line[4:].decode("utf-8", "replace"))
            self._reply_bytes += len(line)
            if line[3:4] != b"-":
                replies.append(Reply(code, "\n".join(self._lines)))
                self._lines = []
                self._reply_bytes = 0
            elif len(self._lines) > MAX_REPLY_LINES or self._reply_bytes > MAX_REPLY_BYTES:
                self._fail(
                    WireLost(
                        f"reply longer than {MAX_REPLY_LINES} lines or {MAX_REPLY_BYTES} octets"
                    )
                )
                return
        if len(buffer) > MAX_LINE:
            self._fail(WireLost(f"reply line longer than {MAX_LINE} octets"))
            return
        # One wake for the whole chunk: the waiter runs only after this callback returns.
        if len(replies) > woken:
            self._wake()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._lost is None:
            text = str(exc) if exc else "connection closed by the server"
            self._lost = WireLost(text or type(exc).__name__, reset=_is_reset(exc))
        self._wake()
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)

    def eof_received(self) -> bool:
        if self._lost is None:
            # The transport still holds what it could not send yet; once it closes, it
            # forgets, so this is the moment to tell whether our last bytes left.
            self._lost = WireLost("connection closed by the server", unsent=self.unsent())
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

    def _fail(self, exc: WireLost) -> None:
        self._lost = exc
        self._buffer.clear()
        self._lines = []
        self._transport.abort()
        self._wake()

    def _end(self, timeout: float | None, *, cut: bool = True) -> float | None:
        """The loop time a wait of *timeout* seconds ends, cut to the deadline if *cut*."""
        end = None if timeout is None else self._loop.time() + timeout
        if cut and self.deadline is not None:
            end = self.deadline if end is None else min(end, self.deadline)
        return end

    def write(self, data: bytes) -> None:
        """Queue *data* for sending."""
        if not self.is_open:
            raise self._lost.again() if self._lost else WireLost("connection closed")
        self._transport.write(data)

    async def write_large(self, data: bytes, timeout: float | None) -> None:
        """Send *data* in slices, waiting while the transport's buffer is full, so that a
        large message is not copied whole into the transport's buffer. A relay that stops
        reading for *timeout* seconds (or past the deadline) raises WireTimeout."""
        view = memoryview(data)
        for start in range(0, len(view), _WRITE_SLICE):
            self.write(view[start : start + _WRITE_SLICE])  # type: ignore[arg-type]
            writable = self._writable
            if writable is not None and not writable.done():
                await self._wait(writable, self._end(timeout), "the relay stopped reading")
        if not self.is_open:
            raise self._lost.again() if self._lost else WireLost("connection closed")

    async def _wait(self, future: asyncio.Future[None], end: float | None, what: str) -> None:
        if end is None:
            await future
            return
        left = end - self._loop.time()
        if left <= 0:
            raise WireTimeout(f"timed out: {what}")
        try:
            await asyncio.wait_for(asyncio.shield(future), left)
        except asyncio.TimeoutError:
            raise WireTimeout(f"timed out: {what}") from None

    def take(self, count: int) -> list[Reply]:
        """Up to *count* replies that have already arrived, in order (none is waited for)."""
        replies = self._replies
        if len(replies) <= count:
            taken = list(replies)
            replies.clear()
            return taken
        return [replies.popleft() for _ in range(count)]

    async def read(self, timeout: float | None, *, cut: bool = True) -> Reply:
        """The next reply, in order, within *timeout* seconds in all (cut to the deadline
        unless *cut* is false), however the bytes trickle in. Raises WireLost or WireTimeout.
        """
        if self._replies:
            return self._replies.popleft()
        end = self._end(timeout, cut=cut)
        while not self._replies:
            if self._lost is not None:
                raise self._lost.again()
            waiter = self._waiter = self._loop.create_future()
            # A timer on the waiter rather than asyncio.wait_for: this runs a few times per
            # message, and wait_for's extra task costs more than the rest of the read. The
            # timer is set for the read's end, not per wake-up, so trickled bytes do not
            # extend it.
            timer = self._loop.call_at(end, _expire, waiter) if end is not None else None
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
