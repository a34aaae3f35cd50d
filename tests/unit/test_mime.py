"""Rendering: every message is read back with the stdlib parser and compared with its input.

``as_bytes()`` is held to the issue's rules: the multipart tree (mixed > related > alternative,
each only when needed), headers that decode to what was given, no Bcc, a Message-ID and Date,
payloads that decode to the input, CRLF only, no line over 998 octets, deterministic bytes
when Message-ID and Date are fixed, punycode for IDN domains and raw UTF-8 only for SMTPUTF8.
"""

from __future__ import annotations

import email
import re
from datetime import datetime, timedelta, timezone
from email import policy
from email.header import decode_header, make_header
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from typing import Any

import pytest

from mailsdk import Address, Attachment, Message, MessageError

SENDER = "Sender <sender@example.com>"
FIXED = {"Message-ID": "<fixed.1@example.com>", "Date": "Mon, 01 Jan 2024 12:00:00 +0000"}
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))
PDF = b"%PDF-1.7\r\n%\xe2\xe3\xcf\xd3\r\n" + bytes(range(255, -1, -1)) + b"\n\r\x00"
UTF8_RCPT = "josé@example.com"  # a non-ASCII local part: the message needs SMTPUTF8


@pytest.fixture(autouse=True)
def _no_default_sender(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MAILSDK_FROM", raising=False)


def make(**fields: Any) -> Message:
    base: dict[str, Any] = {"from_": SENDER, "to": ["rcpt@example.com"], "headers": dict(FIXED)}
    base.update(fields)
    return Message(**base)


def inline_png(cid: str = "logo@example.com", filename: str = "logo.png") -> Attachment:
    return Attachment(filename=filename, content=PNG, inline=True, cid=cid)


def pdf(filename: str = "report.pdf") -> Attachment:
    return Attachment(filename=filename, content=PDF)


def assert_wire_safe(raw: bytes) -> None:
    """CRLF line endings only, every line at most 998 octets, a final CRLF."""
    assert raw.endswith(b"\r\n")
    bare = re.search(rb"\r(?!\n)|(?<!\r)\n", raw)
    assert bare is None, (
        f"bare CR or LF at {bare.start()}: {raw[bare.start() - 40 : bare.start() + 40]!r}"
    )
    longest = max(len(line) for line in raw.split(b"\r\n"))
    assert longest <= 998, f"a line of {longest} octets"


def parse(msg: Message) -> tuple[bytes, EmailMessage]:
    """Render *msg*, check the wire rules, and read it back with the stdlib parser."""
    raw = msg.as_bytes()
    assert_wire_safe(raw)
    if msg.needs_smtputf8():
        parsed = email.message_from_string(raw.decode("utf-8"), policy=policy.default)
    else:
        assert raw.isascii(), "a message that needs no SMTPUTF8 must be plain ASCII"
        parsed = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    for part in parsed.walk():
        assert not part.defects, (part.get_content_type(), part.defects)
    return raw, parsed


def tree(part: EmailMessage) -> Any:
    if part.is_multipart():
        return (part.get_content_type(), [tree(p) for p in part.iter_parts()])
    return part.get_content_type()


def leaves(part: EmailMessage) -> list[EmailMessage]:
    return [p for p in part.walk() if not p.is_multipart()]


def text_of(part: EmailMessage) -> str:
    content = part.get_content()
    assert isinstance(content, str)
    return content.replace("\r\n", "\n")


def normalised(text: str) -> str:
    """What a text body must decode to: CR, LF and CRLF all read as one newline, and a final
    newline (the stdlib parser and generator both end a text part with one)."""
    text = re.sub(r"\r\n|\r", "\n", text)
    return text if text.endswith("\n") else text + "\n"


def addresses(parsed: EmailMessage, name: str) -> list[tuple[str, str]]:
    header = parsed[name]
    return [(a.display_name, a.addr_spec) for a in header.addresses] if header else []


def expected(addrs: list[Address]) -> list[tuple[str, str]]:
    return [(a.name, a.envelope) for a in addrs]


def raw_header(raw: bytes, name: str) -> str:
    """The unfolded text of the first *name* header in the top-level header block."""
    head = raw.split(b"\r\n\r\n", 1)[0].decode("utf-8")
    match = re.search(rf"(?im)^{re.escape(name)}:([^\r\n]*(?:\r\n[ \t][^\r\n]*)*)", head)
    assert match, f"no {name} header"
    return match.group(1).replace("\r\n", "")


# ---------------------------------------------------------------------------------------------
# Structure
# ---------------------------------------------------------------------------------------------

STRUCTURES: dict[str, tuple[dict[str, Any], Any]] = {
    "text only": ({"text": "Hello"}, "text/plain"),
    "html only": ({"html": "<p>Hello</p>", "text": False}, "text/html"),
    "html with generated text": (
        {"html": "<p>Hello</p>"},
        ("multipart/alternative", ["text/plain", "text/html"]),
    ),
    "neither text nor html": ({}, "text/plain"),
    "text + html": (
        {"text": "Hello", "html": "<p>Hello</p>"},
        ("multipart/alternative", ["text/plain", "text/html"]),
    ),
    "html + inline image": (
        {"html": '<img src="cid:logo@example.com">', "attachments": [inline_png()]},
        ("multipart/related", ["text/html", "image/png"]),
    ),
    "text + html + inline image": (
        {"text": "Hi", "html": '<img src="cid:logo@example.com">', "attachments": [inline_png()]},
        (
            "multipart/related",
            [("multipart/alternative", ["text/plain", "text/html"]), "image/png"],
        ),
    ),
    "text + html + inline image + attachment": (
        {
            "text": "Hi",
            "html": '<img src="cid:logo@example.com">',
            "attachments": [pdf(), inline_png()],
        },
        (
            "multipart/mixed",
            [
                (
                    "multipart/related",
                    [("multipart/alternative", ["text/plain", "text/html"]), "image/png"],
                ),
                "application/pdf",
            ],
        ),
    ),
    "text + attachment": (
        {"text": "See attached", "attachments": [pdf()]},
        ("multipart/mixed", ["text/plain", "application/pdf"]),
    ),
    "html + attachment": (
        {"html": "<p>See attached</p>", "text": False, "attachments": [pdf()]},
        ("multipart/mixed", ["text/html", "application/pdf"]),
    ),
    "text + html + two attachments": (
        {"text": "a", "html": "<p>a</p>", "attachments": [pdf("a.pdf"), pdf("b.pdf")]},
        (
            "multipart/mixed",
            [
                ("multipart/alternative", ["text/plain", "text/html"]),
                "application/pdf",
                "application/pdf",
            ],
        ),
    ),
    "inline image without html": (
        {"text": "No HTML to refer to the image", "attachments": [inline_png()]},
        ("multipart/mixed", ["text/plain", "image/png"]),
    ),
    "html + two inline images + attachment": (
        {
            "html": '<img src="cid:a@x"><img src="cid:b@x">',
            "attachments": [inline_png("a@x", "a.png"), pdf(), inline_png("b@x", "b.png")],
        },
        (
            "multipart/mixed",
            [("multipart/related", ["text/html", "image/png", "image/png"]), "application/pdf"],
        ),
    ),
}


@pytest.mark.parametrize(("fields", "shape"), STRUCTURES.values(), ids=STRUCTURES)
@pytest.mark.parametrize("smtputf8", [False, True], ids=["ascii", "smtputf8"])
def test_structure(fields: dict[str, Any], shape: Any, smtputf8: bool) -> None:
    extra = {"cc": [UTF8_RCPT]} if smtputf8 else {}
    _, parsed = parse(make(**fields, **extra))
    assert tree(parsed) == shape


@pytest.mark.parametrize(("fields", "shape"), STRUCTURES.values(), ids=STRUCTURES)
def test_mime_version_appears_once_at_the_top(fields: dict[str, Any], shape: Any) -> None:
    raw, parsed = parse(make(**fields))
    assert raw.count(b"MIME-Version:") == 1
    assert parsed.get_all("MIME-Version") == ["1.0"]
    for part in list(parsed.walk())[1:]:
        assert part["MIME-Version"] is None


def test_inline_image_is_referenced_by_content_id() -> None:
    _, parsed = parse(
        make(html='<img src="cid:logo@example.com">', attachments=[inline_png("logo@example.com")])
    )
    image = leaves(parsed)[-1]
    assert image["Content-ID"] == "<logo@example.com>"
    assert image.get_content_disposition() == "inline"
    assert image.get_filename() == "logo.png"
    assert image.get_content() == PNG


def test_inline_image_without_html_keeps_its_content_id() -> None:
    _, parsed = parse(make(text="x", attachments=[inline_png("logo@example.com")]))
    image = leaves(parsed)[-1]
    assert image["Content-ID"] == "<logo@example.com>"
    assert image.get_content_disposition() == "inline"


def test_generated_content_id_is_rendered() -> None:
    att = Attachment(filename="logo.png", content=PNG, inline=True)
    _, parsed = parse(make(html=f'<img src="cid:{att.cid}">', attachments=[att]))
    assert leaves(parsed)[-1]["Content-ID"] == f"<{att.cid}>"


def test_regular_attachment_is_an_attachment_without_content_id() -> None:
    _, parsed = parse(make(text="x", attachments=[pdf()]))
    part = leaves(parsed)[-1]
    assert part.get_content_disposition() == "attachment"
    assert part["Content-ID"] is None
    assert part.get_filename() == "report.pdf"


# ---------------------------------------------------------------------------------------------
# Headers
# ---------------------------------------------------------------------------------------------

PEOPLE = {
    "from_": Address("Zoë Ångström", "zoe@example.com"),
    "to": [
        Address("Smith, Bob", "bob@example.com"),
        Address('Ann "The Boss" Lee', "ann@example.com"),
        Address("", "plain@example.com"),
    ],
    "cc": [Address("Jürgen Müller", "juergen@example.com"), Address("李小龍", "lee@example.com")],
    "reply_to": [Address("Support (EU); Team", "support@example.com")],
}


@pytest.mark.parametrize("smtputf8", [False, True], ids=["ascii", "smtputf8"])
def test_address_headers_decode_to_the_input(smtputf8: bool) -> None:
    people = dict(PEOPLE)
    if smtputf8:
        people["bcc"] = [UTF8_RCPT]
    msg = make(**people)
    _, parsed = parse(msg)
    assert addresses(parsed, "From") == expected([PEOPLE["from_"]])
    for field, header in (("to", "To"), ("cc", "Cc"), ("reply_to", "Reply-To")):
        assert addresses(parsed, header) == expected(PEOPLE[field])


@pytest.mark.parametrize(
    "subject",
    ["Hello", "Grüße aus Köln", "你好世界", "🎉 Party 🎉", "a: b; c, <d> \"e\" (f)",
     "=?not an encoded word", "tab\there", "Ünïcödé " * 20, "€" * 200],
    ids=repr,
)  # fmt: skip
@pytest.mark.parametrize("smtputf8", [False, True], ids=["ascii", "smtputf8"])
def test_subject_decodes_to_the_input(subject: str, smtputf8: bool) -> None:
    extra = {"cc": [UTF8_RCPT]} if smtputf8 else {}
    _, parsed = parse(make(subject=subject, **extra))
    assert str(parsed["Subject"]) == subject


def test_empty_subject_is_rendered_empty() -> None:
    _, parsed = parse(make(subject=""))
    assert str(parsed["Subject"] or "") == ""


def test_bcc_is_never_rendered() -> None:
    raw, parsed = parse(
        make(bcc=["Hidden Person <hidden@example.com>", "other.hidden@example.com"])
    )
    assert parsed["Bcc"] is None
    assert b"hidden" not in raw.lower()
    assert b"Hidden Person" not in raw


def test_bcc_only_message_has_no_recipient_headers_at_all() -> None:
    raw, parsed = parse(Message(from_=SENDER, bcc=["hidden@example.com"], headers=FIXED))
    assert parsed["Bcc"] is None
    assert parsed["Cc"] is None
    assert b"hidden@example.com" not in raw


def test_envelope_from_is_not_rendered_as_a_header() -> None:
    raw, parsed = parse(make(envelope_from="bounces@example.org"))
    assert parsed["Return-Path"] is None
    assert b"bounces@example.org" not in raw


def test_generated_message_id_and_date() -> None:
    before = datetime.now(timezone.utc).replace(microsecond=0)
    _, parsed = parse(make(headers={}))
    assert re.fullmatch(r"<[!-;=?-~]+@example\.com>", str(parsed["Message-ID"]))
    assert len(parsed.get_all("Message-ID")) == 1
    assert len(parsed.get_all("Date")) == 1
    date = parsedate_to_datetime(str(parsed["Date"]))
    assert (
        before - timedelta(seconds=1) <= date <= datetime.now(timezone.utc) + timedelta(seconds=1)
    )


def test_message_id_domain_is_ascii_for_an_idn_sender() -> None:
    _, parsed = parse(make(from_="ann@bücher.example", headers={}))
    assert str(parsed["Message-ID"]).endswith("@xn--bcher-kva.example>")


def test_given_message_id_and_date_are_used_once() -> None:
    _, parsed = parse(make())
    assert parsed.get_all("Message-ID") == [FIXED["Message-ID"]]
    assert parsedate_to_datetime(str(parsed["Date"])) == parsedate_to_datetime(FIXED["Date"])
    assert len(parsed.get_all("Date")) == 1


@pytest.mark.parametrize(
    "date",
    [
        "Mon, 01 Jan 2024 12:00:00 +0000",
        "1 Jan 2024 12:00 +0000",
        "  Mon,   01 Jan 2024 12:00:00 +0000",
        "Mon, 01 Jan 2024 12:00:00 GMT",
        "Mon, 01 Jan 2024 12:00:00 +0000 (UTC)",
        "Mon, 01 Jan 2024 12:00:00 +0000 (Koordinierte Weltzeit, München)",
        "Mon, 01 Jan 2024 12:00:00 +0000 " + " " * 1200,
        "Mon, 01 Jan 2024 12:00:00 +0000 (" + "x" * 1200 + ")",
    ],
    ids=["canonical", "short", "extra spaces", "GMT", "comment", "non-ASCII comment",
         "trailing spaces", "long comment"],
)  # fmt: skip
def test_every_date_accepted_on_construction_renders(date: str) -> None:
    # A Date value is either refused by the model or rendered as a valid header giving the
    # same instant; it must never fail at send time (UnicodeEncodeError, line too long).
    try:
        msg = make(headers={"Message-ID": FIXED["Message-ID"], "Date": date})
    except MessageError:
        return
    _, parsed = parse(msg)
    assert parsedate_to_datetime(str(parsed["Date"])) == parsedate_to_datetime(FIXED["Date"])


@pytest.mark.parametrize("smtputf8", [False, True], ids=["ascii", "smtputf8"])
def test_custom_headers_are_rendered(smtputf8: bool) -> None:
    custom = {
        "X-Campaign": "spring-2024",
        "List-Unsubscribe": "<mailto:unsubscribe@example.com>, <https://example.com/u/42>",
        "X-Greeting": "Grüße, 你好",
        "X-Empty": "",
        "In-Reply-To": "<parent.1@example.com>",
    }
    extra = {"cc": [UTF8_RCPT]} if smtputf8 else {}
    _, parsed = parse(make(headers={**FIXED, **custom}, **extra))
    for name, value in custom.items():
        assert parsed.get_all(name) is not None, name
        assert [str(v) for v in parsed.get_all(name)] == [value], name


def test_exactly_the_intended_headers_are_rendered() -> None:
    _, parsed = parse(
        make(
            cc=["c@example.com"],
            bcc=["b@example.com"],
            reply_to=["r@example.com"],
            subject="s",
            text="t",
            headers={**FIXED, "X-One": "1"},
        )
    )
    assert sorted(k.lower() for k in parsed) == sorted(
        ["from", "to", "cc", "reply-to", "subject", "date", "message-id", "x-one",
         "mime-version", "content-type", "content-transfer-encoding"]
    )  # fmt: skip


def test_containers_changed_after_validation_cannot_inject() -> None:
    # The model is frozen, but its dict and lists are ordinary mutable containers. A change
    # after construction must either be impossible or be caught before anything is rendered.
    msg = make()
    try:
        msg.headers["Bcc"] = "evil@example.net"
        msg.headers["X-Note"] = "a\r\nInjected: yes"
    except (TypeError, AttributeError):
        return
    try:
        raw = msg.as_bytes()
    except MessageError:
        return
    parsed = email.message_from_bytes(raw, policy=policy.default)
    assert parsed["Bcc"] is None
    assert parsed["Injected"] is None


def test_tags_and_metadata_are_not_rendered() -> None:
    raw, _ = parse(make(tags=["secret-tag"], metadata={"secret-key": "secret-value"}))
    assert b"secret" not in raw


# ---------------------------------------------------------------------------------------------
# Payloads
# ---------------------------------------------------------------------------------------------

BODIES = {
    "ascii": "Hello,\nworld.\n",
    "no final newline": "Hello",
    "empty": "",
    "CRLF": "one\r\ntwo\r\nthree",
    "bare CR": "one\rtwo\rthree\r",
    "mixed endings": "a\rb\nc\r\nd\n\re\r\r\nf",
    "blank lines": "\n\n\na\n\n",
    "non-ASCII": "Grüße aus Köln\n你好世界 🎉\n",
    "mostly non-ASCII": "你好" * 500,
    "trailing whitespace": "a  \nb\t\nc \n",
    "dot and From lines": ".\n..\nFrom me\n>From you\n.leading dot\n",
    "boundary-like lines": "--\n--=_mailsdk_\n--=_mailsdk_0000--\n",
    "qp-like text": "=3D =20 =\n=?utf-8?q?x?=\n",
    "long lines": ("word " * 400 + "\n") * 3,
    "other line breaks": "a\x0bb\x0cc\x1cd\x85e\u2028f\u2029g",
}


@pytest.mark.parametrize("body", BODIES.values(), ids=BODIES)
@pytest.mark.parametrize("smtputf8", [False, True], ids=["ascii", "smtputf8"])
def test_text_and_html_decode_to_the_input(body: str, smtputf8: bool) -> None:
    extra = {"cc": [UTF8_RCPT]} if smtputf8 else {}
    _, parsed = parse(make(text=body, html=f"<pre>{body}</pre>", **extra))
    plain, html = leaves(parsed)
    assert text_of(plain) == normalised(body)
    assert text_of(html) == normalised(f"<pre>{body}</pre>")
    assert plain.get_content_charset() == html.get_content_charset() == "utf-8"


def test_text_parts_are_7bit_encoded() -> None:
    # Bodies never rely on the relay offering 8BITMIME.
    _, parsed = parse(make(text="Grüße " * 50, html="<p>" + "x" * 2000 + "</p>"))
    for part in leaves(parsed):
        assert part["Content-Transfer-Encoding"] in ("7bit", "quoted-printable", "base64")


def test_nul_in_a_body_never_reaches_the_wire() -> None:
    # RFC 5322 body text and RFC 2045 7bit data exclude NUL; it must be encoded.
    raw, parsed = parse(make(text="a\x00b\n"))
    assert b"\x00" not in raw
    assert text_of(leaves(parsed)[0]) == "a\x00b\n"


@pytest.mark.parametrize(
    "content",
    [b"", b"\x00", b"\r", b"\n", b"\r\n.\r\n", bytes(range(256)) * 40, b"A" * 100_000, PDF],
    ids=["empty", "NUL", "CR", "LF", "dot line", "all bytes", "100k", "pdf"],
)
def test_attachment_bytes_decode_to_the_input(content: bytes) -> None:
    att = Attachment(filename="data.bin", content=content)
    _, parsed = parse(make(text="x", attachments=[att]))
    part = leaves(parsed)[-1]
    assert part.get_payload(decode=True) == content
    assert part.get_content_type() == "application/octet-stream"


@pytest.mark.parametrize(
    "content_type", ["text/plain", "text/csv", "text/html", "application/json"]
)
def test_text_like_attachment_bytes_are_kept_exactly(content_type: str) -> None:
    content = b"a,b\r\nc,d\n\xff\xfe not utf-8\r"
    att = Attachment(filename="data.txt", content=content, content_type=content_type)
    _, parsed = parse(make(text="x", attachments=[att]))
    part = leaves(parsed)[-1]
    assert part.get_content_type() == content_type
    assert part.get_payload(decode=True) == content


def test_a_body_holding_the_boundary_does_not_split_the_message() -> None:
    fields: dict[str, Any] = {"text": "x", "html": "<p>x</p>", "attachments": [pdf(), inline_png()]}
    raw, _ = parse(make(**fields))
    boundaries = re.findall(rb'boundary="([^"]+)"', raw)
    assert len(boundaries) == 3
    trap = "\n".join(f"--{b.decode()}\n--{b.decode()}--" for b in boundaries)
    _, parsed = parse(make(**{**fields, "text": trap, "html": trap}))
    assert tree(parsed) == STRUCTURES["text + html + inline image + attachment"][1]
    plain, html, *_ = leaves(parsed)
    assert text_of(plain) == text_of(html) == normalised(trap)


def test_an_attachment_header_holding_the_boundary_does_not_split_the_message() -> None:
    # Only an attachment's header is searched for a boundary (its base64 body cannot hold
    # one): a file name that spells the boundary must still move it.
    fields: dict[str, Any] = {"text": "x", "attachments": [pdf()]}
    raw, _ = parse(make(**fields))
    (boundary,) = re.findall(rb'boundary="([^"]+)"', raw)
    trap = pdf(filename=f"--{boundary.decode()}.pdf")
    raw, parsed = parse(make(**{**fields, "attachments": [trap]}))
    assert boundary not in re.findall(rb'boundary="([^"]+)"', raw)
    assert [part.get_filename() for part in leaves(parsed)[1:]] == [trap.filename]
    assert leaves(parsed)[1].get_payload(decode=True) == PDF


# ---------------------------------------------------------------------------------------------
# CRLF only, 998 octets at most, whatever the input
# ---------------------------------------------------------------------------------------------

HUGE: dict[str, dict[str, Any]] = {
    "5000-char subject of words": {"subject": "word " * 999 + "end"},
    "5000-char subject, one word": {"subject": "x" * 5000},
    "5000-char non-ASCII subject": {"subject": "é" * 5000},
    "5000-char CJK subject": {"subject": "漢字かな交じり文" * 625},
    "subject with a 2000-space run": {"subject": "a" + " " * 2000 + "b"},
    "3000-char header word": {"headers": {**FIXED, "X-Long": "x" * 3000}},
    "3000-char URL header": {"headers": {**FIXED, "X-Url": "https://example.com/" + "a/" * 1500}},
    "3000-char non-ASCII header word": {"headers": {**FIXED, "X-Long": "ü" * 3000}},
    "100k single-line text": {"text": "x" * 100_000},
    "100k single-line non-ASCII text": {"text": "ü" * 100_000},
    "100k single-line html": {"html": "<p>" + "y" * 100_000 + "</p>"},
    "mixed line endings": {"text": "a\rb\nc\r\n" * 1000, "html": "\r\r\n\n" * 1000},
    "300-char ASCII filename": {"text": "x", "attachments": [pdf("a" * 296 + ".pdf")]},
    "300-char non-ASCII filename": {"text": "x", "attachments": [pdf("é" * 296 + ".pdf")]},
    "300 recipients": {"to": [f"user{i}@example.com" for i in range(300)]},
    "long display names": {
        "to": [Address("Name " * 100 + str(i), f"u{i}@example.com") for i in range(3)]
    },
    "long non-ASCII display name": {"to": [Address("Ñame, " * 150, "n@example.com")]},
}  # fmt: skip


@pytest.mark.parametrize("fields", HUGE.values(), ids=HUGE)
@pytest.mark.parametrize("smtputf8", [False, True], ids=["ascii", "smtputf8"])
def test_lines_never_exceed_998_octets_and_values_survive(
    fields: dict[str, Any], smtputf8: bool
) -> None:
    extra = {"bcc": [UTF8_RCPT]} if smtputf8 else {}
    msg = make(**fields, **extra)
    _, parsed = parse(msg)  # asserts CRLF only and the line limit
    assert str(parsed["Subject"] or "") == msg.subject
    for name, value in msg.headers.items():
        if name not in FIXED:
            assert str(parsed[name]) == value
    assert [a for _, a in addresses(parsed, "To")] == [a.envelope for a in msg.to]
    bodies = leaves(parsed)
    if msg.text is not None:
        assert text_of(bodies[0]) == normalised(msg.text)
    first = max(1, (msg.text is not None) + (msg.html is not None))
    for att, part in zip(msg.attachments, bodies[first:], strict=True):
        assert part.get_filename() == att.filename
        assert part.get_payload(decode=True) == att.content


@pytest.mark.parametrize("smtputf8", [False, True], ids=["ascii", "smtputf8"])
def test_output_is_crlf_only_whatever_the_input_line_endings(smtputf8: bool) -> None:
    extra = {"cc": [UTF8_RCPT]} if smtputf8 else {}
    msg = make(
        subject="s",
        text="\r\n\r\r\n\n\n\r",
        html="<b>\r</b>\n<i>\r\n</i>",
        attachments=[Attachment(filename="t.txt", content=b"\r\r\n\n")],
        **extra,
    )
    raw, _ = parse(msg)
    assert raw.count(b"\r") == raw.count(b"\n") == raw.count(b"\r\n")


# ---------------------------------------------------------------------------------------------
# Determinism
# ---------------------------------------------------------------------------------------------

RICH: dict[str, Any] = {
    "cc": ["Carol <carol@example.com>"],
    "subject": "Grüße",
    "text": "Hi",
    "html": '<img src="cid:logo@example.com">',
    "attachments": [pdf(), inline_png()],
}


@pytest.mark.parametrize("smtputf8", [False, True], ids=["ascii", "smtputf8"])
def test_fixed_message_id_and_date_give_identical_bytes(smtputf8: bool) -> None:
    extra = {"bcc": [UTF8_RCPT]} if smtputf8 else {}
    first = make(**RICH, **extra)
    again = make(**RICH, **extra)
    assert first.as_bytes() == first.as_bytes() == again.as_bytes()


def test_without_fixed_ids_each_render_differs() -> None:
    msg = make(**{**RICH, "headers": {}})
    one, two = msg.as_bytes(), msg.as_bytes()
    assert one != two
    ids = [email.message_from_bytes(r, policy=policy.default)["Message-ID"] for r in (one, two)]
    assert ids[0] != ids[1]
    assert re.findall(rb'boundary="([^"]+)"', one) != re.findall(rb'boundary="([^"]+)"', two)


def test_different_message_ids_give_different_boundaries() -> None:
    one = make(**RICH).as_bytes()
    two = make(**{**RICH, "headers": {**FIXED, "Message-ID": "<other@example.com>"}}).as_bytes()
    assert re.findall(rb'boundary="([^"]+)"', one) != re.findall(rb'boundary="([^"]+)"', two)


# ---------------------------------------------------------------------------------------------
# International addresses
# ---------------------------------------------------------------------------------------------


def test_idn_domain_is_punycode_in_headers_and_needs_no_smtputf8() -> None:
    msg = make(from_="Ann <ann@bücher.example>", to=["Bob <bob@münchen.example>"], headers={})
    assert not msg.needs_smtputf8()
    raw, parsed = parse(msg)  # asserts the output is pure ASCII
    assert addresses(parsed, "From") == [("Ann", "ann@xn--bcher-kva.example")]
    assert addresses(parsed, "To") == [("Bob", "bob@xn--mnchen-3ya.example")]
    assert "bücher".encode() not in raw
    assert "münchen".encode() not in raw


@pytest.mark.parametrize(
    "fields",
    [
        {"to": ["José <josé@example.com>"]},
        {"from_": "José <josé@example.com>"},
        {"reply_to": ["josé@example.com"], "to": ["x@example.com"]},
        {"to": ["josé@bücher.example"]},
    ],
    ids=["to", "from", "reply-to", "utf-8 local part at an IDN domain"],
)
def test_utf8_local_part_is_raw_utf8_in_headers(fields: dict[str, Any]) -> None:
    msg = make(**fields)
    assert msg.needs_smtputf8()
    assert msg.envelope().smtputf8
    raw, parsed = parse(msg)
    assert "josé@".encode() in raw
    everyone = [a for h in ("From", "To", "Reply-To") for _, a in addresses(parsed, h)]
    assert any(a.startswith("josé@") for a in everyone)


# ---------------------------------------------------------------------------------------------
# Long display names keep their quoting when folded
# ---------------------------------------------------------------------------------------------

LONG_NAMES = {
    "commas": "Doe, John " * 20,
    "quotes and commas": (
        'The "Big" Boss, Department of Redundancy Department, Head Office, Building 7'
    ),
    "specials": "Support (EU); Team <ops> @ HQ: Level 3 [east wing], Room 42 \\ desk " * 3,
    "non-ASCII with commas": "Müller, Jürgen " * 8,
    "non-ASCII, no specials": "Ünïcödé Nàmé " * 12,
    "one long word": "X" * 200,
}  # fmt: skip


def _same_name(raw: bytes, header: str, got: str, want: str) -> bool:
    if got == want:
        return True
    # The stdlib reader keeps the folding white space between two adjacent encoded words of
    # a phrase, which RFC 2047 section 6.2 says to drop. When the name went out as encoded
    # words, decode the header the RFC way and look for the exact name there instead.
    unfolded = raw_header(raw, header)
    return "=?" in unfolded and want in str(make_header(decode_header(unfolded)))


@pytest.mark.parametrize("name", [n.strip() for n in LONG_NAMES.values()], ids=LONG_NAMES)
@pytest.mark.parametrize("mode", ["ascii", "smtputf8", "ascii, encoded word in the subject"])
def test_long_display_name_keeps_its_quoting_when_folded(name: str, mode: str) -> None:
    second = UTF8_RCPT if mode == "smtputf8" else "second@example.com"
    # A subject that is already an RFC 2047 encoded word is a valid input of its own; it is
    # here so that every rendering path (whichever the implementation picks) is exercised.
    subject = "=?utf-8?q?Gr=C3=BC=C3=9Fe?=" if "encoded" in mode else "Hello"
    msg = make(
        to=[Address(name, "first@example.com"), second],
        cc=[Address(name, "cc@example.com")],
        subject=subject,
    )
    raw, parsed = parse(msg)
    for header, first in (("To", "first@example.com"), ("Cc", "cc@example.com")):
        got = addresses(parsed, header)
        want_specs = [first, second] if header == "To" else [first]
        assert [spec for _, spec in got] == want_specs, f"{header} was split or merged"
        assert _same_name(raw, header, got[0][0], name)


RENDER_MODES = {
    "ascii": {},
    "smtputf8": {"bcc": [UTF8_RCPT]},
    # A subject that is already an encoded word is valid input; it is here so that whichever
    # rendering path the implementation picks for such a message is exercised too.
    "ascii, encoded word in the subject": {"subject": "=?utf-8?q?Gr=C3=BC=C3=9Fe?="},
}


@pytest.mark.parametrize("mode", RENDER_MODES.values(), ids=RENDER_MODES)
def test_a_display_name_never_becomes_a_recipient(mode: dict[str, Any]) -> None:
    # Folding that drops the quotes turns '<evil@example.net>' in the name into an address.
    name = "Support team of the example company, " + "x" * 40 + " <evil@example.net>"
    raw, parsed = parse(make(to=[Address(name, "victim@example.com")], **mode))
    assert [spec for _, spec in addresses(parsed, "To")] == ["victim@example.com"]
    assert _same_name(raw, "To", addresses(parsed, "To")[0][0], name)


@pytest.mark.parametrize("mode", RENDER_MODES.values(), ids=RENDER_MODES)
@pytest.mark.parametrize("length", [28, 30, 32, 34, 36])
def test_address_separator_survives_folding(mode: dict[str, Any], length: int) -> None:
    # The comma between two addresses must stay a bare comma; folding that turns it into an
    # encoded word ("=?utf-8?q?=2C?=") makes the next recipient vanish from the header.
    first = Address("Zoë " + "x" * length, "victim@example.com")
    _, parsed = parse(make(to=[first, "after@example.com"], cc=[first, "c2@example.com"], **mode))
    assert [spec for _, spec in addresses(parsed, "To")] == [
        "victim@example.com",
        "after@example.com",
    ]
    assert [spec for _, spec in addresses(parsed, "Cc")] == ["victim@example.com", "c2@example.com"]


# ---------------------------------------------------------------------------------------------
# Attachment file names
# ---------------------------------------------------------------------------------------------

FILENAMES = [
    "report.pdf",
    "with space.pdf",
    "quote \" and apostrophe's.txt",
    "semi;colon,comma=equals.txt",
    "Résumé 2024.pdf",
    "日本語のファイル.txt",
    "emoji 🎉.png",
    "Ünïcödé " * 20 + ".txt",
    "x" * 200 + ".bin",
    "tab\tinside.txt",
]


@pytest.mark.parametrize("filename", FILENAMES)
@pytest.mark.parametrize("smtputf8", [False, True], ids=["ascii", "smtputf8"])
def test_attachment_filename_round_trips(filename: str, smtputf8: bool) -> None:
    extra = {"cc": [UTF8_RCPT]} if smtputf8 else {}
    att = Attachment(filename=filename, content=b"data")
    _, parsed = parse(make(text="x", attachments=[att], **extra))
    part = leaves(parsed)[-1]
    assert part.get_filename() == filename
    assert part.get_payload(decode=True) == b"data"


@pytest.mark.parametrize("filename", ["Résumé.png", "x" * 120 + ".png"])
def test_inline_image_filename_round_trips(filename: str) -> None:
    att = Attachment(filename=filename, content=PNG, inline=True, cid="img")
    _, parsed = parse(make(html='<img src="cid:img">', attachments=[att]))
    assert leaves(parsed)[-1].get_filename() == filename


def test_path_components_never_reach_the_message() -> None:
    raw, parsed = parse(
        make(text="x", attachments=[pdf("../../etc/passwd"), pdf("C:\\Users\\me\\secret.pdf")])
    )
    assert [p.get_filename() for p in leaves(parsed)[1:]] == ["passwd", "secret.pdf"]
    assert b"etc" not in raw
    assert b"Users" not in raw
