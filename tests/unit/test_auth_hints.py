"""The fix named for each refused-AUTH reply Microsoft 365 and Google send (one row each)."""

from __future__ import annotations

import pytest

from mailsdk.auth._hints import auth_hint
from mailsdk.classify import split_enhanced_code

MS = "smtp.office365.com"
GOOGLE = "smtp.gmail.com"


@pytest.mark.parametrize(
    ("code", "reply", "host", "mechanism", "expected"),
    [
        (
            550,
            "5.7.30 Basic authentication is not supported for Client Submission",
            MS,
            "login",
            "use OAuth",
        ),
        (
            535,
            "5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the "
            "Mailbox. Visit https://aka.ms/smtp_auth_disabled for more information.",
            MS,
            "plain",
            "SmtpClientAuthenticationDisabled $false",
        ),
        (
            535,
            "5.7.139 Authentication unsuccessful, user is locked by your organization's "
            "security defaults policy.",
            MS,
            "plain",
            "security defaults",
        ),
        (
            535,
            "5.7.139 Authentication unsuccessful, basic authentication is disabled.",
            MS,
            "login",
            "oauth=microsoft",
        ),
        (535, "5.7.3 Authentication unsuccessful", MS, "xoauth2", "SMTP.SendAsApp"),
        (535, "5.7.3 Authentication unsuccessful", MS, "xoauth2", "outlook.office365.com/.default"),
        (535, "5.7.3 Authentication unsuccessful", MS, "login", "wrong password"),
        (
            534,
            "5.7.9 Application-specific password required. For more information, go to\n"
            "5.7.9  https://support.google.com/mail/?p=InvalidSecondFactor - gsmtp",
            GOOGLE,
            "plain",
            "app password",
        ),
        (
            535,
            "5.7.8 Username and Password not accepted. For more information, go to\n"
            "5.7.8  https://support.google.com/mail/?p=BadCredentials - gsmtp",
            GOOGLE,
            "xoauth2",
            "https://mail.google.com/",
        ),
        (
            535,
            "5.7.8 Username and Password not accepted. - gsmtp",
            "smtp-relay.gmail.com",
            "plain",
            "app password",
        ),
        (534, "5.7.14 Please log in via your web browser - gsmtp", GOOGLE, "plain", "sign-in"),
    ],
)
def test_known_replies_name_the_fix(
    code: int, reply: str, host: str, mechanism: str, expected: str
) -> None:
    enhanced, text = split_enhanced_code(reply)
    hint = auth_hint(code, enhanced, text, host=host, mechanism=mechanism)
    assert hint is not None
    assert expected in hint


@pytest.mark.parametrize(
    ("code", "reply", "host"),
    [
        (535, "5.7.8 Authentication credentials invalid", "mail.example.com"),
        (454, "4.7.0 Temporary authentication failure", MS),
        (535, "Authentication failed", GOOGLE),
    ],
)
def test_other_replies_get_no_hint(code: int, reply: str, host: str) -> None:
    enhanced, text = split_enhanced_code(reply)
    assert auth_hint(code, enhanced, text, host=host, mechanism="plain") is None


def test_hint_is_shown_by_the_error() -> None:
    from mailsdk import RelayError

    error = RelayError("AUTH LOGIN failed", code=550, enhanced_code="5.7.30")
    error.hint = "use OAuth"
    assert str(error).endswith("Hint: use OAuth")
