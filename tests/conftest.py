"""Fixtures shared by every test folder."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import keyring
import pytest
from keyring.backend import KeyringBackend

from mailsdk.defaults import set_default_sender
from mailsdk.devserver import LocalRelay
from tests.keyrings import MemoryKeyring

# Hypothesis loads its "ci" profile when CI is set, and that profile derandomizes: the same
# examples on every run, so a property would only ever be tried on what it already passed.
# Our CI keeps exploring (every found failure is fixed and pinned with @example), with the
# rest of that profile (no example database, no deadline, the reproduction blob printed).
# (Hypothesis is optional here: the Django 6.1 suite runs these fixtures in a venv without it.)
try:
    from hypothesis import settings
except ImportError:  # pragma: no cover - only in that venv
    pass
else:
    settings.register_profile("mailsdk-ci", settings.get_profile("ci"), derandomize=False)
    if settings.get_current_profile_name() == "ci":
        settings.load_profile("mailsdk-ci")

USER = "alice@example.test"
PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def _no_default_sender_left_behind() -> Iterator[None]:
    """Sender.from_env() sets a process-wide default sender: no test may see another's."""
    yield
    set_default_sender(None)


@pytest.fixture
def relay_factory() -> Iterator[Callable[..., LocalRelay]]:
    """Start in-process aiosmtpd relays (trustme TLS) on loopback; all stop after the test."""
    started: list[LocalRelay] = []

    def start(**kwargs: Any) -> LocalRelay:
        kwargs.setdefault("users", {USER: PASSWORD})
        relay = LocalRelay(**kwargs).start()
        started.append(relay)
        return relay

    yield start
    for relay in started:
        relay.stop()


@pytest.fixture
def relay(relay_factory: Callable[..., LocalRelay]) -> LocalRelay:
    """A submission-style relay: STARTTLS required, AUTH required."""
    return relay_factory(tls="starttls", require_auth=True)


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    """An empty in-memory keyring installed for the test; the previous backend comes back."""
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


class ForbiddenKeyring(KeyringBackend):
    """A keyring backend that fails the test on any use: for code that must never look a
    secret up (capturing mail, configuration checks)."""

    priority = -1  # type: ignore[assignment]  # never chosen by keyring's own detection

    def get_password(self, service: str, username: str) -> str | None:
        raise AssertionError(f"keyring was asked for {service!r}")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise AssertionError("keyring was written")

    def delete_password(self, service: str, username: str) -> None:
        raise AssertionError("keyring was written")
