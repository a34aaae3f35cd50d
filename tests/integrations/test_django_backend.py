"""The Django email backend, driven through django.core.mail against a real local relay.

Settings come from the test project (EMAIL_BACKEND + MAILSDK, memory:// by default); each
test points MAILSDK at the in-process relay it needs with override_settings.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from email.mime.application import MIMEApplication
from email.mime.image import MIMEImage
from email.mime.text import MIMEText
from typing import Any

import pytest
from django.core import mail
from django.core.exceptions import ImproperlyConfigured
from django.core.mail import EmailMessage, EmailMultiAlternatives
from django.test import Client, override_settings
from django.utils.translation import gettext_lazy
from mail_helpers import parsed, relay_url
from mailsdk_testproject.views import LOGO

from mailsdk import (
    DeliveryFailed,
    MailError,
    MessageError,
    OutgoingMessage,
    RetryPolicy,
    SendResult,
)
from mailsdk.devserver import LocalRelay
from mailsdk.integrations.django import EmailBackend, convert_message

pytestmark = pytest.mark.usefixtures("django_project")

NO_RETRY = {"attempts": 1, "backoff": 0, "jitter": 0}


def via(relay: LocalRelay, **extra: Any) -> override_settings:
    """Settings that send through *relay* (with the test login), without retries."""
    return override_settings(MAILSDK={"URL": relay_url(relay), "RETRY": NO_RETRY, **extra})


def only_received(relay: LocalRelay) -> Any:
    (received,) = relay.wait_for(1)
    return received


# -- the django.core.mail API ------------------------------------------------------------------


def test_send_mail_reaches_the_relay_with_djangos_defaults(smtp_relay: LocalRelay) -> None:
    with via(smtp_relay):
        sent = mail.send_mail("Hello", "Body text", None, ["Alice <alice@example.com>"])
    assert sent == 1
    received = only_received(smtp_relay)
    assert received.mail_from == "site@example.com"  # DEFAULT_FROM_EMAIL
    assert received.rcpt_tos == ["alice@example.com"]
    headers = parsed(received.data)
    assert headers["From"] == "Example Site <site@example.com>"
    assert headers["To"] == "Alice <alice@example.com>"
    assert headers["Subject"] == "Hello"
    assert headers.get_content().strip() == "Body text"


def test_send_mail_with_html_message_is_multipart_alternative(smtp_relay: LocalRelay) -> None:
    with via(smtp_relay):
        mail.send_mail(
            "Hi", "plain", "app@example.com", ["a@example.com"], html_message="<b>rich</b>"
        )
    message = parsed(only_received(smtp_relay).data)
    assert message.get_content_type() == "multipart/alternative"
    plain = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert plain is not None
    assert plain.get_content().strip() == "plain"
    assert html is not None
    assert html.get_content().strip() == "<b>rich</b>"


def test_cc_bcc_and_reply_to(smtp_relay: LocalRelay) -> None:
    message = EmailMessage(
        "Team",
        "Body",
        "app@example.com",
        ["to@example.com"],
        bcc=["hidden@example.com"],
        cc=["Carol <cc@example.com>"],
        reply_to=["replies@example.com"],
    )
    with via(smtp_relay):
        assert message.send() == 1
    received = only_received(smtp_relay)
    assert sorted(received.rcpt_tos) == ["cc@example.com", "hidden@example.com", "to@example.com"]
    headers = parsed(received.data)
    assert headers["Cc"] == "Carol <cc@example.com>"
    assert headers["Reply-To"] == "replies@example.com"
    assert "Bcc" not in headers
    assert b"hidden@example.com" not in received.data


def test_attachments_given_as_tuples_and_files(smtp_relay: LocalRelay, tmp_path: Any) -> None:
    report = tmp_path / "report.pdf"
    report.write_bytes(b"%PDF-1.4 binary \x00\xff")
    message = EmailMessage("Files", "See attached.", "app@example.com", ["a@example.com"])
    message.attach("notes.txt", "naïve notes", "text/plain")
    message.attach("data.bin", b"\x00\x01\x02", "application/octet-stream")
    message.attach_file(str(report))
    with via(smtp_relay):
        message.send()
    parts = {
        part.get_filename(): part
        for part in parsed(only_received(smtp_relay).data).iter_attachments()
    }
    assert set(parts) == {"notes.txt", "data.bin", "report.pdf"}
    assert parts["notes.txt"].get_content_type() == "text/plain"
    assert parts["notes.txt"].get_content_charset() == "utf-8"  # as Django's docs promise
    assert parts["notes.txt"].get_content() == "naïve notes"
    assert parts["notes.txt"].get_payload(decode=True) == "naïve notes".encode()
    assert parts["data.bin"].get_payload(decode=True) == b"\x00\x01\x02"
    assert parts["report.pdf"].get_content_type() == "application/pdf"
    assert parts["report.pdf"].get_payload(decode=True) == b"%PDF-1.4 binary \x00\xff"


def test_text_attachments_keep_a_declared_charset(smtp_relay: LocalRelay) -> None:
    message = EmailMessage("Files", "See attached.", "app@example.com", ["a@example.com"])
    message.attach("latin.txt", "café", 'text/plain; charset="iso-8859-1"')
    with via(smtp_relay):
        message.send()
    parts = {
        part.get_filename(): part
        for part in parsed(only_received(smtp_relay).data).iter_attachments()
    }
    assert parts["latin.txt"].get_content_charset() == "iso-8859-1"
    assert parts["latin.txt"].get_payload(decode=True) == b"caf\xe9"
    assert parts["latin.txt"].get_content() == "café"


def test_mimebase_attachment_and_inline_image(smtp_relay: LocalRelay) -> None:
    message = EmailMultiAlternatives("Logo", "text", "app@example.com", ["a@example.com"])
    message.attach_alternative('<img src="cid:logo@site">', "text/html")
    logo = MIMEImage(LOGO, "png")
    logo.add_header("Content-ID", "<logo@site>")
    logo.add_header("Content-Disposition", "inline", filename="logo.png")
    invoice = MIMEApplication(b"%PDF invoice", "pdf")
    invoice.add_header("Content-Disposition", "attachment", filename="invoice.pdf")
    message.attachments.extend([logo, invoice])
    with via(smtp_relay):
        message.send()
    received = parsed(only_received(smtp_relay).data)
    related = next(p for p in received.walk() if p.get_content_type() == "multipart/related")
    image = next(p for p in related.iter_parts() if p.get_content_type() == "image/png")
    assert image["Content-ID"] == "<logo@site>"
    assert image.get_content_disposition() == "inline"
    assert image.get_payload(decode=True) == LOGO
    (attached,) = received.iter_attachments()
    assert attached.get_filename() == "invoice.pdf"
    assert attached.get_payload(decode=True) == b"%PDF invoice"


def test_mimepart_attachment_from_the_modern_email_api(smtp_relay: LocalRelay) -> None:
    from email.message import MIMEPart

    part = MIMEPart()
    part.set_content(b"col\n1\n", maintype="text", subtype="csv", filename="table.csv")
    message = EmailMessage("CSV", "Attached.", "app@example.com", ["a@example.com"])
    message.attachments.append(part)
    with via(smtp_relay):
        message.send()
    (attached,) = parsed(only_received(smtp_relay).data).iter_attachments()
    assert attached.get_filename() == "table.csv"
    assert attached.get_content_type() == "text/csv"
    assert attached.get_payload(decode=True) == b"col\n1\n"


def test_extra_headers_and_a_display_from(smtp_relay: LocalRelay) -> None:
    message = EmailMessage(
        "Headers",
        "Body",
        "bounces@example.com",
        ["a@example.com"],
        headers={
            "From": "Support Team <support@example.com>",
            "Reply-To": "Desk <desk@example.com>",
            "To": "Alice Example <a@example.com>",
            "X-Campaign": "spring",
            "Message-ID": "<fixed-1@example.com>",
        },
    )
    with via(smtp_relay):
        message.send()
    received = only_received(smtp_relay)
    # As with Django's SMTP backend, from_email stays the envelope sender.
    assert received.mail_from == "bounces@example.com"
    headers = parsed(received.data)
    assert headers["From"] == "Support Team <support@example.com>"
    assert headers["Reply-To"] == "Desk <desk@example.com>"
    assert headers["To"] == "Alice Example <a@example.com>"
    assert headers["X-Campaign"] == "spring"
    assert headers["Message-ID"] == "<fixed-1@example.com>"
    assert message.mailsdk_result.message_id == "<fixed-1@example.com>"


def test_lazy_and_non_ascii_values(smtp_relay: LocalRelay) -> None:
    message = EmailMessage(
        gettext_lazy("Grüße"),
        gettext_lazy("Körper"),
        "Zoë <app@example.com>",
        ["Jürgen <j@bücher.example>"],
    )
    with via(smtp_relay):
        message.send()
    received = only_received(smtp_relay)
    assert received.rcpt_tos == ["j@xn--bcher-kva.example"]
    headers = parsed(received.data)
    assert headers["Subject"] == "Grüße"
    assert headers["From"].addresses[0].display_name == "Zoë"


def test_send_messages_counts_sent_messages_and_skips_empty_ones(smtp_relay: LocalRelay) -> None:
    messages = [
        EmailMessage("one", "1", "app@example.com", ["a@example.com"]),
        EmailMessage("none", "-", "app@example.com", []),
        EmailMessage("two", "2", "app@example.com", ["b@example.com"]),
    ]
    with via(smtp_relay):
        connection = mail.get_connection()
        assert connection.send_messages(messages) == 2
        assert connection.send_messages([]) == 0
    assert len(smtp_relay.wait_for(2)) == 2
    assert messages[1].__dict__.get("mailsdk_result") is None


def test_open_and_close_reuse_one_connection(smtp_relay: LocalRelay) -> None:
    with via(smtp_relay), mail.get_connection() as connection:
        assert connection.open() is False  # already open
        for n in range(3):
            EmailMessage(
                f"n={n}", "x", "app@example.com", ["a@example.com"], connection=connection
            ).send()
    assert len(smtp_relay.wait_for(3)) == 3
    assert smtp_relay.sessions == 1


def test_without_keep_alive_a_backend_not_opened_closes_after_each_call(
    smtp_relay: LocalRelay,
) -> None:
    with via(smtp_relay, KEEP_ALIVE=False):
        mail.send_mail("one", "x", None, ["a@example.com"])
        mail.send_mail("two", "x", None, ["a@example.com"])
    assert len(smtp_relay.wait_for(2)) == 2
    assert smtp_relay.sessions == 2


def test_send_mass_mail(smtp_relay: LocalRelay) -> None:
    datatuple = [(f"n={n}", "body", None, [f"user{n}@example.com"]) for n in range(4)]
    with via(smtp_relay):
        assert mail.send_mass_mail(datatuple) == 4
        assert mail.send_mass_mail(datatuple, fail_silently=True) == 4
    received = smtp_relay.wait_for(8)
    assert sorted(r.rcpt_tos[0] for r in received[:4]) == [f"user{n}@example.com" for n in range(4)]


def test_mail_admins_and_managers(smtp_relay: LocalRelay) -> None:
    with via(smtp_relay):
        mail.mail_admins("Disk full", "on db1", html_message="<p>on db1</p>")
        mail.mail_managers("New signup", "alice")
    admins, managers = smtp_relay.wait_for(2)
    assert admins.mail_from == "server@example.com"
    assert admins.rcpt_tos == ["ops@example.com"]
    assert parsed(admins.data)["Subject"] == "[site] Disk full"
    assert managers.rcpt_tos == ["managers@example.com"]


# -- results and failures ----------------------------------------------------------------------


def test_result_and_failover_attempts_are_on_the_message(
    relay_factory: Callable[..., LocalRelay], caplog: pytest.LogCaptureFixture
) -> None:
    broken = relay_factory(tls="starttls", require_auth=True)
    broken.mail_reply = "421 4.3.2 shutting down"
    backup = relay_factory(tls="starttls", require_auth=True)
    message = EmailMessage("Failover", "x", "app@example.com", ["a@example.com"])
    urls = [relay_url(broken), relay_url(backup)]
    caplog.set_level(logging.INFO, logger="mailsdk.django")
    with override_settings(MAILSDK={"URL": urls, "RETRY": NO_RETRY}):
        assert message.send() == 1
    result = message.mailsdk_result
    assert isinstance(result, SendResult)
    assert message.mailsdk_error is None
    assert result.relay.endswith(f":{backup.port}")
    assert [a.outcome for a in result.attempts] == ["transient", "delivered"]
    assert backup.wait_for(1)
    assert not broken.messages
    assert any("after 2 attempt(s)" in r.getMessage() for r in caplog.records)


def test_failure_raises_the_mailsdk_error(relay_factory: Callable[..., LocalRelay]) -> None:
    relay = relay_factory(tls="starttls", require_auth=True)
    relay.mail_reply = "550 5.7.1 sender rejected"
    message = EmailMessage("Nope", "x", "app@example.com", ["a@example.com"])
    with via(relay), pytest.raises(DeliveryFailed) as caught:
        message.send()
    assert message.mailsdk_error is caught.value
    assert message.mailsdk_result is None
    assert caught.value.attempts[0].code == 550


def test_fail_silently_counts_the_failure(
    relay_factory: Callable[..., LocalRelay], caplog: pytest.LogCaptureFixture
) -> None:
    relay = relay_factory(tls="starttls", require_auth=True)
    relay.rcpt_replies["bad@example.com"] = "550 5.1.1 no such user"
    good = EmailMessage("good", "x", "app@example.com", ["ok@example.com"])
    bad = EmailMessage("bad", "x", "app@example.com", ["bad@example.com"])
    with via(relay):
        connection = mail.get_connection(fail_silently=True)
        assert connection.send_messages([bad, good]) == 1
        assert mail.send_mail("s", "x", None, ["bad@example.com"], fail_silently=True) == 0
    assert isinstance(bad.mailsdk_error, MailError)
    assert bad.mailsdk_error.refused == {"bad@example.com": (550, "5.1.1 no such user")}  # type: ignore[attr-defined]
    assert good.mailsdk_result.accepted == ["ok@example.com"]
    assert any("was not sent" in r.getMessage() for r in caplog.records)


def test_some_recipients_refused_still_counts_as_sent(
    relay_factory: Callable[..., LocalRelay],
) -> None:
    relay = relay_factory(tls="starttls", require_auth=True)
    relay.rcpt_replies["gone@example.com"] = "550 5.1.1 no such user"
    message = EmailMessage("Partly", "x", "app@example.com", ["ok@example.com", "gone@example.com"])
    with via(relay):
        assert message.send() == 1
    assert message.mailsdk_result.refused == {"gone@example.com": (550, "5.1.1 no such user")}


# -- what cannot be sent faithfully -------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "complaint"),
    [
        (
            lambda m: m.extra_headers.update({"To": "Someone Else <else@example.com>"}),
            "other addresses",
        ),
        (lambda m: m.extra_headers.update({"Cc": "cc@example.com"}), "other addresses"),
        (lambda m: m.extra_headers.update({"Bcc": "hidden@example.com"}), "Bcc"),
        (lambda m: m.attach_alternative("BEGIN:VCALENDAR", "text/calendar"), "text/calendar"),
        (
            lambda m: m.attachments.append(("fwd.eml", "Subject: x\n\nhi", "message/rfc822")),
            "rfc822",
        ),
        (
            lambda m: (
                m.attachments.append(MIMEText("x", "plain"))
                or m.attachments[-1].add_header("X-Odd", "1")
            ),
            "x-odd",
        ),
    ],
    ids=[
        "to-header",
        "cc-header",
        "bcc-header",
        "calendar-alternative",
        "rfc822",
        "odd-part-header",
    ],
)
def test_unfaithful_messages_are_refused(build: Callable[[Any], Any], complaint: str) -> None:
    def make() -> EmailMultiAlternatives:
        message = EmailMultiAlternatives("x", "y", "app@example.com", ["a@example.com"])
        build(message)
        return message

    with pytest.raises(MessageError, match=complaint):
        convert_message(make())
    with pytest.raises(MessageError):
        make().send()
    tolerated = make()
    assert mail.get_connection(fail_silently=True).send_messages([tolerated]) == 0
    assert isinstance(tolerated.mailsdk_error, MessageError)


def test_a_subclass_that_builds_its_own_mime_is_refused() -> None:
    class Custom(EmailMessage):
        def message(self, *args: Any, **kwargs: Any) -> Any:
            built = super().message(*args, **kwargs)
            built["X-Added"] = "by message()"
            return built

    with pytest.raises(MessageError, match=r"overrides message\(\)"):
        convert_message(Custom("x", "y", "app@example.com", ["a@example.com"]))


def test_html_content_subtype_and_header_case() -> None:
    message = EmailMessage("x", "<p>hi</p>", "app@example.com", ["a@example.com"])
    message.content_subtype = "html"
    message.extra_headers["reply-to"] = "ignored@example.com"  # Django ignores this spelling
    converted = convert_message(message)
    assert converted.html == "<p>hi</p>"
    assert converted.text is None
    assert converted.reply_to == []


# -- configuration -----------------------------------------------------------------------------


def test_falls_back_to_djangos_email_settings(relay_factory: Callable[..., LocalRelay]) -> None:
    relay = relay_factory(tls="none", users=None)
    with override_settings(
        MAILSDK={}, EMAIL_HOST="127.0.0.1", EMAIL_PORT=relay.port, EMAIL_TIMEOUT=5
    ):
        connection = mail.get_connection()
        assert connection.sender.name == f"smtp://127.0.0.1:{relay.port}"
        assert mail.send_mail("legacy", "x", None, ["a@example.com"]) == 1
    assert relay.wait_for(1)[0].rcpt_tos == ["a@example.com"]


def test_email_settings_are_held_to_mailsdk_security_rules() -> None:
    with (
        override_settings(MAILSDK={}, EMAIL_HOST_USER="u", EMAIL_HOST_PASSWORD="p"),
        pytest.raises(ImproperlyConfigured, match="EMAIL_USE_TLS"),
    ):
        mail.get_connection()
    with (
        override_settings(MAILSDK={}, EMAIL_USE_TLS=True, EMAIL_USE_SSL=True),
        pytest.raises(ImproperlyConfigured, match="mutually exclusive"),
    ):
        mail.get_connection()


def test_mailsdk_setting_keys() -> None:
    with override_settings(
        MAILSDK={
            "URL": "memory://",
            "FROM": "Robot <robot@example.com>",
            "RETRY": {"attempts": 5, "deadline": 10},
            "COOLDOWN": 2,
            "STRATEGY": "round_robin",
            "ON_EVENT": "logging.debug",
            "CONCURRENCY": 3,
        }
    ):
        backend = mail.get_connection()
    options = backend.config.options
    assert options.retry == RetryPolicy(attempts=5, deadline=10)
    assert options.deadline is None  # RETRY names its own deadline
    assert options.cooldown == 2.0
    assert options.strategy == "round_robin"
    assert options.on_event is logging.debug
    assert backend.config.concurrency == 3
    assert (
        convert_message(
            EmailMessage("x", "y", None, ["a@example.com"]), from_email=backend.config.from_email
        ).sender.email
        == "robot@example.com"
    )
    explicit = EmailMessage("x", "y", "me@example.com", ["a@example.com"])
    assert (
        convert_message(explicit, from_email="robot@example.com").sender.email == "me@example.com"
    )


@pytest.mark.parametrize(
    ("settings", "kwargs", "error", "match"),
    [
        ({"URLS": "memory://"}, {}, ImproperlyConfigured, "unknown MAILSDK key"),
        ({"URL": "nope"}, {}, ImproperlyConfigured, "not a URL"),
        ({"URL": "memory://", "RETRY": {"tries": 2}}, {}, ImproperlyConfigured, "retry"),
        ({"URL": "memory://", "STRATEGY": "random"}, {}, ImproperlyConfigured, "strategy"),
        ({"URL": "memory://"}, {"username": "u"}, ImproperlyConfigured, "not both"),
        ({"URL": "memory://"}, {"retries": 3}, TypeError, "retries"),
    ],
)
def test_configuration_errors(
    settings: dict[str, Any], kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    with override_settings(MAILSDK=settings), pytest.raises(error, match=match):
        EmailBackend(**kwargs)


def test_mailers_style_construction_uses_only_its_options() -> None:
    # What Django 6.1's MAILERS does: alias plus OPTIONS. The MAILSDK setting is not read.
    backend = EmailBackend(alias="bulk", url=["memory://a", "memory://b"], retry={"attempts": 2})
    assert backend.alias == "bulk"
    assert backend.sender.name == "memory://a, memory://b"
    assert backend.config.options.retry == RetryPolicy(attempts=2)
    assert backend.config.options.retry_policy() == RetryPolicy(attempts=2, deadline=10)
    with pytest.raises(ImproperlyConfigured, match=r"bulk.*'colour'"):
        EmailBackend(alias="bulk", url="memory://", colour="red")
    with pytest.raises(ImproperlyConfigured, match="'url' or 'host'"):
        EmailBackend(alias="bulk")
    smtp_style = EmailBackend(
        alias="smtp", host="mail.example.com", use_ssl=True, username="u", password="p"
    )
    assert smtp_style.sender.name == "smtps://u@mail.example.com:465"


# -- testing with mailsdk ----------------------------------------------------------------------


def test_mail_outbox_fixture_captures_django_mail(mail_outbox: list[OutgoingMessage]) -> None:
    mail.send_mail("Captured", "x", None, ["a@example.com"])
    assert [m.message.subject for m in mail_outbox] == ["Captured"]


def test_the_test_project_view_sends_through_the_backend(
    mail_outbox: list[OutgoingMessage],
) -> None:
    response = Client().post("/signup/", {"email": "new@example.com"})
    assert response.status_code == 200
    body = response.json()
    assert body["sent"] == 1
    (outgoing,) = mail_outbox
    assert outgoing.message_id == body["message_id"]
    message = outgoing.message
    assert [a.email for a in message.to] == ["new@example.com"]
    assert message.headers == {"X-Campaign": "signup"}
    (logo,) = message.attachments
    assert logo.inline
    assert logo.cid == "logo"
    assert logo.content == LOGO


def test_memory_url_keeps_messages_on_the_backend() -> None:
    connection = mail.get_connection()
    EmailMessage("kept", "x", None, ["a@example.com"], connection=connection).send()
    transport = connection.sender.async_sender.transports[0]
    assert [o.message.subject for o in transport.outbox] == ["kept"]


def test_anymail_style_attributes_are_carried_over() -> None:
    message = EmailMessage("Hi", "Body", "app@example.com", ["a@example.com"])
    message.tags = ["receipts"]  # type: ignore[attr-defined]
    message.metadata = {"order": 1234}  # type: ignore[attr-defined]
    message.track_opens = False  # type: ignore[attr-defined]
    message.track_clicks = True  # type: ignore[attr-defined]
    message.provider_options = {"postmark": {"MessageStream": "broadcast"}}  # type: ignore[attr-defined]
    converted = convert_message(message)
    assert converted.tags == ["receipts"]
    assert converted.metadata == {"order": "1234"}
    assert (converted.track_opens, converted.track_clicks) == (False, True)
    assert converted.provider_options == {"postmark": {"MessageStream": "broadcast"}}
    plain = convert_message(EmailMessage("Hi", "Body", "app@example.com", ["a@example.com"]))
    assert (plain.track_opens, plain.track_clicks, plain.provider_options) == (None, None, {})
