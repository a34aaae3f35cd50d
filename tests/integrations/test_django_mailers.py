"""Django 6.1's MAILERS setting with the mailsdk backend: named mailers on different relays.

Runs only where Django 6.1 or later is installed (``nox -s django``, the 6.1 run).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from typing import Any

import django
import pytest
from mail_helpers import parsed, relay_url

from mailsdk import RetryPolicy
from mailsdk.devserver import LocalRelay
from mailsdk.integrations.django import EmailBackend

pytestmark = [
    pytest.mark.skipif(django.VERSION < (6, 1), reason="MAILERS is new in Django 6.1"),
    pytest.mark.usefixtures("django_project"),
]

BACKEND = "mailsdk.integrations.django.EmailBackend"
NO_RETRY = {"attempts": 1, "backoff": 0, "jitter": 0}


@pytest.fixture
def relays(relay_factory: Callable[..., LocalRelay]) -> tuple[LocalRelay, LocalRelay]:
    """Two submission relays: one for transactional mail, one for bulk mail."""
    return (
        relay_factory(tls="starttls", require_auth=True),
        relay_factory(tls="starttls", require_auth=True),
    )


@pytest.fixture
def mailers(relays: tuple[LocalRelay, LocalRelay]) -> Iterator[None]:
    """MAILERS with a default mailer, a bulk mailer with its own sender, and a plain-SMTP
    mailer configured with Django's own SMTP option names."""
    from django.test import override_settings

    transactional, bulk = relays
    config = {
        "default": {
            "BACKEND": BACKEND,
            "OPTIONS": {"url": relay_url(transactional), "retry": NO_RETRY},
        },
        "bulk": {
            "BACKEND": BACKEND,
            "OPTIONS": {
                "url": [relay_url(bulk)],
                "from_email": "News <news@example.com>",
                "retry": RetryPolicy(attempts=1),
                "cooldown": 5,
            },
        },
    }
    with override_settings(MAILERS=config):
        yield


@pytest.mark.usefixtures("mailers")
def test_named_mailers_send_through_their_own_relays(
    relays: tuple[LocalRelay, LocalRelay],
) -> None:
    from django.core import mail
    from django.core.mail import EmailMessage

    transactional, bulk = relays
    assert mail.send_mail("Receipt", "x", None, ["a@example.com"]) == 1
    assert mail.send_mail("Newsletter", "x", None, ["b@example.com"], using="bulk") == 1
    message = EmailMessage("Digest", "x", None, ["c@example.com"])
    assert message.send(using="bulk") == 1
    assert message.mailsdk_result.relay.endswith(f":{bulk.port}")

    (receipt,) = transactional.wait_for(1)
    assert receipt.mail_from == "site@example.com"  # DEFAULT_FROM_EMAIL
    newsletter, digest = bulk.wait_for(2)
    assert newsletter.mail_from == "news@example.com"  # the bulk mailer's from_email
    assert parsed(digest.data)["From"] == "News <news@example.com>"


@pytest.mark.usefixtures("mailers")
def test_options_reach_the_backend() -> None:
    from django.core import mail

    backend = mail.mailers["bulk"]
    assert isinstance(backend, EmailBackend)
    assert backend.alias == "bulk"
    assert backend.config.options.retry == RetryPolicy(attempts=1)
    assert backend.config.options.deadline is None  # the RetryPolicy brings its own
    assert backend.config.options.cooldown == 5.0
    assert backend.config.from_email == "News <news@example.com>"


@pytest.mark.usefixtures("mailers")
def test_mailers_send_messages_and_connection_reuse(relays: tuple[LocalRelay, LocalRelay]) -> None:
    from django.core import mail
    from django.core.mail import EmailMessage

    transactional, _ = relays
    with mail.mailers.default as connection:
        messages = [EmailMessage(f"n={n}", "x", None, ["a@example.com"]) for n in range(3)]
        assert connection.send_messages(messages) == 3
    assert transactional.sessions == 1
    assert all(m.mailsdk_result.accepted == ["a@example.com"] for m in messages)


@pytest.mark.usefixtures("mailers")
def test_mail_admins_using_a_named_mailer(relays: tuple[LocalRelay, LocalRelay]) -> None:
    from django.core import mail

    _, bulk = relays
    mail.mail_admins("Disk full", "db1", using="bulk")
    (received,) = bulk.wait_for(1)
    assert received.rcpt_tos == ["ops@example.com"]
    assert received.mail_from == "server@example.com"  # SERVER_EMAIL is not the default sender


def test_smtp_option_names_and_errors_name_the_mailer(
    relay_factory: Callable[..., LocalRelay],
) -> None:
    from django.core import mail
    from django.core.exceptions import ImproperlyConfigured
    from django.core.mail import InvalidMailer
    from django.test import override_settings

    relay = relay_factory(tls="none", users=None)
    config: dict[str, Any] = {
        "plain": {"BACKEND": BACKEND, "OPTIONS": {"host": "127.0.0.1", "port": relay.port}},
        "typo": {"BACKEND": BACKEND, "OPTIONS": {"url": "memory://", "retries": 3}},
        "empty": {"BACKEND": BACKEND},
        "both": {"BACKEND": BACKEND, "OPTIONS": {"url": "memory://", "host": "x"}},
    }
    with override_settings(MAILERS=config):
        assert mail.send_mail("Plain", "x", "app@example.com", ["a@example.com"], using="plain")
        with pytest.raises(InvalidMailer, match=r"MAILERS\['typo'\].*'retries'"):
            mail.mailers["typo"]
        with pytest.raises(InvalidMailer, match=r"MAILERS\['empty'\].*'url' or 'host'"):
            mail.mailers["empty"]
        with pytest.raises(ImproperlyConfigured, match="not both"):
            mail.mailers["both"]
    assert relay.wait_for(1)[0].rcpt_tos == ["a@example.com"]


@pytest.mark.usefixtures("mailers")
def test_no_deprecation_warning_from_the_backend() -> None:
    from django.core import mail
    from django.core.mail import EmailMessage
    from django.utils.deprecation import RemovedInDjango2028Warning

    with warnings.catch_warnings():
        warnings.simplefilter("error", RemovedInDjango2028Warning)
        backend = mail.mailers["bulk"]
        assert backend.fail_silently is False
        assert backend.send_messages([EmailMessage("x", "y", None, ["a@example.com"])]) == 1


@pytest.mark.usefixtures("mailers")
def test_deprecated_get_connection_keywords_still_work() -> None:
    from django.core import mail
    from django.core.exceptions import ImproperlyConfigured

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        # get_connection(fail_silently=True) becomes an OPTIONS override of the default mailer.
        connection = mail.get_connection(fail_silently=True)
        assert connection.alias == "default"
        assert connection.fail_silently is True
        # Credentials per call cannot be combined with a URL: they belong in the URL.
        with pytest.raises(ImproperlyConfigured, match="not both"):
            mail.send_mail("x", "y", None, ["a@example.com"], auth_user="u", auth_password="p")
