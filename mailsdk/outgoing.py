"""OutgoingMessage: one message prepared for one send (Message-ID, Date, envelope, bytes).

It sits above the model (:mod:`mailsdk.message`) and both renderers
(:mod:`mailsdk._fastmime`, :mod:`mailsdk._stdmime`), so none of them imports it:
the import graph stays acyclic. ``Message.as_bytes()`` reaches :func:`render` through the
hook this module installs on import.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from datetime import datetime, timezone
from email.utils import format_datetime, make_msgid
from functools import partial
from typing import TYPE_CHECKING

from mailsdk._fastmime import Piece, needs_dot_stuffing, render_fast
from mailsdk._stdmime import boundary_for, render_reference
from mailsdk.message import Address, Envelope, Message, install_renderer

if TYPE_CHECKING:
    from mailsdk.dkim import DKIMSigner

__all__ = ["HandoverHook", "OutgoingMessage", "render"]

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
        "dkim_signed",
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
        self.date: str = date or headers.get("date") or _date_now()
        self.envelope: Envelope = message.envelope()
        self._raw: bytes | None = None
        self._pieces: list[Piece] | None = None
        self._dotted = True
        self.on_handover: HandoverHook | None = None
        """Run by :meth:`handing_over`; durable queues record "handed over" here (per send)."""
        self.dkim_signed = False
        """True once :meth:`sign` put a DKIM-Signature in front of the bytes."""

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
        clone.on_handover = self.on_handover
        clone.dkim_signed = self.dkim_signed
        return clone

    def sign(self, signer: DKIMSigner) -> None:
        """Put *signer*'s DKIM-Signature in front of the rendered bytes; a second call does
        nothing. The sender calls it once per send, before the first relay, so every relay
        and retry carries the same signature; the body is hashed from :meth:`chunks`, so a
        streamed attachment is never held encoded."""
        if self.dkim_signed:
            return
        field = signer.signature(self.chunks())
        self._pieces = [field, *self._rendered()]
        if self._raw is not None:
            self._raw = field + self._raw
        self.dkim_signed = True

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


def render(message: Message) -> OutgoingMessage:
    """Prepare *message* for sending (new Message-ID and Date unless its headers fix them)."""
    return OutgoingMessage(message)


_last_date: tuple[int, str] = (-1, "")


def _date_now() -> str:
    """The Date header value for now (whole seconds, UTC), as ``format_datetime`` writes it.

    Kept for the second it names: formatting it costs more than the rest of preparing a
    message, and a merge prepares hundreds of messages within one second.
    """
    global _last_date
    second = int(time.time())
    last = _last_date  # one read: another thread may replace it meanwhile
    if last[0] != second:
        last = _last_date = (second, format_datetime(datetime.fromtimestamp(second, timezone.utc)))
    return last[1]


def _new_message_id(sender: Address) -> str:
    domain = sender.envelope.rpartition("@")[2]
    return make_msgid(domain=domain)


def _as_bytes(message: Message) -> bytes:
    return render(message).raw


install_renderer(_as_bytes)
