"""Configuration from the environment, .env and mailsdk.toml (MailSettings, from_env).

Each test runs in an empty temporary directory with every MAILSDK_* variable removed, so the
files it writes there are the only configuration in play.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import SecretStr

from mailsdk import (
    AsyncSender,
    ConfigurationError,
    FailoverTransport,
    MemoryTransport,
    Message,
    RetryPolicy,
    RoundRobinTransport,
    Sender,
    SMTPTransport,
)
from mailsdk.settings import MailSettings, read_toml
from tests.env import no_mailsdk_env

SECRET = "settings-s3cret-31337"


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    no_mailsdk_env(monkeypatch, tmp_path)


def write(name: str, text: str) -> Path:
    path = Path(name)
    path.write_text(text, encoding="utf-8")
    return path


# -- sources and their order -----------------------------------------------------------------


def test_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILSDK_URL", "memory://, console://")
    monkeypatch.setenv("MAILSDK_FROM", "Reports <reports@example.com>")
    monkeypatch.setenv("MAILSDK_STRATEGY", "round-robin")
    monkeypatch.setenv("MAILSDK_TIMEOUT", "7.5")
    monkeypatch.setenv("MAILSDK_COOLDOWN", "0")
    monkeypatch.setenv("MAILSDK_RETRY_ATTEMPTS", "5")
    monkeypatch.setenv("MAILSDK_RETRY_DEADLINE", "60")
    settings = MailSettings.load()
    assert settings.relay_urls() == ["memory://", "console://"]
    assert settings.from_ == "Reports <reports@example.com>"
    assert settings.strategy == "round_robin"
    assert settings.timeout == 7.5
    assert settings.cooldown == 0
    assert settings.retry_policy() == RetryPolicy(attempts=5, deadline=60)


def test_no_retry_settings_mean_the_default_policy() -> None:
    assert MailSettings.load(url="memory://").retry_policy() is None


def test_the_dotenv_file_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    write(".env", "MAILSDK_URL=memory://\nMAILSDK_FROM=dotenv@example.com\n")
    settings = MailSettings.load()
    assert settings.relay_urls() == ["memory://"]
    assert settings.from_ == "dotenv@example.com"
    assert MailSettings.load(env_file=None).url == []


def test_environment_overrides_dotenv_overrides_file(monkeypatch: pytest.MonkeyPatch) -> None:
    write(
        "mailsdk.toml",
        'url = "console://"\nfrom = "file@example.com"\nstrategy = "round_robin"\ntimeout = 3\n',
    )
    write(".env", "MAILSDK_FROM=dotenv@example.com\nMAILSDK_TIMEOUT=4\n")
    monkeypatch.setenv("MAILSDK_TIMEOUT", "5")
    settings = MailSettings.load()
    assert settings.relay_urls() == ["console://"]  # only the file says
    assert settings.strategy == "round_robin"
    assert settings.from_ == "dotenv@example.com"  # .env beats the file
    assert settings.timeout == 5  # the environment beats both
    assert MailSettings.load(timeout=6).timeout == 6  # and code beats everything


def test_pyproject_tool_table_is_read() -> None:
    write(
        "pyproject.toml",
        '[project]\nname = "app"\n\n[tool.mailsdk]\nurl = ["memory://"]\n'
        'from = "pyproject@example.com"\n[tool.mailsdk.retry]\nattempts = 4\n',
    )
    settings = MailSettings.load()
    assert settings.relay_urls() == ["memory://"]
    assert settings.from_ == "pyproject@example.com"
    assert settings.retry_attempts == 4


def test_mailsdk_toml_comes_before_pyproject() -> None:
    write("pyproject.toml", '[tool.mailsdk]\nurl = "console://"\n')
    write("mailsdk.toml", 'url = "memory://"\n')
    assert MailSettings.load().relay_urls() == ["memory://"]


def test_a_pyproject_without_the_table_is_fine() -> None:
    write("pyproject.toml", '[project]\nname = "app"\n')
    assert MailSettings.load().url == []


def test_the_file_can_be_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    named = write("conf/mail.toml", 'url = "memory://"\n')
    assert MailSettings.load(config_file=named).relay_urls() == ["memory://"]
    monkeypatch.setenv("MAILSDK_CONFIG", str(named))
    assert MailSettings.load().relay_urls() == ["memory://"]
    assert MailSettings.load(config_file=False).url == []
    with pytest.raises(ConfigurationError, match="does not exist"):
        MailSettings.load(config_file="missing.toml")


# -- named relays ---------------------------------------------------------------------------


def test_named_relays_in_both_spellings() -> None:
    write(
        "mailsdk.toml",
        '[relays]\nprimary = "memory://"\n[relays.backup]\nurl = "console://"\n',
    )
    settings = MailSettings.load()
    relays = {name: url.get_secret_value() for name, url in settings.relays.items()}
    assert relays == {"primary": "memory://", "backup": "console://"}
    # No url: every relay, in file order.
    assert settings.relay_urls() == ["memory://", "console://"]


def test_the_environment_picks_relays_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    write("mailsdk.toml", '[relays]\nprimary = "memory://"\nbackup = "console://"\n')
    monkeypatch.setenv("MAILSDK_URL", "backup, primary")
    assert MailSettings.load().relay_urls() == ["console://", "memory://"]


def test_names_and_urls_mix_in_one_list(monkeypatch: pytest.MonkeyPatch) -> None:
    write("mailsdk.toml", '[relays]\nbackup = "console://"\n')
    # A password may hold commas: only a configured relay name is split off a URL's end.
    monkeypatch.setenv("MAILSDK_URL", f"smtp://u:{SECRET},x@h.example.com, backup")
    assert MailSettings.load().relay_urls() == [
        f"smtp://u:{SECRET},x@h.example.com",
        "console://",
    ]


def test_an_unknown_relay_name_lists_the_known_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    write("mailsdk.toml", '[relays]\nprimary = "memory://"\n')
    monkeypatch.setenv("MAILSDK_URL", "primray")
    with pytest.raises(ConfigurationError, match=r"'primray' is neither .* \(relays: primary\)"):
        MailSettings.load().relay_urls()


def test_nothing_configured_says_what_to_set() -> None:
    with pytest.raises(ConfigurationError, match="set MAILSDK_URL"):
        MailSettings.load().relay_urls()


# -- errors never quote values ----------------------------------------------------------------


def test_a_bad_value_names_the_setting_not_the_input(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILSDK_URL", f"smtp://u:{SECRET}@h.example.com")
    monkeypatch.setenv("MAILSDK_STRATEGY", "sideways")
    monkeypatch.setenv("MAILSDK_RETRY_ATTEMPTS", "0")
    with pytest.raises(ConfigurationError) as info:
        MailSettings.load()
    text = str(info.value)
    assert "strategy" in text
    assert "retry_attempts" in text
    assert "sideways" not in text  # the input is never quoted, so a secret never can be
    assert info.value.__cause__ is None


def test_a_bad_default_sender_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILSDK_FROM", "not an address")
    with pytest.raises(ConfigurationError, match="MAILSDK_FROM"):
        MailSettings.load()


def test_a_bad_url_is_reported_when_transports_are_built(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILSDK_URL", f"smtp://u:{SECRET}@h.example.com:0")
    settings = MailSettings.load()  # the URL is only kept: no error quoting it yet
    assert SECRET not in repr(settings)
    with pytest.raises(ConfigurationError, match="port") as info:
        settings.transports()
    assert SECRET not in str(info.value)


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ('urls = "memory://"\n', "unknown key.*urls"),
        ('password = "x"\n', "keep secrets out of files"),
        ("[retry]\ntries = 3\n", r"unknown \[retry\] key.*tries"),
        ('[relays.primary]\nurl = "memory://"\nhost = "x"\n', "takes one key, url"),
        ("url = [", "mailsdk.toml"),
    ],
)
def test_file_mistakes_are_named(text: str, complaint: str) -> None:
    write("mailsdk.toml", text)
    with pytest.raises(ConfigurationError, match=complaint):
        MailSettings.load()


def test_read_toml_reads_any_table() -> None:
    write("t.toml", 'subject = "Hi $name"\n[headers]\nX-A = "1"\n')
    assert read_toml("t.toml") == {"subject": "Hi $name", "headers": {"X-A": "1"}}


# -- timeouts and secrets --------------------------------------------------------------------


def test_the_timeout_applies_to_network_urls_without_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILSDK_TIMEOUT", "7")
    monkeypatch.setenv(
        "MAILSDK_URL",
        f"smtp://u:{SECRET}@a.example.com, smtp://b.example.com?timeout=3, memory://",
    )
    urls = MailSettings.load().parsed_urls()
    assert [u.option("timeout") for u in urls] == ["7", "3", None]
    assert [u.query.get("timeout") for u in urls] == [None, "3", None]  # not written into the URL
    transports = MailSettings.load().transports()
    assert isinstance(transports[0], SMTPTransport)
    assert transports[0].timeout == 7.0


def test_a_per_url_variable_in_dotenv_supplies_the_secret() -> None:
    write(
        ".env",
        "MAILSDK_URL=smtp://reports@mail.example.com:587\n"
        f"MAILSDK_PASSWORD_SMTP_MAIL_EXAMPLE_COM_587={SECRET}\n",
    )
    (transport,) = MailSettings.load().transports()
    assert isinstance(transport, SMTPTransport)
    assert transport._password == SecretStr(SECRET)


def test_mailsdk_password_serves_the_only_relay_lacking_a_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MAILSDK_PASSWORD", SECRET)
    monkeypatch.setenv(
        "MAILSDK_URL", "smtp://reports@a.example.com, smtp://b:other@b.example.com, memory://"
    )
    first, second, _ = MailSettings.load().transports()
    assert isinstance(first, SMTPTransport)
    assert isinstance(second, SMTPTransport)
    assert first._password == SecretStr(SECRET)
    assert second._password == SecretStr("other")
    assert SECRET not in repr(MailSettings.load())


def test_mailsdk_password_is_never_shared_between_relays(monkeypatch: pytest.MonkeyPatch) -> None:
    # Two relays lack a secret: one shared variable would send one relay's password to the
    # other, so it is not used and the look-up goes on (here: to the headless keyring).
    monkeypatch.setenv("MAILSDK_PASSWORD", SECRET)
    monkeypatch.setenv("MAILSDK_URL", "smtp://a@a.example.com, smtp://b@b.example.com")
    import keyring
    import keyring.backends.fail

    previous = keyring.get_keyring()
    keyring.set_keyring(keyring.backends.fail.Keyring())
    try:
        with pytest.raises(ConfigurationError, match="MAILSDK_PASSWORD_SMTP_A_EXAMPLE_COM_587"):
            MailSettings.load().transports()
    finally:
        keyring.set_keyring(previous)


# -- from_env ---------------------------------------------------------------------------------


def test_async_from_env_builds_the_configured_sender(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILSDK_URL", "memory://, console://")
    monkeypatch.setenv("MAILSDK_STRATEGY", "round_robin")
    monkeypatch.setenv("MAILSDK_RETRY_ATTEMPTS", "1")
    sender = AsyncSender.from_env()
    assert [type(t).__name__ for t in sender.transports] == ["MemoryTransport", "ConsoleTransport"]
    assert isinstance(sender.transport, RoundRobinTransport)
    assert sender.transport.retry.attempts == 1


async def test_from_env_default_sender_reaches_messages() -> None:
    write("mailsdk.toml", 'url = "memory://"\nfrom = "Reports <reports@example.com>"\n')
    sender = AsyncSender.from_env()
    assert isinstance(sender.transport, FailoverTransport)
    message = Message(to=["alice@example.com"], subject="Daily", text="hi")
    result = await sender.send(message)
    assert result.accepted == ["alice@example.com"]
    (memory,) = sender.transports
    assert isinstance(memory, MemoryTransport)
    assert str(memory.outbox[0].message.sender) == "Reports <reports@example.com>"


def test_an_explicit_environment_sender_is_not_replaced(monkeypatch: pytest.MonkeyPatch) -> None:
    write("mailsdk.toml", 'url = "memory://"\nfrom = "file@example.com"\n')
    monkeypatch.setenv("MAILSDK_FROM", "env@example.com")
    with Sender.from_env() as sender:
        result = sender.send(Message(to=["alice@example.com"], subject="x", text="y"))
    assert result.accepted == ["alice@example.com"]
    assert os.environ["MAILSDK_FROM"] == "env@example.com"


def test_sync_from_env_reads_a_named_file() -> None:
    path = write("other.toml", '[relays]\nmain = "memory://"\n')
    with Sender.from_env(config_file=path, env_file=None) as sender:
        assert sender.name == "memory://"


def test_from_env_without_configuration_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="MAILSDK_URL"):
        Sender.from_env()


def test_the_url_is_held_as_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    # vars(), the repr and the JSON dump of the settings never show a URL's password.
    monkeypatch.setenv("MAILSDK_URL", f"smtp://u:{SECRET}@a.example.com, backup")
    write("mailsdk.toml", f'[relays]\nbackup = "smtp://v:{SECRET}@b.example.com"\n')
    settings = MailSettings.load()
    for text in (str(vars(settings)), repr(settings), settings.model_dump_json()):
        assert SECRET not in text
    assert settings.relay_urls() == [
        f"smtp://u:{SECRET}@a.example.com",
        f"smtp://v:{SECRET}@b.example.com",
    ]
