"""DSN (RFC 3461) and REQUIRETLS (RFC 8689) against a real Postfix: Postfix offers DSN, takes
our parameters, and writes a success report that quotes them back; it does not offer
REQUIRETLS, so a message that requires it is refused before MAIL FROM."""

from __future__ import annotations

import email
from email import policy
from email.message import EmailMessage

import pytest

from mailsdk import DSN, Message, MessageError, OutgoingMessage
from mailsdk.config import transport_from_url
from tests.interop.test_postfix import submission_url
from tests.peers.postfix import PostfixPeer


def _message(**extra: object) -> Message:
    return Message(
        from_="reports@example.test",
        to=["alice+dsn@example.test"],
        subject="DSN interop",
        text="Hello\n",
        **extra,  # type: ignore[arg-type]
    )


async def test_postfix_takes_dsn_and_reports_success_with_our_envid_and_orcpt(
    postfix_peer: PostfixPeer,
) -> None:
    postfix_peer.clear()
    dsn = DSN(notify=["SUCCESS", "FAILURE"], ret="HDRS", envid="invoice 42+x")
    async with transport_from_url(submission_url(postfix_peer)) as transport:
        result = await transport.send(OutgoingMessage(_message(dsn=dsn)))
    assert result.accepted == ["alice+dsn@example.test"]

    # The message itself and Postfix's "delivered" report to the envelope sender.
    delivered = [
        email.message_from_bytes(raw, policy=policy.default)
        for raw in postfix_peer.wait_for_messages(2)
    ]
    reports = [m for m in delivered if m.get_content_type() == "multipart/report"]
    assert len(reports) == 1, postfix_peer.log_tail()
    report = reports[0]
    assert isinstance(report, EmailMessage)
    assert report.get_param("report-type") == "delivery-status"
    status = next(p for p in report.walk() if p.get_content_type() == "message/delivery-status")
    fields = b"\n".join(
        bytes(part)
        for part in status.get_payload()  # type: ignore[union-attr]
    ).decode()
    # Postfix decodes our xtext: the report quotes the identifier as it was given.
    assert "Original-Envelope-Id: invoice 42+x\n" in fields
    assert "Original-Recipient: rfc822;alice+dsn@example.test" in fields
    assert "Action: delivered" in fields, fields


async def test_postfix_does_not_offer_requiretls(postfix_peer: PostfixPeer) -> None:
    async with transport_from_url(submission_url(postfix_peer)) as transport:
        with pytest.raises(MessageError, match="does not offer it"):
            await transport.send(OutgoingMessage(_message(require_tls=True)))
