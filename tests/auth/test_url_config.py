"""OAuth without code: URL options name the provider, the secret comes from the environment,
and refused-AUTH replies carry a hint that ``mailsdk check`` prints."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from aiosmtpd.smtp import AuthResult
from click.testing import CliRunner

from mailsdk import Message, OutgoingMessage, RelayError
from mailsdk.auth import OUTLOOK_SMTP_SCOPE
from mailsdk.cli import cli
from mailsdk.config import ConfigurationError, needs_secret, parse_url, transport_from_url
from mailsdk.credentials import env_var_name
from mailsdk.devserver import LocalRelay
from tests.auth.conftest import TokenEndpoint
from tests.conftest import USER
from tests.oauth_standin import service_account_file

SECRET = "entra-client-secret-value"


def smtp_oauth_url(relay: LocalRelay, endpoint: TokenEndpoint) -> str:
    user = USER.replace("@", "%40")
    return (
        f"smtp://{user}@{relay.host}:{relay.port}?ca_file={relay.ca_file}"
        f"&oauth=microsoft&tenant_id=contoso&client_id=app-1"
        f"&authority={endpoint.base}/contoso&token_ca_file={endpoint.ca_file}"
    )


async def test_smtp_url_names_a_microsoft_provider_end_to_end(
    relay_factory: Callable[..., LocalRelay], token_endpoint: TokenEndpoint
) -> None:
    relay = relay_factory(users={USER: "access-token-1"}, require_auth=True)
    url = smtp_oauth_url(relay, token_endpoint)
    assert needs_secret(parse_url(url))
    environ = {env_var_name(url): SECRET}
    async with transport_from_url(url, environ=environ) as transport:
        result = await transport.send(
            OutgoingMessage(Message(from_=USER, to=["bob@example.com"], subject="s", text="t"))
        )
    assert relay.messages[0].login == USER
    assert result.accepted == ["bob@example.com"]
    (post,) = token_endpoint.token_posts()
    assert post.form["client_secret"] == SECRET
    assert post.form["scope"] == OUTLOOK_SMTP_SCOPE
    assert SECRET not in transport.name


def test_certificate_file_needs_no_secret_lookup(tmp_path: Any) -> None:
    url = parse_url(
        "smtp://a%40contoso.com@smtp.office365.com:587?oauth=microsoft&tenant_id=t"
        f"&client_id=c&certificate_file={tmp_path}/app.pem"
    )
    assert not needs_secret(url)


@pytest.mark.parametrize(
    ("url", "match"),
    [
        ("smtp://a%40x.com@smtp.office365.com?oauth=microsoft&client_id=c", "tenant_id="),
        ("smtp://a%40x.com@smtp.gmail.com?oauth=google", "key_file="),
        ("smtp://a%40x.com@smtp.office365.com?tenant_id=t&client_id=c", "needs oauth="),
        ("smtp://a%40x.com@smtp.office365.com?oauth=yahoo", "microsoft or google"),
    ],
)
def test_incomplete_oauth_urls_say_what_is_missing(url: str, match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        transport_from_url(url, environ={})


class Office365LikeRelay(LocalRelay):
    """Refuses password AUTH the way Exchange Online does once basic auth is retired."""

    def _authenticator(self, *args: Any) -> Any:
        return AuthResult(
            success=False,
            handled=False,
            message="550 5.7.30 Basic authentication is not supported for Client Submission",
        )


@pytest.fixture
def office365_like() -> Any:
    relay = Office365LikeRelay(users={USER: "pw"}, require_auth=True).start()
    yield relay
    relay.stop()


async def test_basic_auth_retired_error_carries_the_oauth_hint(
    office365_like: LocalRelay,
) -> None:
    async with transport_from_url(office365_like.url(USER, "pw")) as transport:
        with pytest.raises(RelayError) as info:
            await transport.send(
                OutgoingMessage(Message(from_=USER, to=["b@example.com"], subject="s", text="t"))
            )
    assert info.value.enhanced_code == "5.7.30"
    assert info.value.hint is not None
    assert "oauth=microsoft" in info.value.hint
    assert "Hint: Microsoft 365 no longer accepts passwords" in str(info.value)


def test_mailsdk_check_shows_the_hint(office365_like: LocalRelay) -> None:
    result = CliRunner().invoke(cli, ["check", office365_like.url(USER, "pw")])
    assert result.exit_code == 3, result.output
    assert "550" in result.output
    assert "Hint: Microsoft 365 no longer accepts passwords for SMTP AUTH" in result.output
    assert "pw@" not in result.output


def test_delivery_failed_repeats_the_hint(office365_like: LocalRelay) -> None:
    from mailsdk import DeliveryFailed, Sender

    message = Message(from_=USER, to=["b@example.com"], subject="s", text="t")
    with Sender(office365_like.url(USER, "pw")) as sender, pytest.raises(DeliveryFailed) as info:
        sender.send(message)
    assert "  Hint: Microsoft 365 no longer accepts passwords" in str(info.value)


def test_mailsdk_check_fetches_a_graph_token(token_endpoint: TokenEndpoint) -> None:
    url = (
        "graph://reports%40contoso.com?tenant_id=contoso&client_id=app-1"
        f"&authority={token_endpoint.base}/contoso&token_ca_file={token_endpoint.ca_file}"
    )
    env = {env_var_name(url): SECRET}
    result = CliRunner(env=env).invoke(cli, ["--env-file", "/nonexistent", "check", url])
    assert result.exit_code == 0, result.output
    assert re.search(
        r"token      : OK from MicrosoftClientCredentials, valid \d+ min", result.output
    )
    assert SECRET not in result.output
    token_endpoint.replies.append((401, {"error": "invalid_client", "error_description": "bad"}))
    token_endpoint.issued = 0
    result = CliRunner(env=env).invoke(cli, ["--env-file", "/nonexistent", "check", url])
    assert result.exit_code == 3, result.output
    assert "invalid_client" in result.output


async def test_smtp_url_names_a_google_service_account_end_to_end(
    relay_factory: Callable[..., LocalRelay], token_endpoint: TokenEndpoint, tmp_path: Any
) -> None:
    import jwt

    key_file = service_account_file(tmp_path)
    relay = relay_factory(users={USER: "access-token-1"}, require_auth=True)
    user = USER.replace("@", "%40")
    url = (
        f"smtp://{user}@{relay.host}:{relay.port}?ca_file={relay.ca_file}&oauth=google"
        f"&key_file={key_file}&token_uri={token_endpoint.base}/token"
        f"&token_ca_file={token_endpoint.ca_file}"
    )
    assert not needs_secret(parse_url(url))
    async with transport_from_url(url, environ={}) as transport:
        await transport.send(
            OutgoingMessage(Message(from_=USER, to=["bob@example.com"], subject="s", text="t"))
        )
    assert relay.messages[0].login == USER
    (post,) = token_endpoint.token_posts()
    claims = jwt.decode(post.form["assertion"], options={"verify_signature": False})
    assert claims["sub"] == USER  # the service account acts for the URL's user
    assert claims["scope"] == "https://mail.google.com/"


def test_toml_relays_name_providers_and_the_environment_holds_the_secrets(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mailsdk.auth import GRAPH_SCOPE, MicrosoftClientCredentials
    from mailsdk.settings import MailSettings
    from mailsdk.transports.http.graph import GraphTransport
    from mailsdk.transports.smtp import SMTPTransport

    ids = "tenant_id=contoso.onmicrosoft.com&client_id=app-1"
    (tmp_path / "mailsdk.toml").write_text(
        "[relays]\n"
        f'm365 = "smtp://reports%40contoso.com@smtp.office365.com:587?oauth=microsoft&{ids}"\n'
        f'graph = "graph://reports%40contoso.com?{ids}"\n'
    )
    monkeypatch.setenv("MAILSDK_PASSWORD_SMTP_SMTP_OFFICE365_COM_587", "smtp-app-secret")
    monkeypatch.setenv("MAILSDK_PASSWORD_GRAPH_REPORTS_CONTOSO_COM", "graph-app-secret")
    settings = MailSettings.load(config_file=tmp_path / "mailsdk.toml", env_file=None)
    smtp, graph = settings.transports()
    assert isinstance(smtp, SMTPTransport)
    assert isinstance(graph, GraphTransport)
    assert smtp._tokens is not None
    assert graph._tokens is not None
    smtp_tokens, graph_tokens = smtp._tokens.provider, graph._tokens.provider
    assert isinstance(smtp_tokens, MicrosoftClientCredentials)
    assert isinstance(graph_tokens, MicrosoftClientCredentials)
    assert smtp_tokens.scopes == [OUTLOOK_SMTP_SCOPE]
    assert graph_tokens.scopes == [GRAPH_SCOPE]
    assert smtp_tokens._secret is not None
    assert smtp_tokens._secret.get_secret_value() == "smtp-app-secret"
    assert graph_tokens._secret is not None
    assert graph_tokens._secret.get_secret_value() == "graph-app-secret"
    assert smtp.auth == "xoauth2"
