"""``python -m benchmarks [SUITE ...]`` (suites: see SUITES below): Markdown tables."""

from __future__ import annotations

import sys

from benchmarks import (
    dkim,
    failover,
    html2text,
    instructions,
    memory,
    merge,
    outbox,
    render,
    telemetry,
    templates,
    throughput,
)

SUITES = {
    "render": render.main,
    "throughput": throughput.main,
    "merge": merge.main,
    "failover": failover.main,
    "memory": memory.main,
    "outbox": outbox.main,
    "dkim": dkim.main,
    "telemetry": telemetry.main,
    "html2text": html2text.main,
    "templates": templates.main,
    "instructions": instructions.main,
}


def main(argv: list[str]) -> None:
    names = argv or list(SUITES)
    unknown = [n for n in names if n not in SUITES]
    if unknown:
        sys.exit(f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(SUITES)}")
    for name in names:
        print(SUITES[name](), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
