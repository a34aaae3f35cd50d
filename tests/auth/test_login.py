"""Interactive sign-in: Microsoft's device code flow and Google's loopback redirect, against
the local identity-provider stand-in; the refresh token lands in the keyring."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import threading
import urllib.request
from urllib.parse import parse_qs, urlsplit

import pytest
from click.testing import CliRunner

from mailsdk.auth import GOOGLE_MAIL_SCOPE
from mailsdk.auth._login import google_loopback_login
from mailsdk.auth.microsoft import DELEGATED_SCOPES, MicrosoftRefreshToken
from mailsdk.cli import cli
from mailsdk.config import transport_from_url
from mailsdk.errors import RelayError
from tests.auth.conftest import TokenEndpoint
from tests.keyrings import MemoryKeyring


def test_microsoft_device_code_login_stores_the_refresh_token(
    token_endpoint: TokenEndpoint, memory_keyring: MemoryKeyring
) -> None:
    url = "smtp://me%40contoso.com@smtp.office365.com:587"
    result = CliRunner().invoke(
        cli,
        [
            "credentials",
            "oauth",
            "login",
            "microsoft",
            "--url",
            url,
            "--tenant-id",
            "contoso",
            "--client-id",
            "public-app",
            "--authority",
            f"{token_endpoint.base}/contoso",
            "--ca-file",
            token_endpoint.ca_file,
        ],
    )
    assert result.exit_code == 0, result.output
    assert "enter the code ABCD-EFGH" in result.output
    assert "oauth=microsoft&delegated=true&tenant_id=contoso&client_id=public-app" in result.output
    assert "refresh-token-1" not in result.output
    key = ("mailsdk:smtp://smtp.office365.com:587", "me@contoso.com")
    assert memory_keyring.entries == {key: "refresh-token-1"}
    device = [r for r in token_endpoint.token_posts() if r.path.endswith("/devicecode")]
    assert DELEGATED_SCOPES["smtp"] in device[0].form["scope"]
    assert "offline_access" in device[0].form["scope"]
    (grant,) = [r for r in token_endpoint.token_posts() if r.path.endswith("/token")]
    assert grant.form["grant_type"] == "urn:ietf:params:oauth:grant-type:device_code"
    assert grant.form["device_code"] == "device-code-1"

    # The stored token then serves the URL without any code.
    transport = transport_from_url(
        url
        + "?oauth=microsoft&delegated=true&tenant_id=contoso&client_id=public-app"
        + f"&authority={token_endpoint.base}/contoso&token_ca_file={token_endpoint.ca_file}"
    )
    provider = transport._tokens.provider  # type: ignore[attr-defined]
    assert isinstance(provider, MicrosoftRefreshToken)
    asyncio.run(provider.token())
    (refresh,) = [r for r in token_endpoint.token_posts() if r.form.get("refresh_token")]
    assert refresh.form["refresh_token"] == "refresh-token-1"
    # Entra rotated it: the keyring now holds the new refresh token.
    assert memory_keyring.entries == {key: "refresh-token-2"}


async def test_delegated_microsoft_tokens_come_from_the_refresh_token(
    token_endpoint: TokenEndpoint,
) -> None:
    provider = MicrosoftRefreshToken(
        "contoso",
        "public-app",
        "stored-refresh-token",
        authority=f"{token_endpoint.base}/contoso",
        ca_file=token_endpoint.ca_file,
    )
    form = await token_endpoint.first_grant(provider, "refresh_token")
    assert form["refresh_token"] == "stored-refresh-token"
    assert DELEGATED_SCOPES["smtp"] in form["scope"]
    # Entra rotated the refresh token: the next request uses the new one.
    await provider.token()
    assert token_endpoint.token_posts()[1].form["refresh_token"] == "refresh-token-1"
    assert "stored-refresh-token" not in repr(provider)


def answer_in_browser(code: str | None, state: str | None = None) -> object:
    """A stand-in browser: follows the consent page's redirect back to the loopback URL."""

    def open_browser(url: str) -> None:
        query = parse_qs(urlsplit(url).query)
        redirect = query["redirect_uri"][0]
        answer = f"code={code}" if code else "error=access_denied"
        answer += f"&state={state or query['state'][0]}"

        def visit() -> None:
            with urllib.request.urlopen(f"{redirect}?{answer}", timeout=5) as response:
                response.read()

        threading.Thread(target=visit, daemon=True).start()
        open_browser.url = url  # type: ignore[attr-defined]

    return open_browser


def test_google_loopback_login_with_pkce(token_endpoint: TokenEndpoint) -> None:
    browser = answer_in_browser("auth-code-1")
    lines: list[str] = []
    token = google_loopback_login(
        "cid.apps.googleusercontent.com",
        "GOCSPX-secret",
        [GOOGLE_MAIL_SCOPE],
        open_browser=browser,  # type: ignore[arg-type]
        echo=lines.append,
        auth_uri="https://accounts.example/o/oauth2/v2/auth",
        token_uri=f"{token_endpoint.base}/token",
        ca_file=token_endpoint.ca_file,
        wait=10,
    )
    assert token.get_secret_value() == "refresh-token-1"
    consent = parse_qs(urlsplit(browser.url).query)  # type: ignore[attr-defined]
    assert consent["access_type"] == ["offline"]
    assert consent["scope"] == [GOOGLE_MAIL_SCOPE]
    assert consent["code_challenge_method"] == ["S256"]
    (grant,) = token_endpoint.token_posts()
    assert grant.form["grant_type"] == "authorization_code"
    assert grant.form["code"] == "auth-code-1"
    assert grant.form["redirect_uri"] == consent["redirect_uri"][0]
    digest = hashlib.sha256(grant.form["code_verifier"].encode()).digest()
    assert base64.urlsafe_b64encode(digest).rstrip(b"=").decode() == consent["code_challenge"][0]
    assert grant.form["redirect_uri"].startswith("http://127.0.0.1:")


@pytest.mark.parametrize(
    ("code", "state", "error"),
    [("code", "forged", "state differs"), (None, None, "access_denied")],
    ids=["foreign-state", "denied"],
)
def test_google_login_refuses_a_bad_answer(
    token_endpoint: TokenEndpoint, code: str | None, state: str | None, error: str
) -> None:
    with pytest.raises(RelayError, match=error):
        google_loopback_login(
            "cid",
            "secret",
            [GOOGLE_MAIL_SCOPE],
            open_browser=answer_in_browser(code, state=state),  # type: ignore[arg-type]
            echo=lambda _: None,
            token_uri=f"{token_endpoint.base}/token",
            ca_file=token_endpoint.ca_file,
            wait=10,
        )
    assert token_endpoint.token_posts() == []


def test_login_refuses_a_url_with_a_secret() -> None:
    result = CliRunner().invoke(
        cli,
        [
            "credentials", "oauth", "login", "google", "--client-id", "c",
            "--client-secret", "s", "--url", "smtp://me%40gmail.com:pw@smtp.gmail.com:587",
        ],
    )  # fmt: skip
    assert result.exit_code != 0
    assert "must not carry a secret" in result.output
