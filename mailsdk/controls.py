"""Sending controls: ``before_send`` hooks, ``allowed_recipients`` and ``redirect_to``.

A sender given any of them puts a :class:`ControlledTransport` in front of its delivery
chain (before the suppression list, the DKIM signer and the relays), so ``send``,
``send_many``, every route and the outbox worker honour them alike. Per send, in order:

1. the ``before_send`` hooks run, once (not per attempt or relay), before the message is
   rendered; each may return a changed :class:`~mailsdk.Message` (None: unchanged) or raise
   :class:`CancelSend`;
2. ``redirect_to`` replaces every recipient (To, Cc and Bcc) with one address, keeping the
   original To and Cc in ``X-Mailsdk-Original-To`` / ``X-Mailsdk-Original-Cc``;
3. ``allowed_recipients`` drops every envelope recipient no pattern matches, reporting each
   as refused (code 550) with the reason, before any I/O; none left: RecipientsRefused.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from fnmatch import fnmatchcase
from typing import Any

from mailsdk.errors import ConfigurationError, MessageError, PermanentError, RecipientsRefused
from mailsdk.message import Address, Message
from mailsdk.outgoing import OutgoingMessage
from mailsdk.result import RecipientStatus, SendResult, refusal
from mailsdk.suppressions import normalize_address
from mailsdk.transports.base import Transport

__all__ = [
    "ORIGINAL_CC_HEADER",
    "ORIGINAL_TO_HEADER",
    "BeforeSendHook",
    "CancelSend",
    "ControlledTransport",
    "check_allowed_recipients",
    "check_before_send",
    "check_redirect_to",
    "check_routes",
]

log = logging.getLogger("mailsdk")

BeforeSendHook = Callable[[Message], "Message | Awaitable[Message | None] | None"]
"""A ``before_send`` hook: given the message, returns a changed Message, or None to keep it,
or raises :class:`CancelSend`. A coroutine function is awaited on the sender's loop; a plain
function runs on a worker thread, so it may block (a database look-up, Django's ORM)."""

ORIGINAL_TO_HEADER = "X-Mailsdk-Original-To"
"""Where ``redirect_to`` keeps the original To addresses."""
ORIGINAL_CC_HEADER = "X-Mailsdk-Original-Cc"
"""Where ``redirect_to`` keeps the original Cc addresses (Bcc ones are not kept: see docs)."""

_REFUSED_CODE = 550


class CancelSend(PermanentError):
    """Raised by a ``before_send`` hook to stop a send; nothing is sent.

    ``Sender.send`` raises it to its caller (so code that treats a returned SendResult as
    "accepted" is never misled); ``send_many`` returns it as that message's entry; the
    Django backend counts the message as not sent without raising, as django-anymail's
    ``AnymailCancelSend`` does; the outbox marks the entry ``failed`` with the reason.
    """

    def __init__(self, reason: str = "cancelled by a before_send hook") -> None:
        super().__init__(reason)


def check_before_send(hooks: object) -> tuple[BeforeSendHook, ...]:
    """*hooks* (one callable or a sequence of them) as a tuple; ConfigurationError otherwise."""
    if hooks is None:
        return ()
    items = [hooks] if callable(hooks) else hooks
    if isinstance(items, (str, bytes)) or not isinstance(items, Iterable):
        raise ConfigurationError("before_send must be a callable or a list of callables")
    out = tuple(items)
    for hook in out:
        if not callable(hook):
            raise ConfigurationError(
                f"before_send items must be callables, not {type(hook).__name__}"
            )
    return out


def check_allowed_recipients(patterns: object) -> tuple[str, ...] | None:
    """*patterns* (a sequence, or one comma-separated string) as lower-cased glob patterns;
    None stays None (no restriction). ConfigurationError for a pattern without ``@``."""
    if patterns is None:
        return None
    if isinstance(patterns, str):
        patterns = patterns.split(",")
    if not isinstance(patterns, Iterable):
        raise ConfigurationError("allowed_recipients must be a list of address patterns")
    out: list[str] = []
    for item in patterns:
        if not isinstance(item, str):
            raise ConfigurationError(
                f"allowed_recipients items must be text, not {type(item).__name__}"
            )
        pattern = item.strip()
        if not pattern:
            continue
        if "@" not in pattern:
            raise ConfigurationError(
                f"allowed_recipients: {pattern!r} is not an address pattern "
                f"(for a whole domain write '*@{pattern.lstrip('*.@')}')"
            )
        out.append(_fold(pattern))
    return tuple(out)


def check_routes(routes: object, *, relays: str = "relays") -> Mapping[str, Any] | None:
    """*routes* as given, after checking it maps route names (non-empty text) to what each
    route sends through; None stays None. *relays* names those in the error ("relay URLs"
    where only URLs are read). The one check of route names, wherever routes are given."""
    if routes is None:
        return None
    if not isinstance(routes, Mapping):
        raise ConfigurationError(f"routes must map route names to {relays}")
    for name in routes:
        if not isinstance(name, str) or not name.strip():
            raise ConfigurationError(f"routes: route names must be non-empty text, not {name!r}")
    return routes


def check_redirect_to(address: object) -> str | None:
    """*address* as the one address ``redirect_to`` sends to, its display name kept
    (``"QA <qa@example.com>"``: the To header shows the name, the envelope the address);
    None stays None."""
    if address is None or (isinstance(address, str) and not address.strip()):
        return None
    if not isinstance(address, str):
        raise ConfigurationError(f"redirect_to must be an address, not {type(address).__name__}")
    try:
        return str(Address.parse(address))
    except MessageError as exc:
        raise ConfigurationError(f"redirect_to: {exc.message}") from None


def _fold(address: str) -> str:
    """A pattern folded as :func:`~mailsdk.suppressions.normalize_address` folds the
    recipients it is matched against (lower case, IDNA domain), label by label so that a
    label holding a wildcard is left alone: a pattern matches both spellings of a domain."""
    local, _, domain = address.strip().rpartition("@")
    labels = domain.rstrip(".").lower().split(".")
    for i, label in enumerate(labels):
        if not label.isascii() and not any(c in label for c in "*?["):
            with contextlib.suppress(UnicodeError):
                labels[i] = label.encode("idna").decode("ascii")
    return f"{local.lower()}@{'.'.join(labels)}"


def _allowed(address: str, patterns: Sequence[str]) -> bool:
    folded = normalize_address(address)
    return any(fnmatchcase(folded, pattern) for pattern in patterns)


def redirected(message: Message, target: str) -> Message:
    """*message* sent to *target* only, its original To and Cc kept in headers.

    Bcc addresses are not written anywhere: a Bcc recipient is, by definition, hidden from
    whoever reads the message, and a redirected copy is read (and forwarded to bug trackers)
    by people who were never meant to see that list."""
    headers = {
        name: value
        for name, value in message.headers.items()
        if name.lower() not in (ORIGINAL_TO_HEADER.lower(), ORIGINAL_CC_HEADER.lower())
    }
    for name, addresses in ((ORIGINAL_TO_HEADER, message.to), (ORIGINAL_CC_HEADER, message.cc)):
        if addresses:
            headers[name] = ", ".join(a.envelope for a in addresses)
    return message.model_copy(
        update={"to": [Address.parse(target)], "cc": [], "bcc": [], "headers": headers}
    )


async def _run_hook(hook: BeforeSendHook, message: Message) -> Message | None:
    if inspect.iscoroutinefunction(hook) or inspect.iscoroutinefunction(
        getattr(hook, "__call__", None)  # noqa: B004 - an object with an async __call__
    ):
        result: object = await hook(message)  # type: ignore[misc]
    else:
        # A sync hook may block (a database look-up) and may use libraries that refuse to run
        # inside an event loop (Django's ORM): a worker thread serves both.
        result = await asyncio.to_thread(hook, message)
        if inspect.isawaitable(result):
            result = await result
    if result is not None and not isinstance(result, Message):
        raise MessageError(
            f"before_send hook {getattr(hook, '__qualname__', hook)!r} returned "
            f"{type(result).__name__}; return a Message, or None to keep the message"
        )
    return result


def _rebuilt(outgoing: OutgoingMessage, message: Message) -> OutgoingMessage:
    """An OutgoingMessage for the changed *message*, keeping what the send fixed: Message-ID
    (unless the change set its own), Date, hand-over hook, and a restriction of the
    envelope to some recipients (an outbox entry retried for the ones still pending)."""
    old_headers = {k.lower(): v for k, v in outgoing.message.headers.items()}
    new_headers = {k.lower(): v for k, v in message.headers.items()}
    own_id = new_headers.get("message-id") != old_headers.get("message-id")
    out = OutgoingMessage(message, message_id=None if own_id else outgoing.message_id)
    out.date = outgoing.date if new_headers.get("date") == old_headers.get("date") else out.date
    out.on_handover = outgoing.on_handover
    full = outgoing.message.envelope().rcpt_to
    if tuple(outgoing.envelope.rcpt_to) != tuple(full):
        # Recipients already done stay done; ones the change added (redirect_to) are new.
        pending = {a.lower() for a in outgoing.envelope.rcpt_to}
        done = {a.lower() for a in full} - pending
        out = out.restricted_to(a for a in out.envelope.rcpt_to if a.lower() not in done)
    return out


class ControlledTransport(Transport):
    """*transport* behind the sending controls (see the module docstring).

    Args:
        transport: the delivery chain (suppression list, DKIM signer, relays).
        before_send: hooks run in order, once per send.
        allowed_recipients: lower-cased glob patterns (:func:`check_allowed_recipients`), or
            None for no restriction.
        redirect_to: the address (display name kept) every message goes to instead, or None.
    """

    def __init__(
        self,
        transport: Transport,
        *,
        before_send: Sequence[BeforeSendHook] = (),
        allowed_recipients: Sequence[str] | None = None,
        redirect_to: str | None = None,
    ) -> None:
        self.transport = transport
        self.name = transport.name
        self.before_send = tuple(before_send)
        self.allowed_recipients = allowed_recipients
        self.redirect_to = redirect_to

    async def send(self, outgoing: OutgoingMessage, *, deadline: float | None = None) -> SendResult:
        """Apply the controls, then send what is left through the wrapped transport (with
        the send's *deadline*)."""
        message = outgoing.message
        for hook in self.before_send:
            changed = await _run_hook(hook, message)
            if changed is not None:
                message = changed
        originals = tuple(outgoing.envelope.rcpt_to)
        if self.redirect_to is not None:
            message = redirected(message, self.redirect_to)
        if message is not outgoing.message:
            outgoing = _rebuilt(outgoing, message)
        if self.redirect_to is not None:
            try:
                result = await self._send_allowed(outgoing, deadline)
            except RecipientsRefused as exc:
                exc.refused = _as_originals(exc.refused, originals)
                exc.args = (f"redirected to {self.redirect_to}: {exc.message}",)
                exc.message = exc.args[0]
                raise
            return dataclasses.replace(
                result,
                accepted=list(originals) if result.accepted else [],
                refused=_as_originals(result.refused, originals),
            )
        return await self._send_allowed(outgoing, deadline)

    async def _send_allowed(self, outgoing: OutgoingMessage, deadline: float | None) -> SendResult:
        """Send to the envelope recipients :attr:`allowed_recipients` lets through."""
        blocked: dict[str, RecipientStatus] = {}
        if self.allowed_recipients is not None:
            patterns = self.allowed_recipients
            shown = ", ".join(patterns) or "none"
            for address in outgoing.envelope.rcpt_to:
                if not _allowed(address, patterns):
                    blocked[address] = refusal(
                        address,
                        _REFUSED_CODE,
                        f"not in allowed_recipients ({shown}): dropped before sending",
                    )
            if blocked:
                keep = [a for a in outgoing.envelope.rcpt_to if a not in blocked]
                if not keep:
                    raise RecipientsRefused(blocked, relay=self.name)
                log.info("allowed_recipients dropped %d recipient(s)", len(blocked))
                outgoing = outgoing.restricted_to(keep)
        try:
            result = await self.transport.send(outgoing, deadline=deadline)
        except RecipientsRefused as exc:
            if blocked:
                exc.refused = {**blocked, **exc.refused}
            raise
        if blocked:
            return dataclasses.replace(result, refused={**blocked, **result.refused})
        return result

    async def aclose(self) -> None:
        """Close the wrapped transport."""
        await self.transport.aclose()


def _as_originals(
    refused: dict[str, RecipientStatus], originals: Sequence[str]
) -> dict[str, RecipientStatus]:
    """The redirect target's refusal reported for each original recipient it stood for
    (without the enhanced code: it says nothing about the original address, and a 5.1.x
    must not put that address on a suppression list)."""
    if not refused:
        return {}
    target, status = next(iter(refused.items()))
    text = f"redirected to {target}, which was refused: {status.text}"
    return {
        address: dataclasses.replace(status, address=address, text=text, enhanced_code=None)
        for address in originals
    }
