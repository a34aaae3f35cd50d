"""HTTP provider transports keep their TLS connections: one handshake per connection."""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import trustme

from mailsdk import AsyncSender, Message, SendResult, parse_url
from mailsdk.transports.http.sendgrid import SendGridTransport


class _SendGridLike(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        json.loads(self.rfile.read(length))
        self.server.requests += 1  # type: ignore[attr-defined]
        self.send_response(202)
        self.send_header("X-Message-Id", f"id-{self.server.requests}")  # type: ignore[attr-defined]
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


class _CountingServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, context: ssl.SSLContext) -> None:
        super().__init__(("127.0.0.1", 0), _SendGridLike)
        self.context = context
        self.requests = 0
        self.handshakes = 0

    def get_request(self):  # type: ignore[no-untyped-def]
        sock, addr = super().get_request()
        tls = self.context.wrap_socket(sock, server_side=True)  # the handshake happens here
        self.handshakes += 1
        return tls, addr


@pytest.fixture
def https_server(tmp_path: Path) -> Iterator[tuple[_CountingServer, str]]:
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    server = _CountingServer(context)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, str(ca_file)
    server.shutdown()
    server.server_close()


async def test_send_many_reuses_tls_connections(https_server: tuple[_CountingServer, str]) -> None:
    server, ca_file = https_server
    port = server.server_address[1]
    transport = SendGridTransport.from_url(
        parse_url(
            f"sendgrid://SG.test-key@default?base_url=https://127.0.0.1:{port}&ca_file={ca_file}"
        )
    )
    messages = [
        Message(from_="app@example.com", to=[f"u{i}@example.com"], subject=f"{i}", text="hi")
        for i in range(40)
    ]
    async with AsyncSender(transport) as sender:
        results = await sender.send_many(messages, concurrency=4)
    assert all(isinstance(r, SendResult) for r in results)
    assert {r.provider_id for r in results} == {f"id-{i}" for i in range(1, 41)}  # type: ignore[union-attr]
    assert server.requests == 40
    assert 1 <= server.handshakes <= 4  # one per pooled connection, not one per message
    assert transport.clients_created == 1
