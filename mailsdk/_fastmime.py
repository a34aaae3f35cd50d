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
from email.header import Header
from functools import lru_cache
from typing import TYPE_CHECKING
from urllib.parse import quote

if TYPE_CHECKING:
    from mailsdk.message import Address, Attachment, Message
    from mailsdk.mime import OutgoingMessage

__all__ = ["STREAM_ABOVE", "Encoded", "Piece", "render_fast"]

_CRLF = b"\r\n"
_FOLD_AT = 78
# RFC 5322 atext plus space: a display name made only of these needs no quoting.
_PLAIN_PHRASE = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~ -]*$")
_TOKEN = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")
_MAX_QUOTED_NAME = 60


def _encoded_words(text: str, header_name: str) -> str:
    return Header(text, "utf-8", header_name=header_name).encode(linesep="\r\n")


def _unstructured(name: str, value: str) -> bytes:
    line = f"{name}: {value}"
    if value.isascii() and len(line) <= _FOLD_AT:
        return line.encode("ascii")
    if value.isascii() and all(len(w) < _FOLD_AT - 2 for w in value.split(" ")):
        return _fold_words(name, value.split(" ")).encode("ascii")
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


def _phrase(name: str) -> str:
    if _PLAIN_PHRASE.match(name) and name.strip() == name:
        return name
    if name.isascii() and len(name) <= _MAX_QUOTED_NAME and name.isprintable():
        escaped = name.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}"'
    # Non-ASCII, or too long to keep on one line as a quoted string: encoded words fold
    # safely, which a quoted string does not.
    return _encoded_words(name, "To")


def _mailbox(addr: Address) -> str:
    if not addr.name:
        return addr.envelope
    return f"{_phrase(addr.name)} <{addr.envelope}>"


def _address_header(name: str, addrs: list[Address]) -> bytes:
    parts = [_mailbox(a) for a in addrs]
    line = f"{name}: "
    out: list[str] = []
    for i, part in enumerate(parts):
        piece = part + ("," if i < len(parts) - 1 else "")
        if len(line) + len(piece) > _FOLD_AT and line.strip() != f"{name}:":
            out.append(line.rstrip())
            line = " "
        line += piece + " "
    out.append(line.rstrip())
    return "\r\n".join(out).encode("ascii")


@lru_cache(maxsize=128)
def _text_part(text: str, subtype: str) -> bytes:
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    data = "\n".join(lines).encode("utf-8") + b"\n" if lines else b"\n"
    head = f'Content-Type: text/{subtype}; charset="utf-8"\r\nContent-Transfer-Encoding: '
    if data.isascii() and max(map(len, lines), default=0) <= _FOLD_AT:
        body = data.replace(b"\n", _CRLF)
        return (head + "7bit\r\n\r\n").encode("ascii") + body
    non_ascii = sum(1 for b in data if b > 127) if not data.isascii() else 0
    if non_ascii * 3 > len(data):
        return (head + "base64\r\n\r\n").encode("ascii") + _base64_lines(data.replace(b"\n", _CRLF))
    qp = binascii.b2a_qp(data, quotetabs=False, istext=True, header=False)
    if not qp.endswith(b"\n"):
        qp += b"\n"
    return (head + "quoted-printable\r\n\r\n").encode("ascii") + qp.replace(b"\n", _CRLF)


def _base64_lines(data: bytes | memoryview) -> bytes:
    encoded = binascii.b2a_base64(data, newline=False)
    if not encoded:
        return b""
    step = 76
    return _CRLF.join([encoded[i : i + step] for i in range(0, len(encoded), step)]) + _CRLF


class Encoded:
    """A base64 attachment part too large to hold encoded: its header now, its body streamed.

    Its length is known without encoding (SMTP SIZE needs it), and :meth:`chunks` encodes
    about a megabyte at a time, so sending it never holds a second copy of the attachment.
    """

    __slots__ = ("content", "head")

    _SLICE = 57 * 18_000  # whole 76-character lines per chunk, about 1.4 MB encoded

    def __init__(self, head: bytes, content: bytes) -> None:
        self.head = head
        self.content = content

    def __len__(self) -> int:
        lines, rest = divmod(len(self.content), 57)
        encoded = lines * 78 + ((4 * -(-rest // 3)) + 2 if rest else 0)
        return len(self.head) + encoded

    def chunks(self) -> Iterator[bytes]:
        """The part's bytes in slices, each ending at a line end."""
        yield self.head
        view = memoryview(self.content)
        for start in range(0, len(view), self._SLICE):
            yield _base64_lines(view[start : start + self._SLICE])

    def __bytes__(self) -> bytes:
        return b"".join(self.chunks())


Piece = bytes | Encoded
"""What the renderer produces: bytes, or a large attachment part still to be encoded.
Every piece starts at a line start and ends with CRLF."""

STREAM_ABOVE = 1 << 20
"""Attachments larger than this are streamed, not held encoded (nor cached)."""


def _disposition(att: Attachment, kind: str) -> str:
    name = att.filename
    if name.isascii() and name.isprintable():
        if _TOKEN.match(name):
            return f'Content-Disposition: {kind}; filename="{name}"'
        escaped = name.replace("\\", "\\\\").replace('"', '\\"')
        return f'Content-Disposition: {kind}; filename="{escaped}"'
    # RFC 2231 extended parameter, as the stdlib writes it.
    return f"Content-Disposition: {kind};\r\n filename*=utf-8''{quote(name, safe='')}"


def _attachment_part(att: Attachment, kind: str) -> Piece:
    cache_key = (kind, att.inline)
    if att._mime_cache is None:
        att._mime_cache = {}
    cached = att._mime_cache.get(cache_key)
    if cached is not None:
        return cached
    lines = [f"Content-Type: {att.content_type}", "Content-Transfer-Encoding: base64"]
    lines.append(_disposition(att, kind))
    if att.inline:
        lines.append(f"Content-ID: <{att.cid}>")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")
    if len(att.content) > STREAM_ABOVE:
        return Encoded(head, att.content)
    part = head + _base64_lines(att.content)
    att._mime_cache[cache_key] = part
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
    texts = [message.subject, *message.headers.values()]
    texts += [a.name for a in (*message.to, *message.cc, *message.reply_to, message.sender)]
    return any("=?" in t for t in texts)


def render_fast(
    outgoing: OutgoingMessage,
    boundary_for: Callable[[int, list[bytes]], str],
    check_lines: Callable[[bytes], bytes],
) -> list[Piece] | None:
    """Render *outgoing* to pieces (see :data:`Piece`), or None when the stdlib path must.

    ``boundary_for(index, leaves)`` gives the boundary of the index-th multipart in walk
    order, one that occurs in none of the leaves (the reference renderer uses the same).
    ``check_lines`` raises for a bare CR or LF or a line over the RFC 5322 limit; it is
    applied to headers and text parts only: base64 lines are 76 octets and CRLF-terminated
    by construction, and re-scanning a large attachment would cost more than writing it.
    """
    message = outgoing.message
    if outgoing.envelope.smtputf8 or message.needs_smtputf8() or _has_encoded_word(message):
        return None
    html = message.html
    text = message.text
    body: _Node
    if text is not None or html is None:
        body = check_lines(_text_part(text or "", "plain"))
        if html is not None:
            body = ("alternative", [body, check_lines(_text_part(html, "html"))])
    else:
        body = check_lines(_text_part(html, "html"))
    inline = [a for a in message.attachments if a.inline] if html is not None else []
    others = [a for a in message.attachments if not (a.inline and html is not None)]
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
    headers.append(b"MIME-Version: 1.0")
    top = check_lines(_CRLF.join(headers) + _CRLF)
    # A boundary must not occur in any part; base64 text cannot contain one ("_" is not in
    # its alphabet), so a streamed part is checked by its header alone.
    leaves = [leaf if isinstance(leaf, bytes) else leaf.head for leaf in _leaves(body)]
    numbered = iter(range(1_000_000))
    return [top, *_flatten(body, lambda: boundary_for(next(numbered), leaves))]


_Node = Piece | tuple[str, list["_Node"]]


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
