"""Property tests: no input text can add a header, a recipient or a MIME part.

For arbitrary text (all of Unicode, plus fragments known to break mailers) used as a subject,
a display name, a custom header value, an attachment file name or a tag, either ``Message``
refuses it with ``MessageError``, or the rendered bytes read back (stdlib parser) with exactly
the intended header names, the intended recipients, no Bcc, and the same value.

A second property builds random messages (any subset of text, html, attachments and inline
images, random bytes) and checks that the parser reads back the same tree and payloads.

Where the comparison of values is loosened, the comment says why; recipients and header names
are always compared exactly.
"""

from __future__ import annotations

import contextlib
import email
import re
from email import policy
from email.header import decode_header, make_header
from email.message import EmailMessage
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from mailsdk import Address, Attachment, Message, MessageError

FIXED = {"Message-ID": "<fixed.1@example.com>", "Date": "Mon, 01 Jan 2024 12:00:00 +0000"}
UTF8_RCPT = "josé@example.com"  # a non-ASCII local part puts the message on the SMTPUTF8 path
EVIL = "evil@example.net"

PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

DANGEROUS = [
    "\r", "\n", "\r\n", "\r\n ", "\n\t", "\r\n\r\n", "\x00", "\x0b", "\x0c", "\x1c", "\x1d",
    "\x1e", "\x85", "\u2028", "\u2029", "\x7f", "\t", " ", "  ",
    f"Bcc: {EVIL}", f"\r\nBcc: {EVIL}", f"\nTo: {EVIL}", "MIME-Version: 1.0", "--boundary",
    ",", ";", ":", '"', "\\", "<", ">", "@", "(", ")", "[", "]", EVIL, f"<{EVIL}>",
    f'"x" <{EVIL}>, ', "=?", "?=", "=?utf-8?q?", "=?utf-8?b?",
    "=?utf-8?q?a=0D=0ABcc:evil@example.net?=",
    "=?utf-8?b?YQ0KQmNjOmV2aWxAZXhhbXBsZS5uZXQ=?=",
    "=?utf-8?q?=E2=80=A8?=", "=?utf-8?b?A?=", "=?x-unknown?q?=0A?=", "=?utf-8*en?q?=0D=0A?=",
    "=?utf-8?q?a=0D=0ABcc:evil@example.net x?=", "=?utf-8?b?YQ0KQmNjOmV2aWxAZXhhbXBsZS5uZXQ= ?=",
    "é", "ß", "日本語", "🎉", "\u200b", "\ufeff", "x" * 90, "é" * 80, "Doe, John " * 10,
]  # fmt: skip
TEXT = st.lists(st.one_of(st.text(), st.sampled_from(DANGEROUS)), max_size=8).map("".join)

# Inputs that broke these properties when written (each is also a plain test in
# test_message.py or test_mime.py); listed so they are always tried, not only when found.
BYPASS = "=?utf-8?q?a=0D=0ABcc:evil@example.net?= =?utf-8?b?A?="
GLUED_BYPASS = "=?utf-8?q?a=0D=0ABcc:evil@example.net?==?utf-8?b?A?="
SPACED_BYPASS = "=?utf-8?q?a=0D=0ABcc:evil@example.net x?="
# A long display name whose quotes are lost when folded: "<evil@...>" becomes an address.
SPOOF = "Support team of the example company, " + "x" * 40 + f" <{EVIL}>"


@pytest.fixture(autouse=True)
def _no_default_sender(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MAILSDK_FROM", raising=False)


# ---------------------------------------------------------------------------------------------
# Reading a rendered message back
# ---------------------------------------------------------------------------------------------


def expected_tree(msg: Message) -> Any:
    """The tree the issue specifies: mixed > related > alternative, each only when needed."""
    if msg.text is not None and msg.html is not None:
        body: Any = ("multipart/alternative", ["text/plain", "text/html"])
    else:
        body = "text/html" if msg.html is not None else "text/plain"
    related = [a for a in msg.attachments if a.inline] if msg.html is not None else []
    others = [a for a in msg.attachments if a not in related]
    if related:
        body = ("multipart/related", [body, *[a.content_type for a in related]])
    if others:
        body = ("multipart/mixed", [body, *[a.content_type for a in others]])
    return body


def tree(part: EmailMessage) -> Any:
    if part.is_multipart():
        return (part.get_content_type(), [tree(p) for p in part.iter_parts()])
    return part.get_content_type()


def read_back(msg: Message) -> tuple[bytes, EmailMessage]:
    raw = msg.as_bytes()
    assert raw.endswith(b"\r\n")
    assert re.search(rb"\r(?!\n)|(?<!\r)\n", raw) is None, "bare CR or LF"
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998
    if msg.needs_smtputf8():
        parsed = email.message_from_string(raw.decode("utf-8"), policy=policy.default)
    else:
        assert raw.isascii()
        parsed = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return raw, parsed


def intended_headers(msg: Message) -> list[str]:
    names = ["from", "subject", "date", "message-id", "mime-version", "content-type"]
    names += [h for h, v in (("to", msg.to), ("cc", msg.cc), ("reply-to", msg.reply_to)) if v]
    names += [n.lower() for n in msg.headers if n.lower() not in ("date", "message-id")]
    if isinstance(expected_tree(msg), str):
        names.append("content-transfer-encoding")  # a single-part message
    return sorted(names)


def assert_no_injection(msg: Message, parsed: EmailMessage) -> None:
    """Exactly the intended header names, the intended recipients, no Bcc, the intended tree."""
    assert sorted(k.lower() for k in parsed) == intended_headers(msg)
    assert parsed["Bcc"] is None
    for header, addrs in (
        ("From", [msg.sender]),
        ("To", msg.to),
        ("Cc", msg.cc),
        ("Reply-To", msg.reply_to),
    ):
        got = [a.addr_spec for a in parsed[header].addresses] if parsed[header] else []
        assert got == [a.envelope for a in addrs], f"{header} recipients changed"
    assert tree(parsed) == expected_tree(msg)
    for part in list(parsed.walk())[1:]:
        names = {k.lower() for k in part}
        assert names <= {"content-type", "content-transfer-encoding", "content-disposition",
                         "content-id"}, names  # fmt: skip


def filename_of(part: EmailMessage) -> str | None:
    name = part.get_filename()
    if name is not None and name != part["Content-Disposition"].params.get("filename"):
        # get_filename() unquotes a second time, so a name wrapped in "..." or <...> loses
        # the wrapping; the parsed parameter itself is exact.
        name = part["Content-Disposition"].params.get("filename")
    return name


def looks_encoded(text: str) -> bool:
    # Text holding "=?" may be read as an RFC 2047 encoded word by a reader, so what it
    # "means" is ambiguous (the model accepts pre-encoded words on purpose). For such input
    # only the safety properties are checked, not the decoded value.
    return "=?" in text


def same_unstructured(got: str, want: str) -> bool:
    # White space right after the colon cannot be told apart from the separator, and a
    # reader drops trailing white space of the field; everything in between must survive.
    return got == want or got.strip(" \t") == want.strip(" \t")


def same_phrase(raw: bytes, header: str, got: str, want: str) -> bool:
    if got == want:
        return True
    # A display name is an RFC 5322 phrase: runs of white space in it are folding white
    # space, which a reader may collapse to one space, and leading or trailing white space
    # is not part of it.
    if re.sub(r"[ \t]+", " ", got).strip() == re.sub(r"[ \t]+", " ", want).strip():
        return True
    # The stdlib reader keeps the white space between two adjacent encoded words of a phrase,
    # which RFC 2047 section 6.2 says to drop; decode such a header the RFC way instead.
    head = raw.split(b"\r\n\r\n", 1)[0].decode("utf-8")
    match = re.search(rf"(?im)^{header}:([^\r\n]*(?:\r\n[ \t][^\r\n]*)*)", head)
    assert match
    unfolded = match.group(1).replace("\r\n", "")
    return "=?" in unfolded and want.strip() in str(make_header(decode_header(unfolded)))


def build(**fields: Any) -> Message | None:
    base: dict[str, Any] = {
        "from_": "Sender <sender@example.com>",
        "to": ["To One <to1@example.com>", "to2@example.com"],
        "cc": ["cc@example.com"],
        "headers": dict(FIXED),
        "subject": "Hello",
        "text": "Hi",
    }
    base.update(fields)
    try:
        return Message(**base)
    except MessageError:
        return None


def utf8_mode(on: bool) -> dict[str, Any]:
    return {"bcc": [UTF8_RCPT]} if on else {}


# ---------------------------------------------------------------------------------------------
# One property per place text can go
# ---------------------------------------------------------------------------------------------


@PROPERTY
@given(value=TEXT, utf8=st.booleans())
@example(value=BYPASS, utf8=False)
@example(value=GLUED_BYPASS, utf8=True)
@example(value=SPACED_BYPASS, utf8=False)
# A malformed word hid the good one that starts inside it ("=?x-unknown?q?=0A?=" is a LF).
@example(value="=?\t=?x-unknown?q?=0A?=", utf8=False)
def test_subject_cannot_inject(value: str, utf8: bool) -> None:
    msg = build(subject=value, **utf8_mode(utf8))
    if msg is None:
        return
    _, parsed = read_back(msg)
    assert_no_injection(msg, parsed)
    if not looks_encoded(value):
        assert same_unstructured(str(parsed["Subject"]), value)


@PROPERTY
@given(value=TEXT, utf8=st.booleans())
@example(value=BYPASS, utf8=False)
@example(value=GLUED_BYPASS, utf8=True)
@example(value="é" * 20 + " " + "é" * 40 + " x", utf8=False)
def test_custom_header_value_cannot_inject(value: str, utf8: bool) -> None:
    msg = build(headers={**FIXED, "X-Custom": value}, **utf8_mode(utf8))
    if msg is None:
        return
    _, parsed = read_back(msg)
    assert_no_injection(msg, parsed)
    if not looks_encoded(value):
        assert same_unstructured(str(parsed["X-Custom"]), value)


@PROPERTY
@given(name=TEXT, utf8=st.booleans(), field=st.sampled_from(["to", "cc", "reply_to", "from_"]))
@example(name=BYPASS, utf8=False, field="to")
@example(name=GLUED_BYPASS, utf8=True, field="cc")
@example(name=SPACED_BYPASS, utf8=False, field="reply_to")
@example(name="Doe, John " * 10, utf8=True, field="to")
@example(name="Doe, John " * 10, utf8=False, field="from_")
@example(name=SPOOF, utf8=True, field="to")
def test_display_name_cannot_inject(name: str, utf8: bool, field: str) -> None:
    victim = Address(name, "victim@example.com") if _valid_name(name) else None
    if victim is None:
        return
    fields: dict[str, Any] = (
        {"from_": victim} if field == "from_" else {field: [victim, "after@example.com"]}
    )
    msg = build(**fields, **utf8_mode(utf8))
    assert msg is not None
    raw, parsed = read_back(msg)
    assert_no_injection(msg, parsed)
    header = {"to": "To", "cc": "Cc", "reply_to": "Reply-To", "from_": "From"}[field]
    got = parsed[header].addresses[0].display_name
    if not looks_encoded(name):
        assert same_phrase(raw, header, got, victim.name)


def _valid_name(name: str) -> bool:
    try:
        Address(name, "victim@example.com")
    except MessageError:
        return False
    return True


@PROPERTY
@given(name=TEXT, utf8=st.booleans())
@example(name=BYPASS, utf8=False)
@example(name=SPACED_BYPASS, utf8=True)
def test_display_name_in_a_string_cannot_inject(name: str, utf8: bool) -> None:
    # The same text inside the "Name <addr>" string form, quoted as a user would quote it.
    quoted = name.replace("\\", "\\\\").replace('"', '\\"')
    msg = build(to=[f'"{quoted}" <victim@example.com>', "after@example.com"], **utf8_mode(utf8))
    if msg is None:
        return
    _, parsed = read_back(msg)
    assert_no_injection(msg, parsed)
    assert [a.envelope for a in msg.to] == ["victim@example.com", "after@example.com"]


@PROPERTY
@given(filename=TEXT, utf8=st.booleans(), inline=st.booleans())
@example(filename=BYPASS, utf8=False, inline=False)
@example(filename="Ünïcödé " * 40 + ".pdf", utf8=False, inline=False)
# A path cut inside an encoded word leaves a base name that only recheck() used to refuse.
@example(filename="=?utf-8?q?/=?utf-8?b?A?=", utf8=False, inline=False)
@example(
    filename="=?utf-8?q?/=?utf-8?b?YQ0KQmNjOmV2aWxAZXhhbXBsZS5uZXQ=?=", utf8=False, inline=False
)
@example(
    filename="=?utf-8?q?\\=?utf-8?b?YQ0KQmNjOmV2aWxAZXhhbXBsZS5uZXQ=?=", utf8=False, inline=False
)
def test_attachment_filename_cannot_inject(filename: str, utf8: bool, inline: bool) -> None:
    try:
        att = Attachment(filename=filename, content=b"data", inline=inline, cid="c@x")
    except MessageError:
        return
    msg = build(attachments=[att], html='<img src="cid:c@x">', **utf8_mode(utf8))
    assert msg is not None
    _, parsed = read_back(msg)
    assert_no_injection(msg, parsed)
    part = [p for p in parsed.walk() if not p.is_multipart()][-1]
    assert part.get_payload(decode=True) == b"data"
    if not looks_encoded(att.filename):
        assert filename_of(part) == att.filename


@PROPERTY
@given(tag=TEXT, key=TEXT, utf8=st.booleans())
def test_tags_and_metadata_cannot_inject(tag: str, key: str, utf8: bool) -> None:
    msg = build(tags=[tag], metadata={key or "k": tag}, **utf8_mode(utf8))
    if msg is None:
        return
    _, parsed = read_back(msg)
    assert_no_injection(msg, parsed)


@PROPERTY
@given(value=TEXT)
def test_refusal_is_always_a_message_error(value: str) -> None:
    # Whatever the text, construction either succeeds or raises MessageError: never a
    # LookupError, UnicodeError or pydantic ValidationError.
    for fields in (
        {"subject": value},
        {"headers": {"X-Custom": value}},
        {"to": [value]},
        {"reply_to": [value]},
        {"tags": [value]},
        {"metadata": {value: value}},
    ):
        build(**fields)
    with contextlib.suppress(MessageError):
        Attachment(filename=value, content=b"")
    with contextlib.suppress(MessageError):
        Address(value, "a@example.com")


# ---------------------------------------------------------------------------------------------
# Random messages read back with the same structure and payloads
# ---------------------------------------------------------------------------------------------

FILENAMES = st.one_of(
    st.sampled_from(["report.pdf", "photo.png", "notes.txt", "Résumé.pdf", "日本.txt", "a b.bin"]),
    st.text(st.characters(blacklist_categories=["Cc", "Cs", "Zl", "Zp"]), min_size=1, max_size=40),
)
CONTENT_TYPES = st.sampled_from(["", "application/pdf", "image/png", "text/plain", "text/csv"])
BODY = st.text(max_size=400)


@st.composite
def messages(draw: st.DrawFn) -> Message:
    attachments = []
    for _ in range(draw(st.integers(0, 3))):
        filename = draw(FILENAMES.filter(lambda f: f.strip(" \\/.") and "=?" not in f))
        try:
            attachments.append(
                Attachment(
                    filename=filename,
                    content=draw(st.binary(max_size=3000)),
                    content_type=draw(CONTENT_TYPES),
                )
            )
        except MessageError:
            continue
    inline = [
        Attachment(
            filename=f"img{i}.png",
            content=draw(st.binary(max_size=2000)),
            inline=True,
            cid=f"img{i}@example.com",
        )
        for i in range(draw(st.integers(0, 2)))
    ]
    everything = draw(st.permutations(attachments + inline))
    return Message(
        from_="Sender <sender@example.com>",
        to=["to@example.com"],
        bcc=[UTF8_RCPT] if draw(st.booleans()) else [],
        subject=draw(
            st.text(st.characters(blacklist_categories=["Cc", "Cs", "Zl", "Zp"]), max_size=60)
        ),
        text=draw(st.none() | BODY),
        html=draw(st.none() | BODY.map(lambda b: f"<p>{b}</p>")),
        attachments=everything,
        headers=FIXED,
    )


def normalised(text: str) -> str:
    text = re.sub(r"\r\n|\r", "\n", text)
    return text if text.endswith("\n") else text + "\n"


@PROPERTY
@given(msg=messages())
def test_random_messages_read_back_with_the_same_structure_and_payloads(msg: Message) -> None:
    raw, parsed = read_back(msg)
    assert msg.as_bytes() == raw  # Message-ID and Date are fixed: the bytes are too
    for part in parsed.walk():
        assert not part.defects, part.defects
    assert_no_injection(msg, parsed)
    assert str(parsed["Subject"]).strip() == msg.subject.strip() or "=?" in msg.subject

    leaves = [p for p in parsed.walk() if not p.is_multipart()]
    bodies = [b for b in (msg.text, msg.html) if b is not None] or [""]
    for part, body in zip(leaves[: len(bodies)], bodies, strict=True):
        content = part.get_content()
        assert content.replace("\r\n", "\n") == normalised(body)
    related = [a for a in msg.attachments if a.inline] if msg.html is not None else []
    others = [a for a in msg.attachments if a not in related]
    for part, att in zip(leaves[len(bodies) :], related + others, strict=True):
        assert part.get_content_type() == att.content_type
        assert part.get_payload(decode=True) == att.content
        assert filename_of(part) == att.filename
        assert part.get_content_disposition() == ("inline" if att.inline else "attachment")
        assert part["Content-ID"] == (f"<{att.cid}>" if att.inline else None)
