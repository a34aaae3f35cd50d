"""Test helpers, loaded as a pytest plugin: the ``mail_outbox`` fixture.

While the fixture is active, every :class:`~mailsdk.Sender` and :class:`~mailsdk.AsyncSender`
delivers to one in-memory transport instead of its configured relays, and the test reads what
was sent from the list the fixture returns::

    def test_welcome_mail(mail_outbox):
        signup("alice@example.com")
        assert mail_outbox[0].message.subject == "Welcome"
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from mailsdk import sender as _sender
from mailsdk.mime import OutgoingMessage
from mailsdk.transports.memory import MemoryTransport

__all__ = ["capture_mail", "mail_outbox"]


@contextmanager
def capture_mail() -> Iterator[list[OutgoingMessage]]:
    """Route every sender to a fresh memory transport; yield its outbox list."""
    transport = MemoryTransport("memory://outbox")
    _sender._override.append(transport)
    try:
        yield transport.outbox
    finally:
        _sender._override.remove(transport)


@pytest.fixture
def mail_outbox() -> Iterator[list[OutgoingMessage]]:
    """Every message sent during the test, as OutgoingMessage values, in order."""
    with capture_mail() as outbox:
        yield outbox
