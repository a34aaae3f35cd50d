"""Attachments: charset of text parts, names every reader shows, files streamed from disk."""

from __future__ import annotations

import copy
import email
import io
import pickle
import tracemalloc
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from mailsdk import Attachment, Message, MessageError, OutgoingMessage
from mailsdk._fastmime import STREAM_ABOVE, Encoded
from mailsdk.mime import render_reference

FIXED = {"Message-ID": "<att.1@example.com>", "Date": "Tue, 03 Mar 2026 09:30:00 +0100"}


def message(*attachments: Attachment, html: str | None = None) -> Message:
    return Message(
        from_="a@example.com",
        to="b@example.com",
        text="see attached",
        html=html,
        attachments=list(attachments),
        headers=FIXED,
    )


def both_renderers(msg: Message) -> list[bytes]:
    """What the fast renderer and the stdlib reference write for *msg*."""
    return [OutgoingMessage(msg).raw, render_reference(OutgoingMessage(msg))]


def attachment_parts(raw: bytes) -> list[EmailMessage]:
    parsed = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return [p for p in parsed.walk() if not p.is_multipart() and p.get_filename() is not None]


# -- charset of text attachments -------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "content", "charset", "decoded"),
    [
        ({}, "naïve ☃".encode(), "utf-8", "naïve ☃"),
        ({}, b"plain ascii", "utf-8", "plain ascii"),
        ({"content_type": 'text/plain; charset="utf-8"'}, "é".encode(), "utf-8", "é"),
        (
            {"content_type": "text/csv; charset=ISO-8859-1"},
            "é;1".encode("latin-1"),
            "iso-8859-1",
            "é;1",
        ),
        ({"content_type": "text/plain; charset*=utf-8''latin-1"}, b"\xe9", "iso-8859-1", "é"),
        ({"charset": "latin-1"}, b"caf\xe9", "iso-8859-1", "café"),
        ({"charset": "windows-1252"}, "€".encode("cp1252"), "windows-1252", "€"),
        ({"content_type": "text/plain; charset=latin-1"}, "café", "iso-8859-1", "café"),
        ({}, "déjà", "utf-8", "déjà"),  # text given as str is encoded with the charset
    ],
)
def test_text_attachments_carry_their_charset(
    given: dict[str, Any], content: Any, charset: str, decoded: str
) -> None:
    att = Attachment(filename="notes.txt", content=content, **given)
    assert att.charset == charset
    assert att.content_type in ("text/plain", "text/csv")
    for raw in both_renderers(message(att)):
        (part,) = attachment_parts(raw)
        assert part.get_content_charset() == charset
        assert part.get_content() == decoded


def test_text_bytes_that_are_not_utf8_are_left_unlabelled_not_mislabelled() -> None:
    att = Attachment(filename="legacy.csv", content=b"caf\xe9")
    assert att.charset is None
    for raw in both_renderers(message(att)):
        assert attachment_parts(raw)[0].get_content_charset() is None


def test_other_types_have_no_charset() -> None:
    assert Attachment(filename="x.pdf", content=b"%PDF").charset is None


@pytest.mark.parametrize(
    ("given", "error"),
    [
        ({"content_type": "text/plain; format=flowed"}, "only charset= is"),
        ({"content_type": "text/plain; charset=no-such-charset"}, "unknown charset"),
        ({"content_type": "image/png", "charset": "utf-8"}, "not text/\\*"),
        ({"content_type": "text/plain; charset=utf-8\r\nBcc: evil@example.net"}, "forbidden"),
        ({"content_type": "text/plain; charset=utf-8", "charset": "latin-1"}, "disagrees"),
        ({"content_type": "text/plain; charset"}, "invalid charset"),
        ({"charset": 'utf-8"; name="x'}, "invalid charset"),
        ({"charset": "ascii", "content": "é"}, "cannot be encoded as ascii"),
    ],
)
def test_bad_content_types_and_charsets_are_message_errors(
    given: dict[str, Any], error: str
) -> None:
    fields = {"filename": "a.txt", "content": b"x", **given}
    with pytest.raises(MessageError, match=error):
        Attachment(**fields)


# -- file names every reader shows -----------------------------------------------------------


@pytest.mark.parametrize(
    "filename",
    [
        "Rapport été.pdf",
        "日本語のファイル名がとても長い場合のテスト用ファイル名です本当に長い.pdf",
        'quote " and é.txt',
        "x" * 90 + ".txt",  # long ASCII: RFC 2231 continuations, so a fallback too
        "🎉.png",
    ],
)
@pytest.mark.parametrize("inline", [False, True])
def test_non_ascii_names_get_an_rfc2047_name_next_to_rfc2231_filename(
    filename: str, inline: bool
) -> None:
    att = Attachment(filename=filename, content=b"data", inline=inline)
    for raw in both_renderers(message(att, html="<img src='cid:x'>")):
        (part,) = attachment_parts(raw)
        assert part.get_filename() == filename
        assert part["Content-Type"].params["name"] == filename
        head = raw.decode("ascii")
        assert "filename*" in head  # RFC 2231 for readers that follow the standard
        assert 'name="=?utf-8?b?' in head  # RFC 2047 for those that show only name=
        assert max(len(line) for line in raw.split(b"\r\n")) <= 998


def test_plain_names_are_given_as_is_in_both_parameters() -> None:
    for raw in both_renderers(message(Attachment(filename="report.pdf", content=b"%PDF"))):
        assert b'filename="report.pdf"' in raw
        assert b'name="report.pdf"' in raw


# -- files -----------------------------------------------------------------------------------


def test_from_path_reads_nothing_until_the_message_is_rendered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "report.csv"
    path.write_bytes(b"a,b\n")
    monkeypatch.setattr(Path, "read_bytes", lambda self: pytest.fail("read whole"))
    att = Attachment.from_path(path)
    assert (att.filename, att.content_type, att.charset, att.size) == (
        "report.csv",
        "text/csv",
        "utf-8",
        4,
    )
    path.write_bytes(b"c,d\n")  # read at render time, not before
    (part,) = attachment_parts(OutgoingMessage(message(att)).raw)
    assert part.get_content() == "c,d\n"


def test_a_large_file_is_streamed_slice_by_slice(tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    content = bytes(range(256)) * (6 * STREAM_ABOVE // 256 + 77)  # 6 MiB and a bit
    path.write_bytes(content)
    outgoing = OutgoingMessage(message(Attachment.from_path(path)))
    assert any(isinstance(piece, Encoded) for piece in outgoing._rendered())
    size = outgoing.size
    tracemalloc.start()
    try:
        total = 0
        for chunk in outgoing.chunks():
            assert chunk.endswith(b"\r\n")
            total += len(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == size
    # Never the whole file nor its encoded form (8 MB): a slice and its encoding at a time.
    assert peak < len(content) // 2
    in_memory = OutgoingMessage(message(Attachment(filename="big.bin", content=content)))
    assert b"".join(outgoing.chunks()) == in_memory.raw


def test_a_file_that_changed_size_is_not_sent_truncated(tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    path.write_bytes(b"x" * (STREAM_ABOVE + 10))
    outgoing = OutgoingMessage(message(Attachment.from_path(path)))
    size = outgoing.size
    path.write_bytes(b"x" * 10)
    with pytest.raises(MessageError, match="changed size"):
        list(outgoing.chunks())
    assert size > STREAM_ABOVE


def test_a_file_gone_before_rendering_is_a_message_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        Attachment.from_path(tmp_path / "nope.pdf")  # as open() says, when attached
    path = tmp_path / "gone.pdf"
    path.write_bytes(b"%PDF")
    att = Attachment.from_path(path)
    path.unlink()
    with pytest.raises(MessageError, match="cannot be read"):
        OutgoingMessage(message(att)).raw  # noqa: B018


def test_from_path_keeps_its_bytes_in_dumps_and_copies(tmp_path: Path) -> None:
    path = tmp_path / "n.txt"
    path.write_bytes(b"hello")
    att = Attachment.from_path(path, filename="notes.txt")
    assert att.content == b"hello"
    assert att.model_copy().content == b"hello"
    again = Attachment.model_validate(att.model_dump())
    assert (again.content, again.filename, again.charset) == (b"hello", "notes.txt", "utf-8")
    assert "size=5" in repr(att)
    assert "hello" not in repr(att)


def test_a_file_attachment_keeps_its_file_through_copies_and_pickles(tmp_path: Path) -> None:
    # Its file is private state beside the fields: every copy still reads the file, and
    # nothing of it shows in a dump, in equality or in the hash.
    path = tmp_path / "n.txt"
    path.write_bytes(b"hello")
    att = Attachment.from_path(path, filename="notes.txt")
    copies = [
        att.model_copy(),
        att.model_copy(update={"filename": "other.txt"}),
        copy.deepcopy(att),
        pickle.loads(pickle.dumps(att)),
    ]
    path.write_bytes(b"HELLO")  # read when rendered: the copies see what the file holds now
    assert [c.content for c in copies] == [b"HELLO"] * 4
    assert [c.size for c in copies] == [5] * 4
    assert att.model_dump() == {
        "filename": "notes.txt",
        "content": b"HELLO",
        "content_type": "text/plain",
        "charset": "utf-8",
        "inline": False,
        "cid": None,
    }
    same = Attachment.from_path(path, filename="notes.txt")
    plain = Attachment(filename="notes.txt", content=b"HELLO")
    OutgoingMessage(message(plain)).raw  # noqa: B018 - fills its MIME cache
    assert "_mime_cache" in plain.__dict__
    assert plain == Attachment(filename="notes.txt", content=b"HELLO")
    assert hash(plain) == hash(Attachment(filename="notes.txt", content=b"HELLO"))
    assert att == same
    assert hash(att) == hash(same)
    # Another file, or no file, is another attachment, whatever the fields say.
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "n.txt").write_bytes(b"hello")
    assert att != Attachment.from_path(tmp_path / "other" / "n.txt", filename="notes.txt")
    assert att != Attachment(filename="notes.txt", content=b"", content_type="text/plain")
    assert "_path" not in att.model_dump_json()


def test_a_file_attachment_pickled_by_an_older_version_still_reads_its_file(
    tmp_path: Path,
) -> None:
    path = tmp_path / "n.txt"
    path.write_bytes(b"hello")
    att = Attachment.from_path(path)
    state = att.__getstate__()
    fields = {k: v for k, v in state["__dict__"].items() if not k.startswith("_")}
    older = {  # how 0.1 pickled it: the file in pydantic's private attributes
        **state,
        "__dict__": fields,
        "__pydantic_private__": {"_mime_cache": None, "_path": path, "_path_size": 5},
    }
    again = Attachment.__new__(Attachment)
    again.__setstate__(older)
    assert (again.content, again.size, again) == (b"hello", 5, att)


@pytest.mark.parametrize(
    "make", [lambda p: io.BytesIO(p.read_bytes()), lambda p: p.open("rb")], ids=["BytesIO", "file"]
)
def test_file_objects_are_accepted(tmp_path: Path, make: Any) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(b"\x00\x01binary")
    source = make(path)
    try:
        att = Attachment(filename="data.bin", content=source)
    finally:
        source.close()
    assert att.content == b"\x00\x01binary"
    (part,) = attachment_parts(OutgoingMessage(message(att)).raw)
    assert part.get_content() == b"\x00\x01binary"


def test_a_text_mode_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_text("text")
    with path.open() as f, pytest.raises(MessageError, match="binary mode"):
        Attachment(filename="t.txt", content=f)


def test_json_round_trip_keeps_bytes_charset_and_reads_files(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes("naïve".encode())
    latin = Attachment(filename="l.txt", content="café", charset="latin-1")
    binary = Attachment(filename="b.bin", content=b"\x00\xff")
    for att in (Attachment.from_path(path), latin, binary):
        again = Attachment.model_validate_json(att.model_dump_json())
        assert (again.content, again.charset, again.content_type) == (
            att.content,
            att.charset,
            att.content_type,
        )
    msg = message(Attachment.from_path(path), latin)
    assert Message.model_validate_json(msg.model_dump_json()).attachments[1].content == b"caf\xe9"
