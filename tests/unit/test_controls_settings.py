"""Sending controls, routes and the suppression list from the environment, .env and
mailsdk.toml (MailSettings, SenderOptions, from_env).

Each test runs in an empty temporary directory with every MAILSDK_* variable removed.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from mailsdk import (
    AsyncSender,
    ConfigurationError,
    MemoryTransport,
    Message,
    RecipientsRefused,
    Sender,
    SenderOptions,
    Suppressions,
)
from mailsdk.settings import MailSettings
from tests.env import no_mailsdk_env

T0 = datetime(2026, 2, 3, 4, 5, 6, tzinfo=timezone.utc)


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    no_mailsdk_env(monkeypatch, tmp_path)


def message(**kwargs: object) -> Message:
    fields: dict[str, object] = {
        "from_": "app@example.com",
        "to": ["alice@example.com", "bob@customer.test"],
        "subject": "Hi",
        "text": "Hello\n",
    }
    fields.update(kwargs)
    return Message(**fields)  # type: ignore[arg-type]


def memory(sender: Sender, route: str | None = None) -> MemoryTransport:
    transports = (
        sender.async_sender.transports
        if route is None
        else sender.async_sender._routes[route].transports
    )
    (transport,) = transports
    assert isinstance(transport, MemoryTransport)
    return transport


def test_allowed_recipients_and_redirect_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MAILSDK_URL", "memory://")
    monkeypatch.setenv("MAILSDK_ALLOWED_RECIPIENTS", " *@example.com , ops@partner.test,")
    settings = MailSettings.load()
    assert settings.allowed_recipients == ["*@example.com", "ops@partner.test"]
    with Sender.from_env() as sender:
        result = sender.send(message())
    assert result.accepted == ["alice@example.com"]
    assert "allowed_recipients" in result.refused["bob@customer.test"].text

    monkeypatch.setenv("MAILSDK_REDIRECT_TO", "qa@example.com")
    with Sender.from_env() as sender:
        sender.send(message())
        assert [m.envelope.rcpt_to for m in memory(sender).outbox] == [("qa@example.com",)]


def test_empty_variables_leave_the_controls_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILSDK_URL", "memory://")
    monkeypatch.setenv("MAILSDK_ALLOWED_RECIPIENTS", "")
    monkeypatch.setenv("MAILSDK_REDIRECT_TO", " ")
    options = SenderOptions.from_settings(MailSettings.load())
    assert options.allowed_recipients is None
    assert options.redirect_to is None
    assert options.suppressions is None
    assert options.routes is None


def test_a_bad_pattern_or_redirect_in_the_environment_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MAILSDK_URL", "memory://")
    monkeypatch.setenv("MAILSDK_ALLOWED_RECIPIENTS", "example.com")
    with pytest.raises(ConfigurationError, match="allowed_recipients"):
        Sender.from_env()
    monkeypatch.delenv("MAILSDK_ALLOWED_RECIPIENTS")
    monkeypatch.setenv("MAILSDK_REDIRECT_TO", "qa at example")
    with pytest.raises(ConfigurationError, match="redirect_to"):
        Sender.from_env()


def test_from_env_honours_the_suppressions_db(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    db = tmp_path / "mail.sqlite3"
    with Suppressions(db, clock=lambda: T0) as store:
        store.add("bob@customer.test", "hard_bounce", "sendgrid")
    monkeypatch.setenv("MAILSDK_URL", "memory://")
    monkeypatch.setenv("MAILSDK_SUPPRESSIONS_DB", str(db))
    with Sender.from_env() as sender:
        result = sender.send(message())
        with pytest.raises(RecipientsRefused):
            sender.send(message(to=["bob@customer.test"]))
    assert result.accepted == ["alice@example.com"]
    assert result.refused["bob@customer.test"].text.startswith("suppressed since 2026-02-03")


def test_suppressions_db_in_the_toml_file(tmp_path: Path) -> None:
    (tmp_path / "mailsdk.toml").write_text(
        'url = "memory://"\nsuppressions_db = "list.sqlite3"\n', encoding="utf-8"
    )
    options = SenderOptions.from_settings(MailSettings.load())
    assert options.suppressions is not None
    assert Path(options.suppressions.path).name == "list.sqlite3"
    options.suppressions.close()


def test_an_unreadable_suppressions_db_names_the_setting(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MAILSDK_URL", "memory://")
    monkeypatch.setenv("MAILSDK_SUPPRESSIONS_DB", str(tmp_path / "missing-dir" / "x.sqlite3"))
    with pytest.raises(ConfigurationError, match="MAILSDK_SUPPRESSIONS_DB"):
        Sender.from_env()


def test_routes_from_the_toml_file_and_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "mailsdk.toml").write_text(
        'url = "primary"\n'
        "[relays]\n"
        'primary = "memory://primary"\n'
        'bulk1 = "memory://bulk1"\n'
        "[routes]\n"
        'bulk = ["bulk1", "memory://bulk2"]\n'
        'alerts = "memory://alerts-file"\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("MAILSDK_ROUTE_ALERTS", "memory://alerts-env")
    (tmp_path / ".env").write_text("MAILSDK_ROUTE_Digest=primary\n", encoding="utf-8")
    settings = MailSettings.load()
    assert settings.route_urls() == {
        "bulk": ["memory://bulk1", "memory://bulk2"],
        "alerts": ["memory://alerts-env"],  # the environment wins over the file
        "digest": ["memory://primary"],  # .env, the name lower-cased
    }
    with Sender.from_env() as sender:
        assert sorted(sender.async_sender.routes) == ["alerts", "bulk", "digest"]
        result = sender.send(message(), route="alerts")
    assert result.relay == "memory://alerts-env"


def test_a_route_naming_an_unknown_relay_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MAILSDK_URL", "memory://")
    monkeypatch.setenv("MAILSDK_ROUTE_BULK", "nosuchrelay")
    with pytest.raises(ConfigurationError, match="neither a URL nor a relay name") as caught:
        Sender.from_env()
    assert caught.value.message.startswith("MAILSDK_ROUTE_BULK: ")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("nope://x", "MAILSDK_ROUTE_BULK: unknown scheme 'nope'"),
        (",", "MAILSDK_ROUTE_BULK: names no relay"),
    ],
)
def test_a_bad_route_in_the_environment_names_its_variable(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: str
) -> None:
    monkeypatch.setenv("MAILSDK_URL", "memory://")
    monkeypatch.setenv("MAILSDK_ROUTE_BULK", value)
    with pytest.raises(ConfigurationError) as caught:
        Sender.from_env()
    assert caught.value.message.startswith(expected)


def test_a_bad_route_in_the_toml_file_names_the_table(tmp_path: Path) -> None:
    (tmp_path / "mailsdk.toml").write_text(
        'url = "memory://"\n[routes]\nbulk = "nope://x"\n', encoding="utf-8"
    )
    with pytest.raises(ConfigurationError) as caught:
        Sender.from_env()
    assert caught.value.message.startswith(
        "route 'bulk' ([routes] in mailsdk.toml, or MAILSDK_ROUTES): unknown scheme 'nope'"
    )


def test_a_route_url_keeps_its_password_out_of_reprs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILSDK_URL", "memory://")
    (Path(".") / "mailsdk.toml").write_text(
        '[routes]\nbulk = "smtp://u:hunter2-secret@mail.example.com:587"\n', encoding="utf-8"
    )
    settings = MailSettings.load()
    assert "hunter2" not in repr(settings)
    assert "hunter2" not in settings.model_dump_json()


def test_routes_must_be_a_table(tmp_path: Path) -> None:
    (tmp_path / "mailsdk.toml").write_text('url = "memory://"\nroutes = "bulk"\n', "utf-8")
    with pytest.raises(ConfigurationError, match=r"\[routes\] must be a table"):
        MailSettings.load()


def test_the_sender_options_carry_the_controls_to_both_senders() -> None:
    def hook(msg: Message) -> None:
        return None

    options = SenderOptions(
        "memory://",
        before_send=hook,
        allowed_recipients="*@Example.com, ops@x.test",
        redirect_to="QA <qa@example.com>",
        routes={"bulk": "memory://bulk"},
    )
    assert options.before_send == (hook,)
    assert options.allowed_recipients == ("*@example.com", "ops@x.test")
    assert options.redirect_to == "QA <qa@example.com>"
    with Sender.from_options(options) as sender:
        inner = sender.async_sender
        assert inner.before_send == (hook,)
        assert inner.redirect_to == "QA <qa@example.com>"
        assert inner.routes == ["bulk"]
    built = AsyncSender.from_options(options)
    assert isinstance(built, AsyncSender)
    assert built.allowed_recipients == ("*@example.com", "ops@x.test")


def test_from_env_and_from_options_have_one_implementation() -> None:
    assert Sender.from_env.__func__ is AsyncSender.from_env.__func__  # type: ignore[attr-defined]
    assert Sender.from_options.__func__ is AsyncSender.from_options.__func__  # type: ignore[attr-defined]


def test_from_env_builds_the_class_it_is_called_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILSDK_URL", "memory://")
    with Sender.from_env() as sender:
        assert type(sender) is Sender
    assert type(AsyncSender.from_env()) is AsyncSender


def _is_open(suppressions: Suppressions) -> bool:
    return suppressions._connection is not None


def test_a_sender_closes_the_suppression_list_from_env_opened(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MAILSDK_URL", "memory://")
    monkeypatch.setenv("MAILSDK_SUPPRESSIONS_DB", str(tmp_path / "mail.sqlite3"))

    sender = Sender.from_env()
    owned = sender.async_sender.suppressions
    assert owned is not None
    sender.send(message())
    assert _is_open(owned)
    sender.close()
    assert not _is_open(owned)
    # Used again after close (as a Sender may be), it reopens and still honours the list.
    owned.add("bob@customer.test", "hard_bounce", "test")
    result = sender.send(message())
    assert set(result.refused) == {"bob@customer.test"}
    sender.close()
    assert not _is_open(owned)

    never_used = Sender.from_env()  # closed without a send: no loop thread, still closed
    assert never_used.async_sender.suppressions is not None
    never_used.close()
    assert not _is_open(never_used.async_sender.suppressions)


async def test_an_async_sender_closes_the_list_it_opened(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MAILSDK_URL", "memory://")
    monkeypatch.setenv("MAILSDK_SUPPRESSIONS_DB", str(tmp_path / "mail.sqlite3"))
    async with AsyncSender.from_env() as sender:
        owned = sender.suppressions
        assert owned is not None
        await sender.send(message())
    assert not _is_open(owned)


def test_a_suppression_list_passed_in_stays_open(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MAILSDK_URL", "memory://")
    mine = Suppressions(tmp_path / "mine.sqlite3")
    with Sender("memory://", suppressions=mine) as sender:
        sender.send(message())
    assert _is_open(mine)
    options = SenderOptions.from_settings(MailSettings.load(), suppressions=mine)
    assert options.close_suppressions is False
    with Sender.from_options(options) as sender:
        sender.send(message())
    assert _is_open(mine)
    mine.close()


def test_from_settings_marks_the_list_it_opened(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MAILSDK_URL", "memory://")
    assert SenderOptions.from_settings(MailSettings.load()).close_suppressions is False
    monkeypatch.setenv("MAILSDK_SUPPRESSIONS_DB", str(tmp_path / "mail.sqlite3"))
    options = SenderOptions.from_settings(MailSettings.load())
    assert options.close_suppressions is True
    assert options.suppressions is not None
    options.suppressions.close()


@pytest.mark.parametrize(
    ("routes", "expected"),
    [
        ({"": ["memory://"]}, "routes: route names must be non-empty text, not ''"),
        ({7: ["memory://"]}, "routes: route names must be non-empty text, not 7"),
        (["memory://"], "routes must map route names to relays"),
    ],
)
def test_a_bad_routes_value_is_refused_alike_wherever_it_is_given(
    routes: object, expected: str
) -> None:
    # One check of route names: the options, the async and the sync sender say the same.
    for make in (
        lambda: SenderOptions(relays=["memory://"], routes=routes),  # type: ignore[arg-type]
        lambda: AsyncSender("memory://", routes=routes),  # type: ignore[arg-type]
        lambda: Sender("memory://", routes=routes),  # type: ignore[arg-type]
    ):
        with pytest.raises(ConfigurationError) as caught:
            make()
        assert caught.value.message == expected
