"""Helpers shared by the integration tests (importable: this folder is on sys.path)."""

from __future__ import annotations

import email
import email.message
import email.policy

from mailsdk.devserver import LocalRelay
from tests.conftest import PASSWORD, USER


def relay_url(relay: LocalRelay) -> str:
    """The relay's URL with the test credentials."""
    return relay.url(USER, PASSWORD)


def parsed(data: bytes) -> email.message.EmailMessage:
    """The bytes a relay received, parsed with the stdlib's modern policy."""
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(message, email.message.EmailMessage)
    return message
