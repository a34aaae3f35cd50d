"""A batch reports every message, whatever one of them does; bad items are MessageErrors;
a Sender nobody closed cleans up after itself."""

from __future__ import annotations

import asyncio
import gc
import os
import threading
import warnings
from collections import Counter
from collections.abc import Callable, Iterator

import pytest

from mailsdk import (
    AsyncSender,
    BatchInterrupted,
    DeliveryFailed,
    DeliveryUnknown,
    MailError,
    Message,
    MessageError,
    OutgoingMessage,
    RetryPolicy,
    Sender,
    SendResult,
    SMTPTransport,
)
from mailsdk.config import transport_from_url
from mailsdk.devserver import LocalRelay
from mailsdk.transports.memory import MemoryTransport
from tests.integration.faulty_relays import scripted_relay
from tests.integration.test_smtp_faults import close_at_ehlo


def make_message(n: int = 0, subject: str | None = None) -> Message:
    return Message(
        from_="app@example.com",
        to=[f"user{n}@example.com"],
        subject=subject or f"n={n}",
        text="hi",
    )


NOT_MESSAGES: list[object] = [None, 42, "a text", b"bytes", ["a", "list"], object()]


def test_items_that_are_not_messages_are_message_errors_and_the_rest_is_sent(
    relay_factory: Callable[..., LocalRelay],
) -> None:
    relay = relay_factory(tls="none")
    batch: list[object] = [make_message(0), *NOT_MESSAGES, make_message(1)]
    with Sender(relay.url()) as sender:
        results = sender.send_many(batch)  # type: ignore[arg-type]
        for item in NOT_MESSAGES:
            with pytest.raises(MessageError, match="expected a Message"):
                sender.send(item)  # type: ignore[arg-type]
    assert len(results) == len(batch)
    assert isinstance(results[0], SendResult)
    assert isinstance(results[-1], SendResult)
    for item, result in zip(NOT_MESSAGES, results[1:-1], strict=True):
        assert isinstance(result, MessageError), item
        assert type(item).__name__ in str(result)
    assert [m.rcpt_tos for m in relay.messages] == [["user0@example.com"], ["user1@example.com"]]


class _Exploding(SMTPTransport):
    """A real SMTP transport that fails in an unforeseen way for one subject."""

    async def send(self, outgoing: OutgoingMessage) -> SendResult:
        if outgoing.message.subject == "boom":
            raise RuntimeError("a bug below the sender")
        return await super().send(outgoing)


async def test_an_unexpected_exception_is_reported_with_its_message_and_the_batch_goes_on(
    relay_factory: Callable[..., LocalRelay],
) -> None:
    relay = relay_factory(tls="none")
    transport = _Exploding(relay.host, relay.port, tls="none")
    batch = [make_message(n, "boom" if n == 3 else None) for n in range(12)]
    async with AsyncSender(transport, retry=RetryPolicy(attempts=1)) as sender:
        results = await sender.send_many(batch, concurrency=4)
        with pytest.raises(RuntimeError):  # alone, a bug is raised as it is
            await sender.send(batch[3])
    assert len(results) == 12
    assert isinstance(results[3], MailError)
    assert "RuntimeError" in str(results[3])
    assert all(isinstance(r, SendResult) for i, r in enumerate(results) if i != 3)
    assert relay.received == 11  # every other message was delivered, and is in the results


async def test_a_relay_breaking_every_handshake_fails_each_message_not_the_batch(
    relay_factory: Callable[..., LocalRelay],
) -> None:
    good = relay_factory(tls="none")
    async with scripted_relay(close_at_ehlo) as port:
        broken = f"smtp://127.0.0.1:{port}?tls=none&timeout=1"
        policy = RetryPolicy(attempts=1)
        async with AsyncSender(broken, retry=policy, cooldown=0) as sender:
            alone = await sender.send_many([make_message(n) for n in range(5)])
        async with AsyncSender([broken, good.url()], retry=policy, cooldown=0) as sender:
            failed_over = await sender.send_many([make_message(n) for n in range(5)])
    assert [type(r) for r in alone] == [DeliveryFailed] * 5
    assert [type(r) for r in failed_over] == [SendResult] * 5
    assert good.received == 5
    assert transport_from_url(good.url()).name in {r.relay for r in failed_over}  # type: ignore[union-attr]


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts fds through /proc")
def test_senders_dropped_without_close_give_back_threads_and_fds(
    relay_factory: Callable[..., LocalRelay],
) -> None:
    relay = relay_factory(tls="none")
    message = make_message()
    Sender(relay.url()).close()  # warm up imports and lazily created objects
    gc.collect()
    threads, fds = threading.active_count(), _open_fds()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(50):
            sender = Sender(relay.url())
            sender.send(message)
            del sender
        gc.collect()
    unclosed = [w for w in caught if issubclass(w.category, ResourceWarning)]
    assert len(unclosed) == 50
    assert "unclosed Sender" in str(unclosed[0].message)
    # The cleanup runs on each sender's own thread; wait (bounded) for the threads to end.
    for thread in threading.enumerate():
        if thread.name == "mailsdk-sender-loop":
            thread.join(timeout=10)
    assert relay.received == 50
    assert threading.active_count() <= threads
    assert _open_fds() <= fds + 2


def test_the_send_command_reports_a_broken_relay_as_a_delivery_failure(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from click.testing import CliRunner

    from mailsdk.cli import cli
    from tests.integration.faulty_relays import ClosingAtEhloRelay

    body = tmp_path / "body.txt"
    body.write_text("hi\n")
    with ClosingAtEhloRelay() as relay:
        url = f"smtp://127.0.0.1:{relay.port}?tls=none&timeout=2"
        argv = ["send", "--url", url, "--from", "a@example.com", "--to", "b@example.com"]
        no_waits = {"MAILSDK_RETRY_BACKOFF": "0", "MAILSDK_RETRY_JITTER": "0"}
        runner = CliRunner(env=no_waits)
        result = runner.invoke(cli, [*argv, "--subject", "x", "--text", str(body)])
    assert result.exit_code == 3, result.output  # a delivery failure, not "bad input" (1)
    assert "connection lost during EHLO" in result.output
    assert relay.connections == 3  # retried as the default policy says


@pytest.mark.parametrize("seed", [1, 2])
async def test_a_batch_through_a_chaotic_relay_loses_and_duplicates_nothing(
    relay_factory: Callable[..., LocalRelay], seed: int
) -> None:
    from tests.integration.faulty_relays import ChaosRelay

    good = relay_factory(tls="none")
    chaos = ChaosRelay(seed)
    batch = [make_message(n) for n in range(120)]
    async with scripted_relay(chaos) as port:
        chaotic = f"smtp://127.0.0.1:{port}?tls=none&timeout=0.3&max_messages=1"
        policy = RetryPolicy(attempts=2, backoff=0, jitter=0)
        async with AsyncSender([chaotic, good.url()], retry=policy, cooldown=0) as sender:
            results = await sender.send_many(batch, concurrency=8)
    assert len(chaos.faults) > 20  # the relay really misbehaved, in many ways
    assert len({point for point, _ in chaos.faults}) >= 5
    assert len(results) == len(batch)  # one entry per message, whatever happened
    at_good = Counter(
        m.data.split(b"Message-ID: ")[1].split(b"\r\n")[0].decode() for m in good.messages
    )
    for result in results:
        if isinstance(result, SendResult):
            copies = chaos.stored.get(result.message_id, 0) + at_good[result.message_id]
            assert copies == 1, result  # delivered, exactly once
        else:
            # At most once by default: only a lost reply after the dot may have left a copy.
            assert isinstance(result, DeliveryUnknown), result
    unknown = [r for r in results if isinstance(r, DeliveryUnknown)]
    assert sum(isinstance(r, SendResult) for r in results) + len(unknown) == len(batch)


class _Yielding(MemoryTransport):
    """A memory relay whose sends take turns of the event loop, as network sends do: a
    different number for each, so sends end in another order than they started in."""

    def __init__(self) -> None:
        super().__init__()
        self.started = 0
        self.in_flight = 0
        self.most_in_flight = 0

    async def send(self, outgoing: OutgoingMessage, *, deadline: float | None = None) -> SendResult:
        turns = 1 + self.started * 7 % 5
        self.started += 1
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            for _ in range(turns):
                await asyncio.sleep(0)
            return await super().send(outgoing, deadline=deadline)
        finally:
            self.in_flight -= 1


def _reading(
    count: int, sent: Callable[[], int], ahead: list[int], fail_at: int = -1
) -> Iterator[Message]:
    """Messages 0..count-1; records how many taken messages were not yet sent at each read,
    and raises KeyError when message *fail_at* is read."""
    for n in range(count):
        if n == fail_at:
            raise KeyError("row 'email' missing")
        ahead.append(n - sent())
        yield make_message(n)


async def test_send_many_reads_its_messages_lazily_and_keeps_their_order() -> None:
    relay = _Yielding()
    ahead: list[int] = []
    async with AsyncSender(relay) as sender:
        results = await sender.send_many(
            _reading(200, lambda: len(relay.outbox), ahead), concurrency=8
        )
    # Eight sends at once, and a message is read only when one of them ends: never more
    # than the other seven are taken and unsent (an eager reader would be 199 ahead).
    assert relay.most_in_flight == 8
    assert max(ahead) == 7
    subjects = {o.message_id: o.message.subject for o in relay.outbox}
    assert [o.message.subject for o in relay.outbox] != [f"n={n}" for n in range(200)]
    assert [subjects[r.message_id] for r in results if isinstance(r, SendResult)] == [
        f"n={n}" for n in range(200)
    ]


@pytest.mark.parametrize("fail_at", [0, 20])
async def test_an_iterable_that_raises_stops_the_batch_and_reports_every_sent_message(
    fail_at: int,
) -> None:
    relay = _Yielding()
    async with AsyncSender(relay) as sender:
        with pytest.raises(BatchInterrupted) as raised:
            await sender.send_many(
                _reading(50, lambda: len(relay.outbox), [], fail_at=fail_at), concurrency=4
            )
    error = raised.value
    assert error.index == fail_at
    assert f"message {fail_at} of the batch could not be read" in str(error)
    assert isinstance(error.__cause__, KeyError)
    assert len(error.results) == fail_at
    assert all(isinstance(r, SendResult) for r in error.results)
    # Those read were sent (every send under way finished); nothing after the failure.
    assert sorted(r.message_id for r in error.results) == sorted(o.message_id for o in relay.outbox)


async def test_a_list_changed_during_the_batch_changes_nothing() -> None:
    relay = _Yielding()
    batch = [make_message(n) for n in range(30)]

    async def hook(message: Message) -> None:
        batch.append(make_message(99))  # a hook (or another task) changing the caller's list
        batch.pop(0)

    async with AsyncSender(relay, before_send=[hook]) as sender:
        results = await sender.send_many(batch, concurrency=4)
    assert len(results) == 30
    assert sorted(o.message.subject for o in relay.outbox) == sorted(f"n={n}" for n in range(30))


@pytest.mark.parametrize(("concurrency", "chunk"), [(4, 512), (20, 640)])
def test_the_sync_send_many_reads_in_chunks_in_the_calling_thread(
    concurrency: int, chunk: int
) -> None:
    relay = _Yielding()
    ahead: list[int] = []
    threads: set[int] = set()

    def rows() -> Iterator[Message]:
        for message in _reading(1300, lambda: len(relay.outbox), ahead, fail_at=1200):
            threads.add(threading.get_ident())
            yield message

    with Sender(relay) as sender, pytest.raises(BatchInterrupted) as raised:
        sender.send_many(rows(), concurrency=concurrency)
    assert threads == {threading.get_ident()}
    # A chunk is read whole before it is sent, and sent whole before the next is read.
    assert max(ahead) == chunk - 1
    assert raised.value.index == 1200
    assert isinstance(raised.value.__cause__, KeyError)
    assert len(raised.value.results) == 1200
    assert all(isinstance(r, SendResult) for r in raised.value.results)
    assert len(relay.outbox) == 1200
