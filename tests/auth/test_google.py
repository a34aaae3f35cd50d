"""Google providers through google-auth against a local token endpoint (HTTPS, loopback).

The service account's key is generated in the test; the stand-in checks the signed JWT
assertion (RS256, iss, sub, scope, aud) the way Google's token endpoint would.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from mailsdk import ConfigurationError, RelayError
from mailsdk.auth import (
    GMAIL_SEND_SCOPE,
    GOOGLE_MAIL_SCOPE,
    GoogleRefreshToken,
    GoogleServiceAccount,
)
from tests.auth.conftest import TokenEndpoint

SA_EMAIL = "mailer@project-1234.iam.gserviceaccount.com"
SUBJECT = "reports@example.com"


@pytest.fixture(scope="module")
def sa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def key_info(key: rsa.RSAPrivateKey) -> dict[str, Any]:
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return {
        "type": "service_account",
        "project_id": "project-1234",
        "private_key_id": "0123abcd",
        "private_key": pem,
        "client_email": SA_EMAIL,
        "client_id": "1234567890",
        "token_uri": "https://oauth2.googleapis.com/token",
    }


async def test_service_account_with_delegation_signs_the_assertion(
    token_endpoint: TokenEndpoint, sa_key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    key_file = tmp_path / "sa.json"
    key_file.write_text(json.dumps(key_info(sa_key)))
    token_uri = f"{token_endpoint.base}/token"
    provider = GoogleServiceAccount(
        key_file, subject=SUBJECT, token_uri=token_uri, ca_file=token_endpoint.ca_file
    )
    before = dt.datetime.now(dt.timezone.utc)
    token = await provider.token()
    assert token.value.get_secret_value() == "access-token-1"
    assert token.expires_at.tzinfo is not None
    assert before + dt.timedelta(seconds=3590) <= token.expires_at
    (post,) = token_endpoint.token_posts()
    assert post.path == "/token"
    assert post.form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    # google-auth always names Google's token URL as the audience, whatever token_uri is.
    claims = jwt.decode(
        post.form["assertion"],
        sa_key.public_key(),
        algorithms=["RS256"],
        audience="https://oauth2.googleapis.com/token",
    )
    assert claims["iss"] == SA_EMAIL
    assert claims["sub"] == SUBJECT
    assert claims["scope"] == GOOGLE_MAIL_SCOPE
    assert claims["exp"] - claims["iat"] == 3600
    assert jwt.get_unverified_header(post.form["assertion"])["kid"] == "0123abcd"


async def test_gmail_endpoint_scope_and_info_dict(
    token_endpoint: TokenEndpoint, sa_key: rsa.RSAPrivateKey
) -> None:
    provider = GoogleServiceAccount(
        info=key_info(sa_key),
        subject=SUBJECT,
        endpoint="gmail",
        token_uri=f"{token_endpoint.base}/token",
        ca_file=token_endpoint.ca_file,
    )
    await provider.token()
    claims = jwt.decode(
        token_endpoint.token_posts()[0].form["assertion"], options={"verify_signature": False}
    )
    assert claims["scope"] == GMAIL_SEND_SCOPE


async def test_delegation_not_granted_names_the_admin_console(
    token_endpoint: TokenEndpoint, sa_key: rsa.RSAPrivateKey
) -> None:
    token_endpoint.replies.append(
        (
            401,
            {
                "error": "unauthorized_client",
                "error_description": "Client is unauthorized to retrieve access tokens using "
                "this method, or client not authorized for any of the scopes requested.",
            },
        )
    )
    provider = GoogleServiceAccount(
        info=key_info(sa_key),
        subject=SUBJECT,
        token_uri=f"{token_endpoint.base}/token",
        ca_file=token_endpoint.ca_file,
    )
    with pytest.raises(RelayError, match="domain-wide delegation") as info:
        await provider.token()
    assert "PRIVATE KEY" not in str(info.value)


async def test_refresh_token_grant(token_endpoint: TokenEndpoint) -> None:
    provider = GoogleRefreshToken(
        "client-1.apps.googleusercontent.com",
        "GOCSPX-client-secret",
        "1//refresh-token-value",
        token_uri=f"{token_endpoint.base}/token",
        ca_file=token_endpoint.ca_file,
    )
    form = await token_endpoint.first_grant(provider, "refresh_token")
    assert form["refresh_token"] == "1//refresh-token-value"
    assert form["client_id"] == "client-1.apps.googleusercontent.com"
    assert form["client_secret"] == "GOCSPX-client-secret"
    assert "refresh-token-value" not in repr(provider)
    assert "GOCSPX" not in repr(provider)


async def test_revoked_refresh_token_says_log_in_again(token_endpoint: TokenEndpoint) -> None:
    token_endpoint.replies.append(
        (400, {"error": "invalid_grant", "error_description": "Token has been expired or revoked."})
    )
    provider = GoogleRefreshToken(
        "client-1",
        "GOCSPX-client-secret",
        "1//refresh-token-value",
        token_uri=f"{token_endpoint.base}/token",
        ca_file=token_endpoint.ca_file,
    )
    with pytest.raises(RelayError, match="oauth login google") as info:
        await provider.token()
    assert "refresh-token-value" not in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"info": {"type": "authorized_user"}}, "service_account"),
        ({"info": None}, "exactly one"),
        ({"token_uri": "http://oauth2.example/token"}, "https"),
        ({"endpoint": "imap"}, "smtp or gmail"),
    ],
)
def test_bad_service_account_configuration(
    sa_key: rsa.RSAPrivateKey, kwargs: dict[str, Any], match: str
) -> None:
    args: dict[str, Any] = {"info": key_info(sa_key), "subject": SUBJECT}
    args.update(kwargs)
    with pytest.raises(ConfigurationError, match=match):
        GoogleServiceAccount(**args)


def test_unreadable_key_file_does_not_echo_its_content(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"private_key": "-----BEGIN PRIVATE KEY-----abc')
    with pytest.raises(ConfigurationError) as info:
        GoogleServiceAccount(path)
    assert "PRIVATE" not in str(info.value)
