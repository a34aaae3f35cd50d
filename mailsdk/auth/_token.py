"""Access tokens, the TokenProvider protocol, and the trivial provider: a fixed token."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Protocol, runtime_checkable

from pydantic import SecretStr

from mailsdk.errors import ConfigurationError

__all__ = [
    "GMAIL_SEND_SCOPE",
    "GOOGLE_MAIL_SCOPE",
    "GRAPH_SCOPE",
    "OUTLOOK_SMTP_SCOPE",
    "AccessToken",
    "StaticToken",
    "TokenProvider",
]

OUTLOOK_SMTP_SCOPE = "https://outlook.office365.com/.default"
"""Client-credentials scope for Exchange Online SMTP XOAUTH2 (app permission SMTP.SendAsApp)."""
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
"""Client-credentials scope for Microsoft Graph ``sendMail`` (app permission Mail.Send)."""
GOOGLE_MAIL_SCOPE = "https://mail.google.com/"
"""The Google scope SMTP XOAUTH2 needs (full mail access; also accepted by the Gmail API)."""
GMAIL_SEND_SCOPE = "https://www.googleapis.com/auth/gmail.send"
"""The narrowest Google scope that lets the Gmail API send (not enough for SMTP)."""

# A token whose expiry is unknown is treated as good for this long (RFC 6749 makes
# expires_in optional; an hour is what Entra and Google issue in practice).
UNKNOWN_LIFETIME = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class AccessToken:
    """A bearer token and the moment it stops working.

    ``value`` is a SecretStr, so the token never shows in a repr, a log line or a traceback;
    ``expires_at`` is a timezone-aware datetime.
    """

    value: SecretStr = field(repr=False)
    expires_at: datetime

    def __post_init__(self) -> None:
        if not isinstance(self.value, SecretStr):
            object.__setattr__(self, "value", SecretStr(str(self.value)))
        if not self.value.get_secret_value():
            raise ConfigurationError("an access token must not be empty")
        if self.expires_at.tzinfo is None or self.expires_at.utcoffset() is None:
            raise ConfigurationError("AccessToken.expires_at must be timezone-aware")

    def __repr__(self) -> str:
        return f"AccessToken(value=SecretStr('**********'), expires_at={self.expires_at!r})"


@runtime_checkable
class TokenProvider(Protocol):
    """Anything that hands out OAuth access tokens.

    ``await provider.token()`` returns a usable :class:`AccessToken`; with
    ``force_refresh=True`` the provider must not return a token it has cached, because the
    server just refused it. Implementations may block only off the event loop (run SDK calls
    in a thread). Senders wrap every provider in a :class:`~mailsdk.auth.CachedTokenProvider`,
    so a provider need not cache on its own.
    """

    async def token(self, *, force_refresh: bool = False) -> AccessToken:
        """A token valid now (a fresh one when *force_refresh*)."""
        ...


class StaticToken:
    """A fixed token: for tokens obtained elsewhere, and for tests.

    ``expires_at`` defaults to far in the future; a refresh cannot make a fixed token work
    again, so ``force_refresh`` returns the same token and the server's refusal stands.
    """

    def __init__(self, value: str | SecretStr, expires_at: datetime | None = None) -> None:
        far = datetime.max.replace(tzinfo=timezone.utc)
        self._token = AccessToken(
            value if isinstance(value, SecretStr) else SecretStr(value), expires_at or far
        )

    async def token(self, *, force_refresh: bool = False) -> AccessToken:
        """The fixed token."""
        return self._token

    def __repr__(self) -> str:
        return f"StaticToken(expires_at={self._token.expires_at!r})"
