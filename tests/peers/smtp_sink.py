"""Postfix's ``smtp-sink`` as a fast SMTP sink and fault injector for interop tests.

``start_smtp_sink(["-r", "RCPT"])`` runs ``/usr/sbin/smtp-sink -r RCPT -u USER
127.0.0.1:PORT 100`` on a free port and returns once it listens.  See
/work/shared/peers/README.md (or ``man smtp-sink``) for the flags: ``-r``/``-f`` soft/hard
reject commands, ``-q``/``-Q`` disconnect, ``-W``/``-w``/``-A`` delays, ``-e -E -p -a -N``
drop EHLO features, ``-M``/``-n`` exit after N messages/sessions, ``-d``/``-D`` dump.

Readiness is detected from ``/proc/net/tcp`` (a LISTEN socket on the port) instead of
by connecting, so the probe does not count as a session (``-n``, ``-c``) and does not
trip ``CONNECT`` fault injection.  Only the standard library is used.
"""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from tests.peers._process import ChildProcessPeer, start_on_a_free_port

SMTP_SINK = "/usr/sbin/smtp-sink"
DEFAULT_BACKLOG = 100


class SmtpSinkError(RuntimeError):
    """smtp-sink could not be started."""


def smtp_sink_available() -> bool:
    """True when /usr/sbin/smtp-sink exists and is executable."""
    return os.access(SMTP_SINK, os.X_OK)


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def _listening(host: str, port: int) -> bool | None:
    """Whether something LISTENs on host:port per /proc/net/tcp (None: cannot tell)."""
    try:
        table = Path("/proc/net/tcp").read_text()
    except OSError:
        return None
    want_addr = socket.inet_aton(host)[::-1].hex().upper()  # little-endian hex
    for line in table.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 4 or fields[3] != "0A":  # 0A == TCP_LISTEN
            continue
        addr, _, port_hex = fields[1].partition(":")
        if int(port_hex, 16) == port and addr in (want_addr, "00000000"):
            return True
    return False


def _can_connect(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


class SmtpSink(ChildProcessPeer):
    """A running smtp-sink process. Use as a context manager or call ``stop()``."""

    def __init__(
        self,
        proc: subprocess.Popen[bytes],
        host: str,
        port: int,
        flags: Sequence[str],
        log: IO[bytes],
    ) -> None:
        self.proc = proc
        self.host = host
        self.port = port
        self.flags = tuple(flags)
        self._log = log

    def __repr__(self) -> str:
        return f"SmtpSink(host={self.host!r}, port={self.port}, flags={self.flags!r})"

    @property
    def running(self) -> bool:
        return self.proc.poll() is None

    def output(self) -> str:
        """What smtp-sink printed so far (stdout and stderr; counters with ``-c``)."""
        try:
            fd = self._log.fileno()
            # pread: do not move the file offset shared with the child process.
            data = os.pread(fd, os.fstat(fd).st_size, 0)
        except (OSError, ValueError):  # ValueError: already closed
            return ""
        return data.decode("utf-8", errors="replace")

    def stop(self, timeout: float = 5.0) -> None:
        """Terminate smtp-sink and wait for it to exit. Idempotent."""
        super().stop(timeout)
        self._log.close()


def _start_once(
    flags: Sequence[str],
    host: str,
    user: str | None,
    backlog: int,
    workdir: Path | None,
    timeout: float,
) -> SmtpSink:
    port = _free_port(host)
    argv = [SMTP_SINK, *flags]
    if user is not None and "-u" not in flags:
        argv += ["-u", user]
    argv += [f"{host}:{port}", str(backlog)]
    log: IO[bytes]
    if workdir is not None:
        log = open(workdir / f"smtp-sink-{port}.log", "w+b")  # noqa: SIM115 - owned by SmtpSink
    else:
        log = tempfile.TemporaryFile()  # noqa: SIM115 - owned by SmtpSink
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=workdir,
            start_new_session=True,  # a Ctrl-C in the terminal is for pytest, not the sink
        )
    except OSError as exc:
        log.close()
        raise SmtpSinkError(f"cannot run {' '.join(argv)}: {exc}") from exc
    sink = SmtpSink(proc, host, port, flags, log)
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            out = sink.output().strip()
            sink.stop()
            raise SmtpSinkError(
                f"{' '.join(argv)} exited with {proc.returncode} before listening: {out!r}"
            )
        ready = _listening(host, port)
        if ready is None:  # no /proc: fall back to a (session-consuming) connect probe
            ready = _can_connect(host, port)
        if ready:
            return sink
        if time.monotonic() >= deadline:
            out = sink.output().strip()
            sink.stop()
            raise SmtpSinkError(f"{' '.join(argv)} not listening after {timeout}s: {out!r}")
        time.sleep(0.01)


def start_smtp_sink(
    flags: Sequence[str] = (),
    *,
    workdir: Path | str | None = None,
    host: str = "127.0.0.1",
    user: str | None = None,
    backlog: int = DEFAULT_BACKLOG,
    timeout: float = 10.0,
) -> SmtpSink:
    """Start ``smtp-sink [flags] -u USER HOST:PORT BACKLOG`` on a free port.

    ``workdir`` (optional) is the working directory (relative ``-d``/``-D`` dump
    templates land there) and holds ``smtp-sink-PORT.log``.  As root, smtp-sink requires
    ``-u``; the default ``user`` is then ``root`` so that dump files can be written into
    root-only test directories (the sink only listens on loopback and runs nothing).
    Returns once the port is listening; raises SmtpSinkError otherwise.
    """
    if not smtp_sink_available():
        raise SmtpSinkError(f"{SMTP_SINK} not found (package postfix; run scripts/setup-dev.sh)")
    if user is None and os.geteuid() == 0:
        user = "root"
    wd = None if workdir is None else Path(workdir).resolve()
    if wd is not None:
        wd.mkdir(parents=True, exist_ok=True)
    return start_on_a_free_port(
        lambda: _start_once(list(flags), host, user, backlog, wd, timeout),
        SmtpSinkError,
        "in use",
    )
