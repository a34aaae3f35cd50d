"""A counting SMTP relay (raw asyncio, in a thread) that can stop at one phase of one session.

Crash tests kill a worker while it talks to this relay. The relay counts every message whose
final dot it received (the pessimistic count: a real MTA may deliver such a message even if it
never replied), keyed by Message-ID, so a duplicate is visible. ``pause_at`` makes the first
session that reaches that phase stop answering and set :attr:`paused`, so the test knows
exactly where the worker is when it kills it.
"""

from __future__ import annotations

import asyncio
import re
import socket
import threading
from collections import Counter
from typing import Literal

Phase = Literal["ehlo", "mail", "rcpt", "data", "dot"]

_MESSAGE_ID = re.compile(rb"(?im)^message-id:\s*(<[^>]+>)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class CountingRelay:
    """Plain SMTP on loopback; no PIPELINING, so each command waits for its reply."""

    def __init__(self, pause_at: Phase | None = None, pause_after: int = 0) -> None:
        self.port = free_port()
        self.pause_at = pause_at
        self.pause_after = pause_after
        """Deliveries to let through before the pause."""
        self.paused = threading.Event()
        self.deliveries: Counter[str] = Counter()
        self.envelopes: list[tuple[str, list[str]]] = []
        self._pause_used = False
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._server: asyncio.Server | None = None

    def start(self) -> CountingRelay:
        self._thread.start()
        self._ready.wait(10)
        return self

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _shutdown(self) -> None:
        assert self._server is not None
        self._server.close()
        sessions = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in sessions:
            task.cancel()
        await asyncio.gather(*sessions, return_exceptions=True)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}?tls=none&timeout=30"

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # A small fixed receive buffer (no autotuning) so that a paused relay makes a large
        # message's writer block in DATA instead of the kernel absorbing it all.
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        listener.bind(("127.0.0.1", self.port))
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._session, sock=listener)
        )
        self._ready.set()
        self._loop.run_forever()

    def _should_pause(self, phase: Phase) -> bool:
        with self._lock:
            ready = sum(self.deliveries.values()) >= self.pause_after
            if self.pause_at == phase and ready and not self._pause_used:
                self._pause_used = True
                return True
        return False

    async def _hold(self, reader: asyncio.StreamReader) -> None:
        """Stop answering (and reading) until the client goes away."""
        self.paused.set()
        await asyncio.sleep(3600)

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await self._dialogue(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def _dialogue(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 relay.test ESMTP\r\n")
        mail_from = ""
        rcpts: list[str] = []
        while True:
            line = await reader.readline()
            if not line:
                return
            verb = line[:4].upper()
            if verb in (b"EHLO", b"HELO"):
                if self._should_pause("ehlo"):
                    await self._hold(reader)
                writer.write(b"250-relay.test\r\n250 8BITMIME\r\n")
            elif verb == b"MAIL":
                if self._should_pause("mail"):
                    await self._hold(reader)
                mail_from = line.decode().split(":", 1)[1].strip().strip("<>")
                rcpts = []
                writer.write(b"250 2.1.0 OK\r\n")
            elif verb == b"RCPT":
                rcpts.append(line.decode().split(":", 1)[1].strip().strip("<>"))
                if self._should_pause("rcpt"):
                    await self._hold(reader)
                writer.write(b"250 2.1.5 OK\r\n")
            elif verb == b"DATA":
                writer.write(b"354 go ahead\r\n")
                await writer.drain()
                body = bytearray()
                while True:
                    chunk = await reader.readline()
                    if not chunk:
                        return
                    if chunk == b".\r\n":
                        break
                    body += chunk
                    if len(body) > 65536 and self._should_pause("data"):
                        await self._hold(reader)
                found = _MESSAGE_ID.search(bytes(body))
                message_id = found.group(1).decode() if found else "?"
                with self._lock:
                    self.deliveries[message_id] += 1
                    self.envelopes.append((mail_from, list(rcpts)))
                if self._should_pause("dot"):
                    await self._hold(reader)
                writer.write(b"250 2.0.0 OK queued\r\n")
            elif verb == b"RSET" or verb == b"NOOP":
                writer.write(b"250 OK\r\n")
            elif verb == b"QUIT":
                writer.write(b"221 bye\r\n")
                await writer.drain()
                return
            else:
                writer.write(b"502 5.5.2 unknown command\r\n")
            await writer.drain()
