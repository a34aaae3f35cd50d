"""Sender (the sync facade) and AsyncSender against a real local relay."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable

import pytest

from mailsdk import AsyncSender, MailError, MemoryTransport, Message, Sender
from mailsdk.devserver import LocalRelay
from tests.conftest import PASSWORD, USER


def make_message(n: int = 0) -> Message:
    return Message(
        from_="app@example.com", to=[f"user{n}@example.com"], subject=f"n={n}", text="hi"
    )


def test_sync_send_in_a_plain_script(relay: LocalRelay) -> None:
    with Sender(relay.url(USER, PASSWORD)) as sender:
        result = sender.send(make_message())
        assert sender.send(make_message(1)).accepted == ["user1@example.com"]
    assert result.accepted == ["user0@example.com"]
    assert relay.sessions == 1  # the pool survives between sync calls


def test_sync_send_accepts_a_dict(relay: LocalRelay) -> None:
    with Sender(relay.url(USER, PASSWORD)) as sender:
        sender.send({"from": "app@example.com", "to": "x@example.com", "subject": "dict"})
    assert relay.messages[0].rcpt_tos == ["x@example.com"]


async def test_sync_send_from_inside_a_running_loop(relay: LocalRelay) -> None:
    # A sync caller in an async app's thread: Sender must not try to reuse this loop.
    with Sender(relay.url(USER, PASSWORD)) as sender:
        result = sender.send(make_message())
    assert asyncio.get_running_loop().is_running()
    assert result.accepted == ["user0@example.com"]


def test_sync_send_from_many_threads(relay: LocalRelay) -> None:
    errors: list[BaseException] = []
    with Sender(relay.url(USER, PASSWORD) + "&max_connections=4") as sender:

        def work(n: int) -> None:
            try:
                for i in range(5):
                    sender.send(make_message(n * 10 + i))
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
    assert errors == []
    assert len(relay.messages) == 40
    assert relay.sessions <= 4


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_sync_send_after_fork(relay: LocalRelay) -> None:
    with Sender(relay.url(USER, PASSWORD)) as sender:
        sender.send(make_message(1))  # the parent has a loop thread and a pooled connection
        pid = os.fork()
        if pid == 0:  # the child
            code = 1
            try:
                sender.send(make_message(2))
                code = 0
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        sender.send(make_message(3))  # the parent's pool still works
    subjects = sorted(m.data.split(b"Subject: ")[1].split(b"\r\n")[0] for m in relay.messages)
    assert subjects == [b"n=1", b"n=2", b"n=3"]
    assert relay.sessions == 2  # the child opened its own connection


def test_sender_can_be_used_again_after_close(relay: LocalRelay) -> None:
    sender = Sender(relay.url(USER, PASSWORD))
    sender.send(make_message(1))
    sender.close()
    sender.send(make_message(2))
    sender.close()
    assert len(relay.messages) == 2


def test_sender_repr_has_no_secret(relay: LocalRelay) -> None:
    sender = Sender(relay.url(USER, PASSWORD))
    assert PASSWORD not in repr(sender)
    assert PASSWORD not in repr(sender.async_sender)
    assert PASSWORD not in repr(sender.async_sender.transport)


async def test_send_many_reports_each_message() -> None:
    transport = MemoryTransport()
    bad = {"from": "app@example.com", "to": "not an address"}
    async with AsyncSender(transport) as sender:
        results = await sender.send_many([make_message(1), bad, make_message(2)])
    assert [type(r).__name__ for r in results] == ["SendResult", "MessageError", "SendResult"]
    assert isinstance(results[1], MailError)
    assert [o.message.subject for o in transport.outbox] == ["n=1", "n=2"]


def test_mail_outbox_fixture_captures_every_sender(
    mail_outbox: list, relay_factory: Callable[..., LocalRelay]
) -> None:
    relay = relay_factory()
    with Sender(relay.url(USER, PASSWORD)) as sender:
        sender.send(make_message(7))
    assert relay.messages == []  # nothing reached the relay
    assert [o.message.subject for o in mail_outbox] == ["n=7"]
    assert mail_outbox[0].envelope.rcpt_to == ("user7@example.com",)
