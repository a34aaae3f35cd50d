"""mailsdk.testing: capture with zero configuration, assertion helpers, a real TLS relay."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import keyring
import pytest

from mailsdk import (
    AsyncSender,
    Attachment,
    ConfigurationError,
    Message,
    Sender,
)
from mailsdk.devserver import LocalRelay
from mailsdk.testing import Outbox, capture_mail
from tests.conftest import ForbiddenKeyring

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def no_secrets_no_network(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    """Nothing configured, keyring forbidden, and any outbound connection fails the test."""
    for name in list(os.environ):
        if name.startswith("MAILSDK_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no .env, no mailsdk.toml
    previous = keyring.get_keyring()
    keyring.set_keyring(ForbiddenKeyring())

    def refuse(self: socket.socket, address: Any) -> None:
        raise AssertionError(f"network use: connect to {address!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    yield
    keyring.set_keyring(previous)


def hello(to: str = "alice@example.com", subject: str = "Welcome") -> Message:
    return Message(from_="app@example.com", to=[to], subject=subject, text="Hello")


@pytest.mark.usefixtures("no_secrets_no_network")
def test_every_sender_delivers_to_the_outbox_with_nothing_configured(
    mail_outbox: Outbox,
) -> None:
    with Sender("smtp://app@mail.example.com:587") as sender:  # its secret would be in keyring
        sender.send(hello(subject="url"))
    with Sender.from_env() as from_env:  # no MAILSDK_URL, no .env, no TOML
        from_env.send(hello(subject="from_env"))

    async def send_async() -> None:
        async with AsyncSender("sendgrid://default") as sender:
            await sender.send(hello(subject="async"))
        async with AsyncSender.from_env() as sender:
            await sender.send(hello(subject="async from_env"))

    asyncio.run(send_async())
    assert [m.subject for m in mail_outbox.messages] == [
        "url",
        "from_env",
        "async",
        "async from_env",
    ]


@pytest.mark.usefixtures("no_secrets_no_network")
def test_a_typo_in_a_url_is_still_an_error_while_capturing(mail_outbox: Outbox) -> None:
    with pytest.raises(ConfigurationError, match="did you mean smtp://"):
        Sender("smpt://app@mail.example.com:587")
    with pytest.raises(ConfigurationError, match="tmeout"):
        Sender("smtp://app@mail.example.com:587?tmeout=3")
    mail_outbox.assert_nothing_sent()


def test_a_sender_built_before_capturing_is_captured_too() -> None:
    sender = Sender("memory://before")
    try:
        with capture_mail() as outbox:
            sender.send(hello())
        outbox.assert_count(1)
        sender.send(hello(subject="after"))  # back to its own transport
        outbox.assert_count(1)
    finally:
        sender.close()


def test_capture_mail_works_where_pytest_is_not_installed(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "sys.modules['pytest'] = None  # as if pytest were not installed\n"
        "from mailsdk import Message, Sender\n"
        "from mailsdk.testing import capture_mail\n"
        "with capture_mail() as outbox:\n"
        "    with Sender('smtp://app@mail.example.com:587') as sender:\n"
        "        sender.send(Message(from_='a@example.com', to=['b@example.com'],\n"
        "                            subject='no pytest', text='x'))\n"
        "outbox.assert_sent(to='b@example.com', subject='no pytest')\n"
        "assert 'pytest' not in sys.modules or sys.modules['pytest'] is None\n"
        "print('captured', len(outbox))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILSDK_")}
    env["PYTHONPATH"] = str(REPO)
    # An empty keyring configuration: the capture must not need keyring at all.
    env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "captured 1"


# -- assertion helpers -------------------------------------------------------------------------


def _fill(outbox: Outbox) -> None:
    with Sender("memory://") as sender:
        sender.send(
            Message(
                from_="Shop <shop@example.com>",
                to=["Alice <Alice@Example.com>"],
                cc=["carol@example.com"],
                bcc=["audit@example.com"],
                subject="Your order #1001",
                text="Thanks for order 1001.",
                html="<p>Thanks</p>",
                attachments=[Attachment(filename="invoice.pdf", content=b"%PDF")],
                headers={"X-Order": "1001"},
            )
        )
        sender.send(hello(to="bob@example.com", subject="Welcome"))


def test_assertions_find_what_was_sent() -> None:
    with capture_mail() as outbox:
        _fill(outbox)
    outbox.assert_count(2)
    order = outbox.assert_sent(to="alice@example.com", subject=re.compile(r"order #\d+"))
    assert order.message.subject == "Your order #1001"
    outbox.assert_sent(to="audit@example.com")  # Bcc recipients are recipients
    outbox.assert_sent(bcc="audit@example.com", cc="carol@example.com", from_="shop@example.com")
    outbox.assert_sent(text=re.compile("order 1001"), html="<p>Thanks</p>")
    outbox.assert_sent(attachment="invoice.pdf", header=("x-order", "1001"))
    outbox.assert_sent(subject="Welcome", count=1)
    outbox.assert_sent(where=lambda o: o.envelope.mail_from == "app@example.com")
    outbox.assert_not_sent(to="mallory@example.com")
    assert outbox.find(subject="Welcome") is outbox[1]
    assert outbox.find(subject="nope") is None
    assert outbox.filter(to=lambda a: a.endswith("@example.com")) == list(outbox)


def test_failed_assertions_say_what_was_sent() -> None:
    with capture_mail() as outbox:
        _fill(outbox)
    with pytest.raises(AssertionError, match=r"'Welcome' to bob@example.com") as caught:
        outbox.assert_sent(to="mallory@example.com")
    assert "0 matched" in str(caught.value)
    with pytest.raises(AssertionError, match="1 matched"):
        outbox.assert_sent(subject="Welcome", count=2)
    with pytest.raises(AssertionError, match="expected nothing sent, found 2"):
        outbox.assert_nothing_sent()
    with pytest.raises(AssertionError, match="expected 3 message"):
        outbox.assert_count(3)
    with pytest.raises(AssertionError, match="found 1"):
        outbox.assert_not_sent(to="bob@example.com")
    with pytest.raises(TypeError, match="unknown criterion 'recipient'"):
        outbox.filter(recipient="x")


def test_an_empty_outbox_passes_assert_nothing_sent(mail_outbox: Outbox) -> None:
    mail_outbox.assert_nothing_sent()
    mail_outbox.assert_count(0)
    with pytest.raises(AssertionError, match="Sent: nothing"):
        mail_outbox.assert_sent(subject="x")


# -- a real relay ------------------------------------------------------------------------------


def test_the_relay_fixture_speaks_smtp_with_starttls_and_auth(
    mail_relay: LocalRelay, mail_relay_url: str
) -> None:
    assert mail_relay.tls == "starttls"
    assert "ca_file=" in mail_relay_url
    with Sender(mail_relay_url) as sender:
        result = sender.send(hello())
    (received,) = mail_relay.wait_for(1)
    assert received.login == next(iter(mail_relay.users or {}))
    assert received.rcpt_tos == ["alice@example.com"]
    assert result.relay.startswith("smtp://")
