"""Google tokens: a service account with domain-wide delegation, or a user's refresh token.

Uses google-auth (``pip install 'mailsdk[google]'``). google-auth is synchronous, so each
refresh runs in a worker thread with its own ``requests`` session.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Literal

from pydantic import SecretStr

from mailsdk.auth._http import requests_session
from mailsdk.auth._token import GMAIL_SEND_SCOPE, GOOGLE_MAIL_SCOPE, AccessToken
from mailsdk.errors import ConfigurationError, MailError, RelayError, TransientError

__all__ = ["GOOGLE_TOKEN_URI", "GoogleEndpoint", "GoogleRefreshToken", "GoogleServiceAccount"]

GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"  # noqa: S105 - a URL, not a secret
GoogleEndpoint = Literal["smtp", "gmail"]
_SCOPES: dict[str, str] = {"smtp": GOOGLE_MAIL_SCOPE, "gmail": GMAIL_SEND_SCOPE}


def _load_google() -> tuple[Any, Any, Any, Any]:
    try:
        import google.auth.exceptions
        import google.auth.transport.requests
        import google.oauth2.credentials
        import google.oauth2.service_account
        import requests
    except ImportError as exc:
        raise ConfigurationError(
            "Google token providers need google-auth: pip install 'mailsdk[google]'"
        ) from exc
    return google.oauth2, google.auth.transport.requests, google.auth.exceptions, requests


def _scopes(endpoint: str, scopes: Sequence[str] | None) -> list[str]:
    if endpoint not in _SCOPES:
        raise ConfigurationError(f"endpoint must be smtp or gmail, not {endpoint!r}")
    return list(scopes) if scopes else [_SCOPES[endpoint]]


def _check_token_uri(token_uri: str) -> str:
    if not token_uri.startswith("https://") and not token_uri.startswith(
        ("http://127.0.0.1", "http://localhost", "http://[::1]")
    ):
        # The assertion or refresh token would cross the network in clear text.
        raise ConfigurationError("token_uri must be an https:// URL")
    return token_uri


class _GoogleProvider:
    """Refreshes one google-auth credentials object off the event loop."""

    token_uri: str
    ca_file: str | None
    timeout: float

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._credentials: Any = None

    def _build(self) -> Any:
        raise NotImplementedError

    def _describe(self) -> str:
        raise NotImplementedError

    def _refresh(self) -> tuple[str, datetime | None]:
        _, transport, _, _ = _load_google()
        with self._lock:
            if self._credentials is None:
                self._credentials = self._build()
            session = requests_session(self.ca_file, self.timeout)
            try:
                self._credentials.refresh(transport.Request(session))
            finally:
                session.close()
            return str(self._credentials.token), self._credentials.expiry

    async def token(self, *, force_refresh: bool = False) -> AccessToken:
        """A new access token (google-auth is asked every time; the sender's cache decides
        how often that happens)."""
        _, _, exceptions, _ = _load_google()
        requested = datetime.now(timezone.utc)
        try:
            value, expiry = await asyncio.to_thread(self._refresh)
        except MailError:
            raise
        except exceptions.RefreshError as exc:
            failure: MailError = self._refresh_error(exc)
        except Exception as exc:
            failure = TransientError(
                f"Google token request to {self.token_uri} failed: {type(exc).__name__}"
            )
        else:
            if expiry is None:
                expires_at = requested + timedelta(hours=1)
            else:  # google-auth keeps naive UTC datetimes
                expires_at = expiry.replace(tzinfo=timezone.utc)
            return AccessToken(SecretStr(value), expires_at)
        raise failure

    def _refresh_error(self, exc: Any) -> MailError:
        data = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], Mapping) else {}
        error = str(data.get("error") or "refresh failed")
        description = str(data.get("error_description") or "")
        hint = ""
        if error == "unauthorized_client":
            hint = (
                "; the client id is not allowed these scopes: grant domain-wide delegation in "
                "the Admin console (Security > API controls) for exactly these scopes"
            )
        elif error == "invalid_grant":
            hint = (
                "; the refresh token was revoked or expired (unused for 6 months, password "
                "changed, or a 'Testing' app's 7-day limit): run `mailsdk credentials oauth "
                "login google` again"
            )
        cls = TransientError if getattr(exc, "retryable", False) else RelayError
        return cls(
            f"Google refused the token request for {self._describe()}: {error}"
            + (f": {description}" if description else "")
            + hint
        )


class GoogleServiceAccount(_GoogleProvider):
    """Tokens for a Workspace user, from a service account with domain-wide delegation.

    Args:
        key_file / info: the service account's JSON key (a path, or the parsed JSON).
        subject: the user to act as (``user@your-domain``); required for SMTP and for
            sending as that user through the Gmail API.
        endpoint: ``"smtp"`` (scope ``https://mail.google.com/``) or ``"gmail"`` (scope
            ``https://www.googleapis.com/auth/gmail.send``); ``scopes`` replaces the default.
            The same scopes must be granted to the service account's client id in the Admin
            console (Security > Access and data control > API controls > Domain-wide
            delegation).
        token_uri: the token endpoint (default ``https://oauth2.googleapis.com/token``).
        ca_file: a CA bundle to trust for the token endpoint; ``timeout`` in seconds.
    """

    def __init__(
        self,
        key_file: str | Path | None = None,
        *,
        info: Mapping[str, Any] | None = None,
        subject: str | None = None,
        endpoint: GoogleEndpoint = "smtp",
        scopes: Sequence[str] | None = None,
        token_uri: str | None = None,
        ca_file: str | None = None,
        timeout: float = 30.0,
    ) -> None:
        super().__init__()
        if (key_file is None) == (info is None):
            raise ConfigurationError(
                "GoogleServiceAccount needs exactly one of key_file= and info="
            )
        if key_file is not None:
            try:
                info = json.loads(Path(key_file).read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                # The file's text may be a key: only the reason is shown, not the content.
                raise ConfigurationError(
                    f"cannot read service account key {str(key_file)!r}: {type(exc).__name__}"
                ) from None
        assert info is not None
        if not isinstance(info, Mapping) or info.get("type") != "service_account":
            raise ConfigurationError(
                'the service account key must be JSON with "type": "service_account"'
            )
        for name in ("client_email", "private_key"):
            if not info.get(name):
                raise ConfigurationError(f"the service account key has no {name!r}")
        self._info = dict(info)
        self.client_email = str(info["client_email"])
        self.subject = subject
        self.scopes = _scopes(endpoint, scopes)
        self.token_uri = _check_token_uri(
            token_uri or str(info.get("token_uri") or GOOGLE_TOKEN_URI)
        )
        self.ca_file = ca_file
        self.timeout = timeout

    def _build(self) -> Any:
        oauth2, _, _, _ = _load_google()
        info = {**self._info, "token_uri": self.token_uri}
        return oauth2.service_account.Credentials.from_service_account_info(
            info, scopes=self.scopes, subject=self.subject
        )

    def _describe(self) -> str:
        who = f" acting as {self.subject}" if self.subject else ""
        return f"service account {self.client_email}{who}"

    def __repr__(self) -> str:
        return (
            f"GoogleServiceAccount(client_email={self.client_email!r}, "
            f"subject={self.subject!r}, scopes={self.scopes!r})"
        )


class GoogleRefreshToken(_GoogleProvider):
    """Tokens for one Google account from an OAuth refresh token (a delegated mailbox).

    ``mailsdk credentials oauth login google`` obtains the refresh token and keeps it in the
    keyring. ``client_id``/``client_secret`` are the OAuth client's (type "Desktop app");
    ``scopes`` default per ``endpoint`` as for :class:`GoogleServiceAccount`.
    """

    def __init__(
        self,
        client_id: str,
        client_secret: str | SecretStr,
        refresh_token: str | SecretStr,
        *,
        endpoint: GoogleEndpoint = "smtp",
        scopes: Sequence[str] | None = None,
        token_uri: str = GOOGLE_TOKEN_URI,
        ca_file: str | None = None,
        timeout: float = 30.0,
    ) -> None:
        super().__init__()
        self.client_id = client_id
        self._client_secret = (
            SecretStr(client_secret) if isinstance(client_secret, str) else client_secret
        )
        self._refresh_token = (
            SecretStr(refresh_token) if isinstance(refresh_token, str) else refresh_token
        )
        if not client_id or not self._refresh_token.get_secret_value():
            raise ConfigurationError("GoogleRefreshToken needs client_id and a refresh token")
        self.scopes = _scopes(endpoint, scopes)
        self.token_uri = _check_token_uri(token_uri)
        self.ca_file = ca_file
        self.timeout = timeout

    def _build(self) -> Any:
        oauth2, _, _, _ = _load_google()
        return oauth2.credentials.Credentials(
            None,
            refresh_token=self._refresh_token.get_secret_value(),
            token_uri=self.token_uri,
            client_id=self.client_id,
            client_secret=self._client_secret.get_secret_value(),
            scopes=self.scopes,
        )

    def _describe(self) -> str:
        return f"OAuth client {self.client_id}"

    def __repr__(self) -> str:
        return f"GoogleRefreshToken(client_id={self.client_id!r}, scopes={self.scopes!r})"
