"""What the peers that run as child processes share: starting them on a free port, stopping
them, and ``with`` blocks."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from types import TracebackType
from typing import TypeVar

_PeerT = TypeVar("_PeerT", bound="ChildProcessPeer")
_T = TypeVar("_T")

_START_ATTEMPTS = 3  # a freshly picked free port can be grabbed by someone else


def start_on_a_free_port(start: Callable[[], _T], error: type[Exception], in_use: str) -> _T:
    """``start()``, tried again while it fails with *error* whose text holds *in_use* (the
    port it picked was taken meanwhile); any other failure, or the last, is raised."""
    last: Exception | None = None
    for _ in range(_START_ATTEMPTS):
        try:
            return start()
        except error as exc:
            last = exc
            if in_use not in str(exc):
                raise
    assert last is not None
    raise last


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
