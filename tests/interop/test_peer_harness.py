"""Prove the interop peers work, using only the standard library (no mailsdk)."""

from __future__ import annotations

import smtplib
import ssl
import uuid
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.interop.conftest import SmtpSinkFactory
    from tests.peers.postfix import PostfixPeer


def _tls_context(peer: PostfixPeer) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=peer.ca_file)


def _message(subject: str) -> bytes:
    # CRLF on the wire, as an SMTP client must send it.  Includes a leading-dot line
    # (dot-stuffing) and trailing whitespace, which must both survive unchanged.
    return (
        b"From: Sender <sender@example.org>\r\n"
        b"To: Rcpt <rcpt@example.net>\r\n"
        b"Subject: " + subject.encode() + b"\r\n"
        b"Message-ID: <" + uuid.uuid4().hex.encode() + b"@example.org>\r\n"
        b"MIME-Version: 1.0\r\n"
        b"Content-Type: text/plain; charset=us-ascii\r\n"
        b"\r\n"
        b"first line\r\n"
        b".leading dot\r\n"
        b"trailing space \r\n"
        b"\r\n"
        b"last line\r\n"
    )


def _delivered_body(delivered: bytes, sent: bytes) -> None:
    """Assert ``delivered`` = Postfix's prepended headers + exactly ``sent``.

    virtual(8) writes Maildir files with LF line endings (Postfix keeps lines without
    their CRLF internally and writes LF for local/virtual delivery), so compare after
    normalising the sent CRLF to LF.  Every other byte must be identical.
    """
    expected = sent.replace(b"\r\n", b"\n")
    assert b"\r" not in delivered, "Postfix is expected to store LF line endings"
    assert delivered.endswith(expected), delivered
    prepended = delivered[: -len(expected)]
    assert prepended.startswith(b"Return-Path: <"), prepended
    assert b"\nDelivered-To: " in prepended
    assert b"\nReceived: from " in prepended


def test_submission_starttls_auth_plain_delivers_exact_bytes(postfix_peer: PostfixPeer) -> None:
    postfix_peer.clear()
    sent = _message("submission")
    with smtplib.SMTP(postfix_peer.host, postfix_peer.submission_port, timeout=10) as smtp:
        smtp.starttls(context=_tls_context(postfix_peer))
        smtp.ehlo()
        assert "PLAIN" in smtp.esmtp_features["auth"].split()
        smtp.user, smtp.password = postfix_peer.username, postfix_peer.password
        code, _ = smtp.auth("PLAIN", smtp.auth_plain)
        assert code == 235
        refused = smtp.sendmail("sender@example.org", ["rcpt@example.net"], sent)
        assert refused == {}
    [delivered] = postfix_peer.wait_for_messages(1)
    _delivered_body(delivered, sent)
    assert b"\nDelivered-To: rcpt@example.net\n" in delivered


def test_submission_offers_auth_only_after_starttls(postfix_peer: PostfixPeer) -> None:
    with smtplib.SMTP(postfix_peer.host, postfix_peer.submission_port, timeout=10) as smtp:
        smtp.ehlo()
        assert smtp.has_extn("starttls")
        assert not smtp.has_extn("auth")
        assert smtp.esmtp_features["size"] == str(postfix_peer.message_size_limit)
        # Without TLS and AUTH, mail is refused (STARTTLS is required here).
        code, _ = smtp.mail("sender@example.org")
        assert code == 530
        smtp.rset()
        smtp.starttls(context=_tls_context(postfix_peer))
        smtp.ehlo()
        assert set(smtp.esmtp_features["auth"].split()) == {"PLAIN", "LOGIN"}
        # TLS but no AUTH: relaying/recipients are refused.
        assert smtp.mail("sender@example.org")[0] == 250
        code, _ = smtp.rcpt("rcpt@example.net")
        assert 500 <= code < 600


def test_submission_wrong_password_is_535(postfix_peer: PostfixPeer) -> None:
    with smtplib.SMTP(postfix_peer.host, postfix_peer.submission_port, timeout=10) as smtp:
        smtp.starttls(context=_tls_context(postfix_peer))
        smtp.ehlo()
        with pytest.raises(smtplib.SMTPAuthenticationError) as excinfo:
            smtp.login(postfix_peer.username, postfix_peer.password + "-wrong")
    assert excinfo.value.smtp_code == 535


def test_smtps_implicit_tls_auth_login_delivers(postfix_peer: PostfixPeer) -> None:
    postfix_peer.clear()
    sent = _message("smtps")
    with smtplib.SMTP_SSL(
        postfix_peer.host, postfix_peer.smtps_port, context=_tls_context(postfix_peer), timeout=10
    ) as smtp:
        smtp.ehlo()
        assert "LOGIN" in smtp.esmtp_features["auth"].split()
        smtp.user, smtp.password = postfix_peer.username, postfix_peer.password
        code, _ = smtp.auth("LOGIN", smtp.auth_login)
        assert code == 235
        assert smtp.sendmail("sender@example.org", ["someone@elsewhere.invalid"], sent) == {}
    [delivered] = postfix_peer.wait_for_messages(1)
    _delivered_body(delivered, sent)


def test_smtps_rejects_untrusted_certificate(postfix_peer: PostfixPeer) -> None:
    ctx = ssl.create_default_context()  # system CAs only: the throw-away CA is unknown
    with pytest.raises(ssl.SSLCertVerificationError):
        smtplib.SMTP_SSL(postfix_peer.host, postfix_peer.smtps_port, context=ctx, timeout=10)


def test_plain_port_accepts_without_auth_any_domain_smtputf8(postfix_peer: PostfixPeer) -> None:
    postfix_peer.clear()
    sent = "Subject: ünïcödé\r\nFrom: jörg@bücher.example\r\n\r\nGrüße\r\n".encode()
    with smtplib.SMTP(postfix_peer.host, postfix_peer.plain_port, timeout=10) as smtp:
        smtp.ehlo()
        assert not smtp.has_extn("starttls")
        assert not smtp.has_extn("auth")
        assert smtp.has_extn("smtputf8")
        assert smtp.has_extn("8bitmime")
        refused = smtp.sendmail(
            "jörg@bücher.example",
            ["anyone@any-domain.invalid", "δοκιμή@παράδειγμα.δοκιμή"],
            sent,
            mail_options=["SMTPUTF8", "BODY=8BITMIME"],
        )
        assert refused == {}
    delivered = postfix_peer.wait_for_messages(2)
    assert len(delivered) == 2
    for msg in delivered:
        _delivered_body(msg, sent)


def test_smtp_sink_soft_rejects_rcpt(smtp_sink_factory: SmtpSinkFactory) -> None:
    sink = smtp_sink_factory(["-r", "RCPT"])
    with smtplib.SMTP(sink.host, sink.port, timeout=10) as smtp:
        smtp.ehlo()
        assert smtp.mail("sender@example.org")[0] == 250
        code, _ = smtp.rcpt("rcpt@example.net")
        assert 400 <= code < 500


def test_smtp_sink_default_accepts(smtp_sink_factory: SmtpSinkFactory) -> None:
    sink = smtp_sink_factory([])
    with smtplib.SMTP(sink.host, sink.port, timeout=10) as smtp:
        smtp.ehlo()
        assert smtp.has_extn("pipelining")
        assert smtp.sendmail("sender@example.org", ["rcpt@example.net"], _message("sink")) == {}
