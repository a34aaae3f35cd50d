"""A real mail merge through smtp-sink: every message has its own text, html and attachment.

Unlike ``throughput`` (where every message shares one text, html and attachment object, so
mailsdk's per-part encoding cache helps), here no per-content cache can help. Three clients,
each in its own process, over 16 connections against a PIPELINING smtp-sink:

- the raw asyncio ceiling, writing one pre-built message's bytes (nothing but the wire);
- mailsdk ``AsyncSender.send_many`` building and validating each unique ``Message`` in the
  timed loop;
- Nodemailer pooled, building each unique message in its timed loop too.

Each is run with 1 recipient per message and with 50 (the ceiling then pipelines 50 RCPTs).
The clients run in A B C order once per round; the ratios are taken within each round and
the report gives their median over the rounds, so a round disturbed by another program on
the machine does not decide the figure. After the rounds, mailsdk's CPU per message is split
into model validation, rendering and protocol (the rest of the send path) in this process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks._common import Run, measured, peak_rss_kb, sink, table, unique_message
from benchmarks.throughput import nodemailer
from mailsdk import AsyncSender, OutgoingMessage

CONNECTIONS = 16
RECIPIENTS = (1, 50)
CLIENTS = {
    "raw": "raw asyncio, pre-built bytes, PIPELINING, 16 connections (ceiling)",
    "mailsdk": "mailsdk AsyncSender.send_many, concurrency 16",
    "nodemailer": "Nodemailer 7, pooled, 16 connections",
}


async def _raw(port: int, count: int, recipients: int) -> None:
    # The ceiling: one unique message's pre-built bytes, pipelined MAIL/RCPT.../DATA.
    outgoing = OutgoingMessage(unique_message(0, recipients))
    body = outgoing.raw + b".\r\n"
    commands = [
        b"MAIL FROM:<reports@example.com>\r\n",
        *(f"RCPT TO:<{r}>\r\n".encode() for r in outgoing.envelope.rcpt_to),
        b"DATA\r\n",
    ]
    left = [count]

    async def worker() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        await reader.readline()
        writer.write(b"EHLO bench\r\n")
        line = await reader.readline()
        while line[3:4] != b" ":
            line = await reader.readline()
        while left[0] > 0:
            left[0] -= 1
            writer.write(b"".join(commands))
            for _ in commands:
                await reader.readline()
            writer.write(body)
            await reader.readline()
        writer.write(b"QUIT\r\n")
        await reader.readline()
        writer.close()

    await asyncio.gather(*(worker() for _ in range(CONNECTIONS)))


async def _mailsdk(port: int, count: int, recipients: int) -> None:
    url = f"smtp://127.0.0.1:{port}?tls=none&max_connections={CONNECTIONS}"
    async with AsyncSender(url) as sender:
        results = await sender.send_many(
            (unique_message(i, recipients) for i in range(count)), concurrency=CONNECTIONS
        )
    failed = [r for r in results if isinstance(r, Exception)]
    if failed:
        raise failed[0]


def run_client(name: str, port: int, count: int, recipients: int) -> Run:
    """Measure one Python client in this process."""
    runner = _raw if name == "raw" else _mailsdk
    with measured() as m:
        asyncio.run(runner(port, count, recipients))
    return Run(count, m[0], m[1], peak_rss_kb())


def _subprocess(name: str, port: int, count: int, recipients: int) -> Run | str:
    if name == "nodemailer":
        return nodemailer(port, count, "unique", str(recipients))
    command = [sys.executable, "-m", "benchmarks.merge", "--client", name]
    command += ["--port", str(port), "--count", str(count), "--recipients", str(recipients)]
    out = subprocess.run(
        ["/usr/bin/time", "-f", "RSS %M", *command],
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


def cpu_split(count: int, recipients: int, port: int) -> dict[str, float]:
    """mailsdk's CPU ms per message: validation, rendering, and the protocol (the rest).

    Validation (building the ``Message``) and rendering (``OutgoingMessage(...).raw``: the
    render-time re-check, envelope, Message-ID, Date and MIME) are timed on their own over
    *count* messages; the send's total
    CPU comes from a send_many of *count* messages in this process, so "protocol" is the
    total less the other two: the SMTP exchange, the event loop and the sender's bookkeeping.
    """
    clock = time.process_time
    validate = render = 0.0
    for i in range(count):
        # One message at a time. The render-time re-check of an untouched Address needs no
        # cache (it carries the mark of its own check), so this costs what sending pays.
        start = clock()
        built = unique_message(i, recipients)
        validated = clock()
        OutgoingMessage(built).raw  # noqa: B018
        render += clock() - validated
        validate += validated - start
    run = run_client("mailsdk", port, count, recipients)
    total = run.cpu_seconds * 1000 / count
    validate *= 1000 / count
    render *= 1000 / count
    return {
        "validate": validate,
        "render": render,
        "protocol": total - validate - render,
        "total": total,
    }


def main(count: int = 600, rounds: int = 5) -> str:
    """Every variant, *rounds* rounds each; returns the Markdown report."""
    out: list[str] = []
    with sink() as running:
        for recipients in RECIPIENTS:
            runs: dict[str, list[Run]] = {name: [] for name in CLIENTS}
            ratios: dict[str, list[float]] = {"ceiling": [], "nodemailer": []}
            notes: dict[str, str] = {}
            for _ in range(rounds):
                this: dict[str, Run] = {}
                for name in CLIENTS:
                    result = _subprocess(name, running.port, count, recipients)
                    if isinstance(result, str):
                        notes[name] = result
                    else:
                        this[name] = result
                        runs[name].append(result)
                if "mailsdk" in this and "raw" in this:
                    ratios["ceiling"].append(this["mailsdk"].rate / this["raw"].rate)
                if "mailsdk" in this and "nodemailer" in this:
                    ratios["nodemailer"].append(this["mailsdk"].rate / this["nodemailer"].rate)
            rows = [
                [
                    CLIENTS[name],
                    f"{statistics.median(r.rate for r in rs):,.0f}",
                    f"{statistics.median(r.cpu_ms_per_message for r in rs):.2f}",
                    f"{max(r.peak_rss_kb for r in rs) / 1024:.0f}",
                ]
                for name, rs in runs.items()
                if rs
            ]
            title = (
                f"### A real merge through smtp-sink, {recipients} recipient"
                f"{'s' if recipients > 1 else ''} per message "
                f"({count} messages per run, median of {rounds} rounds)"
            )
            lines = [
                title,
                "",
                table(["client (same run)", "msgs/s", "CPU ms/msg", "peak RSS MB"], rows),
                "",
            ]
            for key, label in (("ceiling", "raw ceiling"), ("nodemailer", "Nodemailer pooled")):
                if ratios[key]:
                    each = ", ".join(f"{r:.2f}" for r in ratios[key])
                    lines.append(
                        f"- mailsdk send_many / {label}: median "
                        f"{statistics.median(ratios[key]):.2f}x (rounds: {each})"
                    )
            lines += [f"- {name}: not run ({why})" for name, why in notes.items()]
            split = sorted(
                (cpu_split(count, recipients, running.port) for _ in range(3)),
                key=lambda s: s["total"],
            )
            # The phases of the run whose total is the median, so that they add up.
            medians = split[1]
            lines += [
                "",
                f"mailsdk CPU per message, {recipients} recipient"
                f"{'s' if recipients > 1 else ''} (the median of 3 runs):",
                "",
                table(
                    ["phase", "CPU ms", "share"],
                    [
                        [label, f"{medians[key]:.3f}", f"{medians[key] / medians['total']:.0%}"]
                        for key, label in (
                            ("validate", "model validation (Message(...))"),
                            ("render", "rendering (OutgoingMessage(...).raw)"),
                            ("protocol", "protocol (SMTP, event loop, sender; the rest)"),
                            ("total", "total (send_many, in process)"),
                        )
                    ],
                ),
                "",
            ]
            out.append("\n".join(lines))
    return "\n".join(out)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--client", choices=["raw", "mailsdk"])
    parser.add_argument("--port", type=int)
    parser.add_argument("--count", type=int, default=600)
    parser.add_argument("--recipients", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=5)
    ns = parser.parse_args()
    if ns.client:
        print(json.dumps(run_client(ns.client, ns.port, ns.count, ns.recipients).__dict__))
    else:
        print(main(ns.count, ns.rounds))
