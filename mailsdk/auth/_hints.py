"""What to do about a refused AUTH: the fix for the replies Microsoft 365 and Google send.

A pure function of the reply, the relay's host and the mechanism, so each row is a unit test.
The replies and their causes are documented by Microsoft ("Authenticate an IMAP, POP or SMTP
connection using OAuth"; "Authenticated client SMTP submission") and Google (support answer
3726730 and the XOAUTH2 protocol page).
"""

from __future__ import annotations

__all__ = ["auth_hint"]

_MS_OAUTH = (
    "use OAuth: auth=xoauth2 with oauth=microsoft (or token_provider=MicrosoftClientCredentials), "
    "or send through Microsoft Graph (graph://MAILBOX); see docs/microsoft365.md"
)
_MS_APP_REFUSED = (
    "Exchange Online refused the token. It must be an app token for scope "
    "https://outlook.office365.com/.default (a Graph token is refused); the app needs the "
    "SMTP.SendAsApp permission with admin consent, an Exchange service principal "
    "(New-ServicePrincipal with the Enterprise Application's object id, not the app "
    "registration's) and FullAccess on the mailbox (Add-MailboxPermission)"
)
_MS_SMTP_AUTH_OFF = (
    "SMTP AUTH is disabled for this mailbox or tenant: enable it with Set-CASMailbox "
    "-Identity MAILBOX -SmtpClientAuthenticationDisabled $false (security defaults also turn "
    "it off), or send through Microsoft Graph (graph://MAILBOX)"
)
_GOOGLE_2SV = (
    "this Google account uses 2-Step Verification: create an app password "
    "(https://myaccount.google.com/apppasswords), or better use OAuth (oauth=google); see "
    "docs/google.md"
)
_GOOGLE_SCOPE = (
    "Google refused the token: SMTP needs scope https://mail.google.com/ (gmail.send is not "
    "enough); a service account needs domain-wide delegation for that scope and subject= set "
    "to this mailbox, which must be the URL's user"
)
_GOOGLE_BAD_LOGIN = (
    "Google did not accept the password: use an app password (2-Step Verification accounts) "
    "or OAuth (oauth=google); see docs/google.md"
)
_GOOGLE_WEB_LOGIN = (
    "Google wants an interactive sign-in first; for unattended sending use OAuth "
    "(oauth=google) or an app password instead of the account password"
)


def _is_google(host: str, text: str) -> bool:
    host = host.lower().rstrip(".")
    return (
        host.endswith(("gmail.com", "googlemail.com", "google.com"))
        or "gsmtp" in text
        or "support.google.com" in text
    )


def auth_hint(
    code: int, enhanced: str | None, text: str, *, host: str, mechanism: str
) -> str | None:
    """The fix for a refused AUTH reply, or None when the reply is not a known one.

    *text* is the server's text after the enhanced code; *mechanism* is ``plain``,
    ``login`` or ``xoauth2``.
    """
    lowered = text.lower()
    oauth = mechanism == "xoauth2"
    if code == 550 and enhanced == "5.7.30":
        return "Microsoft 365 no longer accepts passwords for SMTP AUTH: " + _MS_OAUTH
    if code == 535 and enhanced == "5.7.139":
        if "smtpclientauthentication is disabled" in lowered or "smtp auth" in lowered:
            return _MS_SMTP_AUTH_OFF
        if "security defaults" in lowered:
            return (
                "the tenant's security defaults block SMTP AUTH: send through Microsoft Graph "
                "(graph://MAILBOX), or replace security defaults by Conditional Access"
            )
        if "basic authentication" in lowered:
            return "basic authentication is disabled for this tenant: " + _MS_OAUTH
        return _MS_SMTP_AUTH_OFF + "; if it is enabled, " + _MS_OAUTH
    if code == 535 and enhanced == "5.7.3":
        if oauth:
            return _MS_APP_REFUSED
        return "wrong password, or SMTP AUTH with passwords is off for this mailbox; " + _MS_OAUTH
    if _is_google(host, lowered):
        if code == 534 and enhanced == "5.7.9":
            return _GOOGLE_2SV
        if code == 534 and enhanced == "5.7.14":
            return _GOOGLE_WEB_LOGIN
        if code == 535 and enhanced == "5.7.8":
            return _GOOGLE_SCOPE if oauth else _GOOGLE_BAD_LOGIN
    return None
