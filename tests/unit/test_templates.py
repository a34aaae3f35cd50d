"""mailsdk.templates: Jinja2 templates that make validated messages."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from mailsdk import Message, MessageError
from mailsdk.mime import OutgoingMessage
from mailsdk.templates import RenderedTemplate, Template

INVOICE = Template(
    subject="Invoice {{ number }} for {{ name }}",
    text="Hello {{ name }},\nyou owe {{ amount }}.\n",
    html="<p>Hello {{ name }},</p><p>you owe <b>{{ amount }}</b>.</p>",
)
CONTEXT = {"number": 42, "name": "Ann", "amount": "12.50 EUR"}


def test_render_returns_every_part() -> None:
    assert INVOICE.render(CONTEXT) == RenderedTemplate(
        subject="Invoice 42 for Ann",
        text="Hello Ann,\nyou owe 12.50 EUR.\n",
        html="<p>Hello Ann,</p><p>you owe <b>12.50 EUR</b>.</p>",
    )


def test_message_is_a_validated_message_with_the_other_fields() -> None:
    message = INVOICE.message(
        CONTEXT,
        from_="Billing <billing@example.com>",
        to=["ann@example.com"],
        headers={"X-Invoice": "42"},
    )
    assert isinstance(message, Message)
    assert message.subject == "Invoice 42 for Ann"
    assert message.to[0].email == "ann@example.com"
    assert message.headers == {"X-Invoice": "42"}
    raw = OutgoingMessage(message).raw
    assert b"Subject: Invoice 42 for Ann" in raw


def test_message_refuses_an_invalid_address_from_the_caller() -> None:
    with pytest.raises(MessageError, match="address"):
        INVOICE.message(CONTEXT, from_="billing@example.com", to=["not an address"])


@pytest.mark.parametrize("part", ["subject", "text", "html"])
def test_message_refuses_parts_as_keywords(part: str) -> None:
    with pytest.raises(MessageError, match=f"{part} come"):
        INVOICE.message(CONTEXT, from_="b@example.com", to=["a@example.com"], **{part: "x"})


def test_html_is_autoescaped_and_text_is_not() -> None:
    rendered = INVOICE.render({**CONTEXT, "name": "<script>alert(1)</script> & Co"})
    assert rendered.html is not None
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co" in rendered.html
    assert "<script>" not in rendered.html
    assert rendered.text is not None
    assert "<script>alert(1)</script> & Co" in rendered.text
    assert rendered.subject == "Invoice 42 for <script>alert(1)</script> & Co"


def test_safe_opts_a_value_out_of_escaping() -> None:
    template = Template(subject="s", html="{{ snippet | safe }} {{ snippet }}")
    assert template.render({"snippet": "<b>x</b>"}).html == "<b>x</b> &lt;b&gt;x&lt;/b&gt;"


@pytest.mark.parametrize(
    ("missing", "where"),
    [("number", "subject, line 1"), ("amount", "text, line 2"), ("name", "subject, line 1")],
)
def test_a_missing_variable_is_a_message_error_naming_it(missing: str, where: str) -> None:
    context = {k: v for k, v in CONTEXT.items() if k != missing}
    with pytest.raises(MessageError) as caught:
        INVOICE.render(context)
    assert f"'{missing}' is undefined" in str(caught.value)
    assert f"template {where}:" in str(caught.value)


def test_a_missing_variable_in_the_html_part_names_the_part() -> None:
    template = Template(subject="s", text="t", html="<p>{{ amount }}</p>")
    with pytest.raises(MessageError, match=r"template html, line 1: 'amount' is undefined"):
        template.render({})


def test_a_missing_variable_names_the_line_of_the_html_part() -> None:
    template = Template(subject="s", html="<p>\n{{ greeting }}\n{{ footer }}</p>")
    with pytest.raises(MessageError, match=r"template html, line 3: 'footer' is undefined"):
        template.render({"greeting": "hi"})


def test_a_missing_attribute_names_it() -> None:
    template = Template(subject="s", text="{{ user.nickname }}")
    with pytest.raises(MessageError, match="has no attribute 'nickname'"):
        template.render({"user": {"name": "Ann"}})


def test_is_defined_makes_a_variable_optional() -> None:
    template = Template(
        subject="s", text="{% if nick is defined %}{{ nick }}{% else %}-{% endif %}"
    )
    assert template.render({}).text == "-"
    assert template.render({"nick": "A"}).text == "A"


@pytest.mark.parametrize("value", ["a\nb", "a\r\nBcc: x@example.com", "a\r", "a\u2028b", "a\x85"])
def test_a_line_break_in_the_rendered_subject_is_refused(value: str) -> None:
    template = Template(subject="Hello {{ name }}", text="x")
    with pytest.raises(MessageError, match="subject has a line break"):
        template.render({"name": value})


@given(st.text(max_size=40))
@example("x\n")
@example("\u2028")
def test_the_subject_is_one_line_or_an_error(value: str) -> None:
    template = Template(subject="Re: {{ value }}", text="x")
    try:
        subject = template.render({"value": value}).subject
    except MessageError:
        # Every character str.splitlines() breaks on, a trailing one included.
        assert set(value) & set("\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
    else:
        assert subject == f"Re: {value}"
        assert len(subject.splitlines()) == 1


def test_the_subject_sources_final_newline_is_not_part_of_it() -> None:
    assert Template(subject="Hi {{ n }}\n", text="x").render({"n": 1}).subject == "Hi 1"


def test_a_syntax_error_is_a_message_error_with_the_line() -> None:
    with pytest.raises(MessageError, match=r"template text, line 3: syntax error"):
        Template(subject="s", text="one\ntwo\n{% if %}\n")
    with pytest.raises(MessageError, match=r"template subject, line 1: syntax error"):
        Template(subject="{{ unclosed", text="x")


def test_the_sandbox_refuses_unsafe_attributes() -> None:
    template = Template(subject="s", text="{{ ''.__class__.__mro__[1].__subclasses__() }}")
    with pytest.raises(MessageError, match="unsafe"):
        template.render({})


def test_the_sandbox_refuses_changing_the_context() -> None:
    template = Template(subject="s", text="{{ items.append(1) }}")
    items: list[int] = []
    with pytest.raises(MessageError, match="unsafe"):
        template.render({"items": items})
    assert items == []


def test_a_runtime_error_in_a_template_is_a_message_error() -> None:
    with pytest.raises(MessageError, match="template text, line 1: division by zero"):
        Template(subject="s", text="{{ 1 / 0 }}").render({})


def test_a_template_needs_a_body() -> None:
    with pytest.raises(MessageError, match="text part, an html part or both"):
        Template(subject="s")


def test_text_only_and_html_only() -> None:
    assert Template(subject="s", text="t").render().html is None
    assert Template(subject="s", html="<p>h</p>").render().text is None


def write_set(folder: Path, name: str, **parts: str) -> None:
    suffixes = {"subject": ".subject.j2", "text": ".txt.j2", "html": ".html.j2"}
    for part, source in parts.items():
        (folder / f"{name}{suffixes[part]}").write_text(source, encoding="utf-8")


def test_from_dir_reads_the_parts(tmp_path: Path) -> None:
    write_set(
        tmp_path,
        "invoice",
        subject="Invoice {{ number }}\n",
        text="Total: {{ total }}\n",
        html="<p>Total: {{ total }}</p>\n",
    )
    template = Template.from_dir(tmp_path, "invoice")
    assert template.render({"number": 7, "total": "<1>"}) == RenderedTemplate(
        "Invoice 7", "Total: <1>\n", "<p>Total: &lt;1&gt;</p>\n"
    )


def test_from_dir_with_a_subset_of_the_bodies(tmp_path: Path) -> None:
    write_set(tmp_path, "note", subject="Note", html="<p>{{ x }}</p>")
    assert Template.from_dir(tmp_path, "note").render({"x": 1}) == ("Note", None, "<p>1</p>")


def test_from_dir_errors_name_the_file(tmp_path: Path) -> None:
    write_set(tmp_path, "nosubject", text="x")
    with pytest.raises(MessageError, match=r"nosubject\.subject\.j2 is missing"):
        Template.from_dir(tmp_path, "nosubject")
    write_set(tmp_path, "nobody", subject="x")
    with pytest.raises(MessageError, match=r"neither nobody\.txt\.j2 nor nobody\.html\.j2"):
        Template.from_dir(tmp_path, "nobody")
    write_set(tmp_path, "broken", subject="x", html="<p>\n{% for %}</p>")
    with pytest.raises(MessageError, match=r"template broken\.html\.j2, line 2: syntax error"):
        Template.from_dir(tmp_path, "broken")
    write_set(tmp_path, "missing", subject="x", text="a\n\n{{ who }}")
    with pytest.raises(MessageError, match=r"missing\.txt\.j2, line 3: 'who' is undefined"):
        Template.from_dir(tmp_path, "missing").render({})
    with pytest.raises(MessageError, match="not a plain file name"):
        Template.from_dir(tmp_path, "../invoice")


def test_from_dir_parts_include_and_extend_files_of_the_folder(tmp_path: Path) -> None:
    (tmp_path / "layout.html.j2").write_text(
        "<html><body>{% block body %}{% endblock %}<p>{{ footer }}</p></body></html>",
        encoding="utf-8",
    )
    (tmp_path / "signature.txt.j2").write_text("-- \n{{ team }}\n", encoding="utf-8")
    write_set(
        tmp_path,
        "welcome",
        subject="Welcome",
        text='Hi {{ name }}\n{% include "signature.txt.j2" %}',
        html='{% extends "layout.html.j2" %}{% block body %}<h1>{{ name }}</h1>{% endblock %}',
    )
    rendered = Template.from_dir(tmp_path, "welcome").render(
        {"name": "<Ann>", "team": "<Ops>", "footer": "&"}
    )
    assert rendered.text == "Hi <Ann>\n-- \n<Ops>\n"
    assert rendered.html == "<html><body><h1>&lt;Ann&gt;</h1><p>&amp;</p></body></html>"


def test_includes_cannot_leave_the_folder(tmp_path: Path) -> None:
    folder = tmp_path / "templates"
    folder.mkdir()
    (tmp_path / "secret.txt").write_text("secret", encoding="utf-8")
    write_set(folder, "t", subject="s", text='{% include "../secret.txt" %}')
    with pytest.raises(MessageError, match=r"t\.txt\.j2"):
        Template.from_dir(folder, "t").render({})


def test_string_templates_have_no_files_to_include() -> None:
    with pytest.raises(MessageError, match=r"template text, line 1: 'other\.txt' not found"):
        Template(subject="s", text='{% include "other.txt" %}').render({})


def test_importing_without_jinja2_names_the_extra(tmp_path: Path) -> None:
    # A stand-in package that fails to import, ahead of the real Jinja2 on the path.
    blocker = tmp_path / "jinja2"
    blocker.mkdir()
    (blocker / "__init__.py").write_text("raise ImportError('no jinja2 here')\n")
    code = textwrap.dedent(
        """
        try:
            import mailsdk.templates
        except ImportError as exc:
            print(exc)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={"PYTHONPATH": f"{tmp_path}:{Path(__file__).resolve().parents[2]}"},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert "pip install 'mailsdk[templates]'" in done.stdout


def test_plain_mailsdk_does_not_load_jinja2() -> None:
    # Templates stay off the path of messages that do not use them.
    code = "import sys, mailsdk, mailsdk.cli; print('jinja2' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={"PYTHONPATH": str(Path(__file__).resolve().parents[2])},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert done.stdout.strip() == "False"


def test_inline_css_option_reaches_the_message() -> None:
    source = "<style>p { color: red }</style><p>{{ name }}</p>"
    template = Template(subject="s", html=source, inline_css=True)
    message = template.message({"name": "<Ann>"}, from_="b@example.com", to=["a@example.com"])
    assert message.inline_css is True
    assert message.html is not None
    assert 'style="color: red;"' in message.html
    assert "&lt;Ann&gt;" in message.html
    plain = Template(subject="s", html=source).message(
        {"name": "Ann"}, from_="b@example.com", to=["a@example.com"]
    )
    assert plain.inline_css is False
    overridden = template.message(
        {"name": "Ann"}, from_="b@example.com", to=["a@example.com"], inline_css=False
    )
    assert overridden.inline_css is False


def test_inline_css_from_dir(tmp_path: Path) -> None:
    write_set(tmp_path, "styled", subject="s", html="<style>b { color: blue }</style><b>x</b>")
    message = Template.from_dir(tmp_path, "styled", inline_css=True).message(
        from_="b@example.com", to=["a@example.com"]
    )
    assert message.html is not None
    assert 'style="color: blue;"' in message.html
