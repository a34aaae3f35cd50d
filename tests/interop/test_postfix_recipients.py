"""5,000 recipients through a real Postfix with its default smtpd_recipient_limit (1,000)."""

from __future__ import annotations

import re

from mailsdk import AsyncSender, Message, RetryPolicy
from tests.peers.postfix import PostfixPeer

_ORIGINAL_TO = re.compile(rb"^X-Original-To: (\S+)", re.MULTILINE)


async def test_five_thousand_recipients_are_all_delivered(postfix_peer: PostfixPeer) -> None:
    postfix_peer.clear()
    members = [f"member{n}@example.test" for n in range(5_000)]
    message = Message(
        from_="lists@example.test", to=members[:1], bcc=members[1:], subject="s", text="t"
    )
    # max_recipients above Postfix's limit: the first transaction meets its 452s (which
    # Postfix counts as errors, dropping the session after 20); the limit is learned from
    # the first 452 and the retry sends chunks of 1,000.
    url = f"smtp://{postfix_peer.host}:{postfix_peer.plain_port}?tls=none&max_recipients=5000"
    policy = RetryPolicy(attempts=2, backoff=0, jitter=0)
    async with AsyncSender(url, retry=policy) as sender:
        result = await sender.send(message)
        assert sender.transports[0]._rcpt_limit == 1_000  # type: ignore[attr-defined]
    # Postfix dropped the first session, as described above; nothing was delivered by it.
    assert [a.outcome for a in result.attempts] == ["transient", "delivered"]
    assert len(result.accepted) == 5_000
    assert result.refused == {}
    delivered = postfix_peer.wait_for_messages(5_000, timeout=120)
    addresses = {m.decode() for d in delivered for m in _ORIGINAL_TO.findall(d)}
    assert addresses == set(members)
