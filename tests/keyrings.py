"""An in-memory keyring backend for the tests that store or look up credentials."""

from __future__ import annotations

from keyring.backend import KeyringBackend
from keyring.errors import PasswordDeleteError


class MemoryKeyring(KeyringBackend):
    """A keyring backend holding entries in a dict, written against keyring's backend API.

    Defined once: defining a subclass registers it with keyring. Tests install it with
    ``keyring.set_keyring()``.
    """

    # Below keyring's "fail" backend (0): keyring's own detection must never pick it.
    priority = -1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        """The stored password, or None."""
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        """Store *password*."""
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        """Forget the entry; PasswordDeleteError when there is none, as keyring's API says."""
        if self.entries.pop((service, username), None) is None:
            raise PasswordDeleteError("no such password")
