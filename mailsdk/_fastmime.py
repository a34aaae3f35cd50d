"""The hot-path renderer: writes the MIME tree directly with the stdlib's codecs.

Building and flattening an ``EmailMessage`` costs ~4 ms of CPU for a 34 KB message, nearly
all of it in the header registry and the generator. This module writes the same tree (same
structure, headers and payload encodings as :func:`mailsdk.mime.build_email_message`, which
stays the reference the tests compare against) with ``binascii`` and ``email.header``. It
declines (returns None) for what it does not handle, and the stdlib path renders those:
SMTPUTF8 messages, and header text that already contains RFC 2047 encoded words.

Encoded attachments and text bodies are cached, so a mail-merge that shares them encodes
them once.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Callable, Iterator
from functools import lru_cache
from typing import TYPE_CHECKING, Protocol
from urllib.parse import quote

from mailsdk.errors import MessageError

if TYPE_CHECKING:
    from mailsdk._calendar_model import Calendar
    from mailsdk.message import Address, Attachment, Envelope, Message

__all__ = [
    "STREAM_ABOVE",
    "Encoded",
    "Piece",
    "Prepared",
    "checked",
    "content_type_value",
    "name_parameter",
    "needs_dot_stuffing",
    "render_fast",
]


class Prepared(Protocol):
    """What both renderers read of a message prepared for sending
    (:class:`~mailsdk.OutgoingMessage` is one): they never import that class itself."""

    @property
    def message(self) -> Message: ...

    @property
    def message_id(self) -> str: ...

    @property
    def date(self) -> str: ...

    @property
    def envelope(self) -> Envelope: ...


_CRLF = b"\r\n"
_FOLD_AT = 78
# RFC 5322 atext plus space: a display name made only of these needs no quoting.
_PLAIN_PHRASE = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~ -]*$")
_TOKEN = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")
_MAX_QUOTED_NAME = 60
# A quoted display name stays on its mailbox's line; with an address of up to 254 octets
# this keeps the line within RFC 5322's 998.
_MAX_PHRASE = 700
# What a 7bit text part may hold: printable ASCII, TAB and LF (written as CRLF). A part with
# any other control character is quoted-printable, never 7bit (RFC 2045 2.7 forbids NUL and
# bare CR in 7bit data).
_SEVEN_BIT_BYTES = bytes([0x09, 0x0A, *range(0x20, 0x7F)])
_HIGH_BYTES = bytes(range(0x80, 0x100))


_WORD_BYTES = 45  # base64 of 45 bytes is 60 characters: each encoded word stays under 75
_ENCODED_LINE = 76


def _encoded_words(text: str, header_name: str) -> str:
    """*text* as RFC 2047 base64 encoded words, folded one word per line.

    Written here rather than with email.header.Header, which re-splits the text on every
    Unicode space (a no-break space comes back as a plain one). Words are cut on character
    boundaries; readers join adjacent encoded words without the folding white space.
    """
    words: list[str] = []
    chunk = bytearray()
    # RFC 2047 section 2: a line holding an encoded word is at most 76 characters, so the
    # first word, which shares its line with "Name: ", carries fewer bytes (at least one
    # character's worth, so a very long header name cannot leave it empty).
    first_line = _ENCODED_LINE - len(header_name) - 2 - len("=?utf-8?b??=")
    budget = max(4, first_line // 4 * 3)
    for char in text:
        encoded = char.encode("utf-8")
        if len(chunk) + len(encoded) > (budget if not words else _WORD_BYTES) and chunk:
            words.append(f"=?utf-8?b?{binascii.b2a_base64(bytes(chunk), newline=False).decode()}?=")
            chunk.clear()
        chunk += encoded
    if chunk or not words:
        words.append(f"=?utf-8?b?{binascii.b2a_base64(bytes(chunk), newline=False).decode()}?=")
    return "\r\n ".join(words)


def _unstructured(name: str, value: str) -> bytes:
    if value[:1] in (" ", "\t"):
        # Readers drop white space right after the colon; in an encoded word it survives.
        return f"{name}: {_encoded_words(value, name)}".encode("ascii")
    line = f"{name}: {value}"
    if value.isascii() and len(line) <= _FOLD_AT:
        return line.encode("ascii")
    if value.isascii() and all(len(w) < _FOLD_AT - 2 for w in value.split(" ")):
        folded = _fold_words(name, value.split(" "))
        if all(len(line) <= _FOLD_AT for line in folded.split("\r\n")):
            return folded.encode("ascii")
        # A run of spaces cannot be folded at; encoded words carry it intact.
    return f"{name}: {_encoded_words(value, name)}".encode("ascii")


def _fold_words(name: str, words: list[str]) -> str:
    lines: list[str] = []
    current = f"{name}:"
    for word in words:
        if len(current) + 1 + len(word) > _FOLD_AT and current.strip() and current != f"{name}:":
            lines.append(current)
            current = ""
        current += " " + word
    lines.append(current)
    return "\r\n".join(lines)


def _phrase(name: str, utf8: bool) -> str:
    # Lengths are counted in octets, escapes included: it is octets that RFC 5322 limits.
    if _PLAIN_PHRASE.match(name) and name.strip() == name and len(name) <= _MAX_PHRASE:
        return name
    printable = name.isprintable() and (utf8 or name.isascii())
    if printable:
        escaped = name.replace("\\", "\\\\").replace('"', '\\"')
        if len(escaped.encode("utf-8")) + 2 <= _MAX_PHRASE:
            return f'"{escaped}"'
    # Non-ASCII without SMTPUTF8, or too long for one line even as a quoted string: encoded
    # words fold safely. (A quoted string is never folded here: address_field folds only
    # between mailboxes, so the stdlib's quote-losing folder, CPython gh-80222, never runs.)
    return _encoded_words(name, "To")


def _mailbox(addr: Address, utf8: bool) -> str:
    spec = addr.email if utf8 else addr.envelope
    if not addr.name:
        return spec
    return f"{_phrase(addr.name, utf8)} <{spec}>"


def address_field(name: str, addrs: list[Address], utf8: bool = False) -> str:
    """``Name: mailbox, mailbox`` folded between mailboxes only, never inside one.

    Both renderers write address headers with this: the stdlib's folder can move a comma
    into an encoded word or drop a display name's quotes, changing who the recipients are.
    With *utf8* (SMTPUTF8 messages) addresses and names stay raw UTF-8 (RFC 6532).
    """
    parts = [_mailbox(a, utf8) for a in addrs]
    last = len(parts) - 1
    line = f"{name}:"
    out: list[str] = []
    for i, part in enumerate(parts):
        piece = part + "," if i < last else part
        if i and len(line) + 1 + len(piece) > _FOLD_AT:
            out.append(line)  # a line holds at least one mailbox, however long
            line = " " + piece
        else:
            line += " " + piece
    out.append(line)
    return "\r\n".join(out)


def _address_header(name: str, addrs: list[Address]) -> bytes:
    return address_field(name, addrs).encode("ascii")


_MAX_LINE = 998
_LONG_LINE = re.compile(rb"(?m)^[^\r\n]{999}")  # anchored at line starts: linear time


def checked(raw: bytes) -> bytes:
    """*raw*, after making sure it has no bare CR or LF and no line over RFC 5322's 998
    octets; raises MessageError otherwise."""
    crlf = raw.count(b"\r\n")
    if raw.count(b"\n") != crlf or raw.count(b"\r") != crlf:
        raise MessageError("rendered message has a bare CR or LF")
    if len(raw) > _MAX_LINE and _LONG_LINE.search(raw):
        raise MessageError(
            "rendered message has a line over 998 octets; a header value has a word too long "
            "to fold"
        )
    return raw


def needs_dot_stuffing(data: bytes) -> bool:
    """True when a line of *data* (which starts at a line start) begins with a dot."""
    return data.startswith(b".") or b"\n." in data


@lru_cache(maxsize=128)
def _text_part(text: str, subtype: str) -> tuple[bytes, bool]:
    """The checked part and whether it needs dot-stuffing; cached, so a mail-merge with a
    shared body encodes, checks and scans it once."""
    part = _encode_text_part(text, subtype)
    if not part.startswith(_SEVEN_BIT_HEAD, part.index(b"\r\n") + 2):
        # A 7bit part is safe by construction (ASCII, no control character, lines of at
        # most 78 octets, every line end written as CRLF): the scan is skipped for it, as
        # it is the costliest step of rendering a body no cache can help with.
        part = checked(part)
    return part, needs_dot_stuffing(part)


_SEVEN_BIT_HEAD = b"Content-Transfer-Encoding: 7bit\r\n"


def _encode_text_part(text: str, subtype: str) -> bytes:
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    data = text.encode("utf-8")
    if not data.endswith(b"\n"):
        data += b"\n"
    head = f'Content-Type: text/{subtype}; charset="utf-8"\r\nContent-Transfer-Encoding: '
    # 7bit when nothing is left after deleting printable ASCII, TAB and LF (one pass in C;
    # a regex scan for control characters costs several times more), and no line is long.
    if not data.translate(None, _SEVEN_BIT_BYTES) and max(map(len, data.split(b"\n"))) <= _FOLD_AT:
        return (head + "7bit\r\n\r\n").encode("ascii") + data.replace(b"\n", _CRLF)
    non_ascii = len(data) - len(data.translate(None, _HIGH_BYTES))
    if non_ascii * 3 > len(data):
        return (head + "base64\r\n\r\n").encode("ascii") + _base64_lines(data.replace(b"\n", _CRLF))
    qp = binascii.b2a_qp(data, quotetabs=False, istext=True, header=False)
    if not qp.endswith(b"\n"):
        qp += b"\n"
    return (head + "quoted-printable\r\n\r\n").encode("ascii") + qp.replace(b"\n", _CRLF)


# Whole 76-character lines and the shorter last one: findall cuts them in C.
_BASE64_LINE = re.compile(rb".{1,76}", re.DOTALL)


def _base64_lines(data: bytes | memoryview) -> bytes:
    encoded = binascii.b2a_base64(data, newline=False)
    if not encoded:
        return b""
    return _CRLF.join(_BASE64_LINE.findall(encoded)) + _CRLF


@lru_cache(maxsize=32)
def _calendar_part(calendar: Calendar) -> tuple[bytes, bool]:
    """The text/calendar alternative (7bit when it can be, else base64; see Calendar) and
    whether it needs dot-stuffing; cached like the text parts, so one invite sent to many
    is encoded and checked once (a Calendar is frozen, and equal ones give equal parts)."""
    if calendar.seven_bit:
        cte, body = "7bit", calendar.ics.encode("ascii")
    else:
        cte, body = "base64", _base64_lines(calendar.ics.encode("utf-8"))
    head = f"Content-Type: {calendar.content_type}\r\nContent-Transfer-Encoding: {cte}\r\n\r\n"
    part = checked(head.encode("ascii") + body)
    return part, needs_dot_stuffing(part)


class Encoded:
    """A base64 attachment part too large to hold encoded: its header now, its body streamed.

    Its length is known without encoding (SMTP SIZE needs it), and :meth:`chunks` encodes
    about a megabyte at a time (reading a file attachment from disk as it goes), so sending
    it never holds a second copy of the attachment.
    """

    __slots__ = ("attachment", "head")

    _SLICE = 57 * 4096  # whole 76-character lines per chunk, about 320 KB encoded

    def __init__(self, head: bytes, attachment: Attachment) -> None:
        self.head = head
        self.attachment = attachment

    def __len__(self) -> int:
        lines, rest = divmod(self.attachment.size, 57)
        encoded = lines * 78 + ((4 * -(-rest // 3)) + 2 if rest else 0)
        return len(self.head) + encoded

    def chunks(self) -> Iterator[bytes]:
        """The part's bytes in slices, each ending at a line end."""
        yield self.head
        for piece in self.attachment.read_slices(self._SLICE):
            yield _base64_lines(piece)

    def __bytes__(self) -> bytes:
        return b"".join(self.chunks())


Piece = bytes | Encoded
"""What the renderer produces: bytes, or a large attachment part still to be encoded.
Every piece starts at a line start and ends with CRLF."""

STREAM_ABOVE = 1 << 20
"""Attachments larger than this are streamed, not held encoded (nor cached)."""


def _disposition(att: Attachment, kind: str) -> str:
    name = att.filename
    if name.isascii() and name.isprintable() and len(name) <= _MAX_QUOTED_NAME:
        escaped = name.replace("\\", "\\\\").replace('"', '\\"')
        return f'Content-Disposition: {kind}; filename="{escaped}"'
    # RFC 2231 extended parameter; long ones split into numbered continuations (section 3)
    # so no line passes the limit. A %XX escape is never cut.
    encoded = quote(name, safe="")
    if len(encoded) <= _MAX_QUOTED_NAME:
        return f"Content-Disposition: {kind};\r\n filename*=utf-8''{encoded}"
    segments: list[str] = []
    start = 0
    while start < len(encoded):
        end = min(start + _MAX_QUOTED_NAME, len(encoded))
        while end < len(encoded) and "%" in encoded[end - 2 : end]:
            end -= 1  # back off so the segment does not end inside an escape
        segments.append(encoded[start:end])
        start = end
    params = [f"filename*0*=utf-8''{segments[0]}"]
    params += [f"filename*{i}*={seg}" for i, seg in enumerate(segments[1:], start=1)]
    return f"Content-Disposition: {kind};\r\n " + ";\r\n ".join(params)


def name_parameter(filename: str) -> str:
    """The Content-Type ``name=`` parameter for *filename*, as both renderers write it.

    Readers that ignore RFC 2231 (Outlook, several webmail readers) show only this name, so
    a name that ``filename*=`` carries in RFC 2231 form is given here as RFC 2047 encoded
    words in a quoted string: not what RFC 2047 allows, but what those readers decode.
    """
    if filename.isascii() and filename.isprintable() and len(filename) <= _MAX_QUOTED_NAME:
        escaped = filename.replace("\\", "\\\\").replace('"', '\\"')
        return f'name="{escaped}"'
    return f'name="{_encoded_words(filename, "Content-Type")}"'


def content_type_value(att: Attachment, stdlib_value: str | None = None) -> str:
    """An attachment part's Content-Type value: type, charset (text/*) and ``name=``."""
    head = stdlib_value or (
        f'{att.content_type}; charset="{att.charset}"' if att.charset else att.content_type
    )
    return f"{head};\r\n {name_parameter(att.filename)}"


def _attachment_part(att: Attachment, kind: str) -> Piece:
    # Keyed by everything the part is made of: model_copy() shares the cache between an
    # attachment and its copy, whose file name or content may differ.
    content = att.__dict__["content"]
    cache_key = (kind, att.inline, att.filename, att.content_type, att.charset, att.cid)
    cache = att._mime_cache
    if cache is None:
        cache = {}
        object.__setattr__(att, "_mime_cache", cache)
    cached = cache.get(cache_key)
    if cached is not None and cached[0] is content and att._path is None:
        return cached[1]
    # The stdlib's order (the reference renderer sets Content-Type last, with its params).
    lines = ["Content-Transfer-Encoding: base64", _disposition(att, kind)]
    if att.inline:
        lines.append(f"Content-ID: <{att.cid}>")
    lines.append(f"Content-Type: {content_type_value(att)}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")
    if att.size > STREAM_ABOVE:
        return Encoded(head, att)
    part = head + _base64_lines(att.content)
    if att._path is None:  # a file is read again each time: it may have changed on disk
        cache[cache_key] = (content, part)
    return part


def _multipart(subtype: str, boundary: str, parts: list[list[Piece]]) -> list[Piece]:
    marker = f"--{boundary}".encode("ascii")
    head = f'Content-Type: multipart/{subtype};\r\n boundary="{boundary}"\r\n\r\n'.encode("ascii")
    pieces: list[Piece] = [head]
    for i, part in enumerate(parts):
        pieces.append((_CRLF if i else b"") + marker + _CRLF)
        pieces.extend(part)
    pieces.append(_CRLF + marker + b"--" + _CRLF)
    return pieces


def _has_encoded_word(message: Message) -> bool:
    if "=?" in message.subject or any("=?" in v for v in message.headers.values()):
        return True
    return any(
        "=?" in a.name for a in (*message.to, *message.cc, *message.reply_to, message.sender)
    )


def render_fast(
    outgoing: Prepared,
    boundary_for: Callable[[int, list[bytes]], str],
) -> tuple[list[Piece], bool] | None:
    """Render *outgoing* to pieces (see :data:`Piece`) and whether any line starts with a
    dot (so SMTP must dot-stuff it); None when the stdlib path must render it.

    ``boundary_for(index, leaves)`` gives the boundary of the index-th multipart in walk
    order, one that occurs in none of the leaves (the reference renderer uses the same).
    Headers and text parts are checked for bare CR/LF and over-long lines; attachment parts
    need no check (base64 lines are 76 octets, CRLF-terminated, never start with a dot), and
    re-scanning a large attachment would cost more than writing it.
    """
    message = outgoing.message
    if outgoing.envelope.smtputf8 or message.needs_smtputf8() or _has_encoded_word(message):
        return None
    html = message.html
    text = message.text
    body: _Node
    dotted = False
    if text is not None or html is None:
        body, dotted = _text_part(text or "", "plain")
        if html is not None:
            html_part, html_dotted = _text_part(html, "html")
            body = ("alternative", [body, html_part])
            dotted = dotted or html_dotted
    else:
        body, dotted = _text_part(html, "html")
    inline = [a for a in message.attachments if a.inline] if html is not None else []
    others = [a for a in message.attachments if not (a.inline and html is not None)]
    if message.calendar is not None:
        invite, invite_dotted = _calendar_part(message.calendar)
        body = ("alternative", [*(body[1] if isinstance(body, tuple) else [body]), invite])
        dotted = dotted or invite_dotted
        from mailsdk.calendar import invite_attachment  # only invites need it

        others.insert(0, invite_attachment(message.calendar))
    if inline:
        body = ("related", [body, *[_attachment_part(a, "inline") for a in inline]])
    if others:
        parts = [_attachment_part(a, "inline" if a.inline else "attachment") for a in others]
        body = ("mixed", [body, *parts])

    headers: list[bytes] = [_address_header("From", [message.sender])]
    for name, addrs in (("To", message.to), ("Cc", message.cc), ("Reply-To", message.reply_to)):
        if addrs:
            headers.append(_address_header(name, addrs))
    headers.append(_unstructured("Subject", message.subject) if message.subject else b"Subject:")
    headers.append(f"Date: {outgoing.date}".encode("ascii", "strict"))
    headers.append(f"Message-ID: {outgoing.message_id}".encode("ascii"))
    for name, value in message.headers.items():
        if name.lower() not in ("date", "message-id"):
            headers.append(_unstructured(name, value))
    for name, value in message.list_headers().items():
        headers.append(f"{name}: {value}".encode("ascii"))  # URLs are ASCII, pre-folded
    headers.append(b"MIME-Version: 1.0")
    top = checked(_CRLF.join(headers) + _CRLF)
    dotted = dotted or needs_dot_stuffing(top)
    # A boundary must not occur in any part; base64 text cannot contain one ("_" is not in
    # its alphabet), so an attachment part (streamed or not) is checked by its header alone.
    leaves = [_searched_for_boundaries(leaf) for leaf in _leaves(body)]
    numbered = iter(range(1_000_000))
    return [top, *_flatten(body, lambda: boundary_for(next(numbered), leaves))], dotted


_Node = Piece | tuple[str, list["_Node"]]
_BASE64_PART = b"Content-Transfer-Encoding: base64\r\n"  # how _attachment_part starts one


def _searched_for_boundaries(leaf: Piece) -> bytes:
    """What of *leaf* a boundary could occur in: an attachment part's header, not its base64
    body (most of a message's bytes, not worth scanning once per boundary)."""
    if not isinstance(leaf, bytes):
        return leaf.head
    if leaf.startswith(_BASE64_PART):
        return leaf[: leaf.index(b"\r\n\r\n")]
    return leaf


def _leaves(node: _Node) -> Iterator[Piece]:
    if isinstance(node, tuple):
        for child in node[1]:
            yield from _leaves(child)
    else:
        yield node


def _flatten(node: _Node, next_boundary: Callable[[], str]) -> list[Piece]:
    if not isinstance(node, tuple):
        return [node]
    subtype, children = node
    boundary = next_boundary()  # taken before the children's: the stdlib's walk order
    return _multipart(subtype, boundary, [_flatten(c, next_boundary) for c in children])
