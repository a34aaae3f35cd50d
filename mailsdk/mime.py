"""Message -> MIME: the stdlib ``email`` package builds the tree, we fix what it leaves loose.

The tree is multipart/mixed > related > alternative, each level only when needed. Output uses
CRLF only, RFC 2047 for non-ASCII headers (raw UTF-8 headers only when an address needs
SMTPUTF8), never a Bcc header, and multipart boundaries derived from the Message-ID so that a
message with a fixed Message-ID and Date renders to the same bytes every time.
"""

from __future__ import annotations

import hashlib
import inspect
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from datetime import datetime, timezone
from email import policy as _policies
from email.header import Header
from email.message import EmailMessage, MIMEPart
from email.utils import format_datetime, make_msgid
from functools import partial

from mailsdk._fastmime import (
    Piece,
    address_field,
    checked,
    content_type_value,
    needs_dot_stuffing,
    render_fast,
)
from mailsdk.message import Address, Attachment, Envelope, Message

__all__ = [
    "MAX_LINE_OCTETS",
    "HandoverHook",
    "OutgoingMessage",
    "boundary_for",
    "build_email_message",
    "render",
    "render_reference",
]

MAX_LINE_OCTETS = 998
"""RFC 5322 section 2.1.1: no line may be longer than this, CRLF excluded."""

_LINE_ENDINGS = re.compile(r"\r\n|\r|\n")

HandoverHook = Callable[["OutgoingMessage"], "Awaitable[None] | None"]
"""Called (and awaited if it returns an awaitable) right before a transport hands a message
over: before SMTP's final dot, before the HTTP request. Raising stops the send there."""


class OutgoingMessage:
    """A message prepared for one send: its Message-ID, Date, envelope and, lazily, its bytes.

    It is made once per ``send`` and handed unchanged to every relay and every retry, so each
    one sees the same Message-ID and the same bytes. Transports that post JSON never pay for
    rendering MIME they do not use.
    """

    __slots__ = (
        "_dotted",
        "_pieces",
        "_raw",
        "date",
        "deadline",
        "envelope",
        "message",
        "message_id",
        "on_handover",
    )

    def __init__(
        self,
        message: Message,
        *,
        message_id: str | None = None,
        date: str | None = None,
    ) -> None:
        message.recheck()
        self.message = message
        headers = {k.lower(): v for k, v in message.headers.items()}
        self.message_id: str = (
            message_id or headers.get("message-id", "").strip() or _new_message_id(message.sender)
        )
        self.date: str = date or headers.get("date") or format_datetime(datetime.now(timezone.utc))
        self.envelope: Envelope = message.envelope()
        self._raw: bytes | None = None
        self._pieces: list[Piece] | None = None
        self._dotted = True
        self.deadline: float | None = None
        """time.monotonic() value after which transports should give up (set per send)."""
        self.on_handover: HandoverHook | None = None
        """Run by :meth:`handing_over`; durable queues record "handed over" here (per send)."""

    def time_left(self, default: float) -> float:
        """*default* seconds, or less if the send's deadline is nearer; 0 once it passed."""
        if self.deadline is None:
            return default
        return max(0.0, min(default, self.deadline - time.monotonic()))

    def restricted_to(self, recipients: Iterable[str]) -> OutgoingMessage:
        """The same message (same bytes, Message-ID and Date) for some envelope recipients.

        Used to retry only the recipients a relay deferred; headers are unchanged.
        """
        keep = tuple(recipients)
        clone = OutgoingMessage.__new__(OutgoingMessage)
        clone.message = self.message
        clone.message_id = self.message_id
        clone.date = self.date
        clone.envelope = Envelope(self.envelope.mail_from, keep, self.envelope.smtputf8)
        clone._raw = self._raw
        clone._pieces = self._pieces
        clone._dotted = self._dotted
        clone.deadline = self.deadline
        clone.on_handover = self.on_handover
        return clone

    async def handing_over(self) -> None:
        """Run :attr:`on_handover`: every transport awaits this at its point of no return.

        After it, the message may have been delivered even if the connection is then lost
        (:class:`~mailsdk.DeliveryUnknown`); before it, nothing was. An exception it raises
        propagates and the message is not handed over.
        """
        if self.on_handover is not None:
            pending = self.on_handover(self)
            if inspect.isawaitable(pending):
                await pending

    def _rendered(self) -> list[Piece]:
        if self._pieces is None:
            fast = render_fast(self, partial(boundary_for, self.message_id))
            if fast is None:
                raw = render_reference(self)
                self._pieces, self._dotted = [raw], needs_dot_stuffing(raw)
            else:
                self._pieces, self._dotted = fast
        return self._pieces

    @property
    def needs_dot_stuffing(self) -> bool:
        """True when some line starts with a dot (SMTP must then double it)."""
        self._rendered()
        return self._dotted

    @property
    def raw(self) -> bytes:
        """The MIME bytes (CRLF line endings), rendered on first use and kept."""
        if self._raw is None:
            pieces = self._rendered()
            self._raw = (
                pieces[0]
                if len(pieces) == 1 and isinstance(pieces[0], bytes)
                else (b"".join(p if isinstance(p, bytes) else bytes(p) for p in pieces))
            )
        return self._raw

    @property
    def size(self) -> int:
        """The length of :attr:`raw` in octets, known without building it."""
        if self._raw is not None:
            return len(self._raw)
        return sum(len(p) for p in self._rendered())

    @property
    def eight_bit(self) -> bool:
        """True when the bytes are not all ASCII (raw UTF-8 headers of an SMTPUTF8 message)."""
        if self._raw is not None:
            return not self._raw.isascii()
        return not all(p.isascii() for p in self._rendered() if isinstance(p, bytes))

    def chunks(self) -> Iterator[bytes]:
        """:attr:`raw` in pieces, each starting at a line start and ending with CRLF.

        Large attachments are encoded a slice at a time, so streaming a message never holds
        its whole encoded form: transports that can write incrementally use this.
        """
        if self._raw is not None:
            yield self._raw
            return
        for piece in self._rendered():
            if isinstance(piece, bytes):
                yield piece
            else:
                yield from piece.chunks()

    def __repr__(self) -> str:
        return f"OutgoingMessage(message_id={self.message_id!r}, message={self.message!r})"


def render_reference(outgoing: OutgoingMessage) -> bytes:
    """Render with the stdlib EmailMessage path only: the oracle the fast path is held to."""
    return checked(build_email_message(outgoing).as_bytes())


def render(message: Message) -> OutgoingMessage:
    """Prepare *message* for sending (new Message-ID and Date unless its headers fix them)."""
    return OutgoingMessage(message)


def _new_message_id(sender: Address) -> str:
    domain = sender.envelope.rpartition("@")[2]
    return make_msgid(domain=domain)


def _normalise_text(text: str) -> str:
    return _LINE_ENDINGS.sub("\n", text)


def _policy_for(message: Message) -> _policies.EmailPolicy[EmailMessage]:
    base = _policies.SMTPUTF8 if message.needs_smtputf8() else _policies.SMTP
    return base.clone(refold_source="none")


def build_email_message(outgoing: OutgoingMessage) -> EmailMessage:
    """Build the stdlib EmailMessage for *outgoing* (the reference renderer)."""
    message = outgoing.message
    policy = _policy_for(message)
    utf8 = bool(policy.utf8)
    em = EmailMessage(policy=policy)
    # Address headers are written pre-folded (address_field) and kept as written
    # (refold_source="none"): the stdlib's own folding can lose a display name's quotes or
    # move a comma into an encoded word, changing who the recipients are.
    for name, addrs in (
        ("From", [message.sender]),
        ("To", message.to),
        ("Cc", message.cc),
        ("Reply-To", message.reply_to),
    ):
        if addrs:
            em.set_raw(name, address_field(name, addrs, utf8).split(": ", 1)[1])
    _set_unstructured(em, "Subject", message.subject)
    em["Date"] = outgoing.date
    em["Message-ID"] = outgoing.message_id
    for name, value in message.headers.items():
        if name.lower() not in ("date", "message-id"):
            _set_unstructured(em, name, value)

    em["MIME-Version"] = "1.0"
    _attach_body(em, _body_tree(message, policy), message)
    _set_boundaries(em, outgoing.message_id)
    return em


def _set_unstructured(em: EmailMessage, name: str, value: str) -> None:
    if value[:1] in (" ", "\t"):
        # A reader drops white space right after the colon, and the stdlib's header
        # registry writes leading white space there: only an encoded word keeps it, so
        # the value is written as encoded words (email.header) and kept as written.
        em.set_raw(name, Header(value, "utf-8", header_name=name).encode(linesep="\r\n"))
    else:
        em[name] = value


def _body_tree(message: Message, policy: _policies.EmailPolicy[EmailMessage]) -> MIMEPart:
    """The text/html body, wrapped in multipart/related when inline images go with the HTML."""
    text = _normalise_text(message.text) if message.text is not None else None
    html = _normalise_text(message.html) if message.html is not None else None
    # Bodies are encoded to 7 bit (quoted-printable or base64 when needed), so the message
    # never depends on the relay offering 8BITMIME.
    body = MIMEPart(policy=policy.clone(cte_type="7bit"))
    if text is not None or html is None:
        body.set_content(text or "", subtype="plain", charset="utf-8", cte=_cte(text or ""))
        if html is not None:
            body.add_alternative(html, subtype="html", charset="utf-8", cte=_cte(html))
    else:
        body.set_content(html, subtype="html", charset="utf-8", cte=_cte(html))
    inline = [a for a in message.attachments if a.inline] if html is not None else []
    if not inline:
        return body
    related = MIMEPart(policy=policy)
    related.make_related()
    related.attach(body)
    for att in inline:
        maintype, _, subtype = att.content_type.partition("/")
        related.add_related(
            att.content,
            maintype,
            subtype,
            cid=f"<{att.cid}>",
            filename=att.filename,
            disposition="inline",
            params=_charset_param(att),
        )
        _add_name_parameter(_last_part(related), att)
    return related


def _charset_param(att: Attachment) -> dict[str, str] | None:
    return {"charset": att.charset} if att.charset else None


def _last_part(multipart: MIMEPart) -> MIMEPart:
    *_, last = multipart.iter_parts()
    assert isinstance(last, MIMEPart)
    return last


def _add_name_parameter(part: MIMEPart, att: Attachment) -> None:
    # The stdlib writes a name as RFC 2231 only; the RFC 2047 fallback is written as is.
    value = content_type_value(att, str(part["Content-Type"]))
    del part["Content-Type"]
    part.set_raw("Content-Type", value)


_CONTROL_TEXT = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def _cte(text: str) -> str | None:
    """Quoted-printable for text with control characters (never 7bit); else the stdlib's
    own choice."""
    return "quoted-printable" if _CONTROL_TEXT.search(text) else None


def _attach_body(em: EmailMessage, body: MIMEPart, message: Message) -> None:
    # Inline images only go in the related part when there is HTML to refer to them.
    others = [a for a in message.attachments if not (a.inline and message.html is not None)]
    if others:
        # Built on a MIMEPart so the subparts do not each get a MIME-Version header.
        mixed = MIMEPart(policy=body.policy)
        mixed.make_mixed()
        mixed.attach(body)
        for att in others:
            maintype, _, subtype = att.content_type.partition("/")
            mixed.add_attachment(
                att.content,
                maintype,
                subtype,
                filename=att.filename,
                disposition="inline" if att.inline else "attachment",
                cid=f"<{att.cid}>" if att.inline else None,
                params=_charset_param(att),
            )
            _add_name_parameter(_last_part(mixed), att)
        body = mixed
    for name, value in body.items():
        em[name] = value
    em.set_payload(body.get_payload())


def boundary_for(message_id: str, index: int, leaves: Sequence[bytes | str]) -> str:
    """The boundary of the index-th multipart (walk order) of the message *message_id*.

    The stdlib picks random boundaries at flatten time; deriving them from the Message-ID
    makes output reproducible. A boundary must not occur in any leaf part.
    """
    salt = 0
    while True:
        digest = hashlib.sha256(f"{message_id}/{index}/{salt}".encode()).hexdigest()
        boundary = f"=_mailsdk_{digest[:28]}"
        needle = boundary.encode("ascii")
        if not any((needle if isinstance(p, bytes) else boundary) in p for p in leaves):  # type: ignore[operator]
            return boundary
        salt += 1


def _set_boundaries(em: EmailMessage, message_id: str) -> None:
    payloads = [str(part.get_payload()) for part in em.walk() if not part.is_multipart()]
    for index, part in enumerate(p for p in em.walk() if p.is_multipart()):
        part.set_boundary(boundary_for(message_id, index, payloads))
