"""The default sender: scopes, providers, the process default and MAILSDK_FROM, in order."""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path

import pytest

from mailsdk import (
    Address,
    Message,
    MessageError,
    Sender,
    add_default_sender_provider,
    default_sender,
    set_default_sender,
)


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MAILSDK_FROM", raising=False)


def sender_of(**fields: object) -> str:
    return str(Message(to="alice@example.com", subject="s", text="t", **fields).sender)


def test_without_any_default_a_message_needs_from() -> None:
    with pytest.raises(MessageError, match="no sender"):
        sender_of()


def test_each_source_and_its_place_in_the_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILSDK_FROM", "env@example.com")
    assert sender_of() == "env@example.com"
    set_default_sender("Process <process@example.com>")
    assert sender_of() == "Process <process@example.com>"
    answer: list[str | None] = [None]
    remove = add_default_sender_provider(lambda: answer[0])
    try:
        assert sender_of() == "Process <process@example.com>"  # the provider has no opinion
        answer[0] = "provider@example.com"
        assert sender_of() == "provider@example.com"
        with default_sender(("Scoped", "scoped@example.com")):
            assert sender_of() == "Scoped <scoped@example.com>"
            assert sender_of(from_="given@example.com") == "given@example.com"  # from_ wins
            with default_sender(None), pytest.raises(MessageError, match="no sender"):
                sender_of()  # None in a scope turns every default off
        assert sender_of() == "provider@example.com"
    finally:
        remove()
    assert sender_of() == "Process <process@example.com>"
    set_default_sender(None)
    assert sender_of() == "env@example.com"


def test_values_may_be_callables_and_addresses() -> None:
    set_default_sender(lambda: Address("Live", "live@example.com"))
    assert sender_of() == "Live <live@example.com>"


def test_an_invalid_default_is_a_message_error() -> None:
    set_default_sender("not an address")
    with pytest.raises(MessageError, match="default sender is not valid"):
        sender_of()


def test_a_scope_belongs_to_its_thread() -> None:
    seen: list[str] = []

    def other_thread() -> None:
        try:
            seen.append(sender_of())
        except MessageError:
            seen.append("none")

    with default_sender("scoped@example.com"):
        thread = threading.Thread(target=other_thread)
        thread.start()
        thread.join()
        assert sender_of() == "scoped@example.com"
    assert seen == ["none"]


async def test_a_scope_belongs_to_its_task() -> None:
    ready = asyncio.Event()
    release = asyncio.Event()

    async def request(address: str) -> str:
        with default_sender(address):
            ready.set()
            await release.wait()  # both requests are inside their scopes at once
            return sender_of()

    first = asyncio.create_task(request("one@example.com"))
    await ready.wait()
    second = asyncio.create_task(request("two@example.com"))
    await asyncio.sleep(0)
    release.set()
    assert await asyncio.gather(first, second) == ["one@example.com", "two@example.com"]


def test_adding_a_provider_twice_keeps_one() -> None:
    calls: list[int] = []

    def provider() -> None:
        calls.append(1)

    remove = add_default_sender_provider(provider)
    add_default_sender_provider(provider)
    try:
        with pytest.raises(MessageError):
            sender_of()
        assert calls == [1]
    finally:
        remove()


def test_from_env_sets_the_default_without_writing_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text(
        "MAILSDK_URL=memory://\nMAILSDK_FROM=Dotenv <dotenv@example.com>\n", encoding="utf-8"
    )
    with Sender.from_env() as sender:
        result = sender.send(Message(to="alice@example.com", subject="s", text="t"))
    assert result.accepted == ["alice@example.com"]
    assert "MAILSDK_FROM" not in os.environ
    assert sender_of() == "Dotenv <dotenv@example.com>"
