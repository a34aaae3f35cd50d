"""What the peers that run as child processes share: stopping them, and ``with`` blocks."""

from __future__ import annotations

import subprocess
from types import TracebackType
from typing import TypeVar

_PeerT = TypeVar("_PeerT", bound="ChildProcessPeer")


class ChildProcessPeer:
    """A peer server running as the child process :attr:`proc`; leaving ``with`` stops it."""

    proc: subprocess.Popen[bytes]

    def stop(self, timeout: float = 5.0) -> None:
        """Terminate the process and wait for it to exit (killing it if it will not). Idempotent."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout)

    def __enter__(self: _PeerT) -> _PeerT:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
