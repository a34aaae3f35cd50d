"""What every benchmark shares: the 34 KB message, the sink, and measurement helpers."""

from __future__ import annotations

import os
import resource
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from mailsdk import Attachment, Message  # noqa: E402
from tests.peers.smtp_sink import SmtpSink, start_smtp_sink  # noqa: E402

TEXT = "Hello,\n\nThis is the daily report.\n" * 60
HTML = "<p>Hello,</p><p>This is the <b>daily</b> report.</p>\n" * 60
ATTACHMENT_BYTES = os.urandom(20 * 1024)


def message(i: int, attachment: Attachment | None = None) -> Message:
    """The benchmark message: multipart/alternative text + html and a 20 KB attachment."""
    return Message(
        from_="Reports <reports@example.com>",
        to=[f"user{i}@example.com"],
        subject=f"Daily report {i}",
        text=TEXT,
        html=HTML,
        attachments=[attachment or Attachment(filename="report.bin", content=ATTACHMENT_BYTES)],
    )


def unique_message(i: int, recipients: int = 1) -> Message:
    """The benchmark message with its own text, html and attachment bytes (a real merge).

    Every message differs in all three parts, so no cache keyed on a part's identity or
    content can help; *recipients* addresses share the one message (To: lists them all).
    """
    tail = f"\nReference {i}.\n"
    to = (
        [f"user{i}@example.com"]
        if recipients == 1
        else [f"user{i}-{k}@example.com" for k in range(recipients)]
    )
    return Message(
        from_="Reports <reports@example.com>",
        to=to,
        subject=f"Daily report {i}",
        text=TEXT + tail,
        html=HTML + f"<p>{tail}</p>",
        attachments=[
            Attachment(
                filename=f"report-{i}.bin", content=ATTACHMENT_BYTES[:-8] + i.to_bytes(8, "big")
            )
        ],
    )


@dataclass
class Run:
    """One measured run of one client."""

    sent: int
    seconds: float
    cpu_seconds: float
    peak_rss_kb: int = 0

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0

    @property
    def cpu_ms_per_message(self) -> float:
        return self.cpu_seconds * 1000 / self.sent if self.sent else 0.0


@contextmanager
def measured() -> Iterator[list[float]]:
    """Yields a list that receives [wall seconds, cpu seconds] when the block ends."""
    out: list[float] = []
    wall, cpu = time.perf_counter(), time.process_time()
    yield out
    out.extend([time.perf_counter() - wall, time.process_time() - cpu])


def peak_rss_kb() -> int:
    """This process's peak resident set size so far."""
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


@contextmanager
def sink(*flags: str) -> Iterator[SmtpSink]:
    """Postfix's smtp-sink on a free loopback port."""
    with start_smtp_sink(list(flags)) as running:
        yield running


def table(headers: list[str], rows: list[list[str]]) -> str:
    """A Markdown table."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |"
    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    body = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in rows
    ]
    return "\n".join([line, rule, *body])
