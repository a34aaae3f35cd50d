"""DKIM from configuration: MAILSDK_DKIM_* variables, ``[dkim]`` in mailsdk.toml, keyring."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import keyring
import keyring.backends.fail
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from mailsdk import AsyncSender, ConfigurationError, CredentialError, MailSettings
from tests.keyrings import MemoryKeyring


@pytest.fixture(scope="module")
def rsa_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()


@pytest.fixture(autouse=True)
def clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith("MAILSDK_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no mailsdk.toml or .env of the checkout's
    previous = keyring.get_keyring()
    yield
    keyring.set_keyring(previous)


def load(**values: object) -> MailSettings:
    return MailSettings.load(config_file=False, env_file=None, **values)


def test_no_dkim_configuration_means_no_signer() -> None:
    assert load().dkim_signer() is None


def test_environment_with_a_key_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, rsa_pem: str
) -> None:
    (tmp_path / "dkim.pem").write_text(rsa_pem)
    monkeypatch.setenv("MAILSDK_DKIM_DOMAIN", "example.com")
    monkeypatch.setenv("MAILSDK_DKIM_SELECTOR", "s2026")
    monkeypatch.setenv("MAILSDK_DKIM_KEY_FILE", str(tmp_path / "dkim.pem"))
    signer = load().dkim_signer()
    assert signer is not None
    assert (signer.domain, signer.selector, signer.algorithm) == (
        "example.com",
        "s2026",
        "rsa-sha256",
    )


def test_environment_with_the_key_itself_on_one_line(
    monkeypatch: pytest.MonkeyPatch, rsa_pem: str
) -> None:
    monkeypatch.setenv("MAILSDK_DKIM_DOMAIN", "example.com")
    monkeypatch.setenv("MAILSDK_DKIM_SELECTOR", "s2026")
    monkeypatch.setenv("MAILSDK_DKIM_KEY", rsa_pem.replace("\n", "\\n"))
    settings = load()
    assert rsa_pem.splitlines()[1] not in repr(settings)  # a SecretStr
    signer = settings.dkim_signer()
    assert signer is not None
    assert signer.algorithm == "rsa-sha256"


def test_toml_names_the_key_file_and_the_sender_signs(tmp_path: Path) -> None:
    pem = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    (tmp_path / "ed.pem").write_bytes(pem)
    (tmp_path / "mailsdk.toml").write_text(
        'url = "memory://"\n[dkim]\ndomain = "example.com"\nselector = "ed2026"\n'
        f'key_file = "{tmp_path / "ed.pem"}"\n'
    )
    sender = AsyncSender.from_env(env_file=None, config_file=tmp_path / "mailsdk.toml")
    assert sender.dkim is not None
    assert sender.dkim.algorithm == "ed25519-sha256"
    assert sender.dkim.record_name == "ed2026._domainkey.example.com"


def test_a_key_in_the_toml_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "mailsdk.toml").write_text(
        '[dkim]\ndomain = "example.com"\nselector = "s"\nkey = "-----BEGIN PRIVATE KEY-----"\n'
    )
    with pytest.raises(ConfigurationError, match="keep the key out of files") as info:
        MailSettings.load(config_file=tmp_path / "mailsdk.toml", env_file=None)
    assert "BEGIN" not in str(info.value)


def test_domain_without_selector_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILSDK_DKIM_DOMAIN", "example.com")
    with pytest.raises(ConfigurationError, match="both MAILSDK_DKIM_DOMAIN and"):
        load().dkim_signer()


def test_the_key_from_keyring(monkeypatch: pytest.MonkeyPatch, rsa_pem: str) -> None:
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    backend.set_password("mailsdk:dkim", "s2026._domainkey.example.com", rsa_pem)
    monkeypatch.setenv("MAILSDK_DKIM_DOMAIN", "example.com")
    monkeypatch.setenv("MAILSDK_DKIM_SELECTOR", "s2026")
    signer = load().dkim_signer()
    assert signer is not None
    assert signer.algorithm == "rsa-sha256"


def test_no_key_anywhere_says_where_to_put_one(monkeypatch: pytest.MonkeyPatch) -> None:
    keyring.set_keyring(keyring.backends.fail.Keyring())
    monkeypatch.setenv("MAILSDK_DKIM_DOMAIN", "example.com")
    monkeypatch.setenv("MAILSDK_DKIM_SELECTOR", "s2026")
    with pytest.raises(CredentialError, match="MAILSDK_DKIM_KEY_FILE") as info:
        load().dkim_signer()
    assert info.value.__context__ is None
