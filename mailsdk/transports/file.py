"""A transport that writes each message as an .eml file in a folder."""

from __future__ import annotations

import asyncio
import os
import re
import time
from pathlib import Path

from mailsdk.config import ConfigurationError, TransportURL, relay_name
from mailsdk.mime import OutgoingMessage
from mailsdk.result import Attempt, SendResult
from mailsdk.transports.base import Transport, check_deadline

__all__ = ["FileTransport"]

_UNSAFE = re.compile(r"[^A-Za-z0-9._@-]+")


class FileTransport(Transport):
    """Writes ``<timestamp>-<message-id>.eml`` files, one per message, into *directory*.

    Files are written under a temporary name and renamed, so a reader never sees half a file.
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self.name = relay_name("file", path=str(self.directory))

    @classmethod
    def from_url(cls, url: TransportURL) -> FileTransport:
        """``file:///absolute/folder`` or ``file://relative/folder``."""
        url.check_options([])
        directory = f"{url.host}{url.path}" if url.host else url.path
        if not directory:
            raise ConfigurationError("file:// needs a folder, as in file:///var/mail/outbox")
        return cls(directory)

    async def send(self, outgoing: OutgoingMessage, *, deadline: float | None = None) -> SendResult:
        """Write the message's bytes to a new file (not once *deadline* passed)."""
        check_deadline(deadline, self.name)
        start = time.perf_counter()
        await outgoing.handing_over()
        path = await asyncio.to_thread(self._write, outgoing)
        return SendResult(
            message_id=outgoing.message_id,
            relay=self.name,
            accepted=list(outgoing.envelope.rcpt_to),
            provider_id=str(path),
            attempts=[Attempt(self.name, "delivered", duration=time.perf_counter() - start)],
        )

    def _write(self, outgoing: OutgoingMessage) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        stem = _UNSAFE.sub("_", outgoing.message_id.strip("<>"))
        path = self.directory / f"{time.strftime('%Y%m%d-%H%M%S')}-{stem}.eml"
        tmp = path.with_suffix(".eml.tmp")
        tmp.write_bytes(outgoing.raw)
        os.replace(tmp, path)
        return path
