"""Recipient lists over a relay's limit: the limit is learned from the first 452 and the rest
go in chunks of that size; nobody gets the message twice."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from mailsdk import AsyncSender, Message, OutgoingMessage, RetryPolicy, SMTPTransport
from mailsdk.devserver import LocalRelay
from tests.integration.faulty_relays import MiniRelay, scripted_relay


def many(count: int) -> Message:
    return Message(
        from_="lists@example.com",
        to=["list@example.com"],
        bcc=[f"member{n}@example.com" for n in range(count)],
        subject="Newsletter",
        text="Hello\n",
    )


async def test_ten_thousand_recipients_cost_at_most_eleven_thousand_rcpts() -> None:
    mini = MiniRelay(limit=300, error_limit=100_000)  # 452 past 300, never drops
    async with (
        scripted_relay(mini) as port,
        SMTPTransport("127.0.0.1", port, tls="none") as transport,
    ):
        result = await transport.send(OutgoingMessage(many(9_999)))  # 10,000 with To:
    assert len(result.accepted) == 10_000
    assert result.refused == {}
    assert mini.rcpt_commands <= 11_000
    delivered = Counter(r for d in mini.delivered for r in d)
    assert len(delivered) == 10_000
    assert set(delivered.values()) == {1}
    assert max(len(d) for d in mini.delivered) == 300


async def test_without_pipelining_the_first_452_ends_the_transaction(
    relay_factory: Callable[..., LocalRelay],
) -> None:
    relay = relay_factory(tls="none")  # aiosmtpd offers no PIPELINING
    relay.max_recipients = 150
    async with SMTPTransport(relay.host, relay.port, tls="none") as transport:
        result = await transport.send(OutgoingMessage(many(999)))
    assert len(result.accepted) == 1_000
    assert relay.rcpt_commands == 1_001  # one 452, then chunks that fit
    assert [len(m.rcpt_tos) for m in relay.messages] == [150] * 6 + [100]


async def test_a_relay_that_drops_the_session_over_excess_recipients_is_retried_in_chunks() -> None:
    mini = MiniRelay(limit=10, error_limit=3)  # Postfix-like: excess RCPTs are errors
    async with scripted_relay(mini) as port:
        url = f"smtp://127.0.0.1:{port}?tls=none&timeout=5"
        policy = RetryPolicy(attempts=2, backoff=0, jitter=0)
        async with AsyncSender(url, retry=policy) as sender:
            result = await sender.send(many(34))
            again = await sender.send(many(34))  # the limit is remembered: no error at all
    assert len(result.accepted) == 35
    assert result.refused == {}
    assert [a.outcome for a in result.attempts] == ["transient", "delivered"]
    assert [a.outcome for a in again.attempts] == ["delivered"]
    assert [len(d) for d in mini.delivered] == [10, 10, 10, 5] * 2
    assert mini.rcpt_commands <= 35 * 2 + 14  # the first try: 10 accepted, 4 errors


async def test_a_later_transaction_failing_resends_only_its_own_recipients() -> None:
    mini = MiniRelay(limit=1000, defer_at_data=(2,))  # the 2nd message gets 451
    async with scripted_relay(mini) as port:
        url = f"smtp://127.0.0.1:{port}?tls=none&timeout=5&max_recipients=4"
        policy = RetryPolicy(attempts=2, backoff=0, jitter=0)
        async with AsyncSender(url, retry=policy) as sender:
            result = await sender.send(many(9))
    delivered = Counter(r for d in mini.delivered for r in d)
    assert len(delivered) == 10
    assert set(delivered.values()) == {1}
    assert sorted(result.accepted) == sorted(delivered)
    # The first try delivered 8 of 10; the 2 it had to defer went alone in the second.
    assert [a.outcome for a in result.attempts] == ["delivered", "delivered"]
    assert [len(d) for d in mini.delivered] == [4, 4, 2]
