"""Sending controls and the suppression list configured through Django settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.core import mail
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings
from mail_helpers import parsed, relay_url

from mailsdk import CancelSend, Message, Suppressions
from mailsdk.devserver import LocalRelay

pytestmark = pytest.mark.usefixtures("django_project")

NO_RETRY = {"attempts": 1, "backoff": 0, "jitter": 0}


def via(relay: LocalRelay, **extra: Any) -> override_settings:
    return override_settings(MAILSDK={"URL": relay_url(relay), "RETRY": NO_RETRY, **extra})


def cancel_newsletters(message: Message) -> None:
    """A before_send hook named by its dotted path in the settings."""
    if message.subject.startswith("Newsletter"):
        raise CancelSend("newsletters are paused")


def test_redirect_and_a_hook_from_the_mailsdk_setting(smtp_relay: LocalRelay) -> None:
    def stamp(message: Message) -> Message:
        return message.model_copy(update={"headers": {"X-Env": "staging"}})

    with via(smtp_relay, REDIRECT_TO="qa@example.com", BEFORE_SEND=[stamp]):
        sent = mail.send_mail("Hello", "Body", None, ["alice@customer.test"])
    assert sent == 1
    (received,) = smtp_relay.wait_for(1)
    assert received.rcpt_tos == ["qa@example.com"]
    headers = parsed(received.data)
    assert headers["X-Mailsdk-Original-To"] == "alice@customer.test"
    assert headers["X-Env"] == "staging"


def test_a_cancelled_message_is_not_counted_and_not_raised(smtp_relay: LocalRelay) -> None:
    hook = f"{__name__}.cancel_newsletters"
    with via(smtp_relay, BEFORE_SEND=hook):
        newsletter = mail.EmailMessage("Newsletter #4", "...", None, ["alice@example.com"])
        receipt = mail.EmailMessage("Receipt", "...", None, ["alice@example.com"])
        sent = mail.get_connection().send_messages([newsletter, receipt])
    assert sent == 1
    assert isinstance(newsletter.mailsdk_error, CancelSend)  # type: ignore[attr-defined]
    assert [parsed(m.data)["Subject"] for m in smtp_relay.wait_for(1)] == ["Receipt"]


def test_allowed_recipients_from_the_environment(
    smtp_relay: LocalRelay, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAILSDK_ALLOWED_RECIPIENTS", "*@example.com")
    with via(smtp_relay):
        message = mail.EmailMessage("Hi", "...", None, ["alice@example.com", "c@customer.test"])
        assert message.send() == 1
    (received,) = smtp_relay.wait_for(1)
    assert received.rcpt_tos == ["alice@example.com"]
    result = message.mailsdk_result  # type: ignore[attr-defined]
    assert "allowed_recipients" in result.refused["c@customer.test"].text


def test_the_suppressions_db_setting_is_honoured(smtp_relay: LocalRelay, tmp_path: Path) -> None:
    db = tmp_path / "mail.sqlite3"
    with Suppressions(db) as store:
        store.add("gone@example.com", "hard_bounce", "postmark")
    with via(smtp_relay, SUPPRESSIONS_DB=str(db)):
        sent = mail.send_mail("Hi", "...", None, ["gone@example.com", "ok@example.com"])
    assert sent == 1
    assert smtp_relay.wait_for(1)[0].rcpt_tos == ["ok@example.com"]


def test_routes_in_mailers_options(relay_factory: Any) -> None:
    main = relay_factory(tls="starttls", require_auth=True)
    bulk = relay_factory(tls="starttls", require_auth=True)
    from mailsdk.integrations.django import EmailBackend

    backend = EmailBackend(url=relay_url(main), retry=NO_RETRY, routes={"bulk": relay_url(bulk)})
    result = backend.sender.send(
        Message(from_="a@example.com", to=["b@example.com"], subject="s", text="t"),
        route="bulk",
    )
    assert result.relay.endswith(f":{bulk.port}")
    assert len(bulk.wait_for(1)) == 1
    assert main.messages == []


def test_a_bad_control_setting_is_improperly_configured(smtp_relay: LocalRelay) -> None:
    with (
        via(smtp_relay, ALLOWED_RECIPIENTS=["example.com"]),
        pytest.raises(ImproperlyConfigured, match="allowed_recipients"),
    ):
        mail.get_connection()
