"""Text generated from HTML (mailsdk.htmltext) and CSS inlining (Message(inline_css=True))."""

from __future__ import annotations

import email
import functools
import sys
from email import policy
from email.message import EmailMessage

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import mailsdk.htmltext
import mailsdk.message
from mailsdk import Message, MessageError, OutgoingMessage
from mailsdk.htmltext import html_to_text

NEWSLETTER = """<!doctype html><html><head><title>Hidden title</title>
<style>p { color: red }</style><script>var x = "<p>not text</p>";</script></head>
<body><h1>Spring &amp; news</h1>
<p>Dear   Alice,<br>thanks for
<a href="https://example.com/o?a=1&amp;b=2">your order</a>.</p>
<p>Write to <a href="mailto:help@example.com">help@example.com</a> or see
<a href="https://example.com/">https://example.com/</a>.</p>
<h2>Items</h2>
<ul><li>Tea</li><li>Cups<ol><li>blue</li><li>red</li></ol></li><li>Honey</li></ul>
<blockquote><p>Best tea ever</p><p>a customer</p></blockquote>
<pre>  code
   keeps  spaces</pre>
<table><tr><th>Total</th><td>12&nbsp;&euro;</td></tr></table>
<hr><p><img src="logo.png" alt="ACME"> <a href="#top">top</a></p>
</body></html>"""


def test_a_newsletter_reads_well() -> None:
    assert html_to_text(NEWSLETTER) == (
        "Spring & news\n"
        "=============\n"
        "\n"
        "Dear Alice,\n"
        "thanks for your order (https://example.com/o?a=1&b=2).\n"
        "\n"
        "Write to help@example.com or see https://example.com/.\n"
        "\n"
        "Items\n"
        "-----\n"
        "\n"
        "* Tea\n"
        "* Cups\n"
        "  1. blue\n"
        "  2. red\n"
        "* Honey\n"
        "\n"
        "> Best tea ever\n"
        ">\n"
        "> a customer\n"
        "\n"
        "  code\n"
        "   keeps  spaces\n"
        "\n"
        "Total 12 €\n"
        "\n"
        "----------------------------------------\n"
        "\n"
        "ACME top\n"
    )


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("", ""),
        ("<p>  </p><script>x</script>", ""),
        ("plain words", "plain words\n"),
        ("<h3>Small heading</h3>body", "Small heading\n\nbody\n"),
        ('<a href="https://x.example/">click</a>', "click (https://x.example/)\n"),
        ('<a href="https://x.example/"></a>', "https://x.example/\n"),
        ('<a href="javascript:void(0)">menu</a>', "menu\n"),
        ('<a href="https://x.example/">unclosed', "unclosed (https://x.example/)\n"),
        ("<ol><li>one<li>two</ol>", "1. one\n2. two\n"),
        ("a<br>b<br><br>c", "a\nb\n\nc\n"),
        ("<p>a</p><p>b</p>", "a\n\nb\n"),
        ("<div>a</div><div>b</div>", "a\nb\n"),
        ("&lt;tag&gt; &amp; &quot;q&quot; &#x263A; &eacute;", '<tag> & "q" ☺ é\n'),
        ("<head><title>t</title><body>shown", "shown\n"),
        ("<style>unclosed { style", ""),
        ("</a></li></ol></blockquote>stray ends", "stray ends\n"),
    ],
)
def test_cases(html: str, text: str) -> None:
    assert html_to_text(html) == text


tags = st.sampled_from(
    [
        "a",
        "p",
        "br",
        "div",
        "h1",
        "h2",
        "h3",
        "ul",
        "ol",
        "li",
        "pre",
        "blockquote",
        "table",
        "tr",
        "td",
        "th",
        "script",
        "style",
        "head",
        "body",
        "img",
        "hr",
        "span",
        "b",
        "title",
        "template",
    ]
)


@st.composite
def html_soup(draw: st.DrawFn) -> str:
    """Tag soup: open and close tags in any order, attributes, entities, text."""
    pieces = []
    for _ in range(draw(st.integers(0, 40))):
        kind = draw(st.integers(0, 4))
        tag = draw(tags)
        if kind == 0:
            attr = draw(
                st.sampled_from(["", ' href="https://e.x/?a&amp;b"', ' alt="<x>"', " href"])
            )
            pieces.append(f"<{tag}{attr}>")
        elif kind == 1:
            pieces.append(f"</{tag}>")
        elif kind == 2:
            pieces.append(
                draw(st.sampled_from(["&amp;", "&nbsp;", "&#0;", "&#xFFFFFF;", "&bogus"]))
            )
        else:
            pieces.append(draw(st.text(max_size=20)))
    return "".join(pieces)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text() | html_soup())
@example("<a href='x'><h1>nested<a>")
@example("<pre>\r\n\r</pre><li><ol><li>")
@example("<![CDATA[x]]><!-- c --><?php ?><!bogus>")
def test_never_raises_and_never_shows_scripts(html: str) -> None:
    text = html_to_text.__wrapped__(html)
    assert isinstance(text, str)
    assert text == "" or (text.endswith("\n") and not text.startswith("\n"))
    assert "\n\n\n" not in text
    # And a message built from it renders.
    message = Message(from_="a@example.com", to="b@example.com", html=html)
    assert OutgoingMessage(message).raw


def _parts(raw: bytes) -> list[str]:
    parsed = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return [p.get_content_type() for p in parsed.walk()]


def test_an_html_only_message_gets_a_text_alternative() -> None:
    message = Message(from_="a@example.com", to="b@example.com", html=NEWSLETTER)
    assert message.text == html_to_text(NEWSLETTER)
    assert _parts(OutgoingMessage(message).raw) == [
        "multipart/alternative",
        "text/plain",
        "text/html",
    ]
    again = Message.model_validate_json(message.model_dump_json())
    assert again.text == message.text


def test_text_false_sends_html_only_and_survives_json_and_dicts() -> None:
    message = Message(from_="a@example.com", to="b@example.com", html="<p>x</p>", text=False)
    assert message.text is None
    assert _parts(OutgoingMessage(message).raw) == ["text/html"]
    again = Message.model_validate_json(message.model_dump_json())
    assert again.text is None
    from_dict = Message.model_validate(
        {"from": "a@example.com", "to": "b@example.com", "html": "<p>x</p>", "text": False}
    )
    assert from_dict.text is None


def test_html_that_shows_no_text_gets_no_text_part() -> None:
    message = Message(from_="a@example.com", to="b@example.com", html='<img src="cid:x">')
    assert message.text is None


def test_messages_with_text_never_call_the_converter(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(html: str) -> str:
        raise AssertionError("converter called")

    monkeypatch.setattr(mailsdk.htmltext, "html_to_text", refuse)
    Message(from_="a@example.com", to="b@example.com", text="t", html="<p>h</p>")
    Message(from_="a@example.com", to="b@example.com", text="t")
    Message(from_="a@example.com", to="b@example.com", html="<p>h</p>", text=False)


STYLED = (
    "<html><head><style>p { color: red } "
    "@media (max-width: 600px) { p { color: blue } }</style>"
    '<link rel="stylesheet" href="https://example.com/remote.css"></head>'
    "<body><p>Hello</p></body></html>"
)


def test_inline_css_moves_rules_into_style_attributes() -> None:
    message = Message(from_="a@example.com", to="b@example.com", html=STYLED, inline_css=True)
    assert message.html is not None
    assert '<p style="color: red;">Hello</p>' in message.html
    # Media queries cannot be inlined: they stay in a <style>; a <link> is kept, not fetched.
    assert "@media (max-width: 600px)" in message.html
    assert 'href="https://example.com/remote.css"' in message.html
    assert message.text == "Hello\n"


def test_inline_css_is_applied_once(monkeypatch: pytest.MonkeyPatch) -> None:
    import css_inline

    calls = []
    real = css_inline.CSSInliner

    class Counting:
        def __init__(self, **options: object) -> None:
            self.inliner = real(**options)

        def inline(self, html: str) -> str:
            calls.append(html)
            return self.inliner.inline(html)

    monkeypatch.setattr(css_inline, "CSSInliner", Counting)
    # The process keeps one inliner: a fresh cache for this test, so it builds a Counting one.
    fresh = functools.lru_cache(maxsize=1)(mailsdk.message._css_inliner.__wrapped__)
    monkeypatch.setattr(mailsdk.message, "_css_inliner", fresh)
    message = Message(from_="a@example.com", to="b@example.com", html=STYLED, inline_css=True)
    outgoing = OutgoingMessage(message)
    assert outgoing.raw == outgoing.raw
    again = Message.model_validate_json(message.model_dump_json())
    assert again.html == message.html
    assert len(calls) == 1
    Message(from_="a@example.com", to="b@example.com", html=STYLED)  # not asked: not called
    assert len(calls) == 1


def test_a_missing_extra_names_the_pip_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "css_inline", None)
    with pytest.raises(MessageError, match=r"pip install 'mailsdk\[css\]'"):
        Message(from_="a@example.com", to="b@example.com", html=STYLED, inline_css=True)
