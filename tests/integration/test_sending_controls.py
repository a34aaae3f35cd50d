"""Sending controls against an in-process SMTP relay: before_send hooks, allowed_recipients,
redirect_to and per-message routes, through send, send_many and the outbox."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from email import message_from_bytes
from pathlib import Path

import pytest

from mailsdk import (
    AsyncSender,
    CancelSend,
    ConfigurationError,
    MailError,
    MemoryTransport,
    Message,
    MessageError,
    Outbox,
    RecipientsRefused,
    RetryPolicy,
    Sender,
    SendResult,
)
from mailsdk.devserver import LocalRelay

NO_RETRY = RetryPolicy(attempts=1, backoff=0, jitter=0)


def url(relay: LocalRelay) -> str:
    return f"smtp://{relay.host}:{relay.port}?tls=none"


def message(**kwargs: object) -> Message:
    fields: dict[str, object] = {
        "from_": "app@example.com",
        "to": ["alice@example.com"],
        "subject": "Hi",
        "text": "Hello\n",
    }
    fields.update(kwargs)
    return Message(**fields)  # type: ignore[arg-type]


@pytest.fixture
async def counting_server() -> AsyncIterator[tuple[str, list[int]]]:
    """A TCP port that counts the connections made to it (and closes them)."""
    connections: list[int] = []

    async def count(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        writer.close()

    server = await asyncio.start_server(count, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"smtp://127.0.0.1:{port}?tls=none", connections
    finally:
        server.close()
        await server.wait_closed()


# -- before_send --------------------------------------------------------------------------


def test_a_hook_runs_once_per_send_not_per_relay(
    relay_factory: Callable[..., LocalRelay],
) -> None:
    broken = relay_factory(tls="none")
    broken.mail_reply = "421 4.3.2 try later"
    good = relay_factory(tls="none")
    calls: list[str] = []

    def tag(msg: Message) -> Message:
        calls.append(msg.subject)
        return msg.model_copy(update={"subject": f"[tagged] {msg.subject}"})

    with Sender([url(broken), url(good)], retry=NO_RETRY, before_send=tag) as sender:
        result = sender.send(message())
    assert calls == ["Hi"]
    assert len(result.attempts) == 2  # the failover happened, the hook did not run again
    (received,) = good.messages
    assert message_from_bytes(received.data)["Subject"] == "[tagged] Hi"
    # The Message-ID the result reports is the one the relay received.
    assert message_from_bytes(received.data)["Message-ID"] == result.message_id


async def test_async_hooks_run_in_order_and_none_keeps_the_message(
    relay_factory: Callable[..., LocalRelay],
) -> None:
    relay = relay_factory(tls="none")
    seen: list[str] = []

    async def first(msg: Message) -> Message:
        return msg.model_copy(update={"headers": {"X-Campaign": "spring"}})

    def second(msg: Message) -> None:
        seen.append(msg.headers["X-Campaign"])

    async with AsyncSender(url(relay), before_send=[first, second]) as sender:
        await sender.send(message())
    assert seen == ["spring"]
    assert message_from_bytes(relay.messages[0].data)["X-Campaign"] == "spring"


def test_a_sync_hook_runs_off_the_event_loop(relay_factory: Callable[..., LocalRelay]) -> None:
    # Django's ORM refuses to run in a thread with a running event loop: sync hooks must not.
    relay = relay_factory(tls="none")
    loops: list[bool] = []

    def hook(msg: Message) -> None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            loops.append(False)
        else:
            loops.append(True)
        assert threading.current_thread().name != "mailsdk-sender-loop"

    with Sender(url(relay), before_send=hook) as sender:
        sender.send(message())
    assert loops == [False]


async def test_cancel_send_raises_before_any_connection(
    counting_server: tuple[str, list[int]],
) -> None:
    address, connections = counting_server

    def veto(msg: Message) -> None:
        raise CancelSend("the user unsubscribed")

    async with AsyncSender(address, before_send=veto) as sender:
        with pytest.raises(CancelSend, match="the user unsubscribed"):
            await sender.send(message())
    assert connections == []


def test_send_many_reports_a_cancelled_message_and_sends_the_rest(
    relay_factory: Callable[..., LocalRelay],
) -> None:
    relay = relay_factory(tls="none")

    def veto_bob(msg: Message) -> None:
        if msg.to[0].email == "bob@example.com":
            raise CancelSend("bob opted out")

    batch = [message(to=[f"{n}@example.com"]) for n in ("alice", "bob", "carol")]
    with Sender(url(relay), before_send=veto_bob) as sender:
        outcomes = sender.send_many(batch)
    assert isinstance(outcomes[0], SendResult)
    assert isinstance(outcomes[1], CancelSend)
    assert str(outcomes[1]) == "bob opted out"
    assert isinstance(outcomes[2], SendResult)
    assert sorted(m.rcpt_tos[0] for m in relay.messages) == [
        "alice@example.com",
        "carol@example.com",
    ]


def test_a_hooks_own_error_propagates_as_is(relay_factory: Callable[..., LocalRelay]) -> None:
    relay = relay_factory(tls="none")

    def broken(msg: Message) -> None:
        raise LookupError("template missing")

    with Sender(url(relay), before_send=broken) as sender:
        with pytest.raises(LookupError, match="template missing"):
            sender.send(message())
        (outcome,) = sender.send_many([message()])
    # In a batch it is that message's entry: a MailError caused by the hook's exception.
    assert isinstance(outcome, MailError)
    assert isinstance(outcome.__cause__, LookupError)
    assert relay.messages == []


def test_a_hook_returning_something_else_is_a_message_error() -> None:
    def wrong(msg: Message) -> str:
        return "not a message"

    sender = Sender(MemoryTransport(), before_send=wrong)  # type: ignore[arg-type]
    with sender, pytest.raises(MessageError, match="returned str"):
        sender.send(message())


def test_before_send_must_be_callables() -> None:
    with pytest.raises(ConfigurationError, match="before_send"):
        Sender(MemoryTransport(), before_send=["nope"])  # type: ignore[list-item]


# -- allowed_recipients -------------------------------------------------------------------


def test_recipients_outside_the_allow_list_are_refused_with_the_reason(
    relay_factory: Callable[..., LocalRelay],
) -> None:
    relay = relay_factory(tls="none")
    allowed = ["*@Example.COM", "ops@partner.test"]
    with Sender(url(relay), allowed_recipients=allowed) as sender:
        result = sender.send(
            message(
                to=["Alice@EXAMPLE.com", "customer@gmail.test"],
                cc=["ops@partner.test"],
                bcc=["boss@partner.test"],
            )
        )
    assert result.accepted == ["Alice@example.com", "ops@partner.test"]  # domain normalised
    assert set(result.refused) == {"customer@gmail.test", "boss@partner.test"}
    status = result.refused["customer@gmail.test"]
    assert status.code == 550
    assert status.permanent
    assert status.text == (
        "not in allowed_recipients (*@example.com, ops@partner.test): dropped before sending"
    )
    assert [m.rcpt_tos for m in relay.messages] == [["Alice@example.com", "ops@partner.test"]]
    assert relay.rcpt_commands == 2  # the others were never offered to the relay


async def test_no_allowed_recipient_left_raises_without_a_connection(
    counting_server: tuple[str, list[int]],
) -> None:
    address, connections = counting_server
    async with AsyncSender(address, allowed_recipients=["*@example.com"]) as sender:
        with pytest.raises(RecipientsRefused) as caught:
            await sender.send(message(to=["a@customer.test"], cc=["b@customer.test"]))
    assert connections == []
    assert set(caught.value.refused) == {"a@customer.test", "b@customer.test"}
    assert "allowed_recipients" in caught.value.refused["a@customer.test"].text


def test_an_allowed_pattern_without_an_at_sign_is_refused() -> None:
    with pytest.raises(ConfigurationError, match=r"write '\*@example.com'"):
        Sender(MemoryTransport(), allowed_recipients=["example.com"])


def test_an_empty_allow_list_allows_no_one() -> None:
    sender = Sender(MemoryTransport(), allowed_recipients=[])
    with sender, pytest.raises(RecipientsRefused):
        sender.send(message())


# -- redirect_to --------------------------------------------------------------------------


def test_redirect_to_replaces_every_recipient_and_keeps_to_and_cc_in_headers(
    relay_factory: Callable[..., LocalRelay],
) -> None:
    relay = relay_factory(tls="none")
    with Sender(url(relay), redirect_to="QA <qa@example.com>") as sender:
        result = sender.send(
            message(
                to=["Alice <alice@customer.test>", "bob@customer.test"],
                cc=["carol@customer.test"],
                bcc=["secret@customer.test"],
            )
        )
    # The result speaks of the original recipients, so the application (and the outbox's
    # per-recipient bookkeeping) behaves as in production; only the relay saw the target.
    assert result.accepted == [
        "alice@customer.test",
        "bob@customer.test",
        "carol@customer.test",
        "secret@customer.test",
    ]
    (received,) = relay.messages
    assert received.rcpt_tos == ["qa@example.com"]
    headers = message_from_bytes(received.data)
    assert headers["To"] == "QA <qa@example.com>"  # the target's display name is kept
    assert headers["Cc"] is None
    assert headers["X-Mailsdk-Original-To"] == "alice@customer.test, bob@customer.test"
    assert headers["X-Mailsdk-Original-Cc"] == "carol@customer.test"
    assert b"secret@customer.test" not in received.data  # Bcc stays hidden


def test_a_redirect_target_outside_the_allow_list_is_refused() -> None:
    # Redirect first, then the allow list: a wrong redirect cannot leak mail either.
    relay = MemoryTransport()
    sender = Sender(relay, redirect_to="qa@elsewhere.test", allowed_recipients=["*@example.com"])
    with sender, pytest.raises(RecipientsRefused) as caught:
        sender.send(message())
    assert relay.outbox == []
    refused = caught.value.refused["alice@example.com"]
    assert refused.text.startswith("redirected to qa@elsewhere.test, which was refused: ")
    assert "redirected to qa@elsewhere.test" in str(caught.value)


def test_a_bad_redirect_address_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="redirect_to"):
        Sender(MemoryTransport(), redirect_to="not an address")


# -- routes -------------------------------------------------------------------------------


def test_a_route_sends_through_its_own_relays(relay_factory: Callable[..., LocalRelay]) -> None:
    main = relay_factory(tls="none")
    bulk_down = relay_factory(tls="none")
    bulk_down.mail_reply = "421 4.3.2 try later"
    bulk = relay_factory(tls="none")
    routes = {"bulk": [url(bulk_down), url(bulk)], "transactional": url(main)}
    with Sender(url(main), retry=NO_RETRY, routes=routes) as sender:
        assert sender.async_sender.routes == ["bulk", "transactional"]
        first = sender.send(message(subject="receipt"))
        second = sender.send(message(subject="newsletter"), route="bulk")
        outcomes = sender.send_many([message(), message()], route="bulk")
    assert first.relay == f"smtp://{main.host}:{main.port}"
    assert second.relay == f"smtp://{bulk.host}:{bulk.port}"
    assert all(isinstance(o, SendResult) for o in outcomes)
    assert len(main.messages) == 1
    assert len(bulk.messages) == 3


async def test_an_unknown_route_is_refused_before_any_io(
    counting_server: tuple[str, list[int]],
) -> None:
    address, connections = counting_server
    async with AsyncSender(address, routes={"bulk": address}) as sender:
        with pytest.raises(ConfigurationError, match=r"unknown route 'bulky' \(routes: bulk\)"):
            await sender.send(message(), route="bulky")
        with pytest.raises(ConfigurationError, match="unknown route"):
            await sender.send_many([message()], route="bulky")
    assert connections == []
    sync_sender = Sender(MemoryTransport())
    with sync_sender, pytest.raises(ConfigurationError, match="routes: none configured"):
        sync_sender.send(message(), route="bulk")


def test_routes_share_the_controls() -> None:
    main, bulk = MemoryTransport("memory://main"), MemoryTransport("memory://bulk")
    with Sender(main, routes={"bulk": bulk}, redirect_to="qa@example.com") as sender:
        sender.send(message(), route="bulk")
    assert main.outbox == []
    assert [m.envelope.rcpt_to for m in bulk.outbox] == [("qa@example.com",)]


# -- the outbox ---------------------------------------------------------------------------


def test_the_outbox_worker_honours_hooks_redirect_and_cancel(tmp_path: Path) -> None:
    relay = MemoryTransport()
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    kept = outbox.enqueue(message(subject="keep"))
    dropped = outbox.enqueue(message(subject="drop"))

    def hook(msg: Message) -> Message:
        if msg.subject == "drop":
            raise CancelSend("not wanted any more")
        return msg.model_copy(update={"subject": "checked"})

    with Sender(relay, before_send=hook, redirect_to="qa@example.com") as sender:
        outbox.run(sender, until_empty=True)
    (sent,) = relay.outbox
    assert sent.message.subject == "checked"
    assert sent.envelope.rcpt_to == ("qa@example.com",)
    entry = outbox.get(kept)
    assert entry is not None
    assert entry.state == "sent"
    assert entry.message_id == sent.message_id  # the outbox's Message-ID survives the hook
    cancelled = outbox.get(dropped)
    assert cancelled is not None
    assert cancelled.state == "failed"
    assert "not wanted any more" in (cancelled.error or "")
