"""The hand-over hook: the one seam durable queues (outbox, Celery, Django tasks) rely on.

``send(message, on_handover=hook)`` runs *hook* at each transport's point of no return: after
the SMTP relay has the whole message but before the final dot, before the HTTP request. A
queue records "may have been delivered" there; if the hook raises, nothing is handed over.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
import respx

from mailsdk import AsyncSender, MemoryTransport, Message, Sender
from mailsdk.devserver import LocalRelay
from mailsdk.mime import OutgoingMessage
from mailsdk.transports.http.postmark import PostmarkTransport


def make_message() -> Message:
    return Message(
        from_="app@example.com",
        to=["user@example.com"],
        subject="hand-over",
        text="body\r\n.leading dot\r\n" + "x" * 100,
        headers={"Message-ID": "<handover.1@example.com>"},
    )


class Boom(Exception):
    pass


@pytest.fixture
def plain_relay(relay_factory: Callable[..., LocalRelay]) -> LocalRelay:
    return relay_factory(tls="none", users=None)


def test_smtp_hook_runs_once_after_the_body_and_before_the_final_dot(
    plain_relay: LocalRelay,
) -> None:
    seen: list[tuple[str, int]] = []

    def hook(outgoing: OutgoingMessage) -> None:
        # The relay has not accepted anything yet: the final dot is still ours to withhold.
        seen.append((outgoing.message_id, plain_relay.received))

    with Sender(plain_relay.url()) as sender:
        result = sender.send(make_message(), on_handover=hook)
    assert seen == [("<handover.1@example.com>", 0)]
    assert result.message_id == "<handover.1@example.com>"
    assert plain_relay.received == 1


def test_smtp_hook_may_be_a_coroutine(plain_relay: LocalRelay) -> None:
    calls: list[str] = []

    async def hook(outgoing: OutgoingMessage) -> None:
        calls.append(outgoing.message_id)

    with Sender(plain_relay.url()) as sender:
        sender.send(make_message(), on_handover=hook)
    assert calls == ["<handover.1@example.com>"]
    assert plain_relay.received == 1


def test_smtp_hook_that_raises_keeps_the_message_from_the_relay(
    plain_relay: LocalRelay,
) -> None:
    def hook(outgoing: OutgoingMessage) -> None:
        raise Boom("the queue could not record the hand-over")

    with Sender(plain_relay.url()) as sender:
        with pytest.raises(Boom):
            sender.send(make_message(), on_handover=hook)
        # The connection that carried the unfinished DATA is gone; the next send works.
        sender.send(make_message())
    assert plain_relay.received == 1


def test_large_streamed_message_runs_the_hook_before_the_dot(plain_relay: LocalRelay) -> None:
    from mailsdk import Attachment

    big = Message(
        from_="app@example.com",
        to=["user@example.com"],
        attachments=[Attachment(filename="big.bin", content=bytes(range(256)) * 8192)],
    )
    seen: list[int] = []
    with Sender(plain_relay.url()) as sender:
        sender.send(big, on_handover=lambda _o: seen.append(plain_relay.received))
    assert seen == [0]
    assert plain_relay.received == 1


async def test_http_hook_runs_before_the_request_and_can_stop_it() -> None:
    transport = PostmarkTransport("server-token")
    with respx.mock(assert_all_called=False) as mock:
        route = mock.post("https://api.postmarkapp.com/email").mock(
            return_value=httpx.Response(
                200,
                json={"To": "user@example.com", "MessageID": "pm-1", "ErrorCode": 0},
            )
        )
        calls: list[int] = []
        async with AsyncSender(transport) as sender:
            await sender.send(make_message(), on_handover=lambda _o: calls.append(route.call_count))
            assert calls == [0]
            assert route.call_count == 1

            def refuse(_o: OutgoingMessage) -> None:
                raise Boom("no record, no request")

            with pytest.raises(Boom):
                await sender.send(make_message(), on_handover=refuse)
            assert route.call_count == 1


async def test_memory_transport_runs_the_hook_before_recording() -> None:
    memory = MemoryTransport()

    def refuse(_o: OutgoingMessage) -> None:
        raise Boom("not recorded")

    async with AsyncSender(memory) as sender:
        with pytest.raises(Boom):
            await sender.send(make_message(), on_handover=refuse)
        assert memory.outbox == []
        seen: list[int] = []
        await sender.send(make_message(), on_handover=lambda _o: seen.append(len(memory.outbox)))
    assert seen == [0]
    assert len(memory.outbox) == 1
