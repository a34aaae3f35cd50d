"""The Flask extension, driven through a Flask app (application factory) and its test client."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask, request
from mail_helpers import parsed, relay_url

import mailsdk.integrations.flask as flask_integration
from mailsdk import ConfigurationError, MailError, Message, RetryPolicy, Sender, SendResult
from mailsdk.devserver import LocalRelay
from mailsdk.integrations.flask import Mail

mail = Mail()  # one extension object, shared by every app the factory makes


def create_app(**config: Any) -> Flask:
    """The application factory the tests use."""
    app = Flask(__name__)
    app.config.update(MAILSDK_FROM="App <app@example.com>", MAILSDK_RETRY={"attempts": 1})
    app.config.update(config)
    mail.init_app(app)

    @app.post("/signup")
    def signup() -> dict[str, Any]:
        result = mail.send(
            to=request.form["email"], subject="Welcome", text="Hello!", html="<p>Hello!</p>"
        )
        return {"message_id": result.message_id, "relay": result.relay}

    @app.post("/digest")
    def digest() -> dict[str, Any]:
        outcomes = mail.send_many(
            {"to": f"user{n}@example.com", "subject": f"Digest {n}", "text": "..."}
            for n in range(3)
        )
        return {"sent": sum(isinstance(o, SendResult) for o in outcomes)}

    return app


def test_a_request_sends_through_the_relay(relay_factory: Callable[..., LocalRelay]) -> None:
    relay = relay_factory(tls="starttls", require_auth=True)
    app = create_app(MAILSDK_URL=relay_url(relay))
    response = app.test_client().post("/signup", data={"email": "alice@example.com"})
    assert response.status_code == 200
    (received,) = relay.wait_for(1)
    assert received.mail_from == "app@example.com"  # MAILSDK_FROM
    assert received.rcpt_tos == ["alice@example.com"]
    message = parsed(received.data)
    assert message["Message-ID"] == response.json["message_id"]  # type: ignore[index]
    assert message["Subject"] == "Welcome"


def test_failover_list_from_config(relay_factory: Callable[..., LocalRelay]) -> None:
    broken = relay_factory(tls="starttls", require_auth=True)
    broken.mail_reply = "421 4.3.2 try later"
    backup = relay_factory(tls="starttls", require_auth=True)
    app = create_app(MAILSDK_URL=[relay_url(broken), relay_url(backup)])
    response = app.test_client().post("/signup", data={"email": "a@example.com"})
    assert response.json["relay"].endswith(f":{backup.port}")  # type: ignore[index]
    assert backup.wait_for(1)


def test_testing_mode_collects_an_outbox_per_app() -> None:
    first, second = create_app(TESTING=True), create_app(TESTING=True)
    first.test_client().post("/signup", data={"email": "a@example.com"})
    first.test_client().post("/digest")
    second.test_client().post("/signup", data={"email": "b@example.com"})
    with first.app_context():
        subjects = [o.message.subject for o in mail.outbox]
        assert subjects == ["Welcome", "Digest 0", "Digest 1", "Digest 2"]
        assert mail.outbox[0].envelope.rcpt_to == ("a@example.com",)
    with second.app_context():
        assert [o.envelope.rcpt_to for o in mail.outbox] == [("b@example.com",)]


def test_without_keep_alive_the_context_sender_is_closed_on_teardown(
    monkeypatch: pytest.MonkeyPatch, relay_factory: Callable[..., LocalRelay]
) -> None:
    closed: list[Sender] = []

    class RecordingSender(Sender):
        def close(self) -> None:
            closed.append(self)
            super().close()

    monkeypatch.setattr(flask_integration, "Sender", RecordingSender)
    relay = relay_factory(tls="starttls", require_auth=True)
    app = create_app(MAILSDK_URL=relay_url(relay), MAILSDK_KEEP_ALIVE=False)
    client = app.test_client()
    client.post("/signup", data={"email": "a@example.com"})
    client.post("/signup", data={"email": "b@example.com"})
    assert len(closed) == 2  # one sender per request, each closed when the request ended
    assert relay.sessions == 2
    with app.app_context():
        assert mail.sender is mail.sender  # one sender for the whole context
        mail.send(to="c@example.com", subject="CLI", text="from a CLI command")
    assert len(closed) == 3


def test_keep_alive_shares_one_sender_across_requests(
    relay_factory: Callable[..., LocalRelay],
) -> None:
    relay = relay_factory(tls="starttls", require_auth=True)
    app = create_app(MAILSDK_URL=relay_url(relay))  # keep-alive is the default
    client = app.test_client()
    for n in range(3):
        client.post("/signup", data={"email": f"u{n}@example.com"})
    assert len(relay.wait_for(3)) == 3
    assert relay.sessions == 1  # the pooled connection outlived each request
    with app.app_context():
        assert (
            mail.sender
            is create_app(MAILSDK_URL=relay_url(relay)).extensions["mailsdk"].shared_sender()
        )  # another app configured alike shares the sender
        mail.sender.close()


def test_messages_dicts_and_keywords() -> None:
    app = create_app(TESTING=True)
    with app.app_context():
        mail.send(Message(from_="other@example.com", to="a@example.com", subject="object"))
        mail.send({"to": "b@example.com", "subject": "dict"})
        mail.send({"from": "dict-sender@example.com", "to": "c@example.com", "subject": "from"})
        mail.send(to="d@example.com", subject="keywords")
        built = mail.message(to="e@example.com", subject="built")
        senders = [o.message.sender.email for o in mail.outbox]
    assert senders == [
        "other@example.com",
        "app@example.com",
        "dict-sender@example.com",
        "app@example.com",
    ]
    assert built.sender.email == "app@example.com"


def test_send_many_takes_the_apps_sender_and_reports_a_bad_mapping_as_its_entry() -> None:
    app = create_app(TESTING=True)
    rows = [
        {"to": "a@example.com", "subject": "one"},
        {"to": "not an address", "subject": "bad"},
        {"from": "dict-sender@example.com", "to": "c@example.com", "subject": "three"},
    ]
    with app.app_context():
        outcomes = mail.send_many(iter(rows))
        sent = [(o.message.sender.email, o.message.subject) for o in mail.outbox]
    assert [type(o).__name__ for o in outcomes] == ["SendResult", "MessageError", "SendResult"]
    assert sent == [("app@example.com", "one"), ("dict-sender@example.com", "three")]


def test_configuration() -> None:
    app = create_app(
        TESTING=True,
        MAILSDK_RETRY={"attempts": 4},
        MAILSDK_COOLDOWN=3,
        MAILSDK_STRATEGY="round_robin",
        MAILSDK_ON_EVENT="logging.debug",
    )
    with app.app_context():
        transport = mail.sender.async_sender.transport
        # A web request's deadline (10 s) unless MAILSDK_DEADLINE or the retry policy says.
        assert transport.retry == RetryPolicy(attempts=4, deadline=10)  # type: ignore[attr-defined]
        assert transport.cooldown == 3.0  # type: ignore[attr-defined]
        assert type(transport).__name__ == "RoundRobinTransport"


@pytest.mark.parametrize(
    ("config", "match"),
    [
        ({}, "MAILSDK_URL is not set"),
        ({"MAILSDK_URL": "smtp://"}, "no host"),
        ({"MAILSDK_URL": "memory://", "MAILSDK_STRATEGY": "random"}, "MAILSDK_STRATEGY"),
        ({"MAILSDK_URL": "memory://", "MAILSDK_RETRY": {"tries": 1}}, "MAILSDK_RETRY"),
    ],
)
def test_configuration_errors_at_init_app(config: dict[str, Any], match: str) -> None:
    app = Flask(__name__)
    app.config.update(config)
    with pytest.raises(ConfigurationError, match=match):
        Mail(app)


def test_misuse_is_explained() -> None:
    app = Flask(__name__)
    with app.app_context(), pytest.raises(RuntimeError, match="init_app"):
        mail.send(to="a@example.com")
    live = create_app(MAILSDK_URL="memory://")
    with live.app_context():
        with pytest.raises(RuntimeError, match="testing mode"):
            mail.outbox  # noqa: B018
        with pytest.raises(TypeError, match="not both"):
            mail.send(Message(from_="a@example.com", to="b@example.com"), subject="x")


def test_a_plain_message_takes_the_apps_default_sender(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MAILSDK_FROM", raising=False)
    # Flask-Mail users build Message(...) without a sender inside the app.
    first = create_app(TESTING=True, MAILSDK_FROM="First <first@example.com>")
    second = create_app(TESTING=True, MAILSDK_FROM="Second <second@example.com>")
    for app, expected in (
        (first, "First <first@example.com>"),
        (second, "Second <second@example.com>"),
    ):
        with app.app_context():
            message = Message(to="alice@example.com", subject="Hi", text="Hello")
            assert str(message.sender) == expected
            mail.send(message)
            assert [str(o.message.sender) for o in mail.outbox] == [expected]
    with pytest.raises(MailError, match="no sender"):
        Message(to="alice@example.com", subject="outside any app", text="x")
