"""MicrosoftClientCredentials through msal against a local Entra stand-in (HTTPS, loopback).

msal is given the stand-in as its authority with instance discovery off, so it reads the
OpenID configuration and posts the client-credentials grant there, as it would at
login.microsoftonline.com.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from mailsdk import ConfigurationError, RelayError, TransientError
from mailsdk.auth import GRAPH_SCOPE, OUTLOOK_SMTP_SCOPE, MicrosoftClientCredentials
from tests.auth.conftest import TokenEndpoint

TENANT = "contoso.onmicrosoft.com"
CLIENT_ID = "7f0c1c5e-0000-4000-8000-00000000c1d1"
SECRET = "Kx8Q~client-secret-value"


def provider(stand_in: TokenEndpoint, **kwargs: object) -> MicrosoftClientCredentials:
    kwargs.setdefault("client_secret", SECRET)
    return MicrosoftClientCredentials(
        TENANT,
        CLIENT_ID,
        authority=f"{stand_in.base}/{TENANT}",
        ca_file=stand_in.ca_file,
        **kwargs,  # type: ignore[arg-type]
    )


async def test_client_secret_grant_for_smtp_scope(token_endpoint: TokenEndpoint) -> None:
    before = dt.datetime.now(dt.timezone.utc)
    token = await provider(token_endpoint).token()
    assert token.value.get_secret_value() == "access-token-1"
    assert before + dt.timedelta(seconds=3590) <= token.expires_at
    paths = [r.path for r in token_endpoint.requests]
    assert paths == [
        f"/{TENANT}/v2.0/.well-known/openid-configuration",
        f"/{TENANT}/oauth2/v2.0/token",
    ]
    form = token_endpoint.token_posts()[0].form
    assert form["grant_type"] == "client_credentials"
    assert form["client_id"] == CLIENT_ID
    assert form["client_secret"] == SECRET
    assert form["scope"] == OUTLOOK_SMTP_SCOPE


async def test_graph_endpoint_asks_for_the_graph_scope(token_endpoint: TokenEndpoint) -> None:
    await provider(token_endpoint, endpoint="graph").token()
    assert token_endpoint.token_posts()[0].form["scope"] == GRAPH_SCOPE


async def test_msal_cache_is_used_and_force_refresh_bypasses_it(
    token_endpoint: TokenEndpoint,
) -> None:
    tokens = provider(token_endpoint)
    first = await tokens.token()
    again = await tokens.token()
    assert again.value.get_secret_value() == first.value.get_secret_value()
    assert len(token_endpoint.token_posts()) == 1
    fresh = await tokens.token(force_refresh=True)
    assert fresh.value.get_secret_value() == "access-token-2"
    assert len(token_endpoint.token_posts()) == 2


async def test_certificate_credential_signs_a_client_assertion(
    token_endpoint: TokenEndpoint, tmp_path: Path
) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mailsdk-test")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ) + cert.public_bytes(serialization.Encoding.PEM)
    path = tmp_path / "app.pem"
    path.write_bytes(pem)
    await provider(token_endpoint, client_secret=None, certificate_file=path).token()
    form = token_endpoint.token_posts()[0].form
    assert "client_secret" not in form
    assert form["client_assertion_type"] == (
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    )
    claims = jwt.decode(
        form["client_assertion"],
        key.public_key(),
        algorithms=["RS256", "PS256"],
        audience=f"{token_endpoint.base}/{TENANT}/oauth2/v2.0/token",
    )
    assert claims["iss"] == claims["sub"] == CLIENT_ID
    header = jwt.get_unverified_header(form["client_assertion"])
    assert "x5t#S256" in header or "x5t" in header


async def test_invalid_client_is_a_relay_error_without_the_secret(
    token_endpoint: TokenEndpoint,
) -> None:
    token_endpoint.replies.append(
        (
            401,
            {
                "error": "invalid_client",
                "error_description": "AADSTS7000215: Invalid client secret provided.\r\n"
                "Trace ID: 0000",
            },
        )
    )
    with pytest.raises(RelayError) as info:
        await provider(token_endpoint).token()
    text = str(info.value)
    assert "invalid_client" in text
    assert "AADSTS7000215" in text
    assert "Trace ID" not in text
    assert SECRET not in text
    assert SECRET not in repr(info.value)


async def test_unreachable_endpoint_is_transient(token_endpoint: TokenEndpoint) -> None:
    tokens = MicrosoftClientCredentials(
        TENANT, CLIENT_ID, client_secret=SECRET, authority="https://127.0.0.1:9/t"
    )
    with pytest.raises(TransientError, match="token request"):
        await tokens.token()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"tenant_id": "common"}, "app-only"),
        ({"client_secret": None}, "exactly one"),
        ({"authority": "http://login.example"}, "https"),
        ({"endpoint": "imap"}, "smtp or graph"),
    ],
)
def test_bad_configuration_is_refused_before_any_request(
    kwargs: dict[str, object], match: str
) -> None:
    args: dict[str, object] = {"tenant_id": TENANT, "client_id": CLIENT_ID, "client_secret": SECRET}
    args.update(kwargs)
    with pytest.raises(ConfigurationError, match=match):
        MicrosoftClientCredentials(**args)  # type: ignore[arg-type]


def test_repr_shows_ids_not_secret() -> None:
    tokens = MicrosoftClientCredentials(TENANT, CLIENT_ID, client_secret=SECRET)
    assert CLIENT_ID in repr(tokens)
    assert SECRET not in repr(tokens)
