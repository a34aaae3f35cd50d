"""Django and Flask: one sender per configuration for the process, a request-friendly
deadline, start-up checks of the mail settings, and capture with zero configuration."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import keyring
import pytest
from django.core import mail
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings
from flask import Flask
from mail_helpers import relay_url

from mailsdk import MailError
from mailsdk.devserver import LocalRelay
from mailsdk.integrations.django import check_mail_settings
from mailsdk.integrations.flask import Mail
from mailsdk.options import FRAMEWORK_DEADLINE
from mailsdk.testing import Outbox
from tests.conftest import ForbiddenKeyring
from tests.integration.faulty_relays import silent_relay

pytestmark = pytest.mark.usefixtures("django_project")

POOL_MAX = 4  # SMTPTransport's default max_connections


@pytest.fixture
def no_keyring() -> Iterator[None]:
    previous = keyring.get_keyring()
    keyring.set_keyring(ForbiddenKeyring())
    yield
    keyring.set_keyring(previous)


@pytest.fixture(name="silent_relay")
def silent_relay_url() -> Iterator[str]:
    """A URL of a relay that accepts connections and never greets (a hung relay)."""
    with silent_relay() as (port, _):
        yield f"smtp://127.0.0.1:{port}?tls=none"


# -- one sender per configuration ----------------------------------------------------------------


def test_a_hundred_send_mail_calls_share_one_pool(smtp_relay: LocalRelay) -> None:
    settings = {"URL": relay_url(smtp_relay), "RETRY": {"attempts": 1}}
    # A hundred calls from many threads at once, a backend each (as Django makes them).
    with override_settings(MAILSDK=settings), ThreadPoolExecutor(max_workers=12) as pool:
        sent = list(
            pool.map(
                lambda n: mail.send_mail(f"t={n}", "x", None, [f"t{n}@example.com"]),
                range(100),
            )
        )
    assert sum(sent) == 100
    assert len(smtp_relay.wait_for(100)) == 100
    assert smtp_relay.sessions <= POOL_MAX


def test_sequential_send_mail_calls_reuse_one_connection(smtp_relay: LocalRelay) -> None:
    with override_settings(MAILSDK={"URL": relay_url(smtp_relay), "RETRY": {"attempts": 1}}):
        for n in range(100):
            mail.send_mail(f"n={n}", "x", None, ["a@example.com"])
    assert len(smtp_relay.wait_for(100)) == 100
    assert smtp_relay.sessions == 1


def test_backends_configured_alike_share_a_sender_and_others_do_not(
    smtp_relay: LocalRelay, relay_factory: Callable[..., LocalRelay]
) -> None:
    other = relay_factory(tls="starttls", require_auth=True)
    with override_settings(MAILSDK={"URL": relay_url(smtp_relay)}):
        first, second = mail.get_connection(), mail.get_connection()
    with override_settings(MAILSDK={"URL": relay_url(other)}):
        third = mail.get_connection()
    assert first.sender is second.sender
    assert third.sender is not first.sender


def _wait_for_child(pid: int, timeout: float) -> int:
    """The child's wait status; a child that hangs is killed and fails the test."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        time.sleep(0.05)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    pytest.fail(f"the forked child did not finish within {timeout:g} s")


def test_a_forked_child_sends_through_its_own_connections(smtp_relay: LocalRelay) -> None:
    with override_settings(MAILSDK={"URL": relay_url(smtp_relay), "RETRY": {"attempts": 1}}):
        mail.send_mail("parent", "x", None, ["a@example.com"])
        pid = os.fork()
        if pid == 0:  # the child: the parent's loop thread and socket do not exist here
            try:
                code = 0 if mail.send_mail("child", "x", None, ["a@example.com"]) == 1 else 1
            except BaseException:
                code = 2
            os._exit(code)
        status = _wait_for_child(pid, timeout=60)
        mail.send_mail("parent again", "x", None, ["a@example.com"])
    assert os.waitstatus_to_exitcode(status) == 0
    subjects = sorted(
        m.data.split(b"Subject: ")[1].split(b"\r\n")[0] for m in smtp_relay.wait_for(3)
    )
    assert subjects == [b"child", b"parent", b"parent again"]


def test_flask_requests_share_one_pool(relay_factory: Callable[..., LocalRelay]) -> None:
    relay = relay_factory(tls="starttls", require_auth=True)
    app = Flask(__name__)
    app.config.update(MAILSDK_URL=relay_url(relay), MAILSDK_FROM="app@example.com")
    ext = Mail(app)

    @app.post("/send")
    def send() -> dict[str, Any]:
        return {"id": ext.send(to="a@example.com", subject="s", text="x").message_id}

    def post(_: int) -> int:
        return app.test_client().post("/send").status_code

    with ThreadPoolExecutor(max_workers=12) as pool:
        codes = list(pool.map(post, range(100)))
    assert codes == [200] * 100
    assert len(relay.wait_for(100)) == 100
    assert relay.sessions <= POOL_MAX


# -- a deadline for web requests ---------------------------------------------------------------


def test_the_default_deadline_suits_a_web_request() -> None:
    with override_settings(MAILSDK={"URL": "memory://"}):
        backend = mail.get_connection()
    policy = backend.config.options.retry_policy()
    assert policy is not None
    assert policy.deadline == FRAMEWORK_DEADLINE == 10.0
    app = Flask(__name__)
    app.config.update(TESTING=True)
    ext = Mail(app)
    with app.app_context():
        assert ext.sender.async_sender.transport.retry.deadline == 10.0  # type: ignore[attr-defined]


def test_a_hung_relay_costs_the_deadline_not_minutes(silent_relay: str) -> None:
    # Without a deadline: 3 tries x a 30 s greeting timeout, plus backoff (92.7 s measured).
    with override_settings(MAILSDK={"URL": silent_relay, "DEADLINE": 1}):
        started = time.monotonic()
        with pytest.raises(MailError):
            mail.send_mail("hung", "x", None, ["a@example.com"])
        elapsed = time.monotonic() - started
    assert elapsed < 15


# -- system checks -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "complaint"),
    [
        ({"URL": "smpt://app@mail.example.com:587"}, "did you mean smtp://"),
        ({"URL": "smtp://app@mail.example.com:587?tmeout=3"}, "tmeout"),
        ({"URL": "nope"}, "not a URL"),
        ({"URL": "memory://", "STRATEGY": "random"}, "strategy"),
        ({"URL": "memory://", "DEADLINE": "soon"}, "deadline"),
    ],
)
@pytest.mark.usefixtures("no_keyring")
def test_manage_py_check_fails_on_bad_mail_settings(
    settings: dict[str, Any], complaint: str
) -> None:
    with override_settings(MAILSDK=settings):
        (error,) = check_mail_settings()
        assert complaint in error.msg
        assert error.id == "mailsdk.E001"
        with pytest.raises(SystemCheckError, match=r"mailsdk\.E001"):
            call_command("check")


@pytest.mark.usefixtures("no_keyring")
def test_a_missing_extra_is_a_check_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "botocore", None)
    monkeypatch.delitem(sys.modules, "mailsdk.transports.http.ses", raising=False)
    with override_settings(MAILSDK={"URL": "ses://eu-west-1"}):
        (error,) = check_mail_settings()
    assert "pip install 'mailsdk[ses]'" in error.msg


@pytest.mark.usefixtures("no_keyring")
def test_good_settings_pass_the_check_without_a_secret_lookup() -> None:
    with override_settings(MAILSDK={"URL": "smtp://app@mail.example.com:587"}):
        assert check_mail_settings() == []
        call_command("check")


def test_the_app_config_can_be_installed() -> None:
    apps = ["django.contrib.contenttypes", "mailsdk_testproject"]
    with override_settings(INSTALLED_APPS=[*apps, "mailsdk.integrations.django.MailsdkConfig"]):
        from django.apps import apps as registry

        assert registry.get_app_config("mailsdk").name == "mailsdk.integrations.django"
        call_command("check")


# -- capture with zero configuration -------------------------------------------------------------


@pytest.mark.usefixtures("no_keyring")
def test_django_sends_to_the_outbox_without_a_secret(mail_outbox: Outbox) -> None:
    with override_settings(MAILSDK={"URL": "smtp://app@mail.example.com:587"}):
        mail.send_mail("Captured", "x", None, ["a@example.com"])
    mail_outbox.assert_sent(to="a@example.com", subject="Captured")


@pytest.mark.usefixtures("no_keyring")
def test_flask_sends_to_the_outbox_without_a_secret(mail_outbox: Outbox) -> None:
    app = Flask(__name__)
    app.config.update(MAILSDK_URL="smtp://app@mail.example.com:587", MAILSDK_FROM="app@example.com")
    ext = Mail(app)
    with app.app_context():
        ext.send(to="b@example.com", subject="Captured", text="x")
    mail_outbox.assert_sent(to="b@example.com", subject="Captured", count=1)
