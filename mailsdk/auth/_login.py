"""Interactive sign-in for delegated mailboxes: obtain a refresh token once, then keep it.

Microsoft: the device code flow (msal) prints a code to enter at a Microsoft page, so it works
on a headless server. Google: Gmail scopes are not offered to the device flow, so a loopback
redirect (RFC 8252, with PKCE, RFC 7636) receives the answer on ``http://127.0.0.1:<port>/``.
Both return the refresh token; ``mailsdk credentials oauth login`` stores it in the keyring.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from pydantic import SecretStr

from mailsdk.auth._http import requests_session
from mailsdk.auth.google import GOOGLE_TOKEN_URI
from mailsdk.errors import ConfigurationError, RelayError

__all__ = ["GOOGLE_AUTH_URI", "google_loopback_login", "microsoft_device_login"]

GOOGLE_AUTH_URI = "https://accounts.google.com/o/oauth2/v2/auth"


def microsoft_device_login(
    tenant_id: str,
    client_id: str,
    scopes: Sequence[str],
    *,
    echo: Callable[[str], None],
    authority: str | None = None,
    ca_file: str | None = None,
    timeout: float = 30.0,
) -> SecretStr:
    """Run the device code flow; return the user's refresh token."""
    from mailsdk.auth.microsoft import _load_msal

    msal = _load_msal()
    if authority is not None and not authority.startswith("https://"):
        raise ConfigurationError("authority must be an https:// URL")
    app = msal.PublicClientApplication(
        client_id,
        authority=authority or f"https://login.microsoftonline.com/{tenant_id}",
        instance_discovery=False if authority else None,
        http_client=requests_session(ca_file, timeout),
    )
    flow = app.initiate_device_flow(scopes=list(scopes))
    if "user_code" not in flow:
        lines = str(flow.get("error_description") or "").splitlines()
        raise RelayError(
            f"Microsoft Entra refused the device code request: {flow.get('error')}"
            + (f": {lines[0]}" if lines else "")
        )
    echo(str(flow["message"]))
    result: dict[str, Any] = app.acquire_token_by_device_flow(flow)
    token = result.get("refresh_token")
    if not token:
        raise RelayError(
            f"sign-in did not complete: {result.get('error') or 'no refresh token returned'}"
        )
    return SecretStr(str(token))


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(64)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def google_loopback_login(
    client_id: str,
    client_secret: str | SecretStr,
    scopes: Sequence[str],
    *,
    open_browser: Callable[[str], object],
    echo: Callable[[str], None],
    auth_uri: str = GOOGLE_AUTH_URI,
    token_uri: str = GOOGLE_TOKEN_URI,
    ca_file: str | None = None,
    wait: float = 300.0,
) -> SecretStr:
    """Sign in through the browser with a loopback redirect; return the refresh token."""
    verifier, challenge = _pkce()
    state = secrets.token_urlsafe(24)
    answer: dict[str, str] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
            if "code" not in query and "error" not in query:
                self.send_response(404)
                self.end_headers()
                return
            answer.update(query)
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.end_headers()
            self.wfile.write(b"mailsdk: signed in; you can close this window.\n")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    server.timeout = 1.0
    redirect_uri = f"http://127.0.0.1:{server.server_address[1]}/"
    url = (
        auth_uri
        + "?"
        + urlencode(
            {
                "client_id": client_id,
                "redirect_uri": redirect_uri,
                "response_type": "code",
                "scope": " ".join(scopes),
                "access_type": "offline",  # a refresh token
                "prompt": "consent",  # a new one even if this client was consented before
                "code_challenge": challenge,
                "code_challenge_method": "S256",
                "state": state,
            }
        )
    )
    echo(f"Open this page to sign in (waiting on {redirect_uri}):\n{url}")
    try:
        open_browser(url)
        deadline = time.monotonic() + wait
        while not answer and time.monotonic() < deadline:
            server.handle_request()
    finally:
        server.server_close()
    if not answer:
        raise RelayError(f"no answer from the browser within {wait:.0f} s")
    if answer.get("state") != state:
        raise RelayError("the sign-in answer does not match this request (state differs)")
    if "error" in answer:
        raise RelayError(f"Google sign-in failed: {answer['error']}")
    secret = (
        client_secret.get_secret_value() if isinstance(client_secret, SecretStr) else client_secret
    )
    session = requests_session(ca_file, 30.0)
    try:
        response = session.post(
            token_uri,
            data={
                "grant_type": "authorization_code",
                "code": answer["code"],
                "redirect_uri": redirect_uri,
                "client_id": client_id,
                "client_secret": secret,
                "code_verifier": verifier,
            },
        )
        body = response.json() if response.content else {}
    finally:
        session.close()
    token = body.get("refresh_token") if isinstance(body, dict) else None
    if response.status_code != 200 or not token:
        error = body.get("error") if isinstance(body, dict) else None
        raise RelayError(
            f"Google did not issue a refresh token (HTTP {response.status_code}"
            + (f", {error}" if error else "")
            + ")"
        )
    return SecretStr(str(token))
