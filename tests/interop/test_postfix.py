"""mailsdk against a real Postfix: STARTTLS + SASL, implicit TLS, SMTPUTF8, SIZE, reuse."""

from __future__ import annotations

import email
from email import policy
from urllib.parse import quote

import pytest

from mailsdk import (
    AsyncSender,
    Attachment,
    DeliveryFailed,
    Message,
    OutgoingMessage,
    PermanentError,
    RelayError,
    SMTPTransport,
)
from mailsdk.config import transport_from_url
from tests.peers.postfix import PostfixPeer

ADDED_BY_POSTFIX = (b"Return-Path:", b"X-Original-To:", b"Delivered-To:", b"Received:")


def submission_url(peer: PostfixPeer, password: str | None = None) -> str:
    secret = quote(password if password is not None else peer.password, safe="")
    return (
        f"smtp://{quote(peer.username, safe='')}:{secret}@{peer.host}:{peer.submission_port}"
        f"?ca_file={peer.ca_file}"
    )


def strip_postfix_headers(delivered: bytes) -> bytes:
    """Drop the trace headers Postfix prepends (with their folded continuation lines)."""
    lines = delivered.split(b"\n")
    kept: list[bytes] = []
    skipping = False
    for index, line in enumerate(lines):
        if line.startswith(ADDED_BY_POSTFIX):
            skipping = True
            continue
        if skipping and line[:1] in (b" ", b"\t"):
            continue
        skipping = False
        kept.extend(lines[index:])
        break
    return b"\n".join(kept)


def full_message(**extra: object) -> Message:
    fields: dict[str, object] = {
        "from_": "Reports Ünïcode <reports@example.test>",
        "to": ["Alice <alice@example.test>"],
        "cc": ["bob@example.test"],
        "subject": "Daily report ✓ — Postfix interop",
        "text": "Line one\n.leading dot stays\nÜmlaut\n",
        "html": "<p>Line one</p><img src='cid:logo'>",
        "attachments": [
            Attachment(filename="report.csv", content=b"day,sent\nmon,1\n"),
            Attachment(
                filename="logo.png", content=b"\x89PNG\r\n\x1a\n" * 40, inline=True, cid="logo"
            ),
        ],
        "headers": {"X-Campaign": "q3"},
    }
    fields.update(extra)
    return Message(**fields)  # type: ignore[arg-type]


async def test_starttls_sasl_delivers_the_exact_bytes(postfix_peer: PostfixPeer) -> None:
    postfix_peer.clear()
    outgoing = OutgoingMessage(full_message())
    async with transport_from_url(submission_url(postfix_peer)) as transport:
        result = await transport.send(outgoing)
    assert result.accepted == ["alice@example.test", "bob@example.test"]
    assert result.provider_id  # "queued as ..."
    delivered = postfix_peer.wait_for_messages(2)
    for item in delivered:
        # Postfix stores LF line endings in the Maildir; everything else is byte-identical.
        assert strip_postfix_headers(item) == outgoing.raw.replace(b"\r\n", b"\n")


async def test_implicit_tls_port(postfix_peer: PostfixPeer) -> None:
    postfix_peer.clear()
    url = (
        f"smtps://{quote(postfix_peer.username, safe='')}:{quote(postfix_peer.password, safe='')}"
        f"@{postfix_peer.host}:{postfix_peer.smtps_port}?ca_file={postfix_peer.ca_file}"
    )
    async with AsyncSender(url) as sender:
        await sender.send(full_message())
    assert len(postfix_peer.wait_for_messages(2)) == 2


async def test_wrong_password(postfix_peer: PostfixPeer) -> None:
    async with transport_from_url(submission_url(postfix_peer, "wrong-pass-123")) as transport:
        with pytest.raises(RelayError) as info:
            await transport.send(OutgoingMessage(full_message()))
    assert info.value.code == 535
    assert info.value.enhanced_code == "5.7.8"
    assert "wrong-pass-123" not in str(info.value)


async def test_wrong_password_through_the_sender_is_not_retried(postfix_peer: PostfixPeer) -> None:
    async with AsyncSender(submission_url(postfix_peer, "nope")) as sender:
        with pytest.raises(DeliveryFailed) as info:
            await sender.send(full_message())
    assert [a.outcome for a in info.value.attempts] == ["relay"]


async def test_submission_port_refuses_plaintext_auth_by_design(postfix_peer: PostfixPeer) -> None:
    # Postfix does not advertise AUTH before STARTTLS; mailsdk never tries it in the clear.
    url = (
        f"smtp://{quote(postfix_peer.username, safe='')}:{quote(postfix_peer.password, safe='')}"
        f"@{postfix_peer.host}:{postfix_peer.submission_port}?tls=none&allow_insecure_auth=true"
    )
    async with transport_from_url(url) as transport:
        with pytest.raises(RelayError, match="does not offer AUTH"):
            await transport.send(OutgoingMessage(full_message()))


async def test_smtputf8_address_and_utf8_body(postfix_peer: PostfixPeer) -> None:
    postfix_peer.clear()
    message = Message(
        from_="sender@example.test",
        to=["Jörg <jörg@exämple.test>"],
        subject="Grüße",
        text="Grüße aus Köln 📬\n",
    )
    url = f"smtp://{postfix_peer.host}:{postfix_peer.plain_port}?tls=none"
    async with transport_from_url(url) as transport:
        await transport.send(OutgoingMessage(message))
    delivered = postfix_peer.wait_for_messages(1)[0]
    parsed = email.message_from_string(delivered.decode("utf-8"), policy=policy.default)
    assert parsed["To"].addresses[0].addr_spec == "jörg@exämple.test"
    assert parsed.get_content().replace("\r\n", "\n") == "Grüße aus Köln 📬\n"


async def test_size_limit_is_checked_before_data(postfix_peer: PostfixPeer) -> None:
    postfix_peer.clear()
    big = Attachment(filename="big.bin", content=b"\0" * postfix_peer.message_size_limit)
    async with transport_from_url(submission_url(postfix_peer)) as transport:
        with pytest.raises(PermanentError, match="accepts at most"):
            await transport.send(OutgoingMessage(full_message(attachments=[big])))


async def test_connection_reuse(postfix_peer: PostfixPeer) -> None:
    postfix_peer.clear()
    async with AsyncSender(submission_url(postfix_peer)) as sender:
        for _ in range(4):
            await sender.send(Message(from_="a@example.test", to="b@example.test", text="x"))
        smtp = sender.transports[0]
        assert isinstance(smtp, SMTPTransport)
        assert smtp.connections_opened == 1
    assert len(postfix_peer.wait_for_messages(4)) == 4
