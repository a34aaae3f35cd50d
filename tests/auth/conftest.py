"""A local HTTPS stand-in for OAuth token endpoints (Entra and Google), on loopback.

It speaks just enough of each: the OpenID discovery document msal reads for an authority
given with instance discovery off, and a token endpoint that records every form it gets and
answers with whatever the test scripted (by default a fresh numbered token).
"""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
import trustme


@dataclass
class TokenRequest:
    """One request the stand-in received."""

    method: str
    path: str
    form: dict[str, str]
    headers: dict[str, str]


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

    def token_posts(self) -> list[TokenRequest]:
        return [r for r in self.requests if r.method == "POST"]

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


@pytest.fixture
def token_endpoint(tmp_path: Path) -> Iterator[TokenEndpoint]:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    ca_file = tmp_path / "token-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    state: list[TokenEndpoint] = []

    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            endpoint = state[0]
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            endpoint.requests.append(
                TokenRequest(
                    self.command,
                    self.path,
                    dict(parse_qsl(body)),
                    {k.lower(): v for k, v in self.headers.items()},
                )
            )
            status, payload = endpoint.answer(self.path.split("?")[0])
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _handle

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    state.append(
        TokenEndpoint(base=f"https://127.0.0.1:{server.server_address[1]}", ca_file=str(ca_file))
    )
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield state[0]
    server.shutdown()
    server.server_close()
    thread.join(5)


class FakeClock:
    """An aware UTC clock that moves only when told."""

    def __init__(self) -> None:
        from datetime import datetime, timezone

        self.now = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)

    def __call__(self) -> Any:
        return self.now

    def advance(self, **delta: float) -> None:
        from datetime import timedelta

        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


ClockFactory = Callable[[], FakeClock]
