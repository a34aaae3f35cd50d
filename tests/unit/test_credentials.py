"""Secrets kept out of URLs (mailsdk.credentials): names, look-up order, keyring failures.

Keyring is exercised through keyring's own backend API: a small in-memory backend class is
registered with ``keyring.set_keyring`` for each test, and keyring's real ``fail`` backend
(what a headless machine gets) stands for "no usable backend". Nothing is patched.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import keyring
import keyring.backends.fail
import pytest
from keyring.errors import KeyringLocked
from pydantic import SecretStr

from mailsdk import ConfigurationError, SMTPTransport
from mailsdk.config import parse_url, transport_from_url
from mailsdk.credentials import (
    API_KEY_USER,
    CredentialError,
    KeyringEntry,
    delete_secret,
    env_var_name,
    find_secret,
    keyring_entry,
    service_name,
    store_secret,
    with_secret,
)
from tests.keyrings import MemoryKeyring

SECRET = "kr-s3cret-value-4242"


class LockedKeyring(MemoryKeyring):
    """A backend that fails the way a locked desktop collection does, quoting its input."""

    def get_password(self, service: str, username: str) -> str | None:
        raise KeyringLocked(f"collection locked while reading {service}")

    def set_password(self, service: str, username: str, password: str) -> None:
        # A careless backend that repeats the secret in its error: it must never surface.
        raise RuntimeError(f"could not store {password!r}")


@pytest.fixture
def use_keyring() -> Iterator[None]:
    """Put back whatever backend keyring had once the test is done."""
    previous = keyring.get_keyring()
    yield
    keyring.set_keyring(previous)


@pytest.fixture
def memory_keyring(use_keyring: object) -> MemoryKeyring:
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    return backend


@pytest.fixture
def no_keyring(use_keyring: object) -> None:
    # What keyring itself selects on a machine without any usable backend.
    keyring.set_keyring(keyring.backends.fail.Keyring())


@pytest.fixture(autouse=True)
def _no_secret_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("MAILSDK_"):
            monkeypatch.delenv(name)


# -- names -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "service"),
    [
        ("smtp://reports@Mail.Example.com:587", "mailsdk:smtp://mail.example.com:587"),
        ("smtp://reports@mail.example.com", "mailsdk:smtp://mail.example.com:587"),
        ("smtp://reports@mail.example.com?tls=implicit", "mailsdk:smtp://mail.example.com:465"),
        ("smtp://reports@mail.example.com?tls=none", "mailsdk:smtp://mail.example.com:25"),
        ("smtps://reports@mail.example.com", "mailsdk:smtps://mail.example.com:465"),
        ("smtp://reports@[::1]:2525", "mailsdk:smtp://[::1]:2525"),
        ("sendgrid://default", "mailsdk:sendgrid://default"),
        ("mailgun://mg.example.com?region=eu", "mailsdk:mailgun://mg.example.com"),
        ("ses://AKIDEXAMPLE@eu-west-1", "mailsdk:ses://eu-west-1"),
    ],
)
def test_the_service_name_is_scheme_host_and_port(url: str, service: str) -> None:
    assert service_name(url) == service


@pytest.mark.parametrize(
    ("url", "variable"),
    [
        ("smtp://reports@mail.example.com:587", "MAILSDK_PASSWORD_SMTP_MAIL_EXAMPLE_COM_587"),
        ("smtp://reports@mail.example.com", "MAILSDK_PASSWORD_SMTP_MAIL_EXAMPLE_COM_587"),
        ("smtps://a@smtp-relay.example.com", "MAILSDK_PASSWORD_SMTPS_SMTP_RELAY_EXAMPLE_COM_465"),
        ("sendgrid://default", "MAILSDK_PASSWORD_SENDGRID_DEFAULT"),
        ("smtp://a@127.0.0.1:8025", "MAILSDK_PASSWORD_SMTP_127_0_0_1_8025"),
    ],
)
def test_the_environment_variable_is_named_after_the_url(url: str, variable: str) -> None:
    assert env_var_name(url) == variable


def test_the_keyring_user_is_the_urls_user_or_api_key() -> None:
    assert keyring_entry("smtp://reports@mail.example.com:587") == KeyringEntry(
        "mailsdk:smtp://mail.example.com:587", "reports"
    )
    assert keyring_entry("sendgrid://default").username == API_KEY_USER
    assert keyring_entry("mailjet://PUBLICKEY@default").username == "PUBLICKEY"


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("memory://", "take no secret"),
        ("smtp://mail.example.com:587", r"smtp://USER@mail\.example\.com"),
        ("mailjet://default", "mailjet://API_KEY@default"),
        ("ses://eu-west-1", "ses://ACCESS_KEY_ID@eu-west-1"),
        (f"sendgrid://{SECRET}@default", "carries its API key"),
    ],
)
def test_keyring_entry_says_what_is_missing(url: str, complaint: str) -> None:
    with pytest.raises(CredentialError, match=complaint) as info:
        keyring_entry(url)
    assert SECRET not in str(info.value)


# -- the look-up order -----------------------------------------------------------------------


def test_a_secret_in_the_url_wins(memory_keyring: MemoryKeyring) -> None:
    memory_keyring.set_password("mailsdk:smtp://h.example.com:587", "u", "from-keyring")
    found = find_secret(f"smtp://u:{SECRET}@h.example.com")
    assert found is not None
    assert found[0].get_secret_value() == SECRET
    assert found[1].kind == "url"


def test_the_environment_variable_wins_over_keyring(memory_keyring: MemoryKeyring) -> None:
    memory_keyring.set_password("mailsdk:smtp://h.example.com:587", "u", "from-keyring")
    found = find_secret(
        "smtp://u@h.example.com", environ={"MAILSDK_PASSWORD_SMTP_H_EXAMPLE_COM_587": SECRET}
    )
    assert found is not None
    assert found[0].get_secret_value() == SECRET
    assert found[1].detail == "MAILSDK_PASSWORD_SMTP_H_EXAMPLE_COM_587"


def test_the_fallback_comes_before_keyring(memory_keyring: MemoryKeyring) -> None:
    memory_keyring.set_password("mailsdk:smtp://h.example.com:587", "u", "from-keyring")
    found = find_secret("smtp://u@h.example.com", environ={}, fallback=SecretStr(SECRET))
    assert found is not None
    assert (found[0].get_secret_value(), found[1].detail) == (SECRET, "MAILSDK_PASSWORD")


def test_keyring_is_asked_last(memory_keyring: MemoryKeyring) -> None:
    memory_keyring.set_password("mailsdk:smtp://h.example.com:587", "u", SECRET)
    found = find_secret("smtp://u@h.example.com:587", environ={})
    assert found is not None
    assert found[0].get_secret_value() == SECRET
    assert found[1].kind == "keyring"
    assert "mailsdk:smtp://h.example.com:587" in found[1].detail
    assert SECRET not in repr(found)


def test_nothing_found_is_none_and_with_secret_says_where_to_put_it(
    memory_keyring: MemoryKeyring,
) -> None:
    url = parse_url("smtp://u@h.example.com:587")
    assert find_secret(url, environ={}) is None
    with pytest.raises(CredentialError) as info:
        with_secret(url, environ={})
    text = str(info.value)
    assert "mailsdk credentials set" in text
    assert "MAILSDK_PASSWORD_SMTP_H_EXAMPLE_COM_587" in text
    assert "'mailsdk:smtp://h.example.com:587', user 'u'" in text


def test_with_secret_leaves_complete_urls_alone(no_keyring: None) -> None:
    url = parse_url(f"smtp://u:{SECRET}@h.example.com")
    assert with_secret(url) is url
    plain = parse_url("smtp://h.example.com")
    assert with_secret(plain) is plain


def test_an_api_key_goes_to_the_password_slot(memory_keyring: MemoryKeyring) -> None:
    memory_keyring.set_password("mailsdk:sendgrid://default", API_KEY_USER, SECRET)
    filled = with_secret(parse_url("sendgrid://default"), environ={})
    assert filled.username is None
    assert filled.password == SecretStr(SECRET)


# -- building transports --------------------------------------------------------------------


def test_an_smtp_url_without_password_gets_it_from_keyring(memory_keyring: MemoryKeyring) -> None:
    store_secret("smtp://reports@mail.example.com:587", SECRET)
    transport = transport_from_url("smtp://reports@mail.example.com:587", environ={})
    assert isinstance(transport, SMTPTransport)
    assert transport._password == SecretStr(SECRET)
    assert SECRET not in repr(transport)


def test_a_provider_url_without_key_gets_it_from_keyring(memory_keyring: MemoryKeyring) -> None:
    store_secret("sendgrid://default", SECRET)
    transport = transport_from_url("sendgrid://default", environ={})
    assert type(transport).__name__ == "SendGridTransport"
    assert transport.api_key.get_secret_value() == SECRET  # type: ignore[attr-defined]


def test_mailjet_and_ses_look_up_the_second_half_of_their_pair(
    memory_keyring: MemoryKeyring,
) -> None:
    store_secret("mailjet://PUBLICKEY@default", "mj-secret")
    store_secret("ses://AKIDEXAMPLE@eu-west-1", "ses-secret")
    mailjet = transport_from_url("mailjet://PUBLICKEY@default", environ={})
    assert mailjet.secret_key.get_secret_value() == "mj-secret"  # type: ignore[attr-defined]
    ses = transport_from_url("ses://AKIDEXAMPLE@eu-west-1", environ={})
    assert type(ses).__name__ == "SESTransport"


# -- storing and deleting ---------------------------------------------------------------------


def test_store_and_delete_round_trip(memory_keyring: MemoryKeyring) -> None:
    entry = store_secret("smtp://reports@mail.example.com:587", SECRET)
    assert memory_keyring.entries == {(entry.service, "reports"): SECRET}
    assert delete_secret("smtp://reports@mail.example.com:587") is True
    assert memory_keyring.entries == {}
    assert delete_secret("smtp://reports@mail.example.com:587") is False


def test_store_refuses_a_url_with_a_secret_and_an_empty_secret(
    memory_keyring: MemoryKeyring,
) -> None:
    with pytest.raises(CredentialError, match="already carries a secret") as info:
        store_secret(f"smtp://u:{SECRET}@h.example.com", "x")
    assert SECRET not in str(info.value)
    with pytest.raises(CredentialError, match="empty"):
        store_secret("smtp://u@h.example.com", "")
    assert memory_keyring.entries == {}


# -- no usable keyring ----------------------------------------------------------------------


def test_no_backend_is_a_credential_error_naming_the_variable(no_keyring: None) -> None:
    with pytest.raises(CredentialError) as info:
        transport_from_url("smtp://reports@mail.example.com:587", environ={})
    text = str(info.value)
    assert "no usable keyring backend" in text
    assert "NoKeyringError" in text
    assert "MAILSDK_PASSWORD_SMTP_MAIL_EXAMPLE_COM_587" in text
    assert "PYTHON_KEYRING_BACKEND" in text
    assert isinstance(info.value, ConfigurationError)
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__


def test_no_backend_does_not_matter_when_the_variable_is_set(no_keyring: None) -> None:
    transport = transport_from_url(
        "smtp://reports@mail.example.com:587",
        environ={"MAILSDK_PASSWORD_SMTP_MAIL_EXAMPLE_COM_587": SECRET},
    )
    assert isinstance(transport, SMTPTransport)


def test_storing_and_deleting_without_a_backend_say_so(no_keyring: None) -> None:
    with pytest.raises(CredentialError, match=r"cannot store .* no usable keyring backend"):
        store_secret("smtp://u@h.example.com", SECRET)
    with pytest.raises(CredentialError, match="cannot delete"):
        delete_secret("smtp://u@h.example.com")


def test_a_failing_backend_never_leaks_its_exception(use_keyring: object) -> None:
    keyring.set_keyring(LockedKeyring())
    with pytest.raises(CredentialError, match=r"KeyringLocked from .*LockedKeyring") as info:
        find_secret("smtp://u@h.example.com", environ={})
    assert "the keyring backend failed" in str(info.value)
    with pytest.raises(CredentialError, match="RuntimeError") as stored:
        store_secret("smtp://u@h.example.com", SECRET)
    assert SECRET not in str(stored.value)
    assert stored.value.__cause__ is None
    assert stored.value.__suppress_context__


# -- one redaction rule, one lookup order ----------------------------------------------------

KEY_ID = "AKIAKEYIDNEVERSHOWN7"
MAILJET_KEY = "mj-public-key-never-shown"


@pytest.mark.parametrize(
    "url", [f"mailjet://{MAILJET_KEY}@default", f"ses://{KEY_ID}@eu-west-1"], ids=str
)
def test_a_key_id_is_used_for_keyring_but_never_shown(
    url: str, memory_keyring: MemoryKeyring
) -> None:
    entry = keyring_entry(url)
    assert entry.username in (KEY_ID, MAILJET_KEY)  # keyring is asked under the real name
    for text in (entry.describe(), repr(entry)):
        assert KEY_ID not in text
        assert MAILJET_KEY not in text
        assert "user '***'" in text or "username='***'" in text
    with pytest.raises(CredentialError) as info:
        with_secret(parse_url(url), environ={})
    assert KEY_ID not in str(info.value)
    assert MAILJET_KEY not in str(info.value)
    assert "user '***'" in str(info.value)
    store_secret(url, SECRET)
    found = find_secret(url, environ={})
    assert found is not None
    assert found[0] == SecretStr(SECRET)
    assert KEY_ID not in found[1].detail
    assert MAILJET_KEY not in found[1].detail


def test_a_login_is_shown() -> None:
    entry = keyring_entry("smtp://reports@mail.example.com:587")
    assert entry.describe() == "service 'mailsdk:smtp://mail.example.com:587', user 'reports'"


def test_lookup_secrets_is_the_one_order(memory_keyring: MemoryKeyring) -> None:
    from mailsdk.credentials import lookup_secrets

    one = parse_url("smtp://reports@one.example.com:587")
    two = parse_url("smtp://reports@two.example.com:587")
    fallback = SecretStr(SECRET)
    # One URL lacking: MAILSDK_PASSWORD serves it.
    [(filled, source)] = lookup_secrets([one], environ={}, password=fallback)
    assert filled.password == fallback
    assert source is not None
    assert source.detail == "MAILSDK_PASSWORD"
    # Two lacking: it serves neither (one relay's password must never go to another).
    memory_keyring.set_password("mailsdk:smtp://two.example.com:587", "reports", "kr")
    with pytest.raises(CredentialError, match=r"one\.example\.com"):
        lookup_secrets([one, two], environ={}, password=fallback)
    found = lookup_secrets([one, two], environ={}, password=fallback, missing_ok=True)
    assert found[0] == (one, None)
    assert found[1][1] is not None
    assert found[1][1].kind == "keyring"
    # A URL that needs nothing comes back as it is.
    memory = parse_url("memory://")
    assert lookup_secrets([memory], environ={}) == [(memory, None)]


def test_the_keyring_advice_names_keyrings_alt_and_warns_it_is_plaintext(
    no_keyring: None,
) -> None:
    with pytest.raises(CredentialError) as info:
        find_secret("smtp://reports@mail.example.com:587", environ={})
    text = str(info.value)
    assert "pip install keyrings.alt" in text
    assert "unencrypted" in text


def test_credentials_does_not_import_config() -> None:
    # The layering is errors <- url <- credentials <- config: no cycle between the last two,
    # not even through an import inside a function.
    import ast
    from pathlib import Path

    import mailsdk

    root = Path(mailsdk.__file__).parent
    for module, forbidden in (
        ("credentials.py", {"mailsdk.config", "mailsdk.settings"}),
        ("url.py", {"mailsdk.config", "mailsdk.credentials", "mailsdk.settings"}),
        ("errors.py", {"mailsdk.config", "mailsdk.credentials", "mailsdk.url"}),
        ("result.py", {"mailsdk.errors", "mailsdk.config"}),
    ):
        tree = ast.parse((root / module).read_text(encoding="utf-8"))
        imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        assert not imported & forbidden, (module, imported & forbidden)
