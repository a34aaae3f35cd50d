"""CPU to render the benchmark message: mailsdk's renderer against stdlib build + flatten.

Both start from the same validated Message; the stdlib figure is what a peer pays per message
(EmailMessage build, then BytesGenerator), the mailsdk figure what ``OutgoingMessage.raw``
pays. "fresh" gives each message its own Attachment (nothing cached); "mail-merge" shares one
Attachment across messages, as a mail-merge does, so its encoding is cached.

A second table is a real merge: every message has its own text, html and attachment bytes, so
no per-content cache can help; it splits each message's CPU into model validation (building
the ``Message``), preparation (``OutgoingMessage``: the render-time re-check, envelope,
Message-ID and Date) and rendering (``.raw``).
"""

from __future__ import annotations

import time

from benchmarks._common import ATTACHMENT_BYTES, Attachment, message, table, unique_message
from mailsdk import OutgoingMessage
from mailsdk.mime import build_email_message


def _cpu_per_call(fn: object, count: int) -> float:
    start = time.process_time()
    for i in range(count):
        fn(i)  # type: ignore[operator]
    return (time.process_time() - start) * 1000 / count


def main(count: int = 1000) -> str:
    """Returns the Markdown report."""
    shared = Attachment(filename="report.bin", content=ATTACHMENT_BYTES)
    merged = [message(i, shared) for i in range(count)]
    rows: list[list[str]] = []
    figures: dict[str, float] = {}
    for _ in range(2):  # A B A B
        fresh = [message(i) for i in range(count)]  # new Attachments: nothing cached yet
        figures["stdlib"] = min(
            figures.get("stdlib", 1e9),
            _cpu_per_call(
                lambda i, batch=fresh: build_email_message(OutgoingMessage(batch[i])).as_bytes(),
                count,
            ),
        )
        figures["fresh"] = min(
            figures.get("fresh", 1e9),
            _cpu_per_call(lambda i, batch=fresh: OutgoingMessage(batch[i]).raw, count),
        )
        figures["merge"] = min(
            figures.get("merge", 1e9),
            _cpu_per_call(lambda i: OutgoingMessage(merged[i]).raw, count),
        )
    size = len(OutgoingMessage(merged[0]).raw)
    base = figures["stdlib"]
    for key, label in (
        ("stdlib", "stdlib EmailMessage build + flatten"),
        ("fresh", "mailsdk, fresh message (nothing cached)"),
        ("merge", "mailsdk, mail-merge (shared attachment)"),
    ):
        rows.append([label, f"{figures[key]:.3f}", f"{figures[key] / base:.2f}"])
    return (
        f"### Rendering the {size / 1024:.0f} KB message (CPU per message)\n\n"
        + table(["renderer", "CPU ms", "vs stdlib"], rows)
        + "\n"
        + merge_split(count)
    )


def merge_split(count: int = 1000) -> str:
    """CPU per message of a real merge, split into validation, preparation and rendering."""
    best: dict[str, float] = {}
    for _ in range(2):  # the better of two runs of each phase
        start = time.process_time()
        messages = [unique_message(i) for i in range(count)]
        built = time.process_time()
        prepared = [OutgoingMessage(m) for m in messages]
        ready = time.process_time()
        for outgoing in prepared:
            outgoing.raw  # noqa: B018
        done = time.process_time()
        for key, seconds in (
            ("validate", built - start),
            ("prepare", ready - built),
            ("render", done - ready),
        ):
            best[key] = min(best.get(key, 1e9), seconds * 1000 / count)
    total = sum(best.values())
    rows = [
        [label, f"{best[key]:.3f}", f"{best[key] / total:.0%}"]
        for key, label in (
            ("validate", "model validation (Message(...))"),
            ("prepare", "preparation (OutgoingMessage: re-check, envelope, ids)"),
            ("render", "rendering (.raw)"),
        )
    ]
    rows.append(["total", f"{total:.3f}", "100%"])
    return (
        "### A real merge: every message its own content (CPU per message)\n\n"
        + table(["phase", "CPU ms", "share"], rows)
        + "\n"
    )


if __name__ == "__main__":
    print(main())
