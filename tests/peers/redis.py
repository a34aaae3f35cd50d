"""A private ``redis-server`` on a free loopback port, for the task-queue tests.

``start_redis(tmp_dir)`` runs Debian's ``redis-server`` (installed by scripts/setup-dev.sh)
with no persistence, in *tmp_dir*, and returns once it answers PING. Only the standard library
is used, so the helper works before any Redis client is installed.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

from tests.peers._process import ChildProcessPeer

_START_ATTEMPTS = 3  # a freshly picked free port can be grabbed by someone else


class RedisError(RuntimeError):
    """redis-server could not be started."""


def redis_server_path() -> str | None:
    """The redis-server executable, or None when it is not installed."""
    return shutil.which("redis-server") or (
        "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _pong(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer(ChildProcessPeer):
    """A running redis-server. ``url(db)`` gives a ``redis://`` URL for one database."""

    def __init__(self, proc: subprocess.Popen[bytes], port: int, directory: Path) -> None:
        self.proc = proc
        self.port = port
        self.directory = directory

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"


def start_redis(directory: Path, timeout: float = 10.0) -> RedisServer:
    """Start redis-server in *directory* on a free port; raise RedisError if it cannot."""
    binary = redis_server_path()
    if binary is None:
        raise RedisError("redis-server is not installed (scripts/setup-dev.sh installs it)")
    last = ""
    for _ in range(_START_ATTEMPTS):
        port = _free_port()
        log = directory / f"redis-{port}.log"
        proc = subprocess.Popen(
            [
                binary,
                "--port", str(port),
                "--bind", "127.0.0.1",
                "--save", "",
                "--appendonly", "no",
                "--dir", str(directory),
                "--logfile", str(log),
                "--daemonize", "no",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and proc.poll() is None:
            if _pong(port):
                return RedisServer(proc, port, directory)
            time.sleep(0.05)
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        last = log.read_text(errors="replace")[-500:] if log.exists() else "no log"
    raise RedisError(f"redis-server did not start: {last}")
