"""Sender(..., suppressions=...): suppressed recipients are refused before any I/O."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import pytest

from mailsdk import AsyncSender, Message, Sender
from mailsdk.devserver import LocalRelay
from mailsdk.errors import RecipientsRefused
from mailsdk.suppressions import Suppressions

T0 = datetime(2026, 2, 3, 4, 5, 6, tzinfo=timezone.utc)


@pytest.fixture
def store(tmp_path: Path) -> Suppressions:
    with Suppressions(tmp_path / "mail.sqlite3", clock=lambda: T0) as s:
        s.add("Gone@Example.com", "hard_bounce", "sendgrid", detail="550 5.1.1 user unknown")
        s.add("spam@example.com", "complaint", "postmark")
        yield s


def message(**kwargs: object) -> Message:
    fields: dict[str, object] = {
        "from_": "app@example.com",
        "to": ["ok@example.com", "gone@example.com"],
        "cc": ["SPAM@example.com"],
        "subject": "Hi",
        "text": "Hello\n",
    }
    fields.update(kwargs)
    return Message(**fields)  # type: ignore[arg-type]


def test_suppressed_recipients_are_refused_and_the_rest_is_sent(
    relay_factory: Callable[..., LocalRelay], store: Suppressions
) -> None:
    relay = relay_factory(tls="none")
    with Sender(f"smtp://{relay.host}:{relay.port}?tls=none", suppressions=store) as sender:
        result = sender.send(message())
    assert result.accepted == ["ok@example.com"]
    assert set(result.refused) == {"gone@example.com", "SPAM@example.com"}
    gone = result.refused["gone@example.com"]
    assert gone.code == 550
    assert gone.permanent
    assert gone.text == (
        "suppressed since 2026-02-03T04:05:06+00:00 (hard_bounce from sendgrid): "
        "550 5.1.1 user unknown"
    )
    assert [m.rcpt_tos for m in relay.messages] == [["ok@example.com"]]
    assert relay.rcpt_commands == 1
    # Headers are untouched: the message still says who it was addressed to.
    assert b"gone@example.com" in relay.messages[0].data


async def test_all_suppressed_raises_without_a_connection(store: Suppressions) -> None:
    connections = 0

    async def count(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        writer.close()

    server = await asyncio.start_server(count, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with AsyncSender(f"smtp://127.0.0.1:{port}?tls=none", suppressions=store) as sender:
            with pytest.raises(RecipientsRefused) as caught:
                await sender.send(message(to=["gone@example.com"], cc=["spam@example.com"]))
    finally:
        server.close()
        await server.wait_closed()
    assert connections == 0
    assert set(caught.value.refused) == {"gone@example.com", "spam@example.com"}
    assert "complaint from postmark" in caught.value.refused["spam@example.com"].text
    assert not caught.value.transient


def test_ignore_suppressions_sends_to_everyone(
    relay_factory: Callable[..., LocalRelay], store: Suppressions
) -> None:
    relay = relay_factory(tls="none")
    with Sender(f"smtp://{relay.host}:{relay.port}?tls=none", suppressions=store) as sender:
        result = sender.send(message(ignore_suppressions=True))
    assert result.refused == {}
    assert sorted(relay.messages[0].rcpt_tos) == [
        "SPAM@example.com",
        "gone@example.com",
        "ok@example.com",
    ]


def test_a_relays_5_1_1_refusal_feeds_the_list_for_the_next_send(
    relay_factory: Callable[..., LocalRelay], store: Suppressions
) -> None:
    relay = relay_factory(tls="none")
    relay.rcpt_replies["nobody@example.com"] = "550 5.1.1 <nobody@example.com>: User unknown"
    relay.rcpt_replies["policy@example.com"] = "550 5.7.1 Relaying denied"
    url = f"smtp://{relay.host}:{relay.port}?tls=none"
    to = ["ok@example.com", "nobody@example.com", "policy@example.com"]
    with Sender(url, suppressions=store) as sender:
        first = sender.send(message(to=to, cc=[]))
        assert first.refused["nobody@example.com"].enhanced_code == "5.1.1"
        entry = store.check("nobody@example.com")
        assert entry is not None
        assert entry.reason == "smtp_refusal"
        assert store.check("policy@example.com") is None  # a policy refusal is not the address
        second = sender.send(message(to=to, cc=[]))
    assert relay.rcpt_commands == 5  # three in the first send, two in the second
    assert "smtp_refusal" in second.refused["nobody@example.com"].text


async def test_a_relay_refusing_everyone_still_feeds_the_list(
    relay_factory: Callable[..., LocalRelay], store: Suppressions
) -> None:
    relay = relay_factory(tls="none")
    relay.rcpt_replies["nobody@example.com"] = "550 5.1.1 User unknown"
    url = f"smtp://{relay.host}:{relay.port}?tls=none"
    async with AsyncSender(url, suppressions=store) as sender:
        with pytest.raises(RecipientsRefused) as caught:
            await sender.send(message(to=["nobody@example.com", "gone@example.com"], cc=[]))
    assert set(caught.value.refused) == {"nobody@example.com", "gone@example.com"}
    assert store.check("nobody@example.com") is not None


def test_the_outbox_honours_the_senders_suppression_list(
    store: Suppressions, tmp_path: Path
) -> None:
    from mailsdk import MemoryTransport, Outbox

    relay = MemoryTransport()
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    partly = outbox.enqueue(message())
    nobody = outbox.enqueue(message(to=["gone@example.com"], cc=[]))
    with Sender(relay, suppressions=store) as sender:
        outbox.run(sender, until_empty=True)

    assert [m.envelope.rcpt_to for m in relay.outbox] == [("ok@example.com",)]
    entry = outbox.get(partly)
    assert entry is not None
    assert entry.state == "sent"
    assert entry.recipients["gone@example.com"].status == "refused"
    assert entry.recipients["SPAM@example.com"].status == "refused"
    refused = outbox.get(nobody)
    assert refused is not None
    assert refused.state == "refused"
