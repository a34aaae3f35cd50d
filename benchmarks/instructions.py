"""The CPU work of a real mail merge, in instructions per message: a figure load hardly moves.

On a shared or virtual machine, CPU time per message moves by 20% or more from run to run
(other programs, frequency scaling, cache contention), which hides any change smaller than
that. Valgrind's callgrind counts the instructions the mailsdk client executes instead, which
repeats within about 1% on a quiet machine. It is not quite load-proof: how many replies each
wake of the event loop brings depends on timing, so heavy load moves the one-recipient figure
too (by 8% in one run here); measure both checkouts in the same run, as ``--against`` does.
The client is ``benchmarks.merge``'s (``AsyncSender.send_many``,
16 connections, every message its own text, HTML and attachment) against smtp-sink; each
figure is the difference between a run of 250 and a run of 50 messages, divided by 200, so
start-up, imports and connecting cancel out. Only user-space instructions are counted (not
the kernel's socket work), and an instruction is not a unit of time: compare two checkouts
with ``--against``, never with another suite's milliseconds. Each checkout runs its own
copy of the merge client, so a change to ``benchmarks/`` itself shows in the ratio too.

``python -m benchmarks instructions`` (needs ``valgrind``: ``apt-get install valgrind``), or
``python -m benchmarks.instructions --against /path/to/other/checkout`` to put another
checkout (a ``git worktree`` of an older commit, say) beside this one in the same run.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from benchmarks._common import ROOT, sink, table

RECIPIENTS = (1, 50)
_SMALL, _LARGE = 50, 250
_COLLECTED = re.compile(r"Collected : (\d+)")


def instructions(checkout: Path, port: int, count: int, recipients: int) -> int:
    """User-space instructions the merge client of *checkout* runs to send *count* messages."""
    command = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"]
    command += [sys.executable, "-m", "benchmarks.merge", "--client", "mailsdk"]
    command += ["--port", str(port), "--count", str(count), "--recipients", str(recipients)]
    out = subprocess.run(
        command,
        capture_output=True,
        text=True,
        cwd=checkout,
        # A fixed hash seed: string hashing (dict and set layouts) varies the count otherwise.
        env={**os.environ, "PYTHONPATH": str(checkout), "PYTHONHASHSEED": "0"},
        check=False,
        timeout=1800,
    )
    found = _COLLECTED.search(out.stderr)
    if out.returncode != 0 or found is None:
        tail = out.stderr.strip().splitlines()[-1:] or [str(out.returncode)]
        raise RuntimeError(f"the client under valgrind failed: {tail[0]}")
    return int(found.group(1))


def per_message(checkout: Path, port: int, recipients: int) -> float:
    """Millions of instructions per message (the 250-message run less the 50-message one)."""
    small = instructions(checkout, port, _SMALL, recipients)
    large = instructions(checkout, port, _LARGE, recipients)
    return (large - small) / (_LARGE - _SMALL) / 1e6


def main(against: Path | None = None) -> str:
    """The Markdown report: this checkout, and *against* beside it when given."""
    if shutil.which("valgrind") is None:
        return "### Instructions per message\n\nnot run: valgrind is not installed"
    checkouts = [("this checkout", ROOT)]
    if against is not None:
        checkouts.append((str(against), against.resolve()))
    rows: list[list[str]] = []
    with sink() as running:
        for recipients in RECIPIENTS:
            counts = [per_message(path, running.port, recipients) for _, path in checkouts]
            row = [str(recipients), *(f"{c:.3f}" for c in counts)]
            if against is not None:
                row.append(f"{counts[0] / counts[1]:.2f}x")
            rows.append(row)
    headers = ["recipients", *(f"M instructions/msg, {name}" for name, _ in checkouts)]
    if against is not None:
        headers.append("this / other")
    return "\n".join(
        [
            "### Instructions per message of a real merge (callgrind, user space)",
            "",
            table(headers, rows),
            "",
        ]
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--against", type=Path, help="another checkout to measure beside this")
    print(main(parser.parse_args().against))
