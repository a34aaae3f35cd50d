"""Test helpers: capture every message sent, assert on it, or talk to a real local relay.

While :func:`capture_mail` (or the ``mail_outbox`` pytest fixture) is active, every
:class:`~mailsdk.Sender` and :class:`~mailsdk.AsyncSender`, whenever it was built, delivers to
one in-memory :class:`Outbox` instead of its relays. Senders built meanwhile, from URLs,
``from_env()`` or the Django and Flask integrations, need no relay, no secret and no keyring
and touch no network (as Django's locmem backend does); their URLs are still checked for
typos. The outbox reads like the list it is, with assertions of its own::

    def test_welcome_mail(mail_outbox):
        signup("alice@example.com")
        mail_outbox.assert_sent(to="alice@example.com", subject="Welcome")

pytest is optional: without it, ``with capture_mail() as outbox:`` works the same way (in a
unittest suite or a script). With pytest, this module is a plugin (loaded automatically)
providing ``mail_outbox`` and, for tests that want a real SMTP conversation, ``mail_relay``
and ``mail_relay_url``: an in-process relay with STARTTLS (a certificate authority made on
the spot with trustme) and AUTH, on a free loopback port.
"""

from __future__ import annotations

import importlib
import re
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar, cast

from mailsdk import sender as _sender
from mailsdk.integrations._senders import end_capture
from mailsdk.mime import OutgoingMessage
from mailsdk.transports.memory import MemoryTransport

if TYPE_CHECKING:
    from mailsdk.devserver import LocalRelay

__all__ = [
    "Outbox",
    "capture_mail",
    "local_relay",
    "mail_outbox",
    "mail_relay",
    "mail_relay_url",
]

Expected = str | re.Pattern[str] | Callable[[Any], bool]
"""What a criterion accepts: a string (exact; addresses compare case-insensitively), a
compiled regular expression (searched) or a predicate."""


def _matches(expected: Expected, actual: str, *, address: bool = False) -> bool:
    if isinstance(expected, re.Pattern):
        return expected.search(actual) is not None
    if callable(expected):
        return bool(expected(actual))
    if address:
        return expected.strip().lower() == actual.lower()
    return expected == actual


def _any(expected: Expected, values: list[str], *, address: bool = False) -> bool:
    return any(_matches(expected, v, address=address) for v in values)


def _describe(outgoing: OutgoingMessage) -> str:
    msg = outgoing.message
    return f"{msg.subject!r} to {', '.join(outgoing.envelope.rcpt_to)}"


class Outbox(list[OutgoingMessage]):
    """The messages sent while capturing, in order, with assertion helpers.

    Each entry is an :class:`~mailsdk.OutgoingMessage`: ``.message`` is the
    :class:`~mailsdk.Message`, ``.envelope`` the SMTP envelope, ``.raw`` the MIME bytes.

    Criteria (keywords of :meth:`filter`, :meth:`find`, :meth:`assert_sent` and
    :meth:`assert_not_sent`): ``to`` (any envelope recipient: To, Cc or Bcc), ``cc``,
    ``bcc``, ``from_``, ``subject``, ``text`` and ``html`` (the whole body; use a regular
    expression to look for a part of it), ``attachment`` (a file name), ``header``
    (``(name, expected)``) and ``where`` (a predicate taking the OutgoingMessage). Each value
    is a string, a compiled regular expression or a predicate.
    """

    def filter(self, **criteria: Any) -> list[OutgoingMessage]:
        """The messages meeting every criterion."""
        checks = [self._check(name, value) for name, value in criteria.items()]
        return [o for o in self if all(check(o) for check in checks)]

    def find(self, **criteria: Any) -> OutgoingMessage | None:
        """The first message meeting every criterion, or None."""
        found = self.filter(**criteria)
        return found[0] if found else None

    def assert_sent(self, *, count: int | None = None, **criteria: Any) -> OutgoingMessage:
        """Assert that a message meeting every criterion was sent (exactly *count* of them
        when given); return the last one. The failure lists what was sent instead."""
        found = self.filter(**criteria)
        if not found or (count is not None and len(found) != count):
            wanted = ", ".join(f"{k}={v!r}" for k, v in criteria.items()) or "any message"
            times = f" {count} time(s)" if count is not None else ""
            raise AssertionError(
                f"expected {wanted} sent{times}; {len(found)} matched. Sent: "
                + ("; ".join(_describe(o) for o in self) or "nothing")
            )
        return found[-1]

    def assert_not_sent(self, **criteria: Any) -> None:
        """Assert that no message meets every criterion."""
        found = self.filter(**criteria)
        if found:
            raise AssertionError(
                f"expected no such message, found {len(found)}: "
                + "; ".join(_describe(o) for o in found)
            )

    def assert_nothing_sent(self) -> None:
        """Assert that no message at all was sent."""
        if self:
            raise AssertionError(
                f"expected nothing sent, found {len(self)}: "
                + "; ".join(_describe(o) for o in self)
            )

    def assert_count(self, expected: int) -> None:
        """Assert that exactly *expected* messages were sent."""
        if len(self) != expected:
            raise AssertionError(
                f"expected {expected} message(s) sent, found {len(self)}: "
                + ("; ".join(_describe(o) for o in self) or "nothing")
            )

    @property
    def messages(self) -> list[Any]:
        """The :class:`~mailsdk.Message` of each entry, in order."""
        return [o.message for o in self]

    @staticmethod
    def _check(name: str, expected: Any) -> Callable[[OutgoingMessage], bool]:
        def addresses(field: str) -> Callable[[OutgoingMessage], bool]:
            return lambda o: _any(
                expected, [a.email for a in getattr(o.message, field)], address=True
            )

        def body(field: str) -> Callable[[OutgoingMessage], bool]:
            def check(o: OutgoingMessage) -> bool:
                value = getattr(o.message, field)
                return value is not None and _matches(expected, value)

            return check

        if name == "to":
            return lambda o: _any(expected, list(o.envelope.rcpt_to), address=True)
        if name in ("cc", "bcc", "reply_to"):
            return addresses(name)
        if name == "from_":
            return lambda o: (
                o.message.from_ is not None
                and _matches(expected, o.message.from_.email, address=True)
            )
        if name == "subject":
            return lambda o: _matches(expected, o.message.subject)
        if name in ("text", "html"):
            return body(name)
        if name == "attachment":
            return lambda o: _any(expected, [a.filename or "" for a in o.message.attachments])
        if name == "header":
            header, value = expected
            return lambda o: any(
                k.lower() == str(header).lower() and _matches(value, v)
                for k, v in o.message.headers.items()
            )
        if name == "where":
            return lambda o: bool(expected(o))
        raise TypeError(
            f"unknown criterion {name!r}; use to, cc, bcc, reply_to, from_, subject, text, "
            "html, attachment, header or where"
        )


@contextmanager
def capture_mail() -> Iterator[Outbox]:
    """Route every sender to a fresh in-memory outbox while the block runs; yield it.

    Works without pytest. Blocks nest: the innermost one receives the mail.
    """
    transport = MemoryTransport("memory://outbox")
    outbox = Outbox()
    transport.outbox = outbox
    _sender._override.append(transport)
    try:
        yield outbox
    finally:
        _sender._override.remove(transport)
        end_capture(transport)  # framework senders built meanwhile belong to this capture


@contextmanager
def local_relay(**options: Any) -> Iterator[LocalRelay]:
    """A started :class:`~mailsdk.devserver.LocalRelay` (STARTTLS with a trustme CA and
    AUTH required by default; *options* override), stopped afterwards. Its user and
    password are in ``relay.users``; ``relay.url(user, password)`` trusts its CA."""
    from mailsdk.devserver import LocalRelay

    options.setdefault("tls", "starttls")
    options.setdefault("users", {"mailsdk-test": secrets.token_urlsafe(12)})
    options.setdefault("require_auth", True)
    relay = LocalRelay(**options).start()
    try:
        yield relay
    finally:
        relay.stop()


def _relay_url(relay: LocalRelay) -> str:
    user, password = next(iter((relay.users or {}).items()))
    return relay.url(user, password)


def _optional_pytest() -> Any:
    try:
        return importlib.import_module("pytest")
    except ImportError:  # capture_mail() and Outbox work without pytest
        return None


_pytest = _optional_pytest()
_F = TypeVar("_F", bound=Callable[..., Any])


def _fixture(function: _F) -> _F:
    """``pytest.fixture`` where pytest is installed; without it the plain function."""
    return function if _pytest is None else cast(_F, _pytest.fixture(function))


@_fixture
def mail_outbox() -> Iterator[Outbox]:
    """pytest fixture: every message sent during the test, in order (an :class:`Outbox`)."""
    with capture_mail() as outbox:
        yield outbox


@_fixture
def mail_relay() -> Iterator[LocalRelay]:
    """pytest fixture: a real SMTP relay on loopback, STARTTLS (trustme CA) and AUTH
    required; ``mail_relay.messages`` holds what it received. See ``mail_relay_url``."""
    with local_relay() as relay:
        yield relay


@_fixture
def mail_relay_url(mail_relay: LocalRelay) -> str:
    """pytest fixture: a URL for ``mail_relay`` with its login, trusting its CA."""
    return _relay_url(mail_relay)
