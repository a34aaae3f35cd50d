"""Relays that misbehave on purpose, for fault-injection tests.

Each is a real server on a free loopback port: raw asyncio servers that speak just enough SMTP
to reach the fault, a blocking-socket server that closes with our bytes unread (so the kernel
resets the connection), and aiosmtpd with a hook that breaks EHLO after STARTTLS.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import ssl
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, TypeVar

import trustme
from aiosmtpd.controller import Controller

Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]

EHLO_PLAIN = [b"250-faulty.test", b"250-PIPELINING", b"250 8BITMIME"]


@contextlib.asynccontextmanager
async def scripted_relay(script: Script) -> AsyncIterator[int]:
    """Serve *script* for each connection on a free loopback port; yield the port."""
    tasks: set[asyncio.Task[None]] = set()

    async def run(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)  # type: ignore[arg-type]
        try:
            await script(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            # Ending normally when cancelled at shutdown: asyncio's stream server logs an
            # error for a handler task that ends cancelled.
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(run, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield port
    finally:
        server.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()


async def reply(writer: asyncio.StreamWriter, *lines: bytes) -> None:
    """Write reply lines (CRLF added)."""
    writer.write(b"".join(line + b"\r\n" for line in lines))
    await writer.drain()


async def plain_handshake(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Greeting and EHLO of a relay without TLS or AUTH."""
    await reply(writer, b"220 faulty.test ESMTP")
    line = await reader.readline()
    assert line.upper().startswith((b"EHLO", b"HELO")), line
    await reply(writer, *EHLO_PLAIN)


class _ThreadedRelay:
    """A blocking-socket server on a free loopback port, on a thread of its own, that runs
    :meth:`_session` for each connection until the ``with`` block ends."""

    def __init__(self, backlog: int) -> None:
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(backlog)
        self.port: int = self._listener.getsockname()[1]
        self._listener.settimeout(0.05)
        self._stopped = threading.Event()
        self.connections = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self: _RelayT) -> _RelayT:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopped.set()
        self._thread.join(timeout=5)
        self._listener.close()

    def _serve(self) -> None:
        while not self._stopped.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            self.connections += 1
            with conn, contextlib.suppress(OSError):
                self._session(conn)

    def _session(self, conn: socket.socket) -> None:
        raise NotImplementedError


_RelayT = TypeVar("_RelayT", bound=_ThreadedRelay)


class ResettingRelay(_ThreadedRelay):
    """A plain-text relay that, after answering DATA with 354, waits until the whole message
    (final dot included) sits unread in its socket buffer, then closes: the kernel answers
    with a TCP reset, as it does for a relay that dies in the middle of DATA."""

    def __init__(self) -> None:
        super().__init__(backlog=4)

    def _session(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        conn.sendall(b"220 faulty.test ESMTP\r\n")
        buffer = b""
        while True:
            while b"\n" not in buffer:
                more = conn.recv(4096)
                if not more:
                    return
                buffer += more
            line, buffer = buffer.split(b"\n", 1)
            verb = line[:4].upper()
            if verb == b"EHLO":
                conn.sendall(b"250-faulty.test\r\n250 8BITMIME\r\n")
            elif verb == b"DATA":
                break
            else:
                conn.sendall(b"250 OK\r\n")
        assert not buffer  # without PIPELINING nothing follows DATA before our 354
        conn.sendall(b"354 go ahead\r\n")
        # Wait until the whole message, final dot included, sits unread in the kernel's
        # buffer; closing now makes the kernel reset the connection (RFC 1122 4.2.2.13).
        while True:
            unread = conn.recv(1 << 20, socket.MSG_PEEK)
            if not unread or b"\r\n.\r\n" in unread:
                return
            threading.Event().wait(0.01)


@contextlib.contextmanager
def ehlo_breaking_relay(mode: str) -> Iterator[tuple[int, str]]:
    """An aiosmtpd relay offering STARTTLS whose EHLO after STARTTLS *mode*: "close"s the
    connection or "stall"s. Yields (port, ca_file)."""
    import tempfile
    from pathlib import Path

    from aiosmtpd.smtp import SMTP as SMTPServer

    class Handler:
        async def handle_EHLO(
            self, server: SMTPServer, session: Any, envelope: Any, hostname: str, responses: Any
        ) -> Any:
            if session.ssl is not None:
                if mode == "close":
                    server.transport.close()
                else:
                    await asyncio.sleep(3600)
            return responses

    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    with tempfile.TemporaryDirectory() as tmp:
        ca_file = str(Path(tmp) / "ca.pem")
        ca.cert_pem.write_to_path(ca_file)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        controller = Controller(
            Handler(), hostname="127.0.0.1", port=port, tls_context=context, require_starttls=True
        )
        controller.start()
        try:
            yield port, ca_file
        finally:
            controller.stop()


class MiniRelay:
    """A small pipelining SMTP relay that keeps a per-transaction recipient limit the way
    Postfix does: recipients past ``limit`` get 452 and count as errors, and after
    ``error_limit`` errors the session is dropped with 421. ``defer_at_data`` lists the
    transaction numbers (counted over all sessions, from 1) whose message gets 451 after the
    final dot.

    ``delivered`` lists each delivered transaction's recipients.
    """

    def __init__(
        self, limit: int, error_limit: int = 20, defer_at_data: tuple[int, ...] = ()
    ) -> None:
        self.limit = limit
        self.error_limit = error_limit
        self.defer_at_data = defer_at_data
        self.delivered: list[list[str]] = []
        self.rcpt_commands = 0
        self.transactions = 0
        self.sessions = 0

    async def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.sessions += 1
        errors = 0
        rcpts: list[str] = []
        await reply(writer, b"220 mini.test ESMTP")
        while True:
            line = await reader.readline()
            if not line:
                return
            verb = line[:4].upper()
            if verb == b"EHLO":
                await reply(writer, b"250-mini.test", b"250-PIPELINING", b"250 8BITMIME")
            elif verb == b"MAIL":
                rcpts = []
                await reply(writer, b"250 2.1.0 OK")
            elif verb == b"RCPT":
                self.rcpt_commands += 1
                if len(rcpts) >= self.limit:
                    errors += 1
                    if errors > self.error_limit:
                        await reply(writer, b"421 4.7.0 Error: too many errors")
                        return
                    await reply(writer, b"452 4.5.3 Error: too many recipients")
                else:
                    rcpts.append(line.split(b"<", 1)[1].split(b">", 1)[0].decode())
                    await reply(writer, b"250 2.1.5 OK")
            elif verb == b"DATA":
                if not rcpts:
                    await reply(writer, b"554 5.5.1 Error: no valid recipients")
                    continue
                self.transactions += 1
                await reply(writer, b"354 End data with <CR><LF>.<CR><LF>")
                while (await reader.readline()) not in (b".\r\n", b""):
                    pass
                if self.transactions in self.defer_at_data:
                    await reply(writer, b"451 4.3.0 Error: queue file write error")
                    continue
                self.delivered.append(rcpts)
                await reply(writer, b"250 2.0.0 Ok: queued as MINI%d" % self.transactions)
            elif verb == b"QUIT":
                await reply(writer, b"221 2.0.0 Bye")
                return
            else:
                await reply(writer, b"250 2.0.0 Ok")


class ClosingAtEhloRelay(_ThreadedRelay):
    """A blocking-socket relay, on a thread of its own, that greets and closes when the
    client says EHLO: for callers that run their own event loop (the command line)."""

    def __init__(self) -> None:
        super().__init__(backlog=8)

    def _session(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        conn.sendall(b"220 faulty.test ESMTP\r\n")
        conn.recv(1024)


FAULT_POINTS = ("greeting", "EHLO", "MAIL", "RCPT", "DATA", "body", "after-dot")


class ChaosRelay:
    """A plain-text relay that, on each connection, fails at a point and in a way drawn from a
    seeded random generator (so every run sees the same faults): it closes, stalls, or answers
    garbage at the greeting, EHLO, MAIL, RCPT or DATA, closes in the middle of the message, or
    stores the message and closes before replying. Some connections work. ``stored`` maps each
    Message-ID it stored to how many times."""

    def __init__(self, seed: int, fault_rate: float = 0.5) -> None:
        import random

        self._random = random.Random(seed)
        self.fault_rate = fault_rate
        self.stored: dict[str, int] = {}
        self.faults: list[tuple[str, str]] = []

    async def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        point, action = "", ""
        if self._random.random() < self.fault_rate:
            point = self._random.choice(FAULT_POINTS)
            action = self._random.choice(("close", "stall", "garbage"))
            if point in ("body", "after-dot"):
                action = "close"
            self.faults.append((point, action))

        async def fault() -> bool:
            if action == "garbage":
                await reply(writer, b"garbage, not SMTP")
            if action == "stall":
                await reader.read()
            return True

        if point == "greeting":
            await fault()
            return
        await reply(writer, b"220 chaos.test ESMTP")
        while True:
            line = await reader.readline()
            if not line:
                return
            verb = line[:4].upper().decode("ascii", "replace")
            if verb == point and await fault():
                return
            if verb == "EHLO":
                await reply(writer, b"250-chaos.test", b"250-PIPELINING", b"250 8BITMIME")
            elif verb == "DATA":
                await reply(writer, b"354 go ahead")
                data = bytearray()
                while True:
                    body_line = await reader.readline()
                    if point == "body" and len(data) > 10:
                        return
                    if body_line in (b".\r\n", b""):
                        break
                    data += body_line
                found = re.search(rb"(?im)^Message-ID:\s*(<[^>]+>)", bytes(data))
                key = found.group(1).decode() if found else "?"
                self.stored[key] = self.stored.get(key, 0) + 1
                if point == "after-dot":
                    return
                await reply(writer, b"250 2.0.0 queued")
            elif verb == "QUIT":
                await reply(writer, b"221 bye")
                return
            else:
                await reply(writer, b"250 2.0.0 OK")


@contextlib.contextmanager
def silent_relay() -> Iterator[tuple[int, list[socket.socket]]]:
    """A loopback listener that accepts connections and never says a word (a hung relay);
    yields its port and the connections accepted so far. All are closed afterwards."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    accepted: list[socket.socket] = []

    def serve() -> None:
        with contextlib.suppress(OSError):
            while True:
                accepted.append(server.accept()[0])

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield server.getsockname()[1], accepted
    finally:
        server.close()
        for conn in accepted:
            conn.close()
