"""SMTPTransport.probe(): one session, nothing sent, a typed report of what the relay showed."""

from __future__ import annotations

import ast
import asyncio
import socket
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import pytest

from mailsdk import RelayError, SMTPTransport, TransientError
from mailsdk.config import parse_url
from mailsdk.devserver import LocalRelay
from mailsdk.transports.smtp_probe import SMTPProbeReport
from tests.conftest import PASSWORD, USER

RelayFactory = Callable[..., LocalRelay]


def probe(url: str) -> SMTPProbeReport:
    transport = SMTPTransport.from_url(parse_url(url))
    return asyncio.run(transport.probe())


def test_a_starttls_session_with_auth(relay: LocalRelay) -> None:
    report = probe(relay.url(USER, PASSWORD))
    assert report.ok
    assert report.error is None
    assert report.greeting is not None
    assert report.greeting.startswith("220 ")
    assert "starttls" in report.extensions
    assert "auth" not in report.extensions  # the relay offers AUTH only inside TLS
    assert report.extensions_after_tls is not None
    assert "starttls" not in report.extensions_after_tls
    assert set(report.auth_mechanisms) >= {"PLAIN", "LOGIN"}
    assert report.auth_used == "PLAIN"
    assert report.username == USER
    assert report.tls is not None
    assert report.tls.version is not None
    assert report.tls.version.startswith("TLSv1.")
    assert report.tls.cipher
    assert report.tls.bits
    assert report.tls.bits >= 128
    cert = report.tls.certificate
    assert cert is not None
    assert "O=trustme" in cert.subject
    assert "O=trustme" in cert.issuer
    assert cert.not_after is not None
    assert cert.not_after > datetime.now(timezone.utc)
    assert [s.name for s in report.steps] == ["connect", "ehlo", "starttls", "ehlo-tls", "auth"]
    assert all(s.seconds >= 0 for s in report.steps)
    assert set(report.timings) == {"connect", "ehlo", "starttls", "ehlo-tls", "auth"}
    assert relay.messages == []


def test_implicit_tls_reads_the_certificate_before_ehlo(relay_factory: RelayFactory) -> None:
    relay = relay_factory(tls="implicit", require_auth=True)
    report = probe(relay.url(USER, PASSWORD))
    assert report.ok
    assert report.tls is not None
    assert report.tls.certificate is not None
    assert report.extensions_after_tls is None  # no STARTTLS: the first EHLO is inside TLS
    assert "auth" in report.extensions
    assert [s.name for s in report.steps] == ["connect", "ehlo", "auth"]


def test_mechanisms_are_reported_without_a_user(relay_factory: RelayFactory) -> None:
    # The mechanisms are read while the session is open, not from the client after QUIT.
    relay = relay_factory(tls="starttls")
    report = probe(relay.url())
    assert report.ok
    assert report.auth_used is None
    assert set(report.auth_mechanisms) >= {"PLAIN", "LOGIN"}


def test_a_refused_login_is_the_reports_error(relay: LocalRelay) -> None:
    report = probe(relay.url(USER, "wrong"))
    assert not report.ok
    assert isinstance(report.error, RelayError)
    assert "AUTH PLAIN failed" in str(report.error)
    assert report.auth_used is None
    assert report.tls is not None  # everything up to the failing step is still reported


def test_nothing_listening_is_a_transient_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    report = probe(f"smtp://127.0.0.1:{port}?tls=none&timeout=5")
    assert isinstance(report.error, TransientError)
    assert report.greeting is None
    assert report.steps[0].name == "connect"


def test_the_cli_neither_imports_aiosmtplib_nor_calls_private_transport_methods() -> None:
    cli_dir = Path(__file__).parents[2] / "mailsdk" / "cli"
    modules = sorted(cli_dir.glob("*.py"))
    assert len(modules) >= 7
    for module in modules:
        tree = ast.parse(module.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                assert all(not a.name.startswith("aiosmtplib") for a in node.names), module
            if isinstance(node, ast.ImportFrom):
                assert not (node.module or "").startswith("aiosmtplib"), module
                imported = {a.name for a in node.names}
                if node.module == "mailsdk.transports.smtp":
                    assert imported <= {"SMTPTransport"}, module
            if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
                own = isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")
                assert own or node.attr.startswith("__"), f"{module.name}: .{node.attr}"


@pytest.mark.parametrize("tls", ["starttls", "none"])
def test_check_prints_the_offered_mechanisms(relay_factory: RelayFactory, tls: str) -> None:
    from click.testing import CliRunner

    from mailsdk.cli import cli

    relay = relay_factory(tls=tls)
    result = CliRunner().invoke(cli, ["check", relay.url()], prog_name="mailsdk")
    assert result.exit_code == 0, result.output
    assert "relay offers none" not in result.output
    auth_line = next(line for line in result.output.splitlines() if "AUTH       :" in line)
    assert "PLAIN" in auth_line
    assert "LOGIN" in auth_line
    assert "timings    : connect" in result.output
