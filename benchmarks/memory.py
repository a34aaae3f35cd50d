"""Peak memory to send one message with a large attachment (default 100 MB) to smtp-sink.

Runs the send in a child process under ``/usr/bin/time -v`` and reports its maximum resident
set size against the attachment's size, next to the RSS of the same child doing everything
but the send (interpreter, imports and the attachment itself).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

from benchmarks._common import sink, table

ROOT = Path(__file__).resolve().parents[1]


def _child(port: int, megabytes: int, send: bool) -> None:
    from mailsdk import Attachment, Message, Sender

    content = os.urandom(megabytes * 1024 * 1024)
    msg = Message(
        from_="a@example.com",
        to=["b@example.com"],
        subject="big",
        text="see attached",
        attachments=[Attachment(filename="big.bin", content=content)],
    )
    del content
    if send:
        with Sender(f"smtp://127.0.0.1:{port}?tls=none&timeout=120") as sender:
            sender.send(msg)


def _peak_rss_kb(port: int, megabytes: int, send: bool) -> int:
    out = subprocess.run(
        [
            "/usr/bin/time",
            "-v",
            sys.executable,
            "-m",
            "benchmarks.memory",
            "--child",
            "--port",
            str(port),
            "--mb",
            str(megabytes),
            *(["--send"] if send else []),
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    match = re.search(r"Maximum resident set size \(kbytes\): (\d+)", out.stderr)
    assert match, out.stderr
    return int(match.group(1))


def main(megabytes: int = 100) -> str:
    """Returns the Markdown report."""
    size_kb = megabytes * 1024
    with sink() as running:
        idle = _peak_rss_kb(running.port, megabytes, send=False)
        sent = _peak_rss_kb(running.port, megabytes, send=True)
    rows = [
        ["build the message only", f"{idle / 1024:.0f}", f"{idle / size_kb:.2f}"],
        ["build and send it", f"{sent / 1024:.0f}", f"{sent / size_kb:.2f}"],
        ["the send's own share", f"{(sent - idle) / 1024:.0f}", f"{(sent - idle) / size_kb:.2f}"],
    ]
    return (
        f"### Peak RSS sending a {megabytes} MB attachment\n\n"
        + table(["process", "peak RSS MB", "x attachment"], rows)
        + "\n"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--child", action="store_true")
    parser.add_argument("--send", action="store_true")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--mb", type=int, default=100)
    ns = parser.parse_args()
    if ns.child:
        _child(ns.port, ns.mb, ns.send)
    else:
        print(main(ns.mb))
