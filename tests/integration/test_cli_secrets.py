"""`mailsdk credentials` and `mailsdk check` and secrets: one redaction rule, one lookup order.

A Mailjet API key and an AWS access key id name a key pair: keyring stores the secret under
them, but no output shows them (as ``TransportURL.display()`` does not). ``credentials check``
finds a secret where ``send --url URL`` would, ``MAILSDK_PASSWORD`` included. A password that
holds ``/`` is read as a password, never as a host and port.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import keyring
import keyring.backends.fail
import pytest

from tests.cli_runner import run
from tests.keyrings import MemoryKeyring

KEY_ID = "AKIAKEYIDNEVERSHOWN7"
MAILJET_KEY = "mj-public-key-never-shown"
SECRET = "cli-Secret-Value-8842"


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("MAILSDK_"):
            monkeypatch.delenv(name)


@pytest.mark.parametrize(
    ("url", "key"),
    [(f"mailjet://{MAILJET_KEY}@default", MAILJET_KEY), (f"ses://{KEY_ID}@eu-west-1", KEY_ID)],
)
def test_credentials_set_and_check_never_show_a_key_id(
    url: str, key: str, memory_keyring: MemoryKeyring
) -> None:
    missing = run("credentials", "check", url)
    assert missing.exit_code == 1
    stored = run("credentials", "set", url, "--stdin", input=f"{SECRET}\n")
    assert stored.exit_code == 0, stored.output
    assert list(memory_keyring.entries.values()) == [SECRET]
    assert next(iter(memory_keyring.entries))[1] == key  # stored under the real key id
    checked = run("credentials", "check", url)
    assert checked.exit_code == 0
    assert "secret found in keyring" in checked.stdout
    for result in (missing, stored, checked):
        assert key not in result.stdout + result.stderr
        assert SECRET not in result.stdout + result.stderr
    assert "user '***'" in stored.stdout


def test_credentials_check_honours_mailsdk_password(memory_keyring: MemoryKeyring) -> None:
    url = "smtp://reports@mail.example.com:587"
    assert run("credentials", "check", url).exit_code == 1
    found = run("credentials", "check", url, env={"MAILSDK_PASSWORD": SECRET})
    assert found.exit_code == 0, found.output
    assert "secret found in environment variable MAILSDK_PASSWORD" in found.stdout
    assert SECRET not in found.output


def test_credentials_check_without_a_secret_names_every_place() -> None:
    previous = keyring.get_keyring()
    keyring.set_keyring(MemoryKeyring())
    try:
        result = run("credentials", "check", "smtp://reports@mail.example.com:587")
    finally:
        keyring.set_keyring(previous)
    assert result.exit_code == 1
    for place in ("MAILSDK_PASSWORD_SMTP_MAIL_EXAMPLE_COM_587", "MAILSDK_PASSWORD", "keyring"):
        assert place in result.stderr


def test_without_a_keyring_backend_the_advice_names_keyrings_alt() -> None:
    previous = keyring.get_keyring()
    keyring.set_keyring(keyring.backends.fail.Keyring())
    try:
        result = run("credentials", "set", "smtp://u@h.example.com", "--stdin", input="pw\n")
    finally:
        keyring.set_keyring(previous)
    assert result.exit_code == 1
    assert "pip install keyrings.alt" in result.stderr
    assert "unencrypted" in result.stderr


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_check_reads_a_password_with_a_slash_as_a_password() -> None:
    # Issue 10: this was host 'alice', port 2024, and the whole password was printed.
    port = _closed_port()
    result = run("check", f"smtp://alice:2024/Summer-Secret@127.0.0.1:{port}", "--timeout", "2")
    assert result.exit_code == 3  # the relay is not there: the check ran against 127.0.0.1
    assert f"smtp://alice@127.0.0.1:{port}" in result.stdout
    assert "Summer" not in result.output
    assert "2024" not in result.output
