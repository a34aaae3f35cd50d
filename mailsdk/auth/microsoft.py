"""Microsoft Entra ID (Azure AD) client credentials for Exchange Online SMTP and Graph.

Uses msal (``pip install 'mailsdk[microsoft]'``). msal is synchronous, so every call runs in
a worker thread; its own token cache stays in place (it is consulted first since msal 1.23),
and a forced refresh clears it first because ``acquire_token_for_client`` has no
force-refresh switch.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Literal

from pydantic import SecretStr

from mailsdk.auth._http import requests_session
from mailsdk.auth._token import GRAPH_SCOPE, OUTLOOK_SMTP_SCOPE, AccessToken
from mailsdk.errors import ConfigurationError, MailError, RelayError, TransientError

__all__ = [
    "DELEGATED_SCOPES",
    "MicrosoftClientCredentials",
    "MicrosoftEndpoint",
    "MicrosoftRefreshToken",
]

MicrosoftEndpoint = Literal["smtp", "graph"]
_SCOPES: dict[str, str] = {"smtp": OUTLOOK_SMTP_SCOPE, "graph": GRAPH_SCOPE}
DELEGATED_SCOPES: dict[str, str] = {
    "smtp": "https://outlook.office.com/SMTP.Send",
    "graph": "https://graph.microsoft.com/Mail.Send",
}
"""Delegated scopes (a signed-in user); msal adds ``offline_access`` for the refresh token."""
_PUBLIC_AUTHORITY = "https://login.microsoftonline.com"
# OAuth error codes that no retry will fix: the app registration or the request is wrong.
_CONFIG_ERRORS = frozenset(
    {"invalid_client", "unauthorized_client", "invalid_scope", "invalid_request", "invalid_grant"}
)


def _load_msal() -> Any:
    try:
        import msal
    except ImportError as exc:
        raise ConfigurationError(
            "Microsoft token providers need msal: pip install 'mailsdk[microsoft]'"
        ) from exc
    return msal


def _certificate_credential(path: str | Path, passphrase: SecretStr | None) -> dict[str, str]:
    """msal's certificate credential from one PEM file holding the key and the certificate.

    With ``public_certificate`` and no SHA-1 thumbprint, msal (1.35+) signs the client
    assertion with the certificate's SHA-256 thumbprint.
    """
    try:
        pem = Path(path).read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"cannot read certificate file {str(path)!r}: {exc}") from None
    start = pem.find("-----BEGIN CERTIFICATE-----")
    end = pem.find("-----END CERTIFICATE-----")
    if start < 0 or end < 0 or "PRIVATE KEY-----" not in pem:
        raise ConfigurationError(
            f"certificate file {str(path)!r} must hold a PEM private key and its certificate "
            "(convert a .pfx with: openssl pkcs12 -in cert.pfx -out cert.pem -nodes)"
        )
    credential = {
        "private_key": pem,
        "public_certificate": pem[start : end + len("-----END CERTIFICATE-----")],
    }
    if passphrase is not None:
        credential["passphrase"] = passphrase.get_secret_value()
    return credential


def _token_from(
    result: dict[str, Any], requested: datetime, client_id: str, redact: Callable[[str], str]
) -> AccessToken:
    """An AccessToken from msal's result dict, or the error it describes."""
    if "access_token" not in result:
        error = str(result.get("error") or "no access token")
        description = redact(str(result.get("error_description") or ""))
        first_line = description.splitlines()[0] if description else ""
        cls = RelayError if error in _CONFIG_ERRORS else TransientError
        raise cls(
            f"Microsoft Entra refused the token request for client {client_id}: "
            f"{error}" + (f": {first_line}" if first_line else "")
        )
    expires_in = float(result.get("expires_in") or 3600)
    return AccessToken(
        SecretStr(str(result["access_token"])), requested + timedelta(seconds=expires_in)
    )


class _EntraApp:
    """What both Entra token sources know of the app registration and where to ask."""

    tenant_id: str
    client_id: str
    endpoint: MicrosoftEndpoint
    scopes: list[str]
    authority: str
    ca_file: str | None
    timeout: float
    _custom_authority: bool

    def _set_app(
        self,
        tenant_id: str,
        client_id: str,
        endpoint: MicrosoftEndpoint,
        default_scopes: Mapping[str, str],
        scopes: Sequence[str] | None,
        authority: str | None,
        ca_file: str | None,
        timeout: float,
    ) -> None:
        if endpoint not in default_scopes:
            raise ConfigurationError(f"endpoint must be smtp or graph, not {endpoint!r}")
        if authority is not None and not authority.startswith("https://"):
            raise ConfigurationError("authority must be an https:// URL")
        self.tenant_id = tenant_id
        self.client_id = client_id
        self.endpoint = endpoint
        self.scopes = list(scopes) if scopes else [default_scopes[endpoint]]
        self.authority = (authority or f"{_PUBLIC_AUTHORITY}/{tenant_id}").rstrip("/")
        self._custom_authority = authority is not None
        self.ca_file = ca_file
        self.timeout = timeout


class MicrosoftClientCredentials(_EntraApp):
    """App-only tokens from Microsoft Entra ID (OAuth 2.0 client credentials grant).

    Args:
        tenant_id: the directory (tenant) id or a verified domain. ``common`` and
            ``organizations`` cannot issue app-only tokens and are refused.
        client_id: the application (client) id of the app registration.
        client_secret: a client secret, or
        certificate_file: a PEM file with the private key and its certificate (uploaded to
            the app registration); ``certificate_password`` if the key is encrypted.
        endpoint: ``"smtp"`` (scope ``https://outlook.office365.com/.default``; the app needs
            SMTP.SendAsApp and an Exchange service principal with mailbox permission) or
            ``"graph"`` (scope ``https://graph.microsoft.com/.default``; app permission
            Mail.Send). ``scopes`` replaces the default.
        authority: the authority URL (``https://login.microsoftonline.com/<tenant>`` by default);
            give one for a sovereign cloud or a test server, and instance discovery is turned
            off so no other host is asked.
        ca_file: a CA bundle to trust for the token endpoint (a proxy, a test server).
        timeout: seconds for each request to the token endpoint.
    """

    def __init__(
        self,
        tenant_id: str,
        client_id: str,
        *,
        client_secret: str | SecretStr | None = None,
        certificate_file: str | Path | None = None,
        certificate_password: str | SecretStr | None = None,
        endpoint: MicrosoftEndpoint = "smtp",
        scopes: Sequence[str] | None = None,
        authority: str | None = None,
        ca_file: str | None = None,
        timeout: float = 30.0,
    ) -> None:
        if not tenant_id or not client_id:
            raise ConfigurationError("MicrosoftClientCredentials needs tenant_id and client_id")
        if tenant_id.lower() in ("common", "organizations", "consumers"):
            raise ConfigurationError(
                f"tenant_id={tenant_id!r} cannot issue app-only tokens; use the tenant's id "
                "or domain"
            )
        if (client_secret is None) == (certificate_file is None):
            raise ConfigurationError(
                "MicrosoftClientCredentials needs exactly one of client_secret= and "
                "certificate_file="
            )
        self._set_app(tenant_id, client_id, endpoint, _SCOPES, scopes, authority, ca_file, timeout)
        if client_secret is not None:
            secret = SecretStr(client_secret) if isinstance(client_secret, str) else client_secret
            if not secret.get_secret_value():
                raise ConfigurationError("client_secret is empty")
            self._secret: SecretStr | None = secret
            self._certificate: tuple[str | Path, SecretStr | None] | None = None
        else:
            assert certificate_file is not None
            password = (
                SecretStr(certificate_password)
                if isinstance(certificate_password, str)
                else certificate_password
            )
            _certificate_credential(certificate_file, password)  # fail early on a bad file
            self._secret = None
            self._certificate = (certificate_file, password)
        self._app: Any = None
        self._lock = threading.Lock()  # msal apps are built and called from worker threads

    def _application(self) -> Any:
        msal = _load_msal()
        if self._app is None:
            if self._secret is not None:
                credential: Any = self._secret.get_secret_value()
            else:
                assert self._certificate is not None
                credential = _certificate_credential(*self._certificate)
            self._app = msal.ConfidentialClientApplication(
                self.client_id,
                client_credential=credential,
                authority=self.authority,
                # Discovery would ask login.microsoftonline.com about a custom authority.
                instance_discovery=False if self._custom_authority else None,
                http_client=requests_session(self.ca_file, self.timeout),
            )
        return self._app

    def _acquire(self, force_refresh: bool) -> dict[str, Any]:
        with self._lock:
            app = self._application()
            if force_refresh:
                app.remove_tokens_for_client()
            result: dict[str, Any] = app.acquire_token_for_client(scopes=self.scopes)
            return result

    async def token(self, *, force_refresh: bool = False) -> AccessToken:
        """An app-only token for :attr:`scopes` (a new one when *force_refresh*)."""
        requested = datetime.now(timezone.utc)
        try:
            result = await asyncio.to_thread(self._acquire, force_refresh)
        except MailError:
            raise
        except Exception as exc:
            failure = TransientError(
                f"Microsoft Entra token request to {self.authority} failed: "
                f"{type(exc).__name__}: {self._redact(str(exc))}"
            )
        else:
            return _token_from(result, requested, self.client_id, self._redact)
        # Raised outside the except block: msal's exception may carry the request body.
        raise failure

    def _redact(self, text: str) -> str:
        if self._secret is not None and self._secret.get_secret_value():
            text = text.replace(self._secret.get_secret_value(), "***")
        return text

    def __repr__(self) -> str:
        return (
            f"MicrosoftClientCredentials(tenant_id={self.tenant_id!r}, "
            f"client_id={self.client_id!r}, scopes={self.scopes!r})"
        )


class MicrosoftRefreshToken(_EntraApp):
    """Tokens for one signed-in user (a delegated mailbox) from a refresh token.

    ``mailsdk credentials oauth login microsoft`` obtains the refresh token with the device
    code flow and keeps it in the keyring. ``client_id`` is a public client (an app
    registration with "Allow public client flows" on) with the delegated permission
    ``SMTP.Send`` (Office 365 Exchange Online) or ``Mail.Send`` (Microsoft Graph). Entra may
    return a new refresh token with each access token; it is used from then on, and
    ``on_rotate(old, new)`` (called in a worker thread) may keep it, as URL-configured
    providers do in the keyring.
    """

    def __init__(
        self,
        tenant_id: str,
        client_id: str,
        refresh_token: str | SecretStr,
        *,
        endpoint: MicrosoftEndpoint = "smtp",
        scopes: Sequence[str] | None = None,
        authority: str | None = None,
        ca_file: str | None = None,
        timeout: float = 30.0,
        on_rotate: Callable[[SecretStr, SecretStr], None] | None = None,
    ) -> None:
        if not tenant_id or not client_id:
            raise ConfigurationError("MicrosoftRefreshToken needs tenant_id and client_id")
        self._on_rotate = on_rotate
        self._set_app(
            tenant_id, client_id, endpoint, DELEGATED_SCOPES, scopes, authority, ca_file, timeout
        )
        self._refresh = (
            SecretStr(refresh_token) if isinstance(refresh_token, str) else refresh_token
        )
        if not self._refresh.get_secret_value():
            raise ConfigurationError("the refresh token is empty")
        self._app: Any = None
        self._lock = threading.Lock()

    def _acquire(self) -> dict[str, Any]:
        msal = _load_msal()
        with self._lock:
            if self._app is None:
                self._app = msal.PublicClientApplication(
                    self.client_id,
                    authority=self.authority,
                    instance_discovery=False if self._custom_authority else None,
                    http_client=requests_session(self.ca_file, self.timeout),
                )
            result: dict[str, Any] = self._app.acquire_token_by_refresh_token(
                self._refresh.get_secret_value(), scopes=self.scopes
            )
            new = result.get("refresh_token")
            if new and new != self._refresh.get_secret_value():
                old, self._refresh = self._refresh, SecretStr(str(new))
                if self._on_rotate is not None:
                    self._on_rotate(old, self._refresh)
            return result

    async def token(self, *, force_refresh: bool = False) -> AccessToken:
        """A new access token for the signed-in user (every call asks Entra)."""
        requested = datetime.now(timezone.utc)
        try:
            result = await asyncio.to_thread(self._acquire)
        except MailError:
            raise
        except Exception as exc:
            failure = TransientError(
                f"Microsoft Entra token request to {self.authority} failed: {type(exc).__name__}"
            )
        else:
            if "access_token" not in result and result.get("error") == "invalid_grant":
                raise RelayError(
                    "Microsoft Entra refused the refresh token (invalid_grant): sign in again "
                    "with `mailsdk credentials oauth login microsoft`"
                )
            return _token_from(result, requested, self.client_id, lambda text: text)
        raise failure

    def __repr__(self) -> str:
        return (
            f"MicrosoftRefreshToken(tenant_id={self.tenant_id!r}, client_id={self.client_id!r}, "
            f"scopes={self.scopes!r})"
        )
