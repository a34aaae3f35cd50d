"""CPU to generate the text alternative from HTML, and what it adds to making a Message.

``mailsdk.htmltext.html_to_text`` uncached on the benchmark HTML and on a ~30 KB newsletter;
then the cost of making a Message four ways in the same run (A B A B, best of two): text and
HTML given (the converter never runs), HTML only with a fresh HTML each time (converted every
time), HTML only with one shared HTML (the cache converts it once), and ``text=False``; and
``inline_css=True`` (css-inline) on the newsletter, when the extra is installed.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from benchmarks._common import HTML, TEXT, table
from mailsdk import Message
from mailsdk.htmltext import html_to_text

NEWSLETTER = (
    "<html><head><style>p { color: #333 } .b { font-weight: bold }</style></head><body>"
    + (
        "<h2>Section</h2><p class='b'>Dear reader, this week's <a href='https://example.com/a'>"
        "story</a> &amp; more.</p><ul><li>one</li><li>two</li><li>three</li></ul>"
        "<table><tr><td>Item</td><td>12&nbsp;&euro;</td></tr></table>\n"
    )
    * 120
    + "</body></html>"
)


def _cpu_ms(fn: Callable[[int], object], count: int) -> float:
    start = time.process_time()
    for i in range(count):
        fn(i)
    return (time.process_time() - start) * 1000 / count


def _message(i: int, **fields: object) -> Message:
    return Message(
        from_="Reports <reports@example.com>",
        to=[f"user{i}@example.com"],
        subject=f"Daily report {i}",
        **fields,  # type: ignore[arg-type]
    )


def main(count: int = 300) -> str:
    """Returns the Markdown report."""
    convert = html_to_text.__wrapped__  # uncached: the cost of one conversion
    cases: dict[str, Callable[[int], object]] = {
        f"html_to_text, benchmark HTML ({len(HTML) / 1024:.1f} KB)": lambda i: convert(HTML),
        f"html_to_text, newsletter ({len(NEWSLETTER) / 1024:.0f} KB)": lambda i: convert(
            NEWSLETTER
        ),
        "Message(text=..., html=...): converter not run": lambda i: _message(
            i, text=TEXT, html=HTML
        ),
        "Message(html=...), a fresh HTML each time": lambda i: _message(
            i, html=HTML + f"<p>{i}</p>"
        ),
        "Message(html=...), one shared HTML (cached)": lambda i: _message(i, html=HTML),
        "Message(html=..., text=False)": lambda i: _message(i, html=HTML, text=False),
    }
    try:
        import css_inline  # noqa: F401
    except ImportError:
        pass
    else:
        cases["Message(newsletter, text given, inline_css=True)"] = lambda i: _message(
            i, text=TEXT, html=NEWSLETTER, inline_css=True
        )
    best: dict[str, float] = {}
    for _ in range(2):  # A B A B
        for label, fn in cases.items():
            best[label] = min(best.get(label, 1e9), _cpu_ms(fn, count))
    rows = [[label, f"{ms:.3f}"] for label, ms in best.items()]
    return "### Text from HTML (CPU per call)\n\n" + table(["case", "CPU ms"], rows)
