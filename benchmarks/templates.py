"""CPU per message to make a personalised Message from a Jinja2 Template, against by hand.

Every message has a text and an html part of 60 repeated lines each (about 3.6 KB together),
personalised with a name, and a number and an amount in each line; no attachment. Four
ways, each producing a validated ``Message`` (or only the parts):

- by hand: f-strings and ``html.escape`` for the three parts, then ``Message(...)``;
- ``Template.render``: the three parts rendered by Jinja2 (sandboxed, autoescaped html,
  strict undefined), no ``Message``;
- ``Template.message``: rendering and ``Message(...)``, what an application calls;
- compiling: ``Template(...)`` itself, which an application does once, not per message.

The per-message figure is the better of two runs of ``count`` messages, A B A B.
"""

from __future__ import annotations

import html
import time
from collections.abc import Callable

from benchmarks._common import table
from mailsdk import Message
from mailsdk.templates import Template

LINES = 60
SUBJECT = "Invoice {{ number }} for {{ name }}"
TEXT = "Hello {{ name }},\n" + "Invoice {{ number }} is {{ amount }} EUR.\n" * LINES
HTML = (
    "<p>Hello {{ name }},</p>\n"
    + "<p>Invoice <b>{{ number }}</b> is {{ amount }} EUR.</p>\n" * LINES
)


def _context(i: int) -> dict[str, object]:
    return {"name": f"Customer <{i}> & Co", "number": i, "amount": f"{i % 997}.50"}


def _by_hand(i: int) -> Message:
    c = _context(i)
    name, number, amount = str(c["name"]), c["number"], c["amount"]
    escaped = html.escape(name)
    return Message(
        from_="Billing <billing@example.com>",
        to=[f"user{i}@example.com"],
        subject=f"Invoice {number} for {name}",
        text=f"Hello {name},\n" + f"Invoice {number} is {amount} EUR.\n" * LINES,
        html=f"<p>Hello {escaped},</p>\n"
        + f"<p>Invoice <b>{number}</b> is {amount} EUR.</p>\n" * LINES,
    )


def _cpu_ms(fn: Callable[[int], object], count: int) -> float:
    start = time.process_time()
    for i in range(count):
        fn(i)
    return (time.process_time() - start) * 1000 / count


def main(count: int = 2000) -> str:
    """Returns the Markdown report."""
    template = Template(subject=SUBJECT, text=TEXT, html=HTML)
    # The two ways must make the same message, or the comparison means nothing.
    made = template.message(
        _context(1), from_="Billing <billing@example.com>", to=["user1@example.com"]
    )
    by_hand = _by_hand(1)
    assert (made.subject, made.text, made.html) == (by_hand.subject, by_hand.text, by_hand.html)

    cases: dict[str, Callable[[int], object]] = {
        "hand": _by_hand,
        "render": lambda i: template.render(_context(i)),
        "message": lambda i: template.message(
            _context(i), from_="Billing <billing@example.com>", to=[f"user{i}@example.com"]
        ),
        "compile": lambda i: Template(subject=SUBJECT, text=TEXT, html=HTML),
    }
    best: dict[str, float] = {}
    for _ in range(2):  # A B A B
        for key, fn in cases.items():
            runs = count if key != "compile" else max(count // 10, 1)
            best[key] = min(best.get(key, 1e9), _cpu_ms(fn, runs))
    base = best["hand"]
    rows = [
        [label, f"{best[key]:.3f}", f"{best[key] / base:.2f}" if key != "compile" else "-"]
        for key, label in (
            ("hand", "by hand: f-strings + html.escape, Message(...)"),
            ("render", "Template.render (subject, text, html)"),
            ("message", "Template.message (render + Message(...))"),
            ("compile", "Template(...) compile, once per template"),
        )
    ]
    size = len(made.text or "") + len(made.html or "")
    return (
        f"### Templates: a personalised message, {size / 1024:.1f} KB of text + html "
        "(CPU per message)\n\n" + table(["way", "CPU ms", "vs by hand"], rows) + "\n"
    )


if __name__ == "__main__":
    print(main())
