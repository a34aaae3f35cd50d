"""The reference renderer: the stdlib ``email`` package builds the tree; we fix what it
leaves loose.

The tree is multipart/mixed > related > alternative, each level only when needed. Output uses
CRLF only, RFC 2047 for non-ASCII headers (raw UTF-8 headers only when an address needs
SMTPUTF8), never a Bcc header, and multipart boundaries derived from the Message-ID so that a
message with a fixed Message-ID and Date renders to the same bytes every time. The hot path
(:mod:`mailsdk._fastmime`) is held to this renderer by a property test, and falls back to it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from email import policy as _policies
from email.header import Header
from email.message import EmailMessage, MIMEPart
from typing import Any

from mailsdk._fastmime import Prepared, address_field, checked, content_type_value
from mailsdk.calendar import Calendar, invite_attachment
from mailsdk.message import Attachment, Message

__all__ = ["MAX_LINE_OCTETS", "boundary_for", "build_email_message", "render_reference"]

MAX_LINE_OCTETS = 998
"""RFC 5322 section 2.1.1: no line may be longer than this, CRLF excluded."""

_LINE_ENDINGS = re.compile(r"\r\n|\r|\n")


def render_reference(outgoing: Prepared) -> bytes:
    """Render with the stdlib EmailMessage path only: the oracle the fast path is held to."""
    return checked(build_email_message(outgoing).as_bytes())


def _normalise_text(text: str) -> str:
    return _LINE_ENDINGS.sub("\n", text)


def _policy_for(message: Message) -> _policies.EmailPolicy[EmailMessage]:
    base = _policies.SMTPUTF8 if message.needs_smtputf8() else _policies.SMTP
    return base.clone(refold_source="none")


def build_email_message(outgoing: Prepared) -> EmailMessage:
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
    for name, value in message.list_headers().items():
        em.set_raw(name, value)  # pre-folded between URLs, as the fast renderer writes it

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
    if message.calendar is not None:
        if body.get_content_type() != "multipart/alternative":
            body.make_alternative()
        body.attach(_calendar_part(message.calendar, policy))
    inline = [a for a in message.attachments if a.inline] if html is not None else []
    if not inline:
        return body
    related = _around(body, "related", policy)
    for att in inline:
        _add(related, "related", att, cid=f"<{att.cid}>", disposition="inline")
    return related


def _calendar_part(calendar: Calendar, policy: _policies.EmailPolicy[EmailMessage]) -> MIMEPart:
    part = MIMEPart(policy=policy.clone(cte_type="7bit"))
    cte = "7bit" if calendar.seven_bit else "base64"
    part.set_content(calendar.ics, subtype="calendar", charset="utf-8", cte=cte)
    # The stdlib quotes the method parameter; readers expect it bare, as every mailer writes it.
    del part["Content-Type"], part["Content-Transfer-Encoding"]
    part.set_raw("Content-Type", calendar.content_type)
    part["Content-Transfer-Encoding"] = cte
    return part


def _around(body: MIMEPart, kind: str, policy: Any) -> MIMEPart:
    """A multipart/*kind* holding *body* first. A MIMEPart, so that its subparts do not each
    get a MIME-Version header."""
    container = MIMEPart(policy=policy)
    getattr(container, f"make_{kind}")()
    container.attach(body)
    return container


def _add(container: MIMEPart, how: str, att: Attachment, **options: Any) -> None:
    """Add *att* to *container* as ``related`` or as an ``attachment``."""
    maintype, _, subtype = att.content_type.partition("/")
    getattr(container, f"add_{how}")(
        att.content,
        maintype,
        subtype,
        filename=att.filename,
        params=_charset_param(att),
        **options,
    )
    _add_name_parameter(_last_part(container), att)


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
    if message.calendar is not None:
        others.insert(0, invite_attachment(message.calendar))
    if others:
        mixed = _around(body, "mixed", body.policy)
        for att in others:
            disposition = "inline" if att.inline else "attachment"
            cid = f"<{att.cid}>" if att.inline else None
            _add(mixed, "attachment", att, disposition=disposition, cid=cid)
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
