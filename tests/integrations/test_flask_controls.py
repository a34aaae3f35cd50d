"""Sending controls and the suppression list configured through Flask's app.config."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from mail_helpers import parsed, relay_url

from mailsdk import ConfigurationError, Message, Suppressions
from mailsdk.devserver import LocalRelay
from mailsdk.integrations.flask import Mail


def create_app(**config: Any) -> tuple[Flask, Mail]:
    app = Flask(__name__)
    app.config.update(MAILSDK_FROM="App <app@example.com>", MAILSDK_RETRY={"attempts": 1})
    app.config.update(config)
    return app, Mail(app)


def test_allowed_recipients_and_a_hook_from_the_config(
    relay_factory: Callable[..., LocalRelay],
) -> None:
    relay = relay_factory(tls="starttls", require_auth=True)

    def stamp(message: Message) -> Message:
        return message.model_copy(update={"subject": f"[staging] {message.subject}"})

    app, mail = create_app(
        MAILSDK_URL=relay_url(relay),
        MAILSDK_ALLOWED_RECIPIENTS=["*@example.com"],
        MAILSDK_BEFORE_SEND=stamp,
    )
    with app.app_context():
        result = mail.send(to=["alice@example.com", "c@customer.test"], subject="Hi", text=".")
    assert result.accepted == ["alice@example.com"]
    assert set(result.refused) == {"c@customer.test"}
    (received,) = relay.wait_for(1)
    assert parsed(received.data)["Subject"] == "[staging] Hi"


def test_redirect_from_the_environment_and_routes_in_testing_mode(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MAILSDK_REDIRECT_TO", "qa@example.com")
    app, mail = create_app(TESTING=True, MAILSDK_ROUTES={"bulk": "smtp://bulk.invalid:25"})
    with app.app_context():
        mail.send(to="alice@customer.test", subject="Hi", text=".")
        mail.sender.send(  # type: ignore[attr-defined]
            Message(from_="app@example.com", to="b@customer.test", subject="B", text="."),
            route="bulk",
        )
        outbox = mail.outbox  # type: ignore[attr-defined]
    assert [m.envelope.rcpt_to for m in outbox] == [("qa@example.com",), ("qa@example.com",)]


def test_the_suppressions_db_config_is_honoured(
    relay_factory: Callable[..., LocalRelay], tmp_path: Path
) -> None:
    relay = relay_factory(tls="starttls", require_auth=True)
    db = tmp_path / "mail.sqlite3"
    with Suppressions(db) as store:
        store.add("gone@example.com")
    app, mail = create_app(MAILSDK_URL=relay_url(relay), MAILSDK_SUPPRESSIONS_DB=db)
    with app.app_context():
        result = mail.send(to=["gone@example.com", "ok@example.com"], subject="Hi", text=".")
    assert result.accepted == ["ok@example.com"]


def test_a_bad_redirect_names_the_key() -> None:
    with pytest.raises(ConfigurationError, match="MAILSDK_REDIRECT_TO"):
        create_app(TESTING=True, MAILSDK_REDIRECT_TO="nobody")


@pytest.mark.parametrize(
    ("routes", "expected"),
    [
        ({"": "smtp://localhost:2525"}, "MAILSDK_ROUTES: route names must be non-empty text"),
        ({"bulk": "nope://x"}, "MAILSDK_ROUTES['bulk']: nope://x: unknown scheme 'nope'"),
        ({"bulk": ""}, "MAILSDK_ROUTES['bulk']: no transport URL given"),
        ({"bulk": 5}, "MAILSDK_ROUTES['bulk']: give relay URLs (a string or a list), not int"),
        (["bulk"], "MAILSDK_ROUTES: routes must map route names to relay URLs"),
    ],
)
def test_a_bad_route_names_the_routes_key(routes: object, expected: str) -> None:
    # Not MAILSDK_ROUTE (no such key), and raised by init_app, before any request.
    with pytest.raises(ConfigurationError) as caught:
        create_app(MAILSDK_URL="smtp://localhost:2525", MAILSDK_ROUTES=routes)
    assert caught.value.message.startswith(expected)
