"""``mailsdk credentials oauth login``: sign a delegated mailbox in once, keep its refresh token.

The refresh token is stored in the keyring under the relay URL's entry, exactly where the
URL's secret is looked up, so ``MAILSDK_URL`` with ``oauth=…`` options then needs nothing else.
"""

from __future__ import annotations

import webbrowser

import click

from mailsdk.cli._shared import Group, fail
from mailsdk.config import ConfigurationError, TransportURL, parse_url
from mailsdk.errors import MailError


@click.group("oauth", cls=Group)
def command() -> None:
    """OAuth sign-in for delegated mailboxes (refresh tokens kept in the keyring)."""


def _endpoint(url: TransportURL) -> str:
    return {"graph": "graph", "gmail": "gmail"}.get(url.scheme, "smtp")


@command.command("login")
@click.argument("provider", type=click.Choice(["microsoft", "google"]))
@click.option("--url", "url_text", required=True, help="The relay URL to sign in for.")
@click.option("--client-id", required=True, help="The OAuth client (application) id.")
@click.option("--tenant-id", help="Microsoft: the directory (tenant) id or domain.")
@click.option("--client-secret", help="Google: the Desktop app client's secret.")
@click.option("--scope", "scopes", multiple=True, help="Replace the default scope(s).")
@click.option("--authority", help="Microsoft: another authority (sovereign cloud).")
@click.option("--auth-uri", help="Google: another authorization endpoint.")
@click.option("--token-uri", help="Google: another token endpoint.")
@click.option("--ca-file", help="A CA bundle to trust for the identity provider.")
@click.option("--no-browser", is_flag=True, help="Google: print the sign-in URL only.")
def login(
    provider: str,
    url_text: str,
    client_id: str,
    tenant_id: str | None,
    client_secret: str | None,
    scopes: tuple[str, ...],
    authority: str | None,
    auth_uri: str | None,
    token_uri: str | None,
    ca_file: str | None,
    no_browser: bool,
) -> None:
    """Sign in to PROVIDER (microsoft: device code; google: browser with a loopback
    redirect) and store the refresh token for --url in the keyring.

    \b
    mailsdk credentials oauth login microsoft --tenant-id contoso.com --client-id ID \\
        --url 'smtp://me%40contoso.com@smtp.office365.com:587'
    mailsdk credentials oauth login google --client-id ID --client-secret SECRET \\
        --url 'smtp://me%40gmail.com@smtp.gmail.com:587'
    """
    from mailsdk.auth._login import GOOGLE_AUTH_URI, google_loopback_login, microsoft_device_login
    from mailsdk.auth._token import GMAIL_SEND_SCOPE, GOOGLE_MAIL_SCOPE
    from mailsdk.auth.google import GOOGLE_TOKEN_URI
    from mailsdk.auth.microsoft import DELEGATED_SCOPES
    from mailsdk.credentials import keyring_entry, store_secret

    try:
        url = parse_url(url_text)
        if url.password is not None:
            fail("--url must not carry a secret: the refresh token takes its place")
        keyring_entry(url)  # a URL the keyring cannot name fails before anyone signs in
        endpoint = _endpoint(url)
        if provider == "microsoft":
            if not tenant_id:
                fail("microsoft needs --tenant-id")
            if endpoint == "gmail":
                fail("gmail:// URLs sign in with google")
            token = microsoft_device_login(
                tenant_id,
                client_id,
                list(scopes) or [DELEGATED_SCOPES[endpoint]],
                echo=click.echo,
                authority=authority,
                ca_file=ca_file,
            )
            options = f"oauth=microsoft&delegated=true&tenant_id={tenant_id}&client_id={client_id}"
        else:
            if not client_secret:
                fail("google needs --client-secret (the Desktop app client's)")
            if endpoint == "graph":
                fail("graph:// URLs sign in with microsoft")
            default = GMAIL_SEND_SCOPE if endpoint == "gmail" else GOOGLE_MAIL_SCOPE
            token = google_loopback_login(
                client_id,
                client_secret,
                list(scopes) or [default],
                open_browser=(lambda _: None) if no_browser else webbrowser.open,
                echo=click.echo,
                auth_uri=auth_uri or GOOGLE_AUTH_URI,
                token_uri=token_uri or GOOGLE_TOKEN_URI,
                ca_file=ca_file,
            )
            options = "oauth=google&client_id=" + client_id + "&client_secret=…"
        entry = store_secret(url, token)
    except ConfigurationError as exc:
        fail(str(exc))
    except MailError as exc:
        fail(str(exc))
    click.echo(
        f"Signed in; the refresh token is in the keyring (service {entry.service!r}, user "
        f"{entry.username!r}). Use:\n  MAILSDK_URL='{url.display()}?{options}'"
    )
