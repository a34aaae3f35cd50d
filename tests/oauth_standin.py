"""A local HTTPS stand-in for OAuth token endpoints (Entra and Google) and the mail APIs.

It speaks just enough of each token endpoint: the OpenID discovery document msal reads for
an authority given with instance discovery off, and a token endpoint that records every
form it gets and answers with whatever the test scripted (by default a fresh numbered
token). Paths a test routes elsewhere (``TokenEndpoint.api``) are answered by that handler,
so one server on one loopback port can be both the token endpoint and the Graph or Gmail
API, with one trustme CA to trust.
"""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import trustme

__all__ = ["ApiReply", "TokenEndpoint", "TokenRequest", "serve_token_endpoint"]


@dataclass
class TokenRequest:
    """One request the stand-in received (token endpoint or API)."""

    method: str
    path: str
    form: dict[str, str]
    headers: dict[str, str]
    body: bytes = b""
    api: bool = False
    """True when the API handler answered it, not the token endpoint."""
    at: float = 0.0
    """``time.monotonic()`` when the request arrived."""


ApiReply = tuple[int, dict[str, str], bytes]
"""(status, headers, body) of an API answer."""


@dataclass
class TokenEndpoint:
    """The running stand-in: ``base`` is its https URL, ``ca_file`` trusts its certificate."""

    base: str
    ca_file: str
    requests: list[TokenRequest] = field(default_factory=list)
    replies: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    """Scripted (status, JSON) answers for the token endpoint, used first to last."""
    expires_in: int = 3600
    issued: int = 0
    api_prefix: str | None = None
    """Requests whose path starts with this go to ``api`` instead of the token endpoint."""
    api: Callable[[TokenRequest], ApiReply] | None = None

    def token_posts(self) -> list[TokenRequest]:
        return [r for r in self.requests if r.method == "POST" and not r.api]

    async def first_grant(self, provider: Any, grant_type: str) -> dict[str, str]:
        """The form *provider* posts for its first token, once it got this endpoint's first
        token with a grant of *grant_type*."""
        token = await provider.token()
        assert token.value.get_secret_value() == "access-token-1"
        (grant,) = self.token_posts()
        assert grant.form["grant_type"] == grant_type
        return grant.form

    def api_requests(self) -> list[TokenRequest]:
        return [r for r in self.requests if r.api]

    def issued_tokens(self) -> list[str]:
        """Every access token the token endpoint handed out by default, oldest first."""
        return [f"access-token-{n}" for n in range(1, self.issued + 1)]

    def answer(self, path: str) -> tuple[int, dict[str, Any]]:
        if path.endswith("/.well-known/openid-configuration"):
            tenant_base = self.base + path.split("/v2.0/")[0]
            return 200, {
                "token_endpoint": f"{tenant_base}/oauth2/v2.0/token",
                "authorization_endpoint": f"{tenant_base}/oauth2/v2.0/authorize",
                "device_authorization_endpoint": f"{tenant_base}/oauth2/v2.0/devicecode",
                "issuer": f"{tenant_base}/v2.0",
            }
        if path.endswith("/devicecode"):
            return 200, {
                "device_code": "device-code-1",
                "user_code": "ABCD-EFGH",
                "verification_uri": "https://microsoft.com/devicelogin",
                "expires_in": 900,
                "interval": 1,
                "message": "To sign in, open https://microsoft.com/devicelogin and enter the "
                "code ABCD-EFGH.",
            }
        if self.replies:
            return self.replies.pop(0)
        self.issued += 1
        return 200, {
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "access_token": f"access-token-{self.issued}",
            "refresh_token": f"refresh-token-{self.issued}",
        }


@contextmanager
def serve_token_endpoint(tmp_path: Path) -> Iterator[TokenEndpoint]:
    """Run the stand-in on a free loopback port with a fresh trustme certificate."""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    ca_file = tmp_path / "token-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    state: list[TokenEndpoint] = []
    # Handler threads share the endpoint's lists and counters.
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _handle(self) -> None:
            endpoint = state[0]
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            path = self.path.split("?")[0]
            api = endpoint.api is not None and path.startswith(endpoint.api_prefix or "/")
            form_encoded = headers.get("content-type", "").startswith(
                "application/x-www-form-urlencoded"
            )
            request = TokenRequest(
                self.command,
                self.path,
                dict(parse_qsl(body.decode())) if form_encoded else {},
                headers,
                body,
                api,
                time.monotonic(),
            )
            with lock:
                endpoint.requests.append(request)
                if api:
                    assert endpoint.api is not None
                    status, reply_headers, data = endpoint.api(request)
                else:
                    status, payload = endpoint.answer(path)
                    reply_headers = {"Content-Type": "application/json"}
                    data = json.dumps(payload).encode()
            self.send_response(status)
            for name, value in reply_headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _handle

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.socket = context.wrap_socket(server.socket, server_side=True)
    state.append(
        TokenEndpoint(base=f"https://127.0.0.1:{server.server_address[1]}", ca_file=str(ca_file))
    )
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state[0]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def service_account_file(tmp_path: Path) -> Path:
    """A Google service-account key file (a fresh RSA key) in *tmp_path*."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    path = tmp_path / "sa.json"
    path.write_text(
        json.dumps(
            {
                "type": "service_account",
                "client_email": "mailer@p.iam.gserviceaccount.com",
                "private_key": pem,
                "private_key_id": "k1",
                "token_uri": "https://oauth2.googleapis.com/token",
            }
        )
    )
    return path
