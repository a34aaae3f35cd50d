"""Messages per second through one relay (smtp-sink), mailsdk against its peers.

Each client runs in a subprocess of its own (so peak RSS is its own), twice, in A B A B
order, on the same message and the same sink. Peers build their message with the stdlib
``email`` package inside the timed loop, as their users do; mailsdk builds and validates a
``Message`` inside the loop too.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import smtplib
import subprocess
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from benchmarks._common import Run, measured, message, peak_rss_kb, sink, table
from mailsdk import AsyncSender, OutgoingMessage, Sender
from mailsdk.mime import build_email_message

NODE_DIR = Path(__file__).resolve().parent / "node"


def _stdlib_email(i: int) -> Any:
    """The peers' message: stdlib EmailMessage built from the same content."""
    return build_email_message(OutgoingMessage(message(i)))


async def _raw(port: int, count: int, connections: int) -> None:
    # The ceiling: pre-built bytes, pipelined MAIL/RCPT/DATA, nothing but the wire.
    body = OutgoingMessage(message(0)).raw + b".\r\n"
    commands = [
        b"MAIL FROM:<reports@example.com>\r\n",
        b"RCPT TO:<user0@example.com>\r\n",
        b"DATA\r\n",
    ]
    left = [count]

    async def worker() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        await reader.readline()
        writer.write(b"EHLO bench\r\n")
        ehlo = [await reader.readline()]
        while ehlo[-1][3:4] != b" ":
            ehlo.append(await reader.readline())
        pipelining = any(b"PIPELINING" in line.upper() for line in ehlo)
        while left[0] > 0:
            left[0] -= 1
            if pipelining:
                writer.write(b"".join(commands))
                for _ in commands:
                    await reader.readline()
            else:
                for command in commands:
                    writer.write(command)
                    await reader.readline()
            writer.write(body)
            await reader.readline()
        writer.write(b"QUIT\r\n")
        await reader.readline()
        writer.close()

    await asyncio.gather(*(worker() for _ in range(connections)))


async def _mailsdk_many(port: int, count: int, connections: int) -> None:
    url = f"smtp://127.0.0.1:{port}?tls=none&max_connections={connections}"
    async with AsyncSender(url) as sender:
        results = await sender.send_many(
            (message(i) for i in range(count)), concurrency=connections
        )
    assert not any(isinstance(r, Exception) for r in results)


def _mailsdk_sync(port: int, count: int) -> None:
    with Sender(f"smtp://127.0.0.1:{port}?tls=none") as sender:
        for i in range(count):
            sender.send(message(i))


async def _aiosmtplib(port: int, count: int, connections: int) -> None:
    import aiosmtplib

    left = [count]

    async def worker() -> None:
        smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False)
        await smtp.connect()
        while left[0] > 0:
            left[0] -= 1
            await smtp.send_message(_stdlib_email(left[0]))
        await smtp.quit()

    await asyncio.gather(*(worker() for _ in range(connections)))


def _smtplib(port: int, count: int) -> None:
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        for i in range(count):
            smtp.send_message(_stdlib_email(i))


def _sync(fn: Callable[..., None]) -> Callable[..., None]:
    return fn


def _async(fn: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    return lambda *a: asyncio.run(fn(*a))


CLIENTS: dict[str, tuple[str, Callable[..., None], int | None]] = {
    # name: (label, runner, connections or None for a single reused connection)
    "raw16": (
        "raw asyncio, pre-built bytes, PIPELINING, 16 connections (ceiling)",
        _async(_raw),
        16,
    ),
    "raw1": ("raw asyncio, 1 connection", _async(_raw), 1),
    "mailsdk16": ("mailsdk AsyncSender.send_many, concurrency 16", _async(_mailsdk_many), 16),
    "mailsdk_sync": ("mailsdk Sender.send loop, 1 reused connection", _sync(_mailsdk_sync), None),
    "aiosmtplib16": ("aiosmtplib, 16 connections, stdlib EmailMessage", _async(_aiosmtplib), 16),
    "aiosmtplib1": ("aiosmtplib, 1 reused connection", _async(_aiosmtplib), 1),
    "smtplib": ("smtplib, 1 reused connection", _sync(_smtplib), None),
    "nodemailer16": ("Nodemailer 7, pooled, 16 connections", _sync(lambda *a: None), 16),
}


def run_client(name: str, port: int, count: int) -> Run:
    """Measure one client in this process."""
    _label, runner, connections = CLIENTS[name]
    args = (port, count) if connections is None else (port, count, connections)
    with measured() as m:
        runner(*args)
    return Run(count, m[0], m[1], peak_rss_kb())


def nodemailer(port: int, count: int, *extra: str) -> Run | str:
    """Nodemailer pooled over 16 connections, run by node (extra: the script's mode args)."""
    node = shutil.which("node")
    if node is None:
        return "node not installed"
    if not (NODE_DIR / "node_modules" / "nodemailer").exists():
        npm = shutil.which("npm")
        if npm is None:
            return "npm not installed"
        # Into node/node_modules/, which git ignores: third-party code is never committed.
        # `npm ci` installs exactly the versions package-lock.json pins.
        subprocess.run(
            [npm, "ci", "--silent", "--no-audit", "--no-fund"],
            cwd=NODE_DIR,
            check=True,
            capture_output=True,
        )
    out = subprocess.run(
        [
            "/usr/bin/time",
            "-f",
            "RSS %M",
            node,
            "nodemailer_bench.js",
            str(port),
            str(count),
            "16",
            *extra,
        ],
        cwd=NODE_DIR,
        check=True,
        capture_output=True,
        text=True,
    )
    data = json.loads(out.stdout.strip().splitlines()[-1])
    rss = int(out.stderr.strip().splitlines()[-1].split()[-1])
    return Run(data["sent"], data["seconds"], data["cpu_ms"] / 1000, rss)


def _subprocess(name: str, port: int, count: int) -> Run | str:
    if name == "nodemailer16":
        return nodemailer(port, count)
    # Under /usr/bin/time, as Nodemailer is: a child's peak RSS counts from its fork, so a
    # child forked straight from this (larger) process would inherit this process's peak.
    command = [sys.executable, "-m", "benchmarks.throughput", "--client", name]
    out = subprocess.run(
        ["/usr/bin/time", "-f", "RSS %M", *command, "--port", str(port), "--count", str(count)],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
        check=False,
    )
    if out.returncode != 0:
        return f"failed: {out.stderr.strip().splitlines()[-1] if out.stderr else out.returncode}"
    run = Run(**json.loads(out.stdout.strip().splitlines()[-1]))
    run.peak_rss_kb = int(out.stderr.strip().splitlines()[-1].split()[-1])
    return run


def compare(names: list[str], flags: list[str], count: int, rounds: int = 2) -> dict[str, Run]:
    """Run each client *rounds* times in A B A B order; keep each client's best run."""
    best: dict[str, Run] = {}
    notes: dict[str, str] = {}
    with sink(*flags) as running:
        for _ in range(rounds):
            for name in names:
                result = _subprocess(name, running.port, count)
                if isinstance(result, str):
                    notes[name] = result
                elif name not in best or result.rate > best[name].rate:
                    best[name] = result
    for name, why in notes.items():
        print(f"  {name}: not run ({why})")
    return best


def report(title: str, runs: dict[str, Run], ceiling: str) -> str:
    base = runs.get(ceiling)
    rows = []
    for name, run in runs.items():
        ratio = f"{run.rate / base.rate:.2f}" if base else "-"
        rows.append(
            [
                CLIENTS[name][0],
                f"{run.rate:,.0f}",
                f"{run.cpu_ms_per_message:.2f}",
                f"{run.peak_rss_kb / 1024:.0f}",
                ratio,
            ]
        )
    text = table(["client (same run)", "msgs/s", "CPU ms/msg", "peak RSS MB", "vs ceiling"], rows)
    extra = []
    if "mailsdk16" in runs and "nodemailer16" in runs:
        extra.append(
            f"mailsdk send_many / Nodemailer pooled: "
            f"{runs['mailsdk16'].rate / runs['nodemailer16'].rate:.2f}x"
        )
    if "mailsdk_sync" in runs and "smtplib" in runs:
        extra.append(
            f"mailsdk Sender loop / smtplib: "
            f"{runs['mailsdk_sync'].rate / runs['smtplib'].rate:.2f}x"
        )
    if "mailsdk16" in runs and "aiosmtplib16" in runs:
        extra.append(
            f"mailsdk send_many / aiosmtplib 16: "
            f"{runs['mailsdk16'].rate / runs['aiosmtplib16'].rate:.2f}x"
        )
    return f"### {title}\n\n{text}\n\n" + "\n".join(f"- {e}" for e in extra) + "\n"


def main(count: int = 600) -> str:
    """Both variants; returns the Markdown report."""
    out = [
        report(
            f"smtp-sink, PIPELINING, no delays ({count} messages per run)",
            compare(list(CLIENTS), [], count),
            "raw16",
        )
    ]
    pooled = ["raw16", "mailsdk16", "aiosmtplib16", "nodemailer16"]
    slow = max(64, count // 4)
    out.append(
        report(
            f"smtp-sink without PIPELINING, 5% of RCPTs delayed 1 s (distant relay, "
            f"{slow} messages per run)",
            compare(pooled, ["-p", "-W", "RCPT:1:5"], slow),
            "raw16",
        )
    )
    return "\n".join(out)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--client", choices=sorted(CLIENTS))
    parser.add_argument("--port", type=int)
    parser.add_argument("--count", type=int, default=600)
    ns = parser.parse_args()
    if ns.client:
        run = run_client(ns.client, ns.port, ns.count)
        print(json.dumps(run.__dict__))
    else:
        print(main(ns.count))
