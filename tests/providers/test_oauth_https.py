"""Graph and Gmail end to end: a Sender built from a URL against a local HTTPS stand-in.

One trustme-certified server on a free loopback port is both the token endpoint (msal with
a local authority and instance discovery off; google-auth with a local token URI) and the
mail API. It answers like the real API would: a wrong method or path is a 404, a bearer
token it did not issue (or revoked) a 401, a wrong Content-Type a 415, a body that is not
the expected encoding a 400. The tests then check each request exactly: the upload is the
rendered message (captured at hand-over) with only a Bcc header added.
"""

from __future__ import annotations

import base64
import json
import logging
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from mailsdk import (
    AsyncSender,
    Attachment,
    DeliveryFailed,
    Message,
    OutgoingMessage,
    RelayError,
    RetryPolicy,
    Sender,
)
from mailsdk.auth import GMAIL_SEND_SCOPE, GRAPH_SCOPE
from mailsdk.credentials import env_var_name
from tests.oauth_standin import ApiReply, TokenEndpoint, TokenRequest, serve_token_endpoint

TENANT = "contoso.onmicrosoft.com"
CLIENT_ID = "7f0c1c5e-0000-4000-8000-00000000c1d1"
CLIENT_SECRET = "Kx8Q~entra-client-secret-value"
GOOGLE_CLIENT_ID = "1234567890-abc.apps.googleusercontent.com"
GOOGLE_CLIENT_SECRET = "GOCSPX-google-client-secret"
REFRESH_TOKEN = "1//0g-google-refresh-token-value"
GRAPH_PATH = "/v1.0/users/reports@contoso.com/sendMail"
GMAIL_PATH = "/upload/gmail/v1/users/me/messages/send"
BCC_HEADER = b"Bcc: audit@example.com, legal@example.com\r\n"
# Retries wait only what the server asks (Retry-After) or a token backoff.
FAST_RETRY = RetryPolicy(attempts=3, backoff=0.05, jitter=0.0, max_retry_after=5.0, deadline=20)


def message(sender: str) -> Message:
    return Message(
        from_=f"Reports <{sender}>",
        to=["Alice Example <alice@example.com>"],
        cc=["carol@example.net"],
        bcc=["audit@example.com", "legal@example.com"],
        subject="Your March report",
        text="Hello Alice,\nyour report is attached.",
        attachments=[
            Attachment(
                filename="report.pdf",
                content=b"%PDF-1.4\n\x00\xff binary report",
                content_type="application/pdf",
            )
        ],
    )


@dataclass
class API:
    """The mail API half of the stand-in: checks a request, then answers as scripted."""

    endpoint: TokenEndpoint
    path: str
    query: str
    content_type: str
    success: ApiReply
    decode_base64: bool
    error: Callable[..., ApiReply]
    """The API's error shape: ``error(status, code_or_reason, text)``."""
    script: list[ApiReply] = field(default_factory=list)
    """Answers for requests that pass the checks, first to last; then ``success``."""
    revoked: set[str] = field(default_factory=set)
    """Issued tokens the API no longer takes (as after a key rollover)."""
    uploads: list[bytes] = field(default_factory=list)

    def __call__(self, request: TokenRequest) -> ApiReply:
        path, _, query = request.path.partition("?")
        if request.method != "POST" or path != self.path or query != self.query:
            return self.error(404, "NotFound", "no such resource")
        auth = request.headers.get("authorization", "")
        token = auth.removeprefix("Bearer ")
        if not auth.startswith("Bearer ") or token not in self.endpoint.issued_tokens():
            return self.error(401, "InvalidAuthenticationToken", "IDX14100: JWT is not well formed")
        if token in self.revoked:
            return self.error(401, "InvalidAuthenticationToken", "Lifetime validation failed")
        if request.headers.get("content-type") != self.content_type:
            return self.error(415, "UnsupportedMediaType", "wrong Content-Type")
        upload = request.body
        if self.decode_base64:
            try:
                upload = base64.b64decode(request.body, validate=True)
            except ValueError:
                return self.error(400, "ErrorMimeContentInvalidBase64String", "not base64")
        self.uploads.append(upload)
        return self.script.pop(0) if self.script else self.success


def _gmail_api_error(status: int, graph_code: str, text: str) -> ApiReply:
    # The API's own refusals, named the way Gmail names them.
    reason = {401: "authError", 404: "notFound"}.get(status, "badContent")
    return _gmail_error(status, reason, text)


def _error(status: int, code: str, text: str, **headers: str) -> ApiReply:
    # Graph's error shape.
    body = {"error": {"code": code, "message": text}}
    return status, {"Content-Type": "application/json", **headers}, json.dumps(body).encode()


def _gmail_error(status: int, reason: str, text: str, **headers: str) -> ApiReply:
    # Google's error shape (Gmail API "Resolve errors" guide).
    domain, state = _GOOGLE_REASONS.get(reason, ("global", "FAILED_PRECONDITION"))
    body = {
        "error": {
            "code": status,
            "message": text,
            "errors": [{"message": text, "domain": domain, "reason": reason}],
            "status": state,
        }
    }
    return status, {"Content-Type": "application/json", **headers}, json.dumps(body).encode()


_GOOGLE_REASONS = {
    "rateLimitExceeded": ("usageLimits", "RESOURCE_EXHAUSTED"),
    "authError": ("global", "UNAUTHENTICATED"),
    "notFound": ("global", "NOT_FOUND"),
    "badContent": ("global", "INVALID_ARGUMENT"),
}


@pytest.fixture
def stand_in(tmp_path: Path) -> Iterator[TokenEndpoint]:
    with serve_token_endpoint(tmp_path) as endpoint:
        yield endpoint


@pytest.fixture
def graph(stand_in: TokenEndpoint) -> API:
    api = API(
        stand_in,
        GRAPH_PATH,
        "",
        "text/plain",
        (202, {"request-id": "5f1c-req", "client-request-id": "5f1c-req"}, b""),
        decode_base64=True,
        error=_error,
    )
    stand_in.api_prefix, stand_in.api = "/v1.0/", api
    return api


@pytest.fixture
def gmail(stand_in: TokenEndpoint) -> API:
    sent = {"id": "18c2f0a9d3e4b5a6", "threadId": "18c2f0a9d3e4b5a6", "labelIds": ["SENT"]}
    api = API(
        stand_in,
        GMAIL_PATH,
        "uploadType=media",
        "message/rfc822",
        (200, {"Content-Type": "application/json"}, json.dumps(sent).encode()),
        decode_base64=False,
        error=_gmail_api_error,
    )
    stand_in.api_prefix, stand_in.api = "/upload/", api
    return api


def graph_url(stand_in: TokenEndpoint, monkeypatch: pytest.MonkeyPatch) -> str:
    url = (
        f"graph://reports%40contoso.com?tenant_id={TENANT}&client_id={CLIENT_ID}"
        f"&authority={stand_in.base}/{TENANT}&token_ca_file={stand_in.ca_file}"
        f"&base_url={stand_in.base}&ca_file={stand_in.ca_file}"
    )
    monkeypatch.setenv(env_var_name(url), CLIENT_SECRET)
    return url


def gmail_url(stand_in: TokenEndpoint, monkeypatch: pytest.MonkeyPatch) -> str:
    url = (
        f"gmail://me?client_id={GOOGLE_CLIENT_ID}&client_secret={GOOGLE_CLIENT_SECRET}"
        f"&token_uri={stand_in.base}/token&token_ca_file={stand_in.ca_file}"
        f"&base_url={stand_in.base}&ca_file={stand_in.ca_file}"
    )
    monkeypatch.setenv(env_var_name(url), REFRESH_TOKEN)
    return url


class Rendered:
    """The hand-over hook: keeps the exact bytes each try handed to the API."""

    def __init__(self) -> None:
        self.raw: list[bytes] = []

    def __call__(self, outgoing: OutgoingMessage) -> None:
        self.raw.append(outgoing.raw)


def assert_exact_uploads(api: API, rendered: Rendered) -> None:
    assert rendered.raw, "the hand-over hook never ran"
    assert len(set(rendered.raw)) == 1, "every try hands over the same rendered bytes"
    raw = rendered.raw[0]
    assert b"\r\nBcc:" not in raw
    assert not raw.startswith(b"Bcc:")
    assert b"Content-Type: application/pdf" in raw
    assert api.uploads == [BCC_HEADER + raw] * len(api.uploads)


def assert_secret_free(stand_in: TokenEndpoint, logs: str, *texts: str) -> None:
    # httpx logs each request at INFO: the logs of the whole send were captured.
    assert "HTTP Request: POST" in logs
    secrets = [CLIENT_SECRET, GOOGLE_CLIENT_SECRET, REFRESH_TOKEN, "refresh-token-"]
    secrets += stand_in.issued_tokens()
    for text in (logs, *texts):
        for secret in secrets:
            assert secret not in text


def auth_headers(api: API) -> list[str]:
    return [r.headers["authorization"] for r in api.endpoint.api_requests()]


# Microsoft Graph


def test_graph_url_sends_the_rendered_mime_with_bcc(
    stand_in: TokenEndpoint,
    graph: API,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    rendered = Rendered()
    with Sender(graph_url(stand_in, monkeypatch), retry=FAST_RETRY) as sender:
        result = sender.send(message("reports@contoso.com"), on_handover=rendered)
    assert [r.path for r in stand_in.requests] == [
        f"/{TENANT}/v2.0/.well-known/openid-configuration",
        f"/{TENANT}/oauth2/v2.0/token",
        GRAPH_PATH,
    ]
    (post,) = stand_in.token_posts()
    assert post.form["grant_type"] == "client_credentials"
    assert post.form["client_id"] == CLIENT_ID
    assert post.form["client_secret"] == CLIENT_SECRET
    assert post.form["scope"] == GRAPH_SCOPE
    (request,) = stand_in.api_requests()
    assert request.headers["authorization"] == "Bearer access-token-1"
    assert request.headers["content-type"] == "text/plain"
    assert_exact_uploads(graph, rendered)
    assert result.accepted == [
        "alice@example.com",
        "carol@example.net",
        "audit@example.com",
        "legal@example.com",
    ]
    assert result.relay == "graph://reports%40contoso.com"
    assert result.attempts[-1].text == "accepted (request-id 5f1c-req)"
    assert_secret_free(stand_in, caplog.text, repr(result), sender.name)


async def test_graph_429_waits_for_retry_after_then_sends(
    stand_in: TokenEndpoint,
    graph: API,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    graph.script.append(
        _error(
            429,
            "ApplicationThrottled",
            "Application is over its MailboxConcurrency limit.",
            **{"Retry-After": "1"},
        )
    )
    rendered = Rendered()
    async with AsyncSender(graph_url(stand_in, monkeypatch), retry=FAST_RETRY) as sender:
        result = await sender.send(message("reports@contoso.com"), on_handover=rendered)
    first, second = stand_in.api_requests()
    # The retry waited what the server asked, not the 0.05 s backoff (a lower bound only).
    assert second.at - first.at >= 0.95
    assert [a.outcome for a in result.attempts] == ["transient", "delivered"]
    assert result.attempts[0].code == 429
    # One token serves both tries.
    assert len(stand_in.token_posts()) == 1
    assert auth_headers(graph) == ["Bearer access-token-1"] * 2
    assert_exact_uploads(graph, rendered)
    assert_secret_free(stand_in, caplog.text, repr(result))


async def test_graph_401_refreshes_the_token_once_then_sends(
    stand_in: TokenEndpoint,
    graph: API,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    graph.revoked.add("access-token-1")
    rendered = Rendered()
    async with AsyncSender(graph_url(stand_in, monkeypatch), retry=FAST_RETRY) as sender:
        result = await sender.send(message("reports@contoso.com"), on_handover=rendered)
    assert len(stand_in.token_posts()) == 2
    assert auth_headers(graph) == ["Bearer access-token-1", "Bearer access-token-2"]
    assert graph.uploads == [BCC_HEADER + rendered.raw[0]]
    assert result.attempts[-1].outcome == "delivered"
    assert "refreshing it once" in caplog.text
    assert_secret_free(stand_in, caplog.text, repr(result))


async def test_graph_401_after_the_refresh_is_a_relay_error_without_secrets(
    stand_in: TokenEndpoint,
    graph: API,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    graph.revoked.update({"access-token-1", "access-token-2", "access-token-3"})
    async with AsyncSender(graph_url(stand_in, monkeypatch), retry=FAST_RETRY) as sender:
        with pytest.raises(DeliveryFailed) as info:
            await sender.send(message("reports@contoso.com"))
    # Exactly one refresh: two tokens, two requests, and no retry of a relay failure.
    assert len(stand_in.token_posts()) == 2
    assert auth_headers(graph) == ["Bearer access-token-1", "Bearer access-token-2"]
    (error,) = info.value.errors
    assert isinstance(error, RelayError)
    assert error.code == 401
    assert [a.outcome for a in info.value.attempts] == ["relay"]
    assert "InvalidAuthenticationToken" in str(info.value)
    trace = "".join(traceback.format_exception(info.value))
    assert_secret_free(stand_in, caplog.text, trace, repr(info.value), repr(error))


# Gmail API


async def test_gmail_url_uploads_the_rendered_message_with_bcc(
    stand_in: TokenEndpoint,
    gmail: API,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    rendered = Rendered()
    async with AsyncSender(gmail_url(stand_in, monkeypatch), retry=FAST_RETRY) as sender:
        result = await sender.send(message("reports@example.com"), on_handover=rendered)
    (post,) = stand_in.token_posts()
    assert post.path == "/token"
    assert post.form["grant_type"] == "refresh_token"
    assert post.form["refresh_token"] == REFRESH_TOKEN
    assert post.form["client_id"] == GOOGLE_CLIENT_ID
    assert post.form["client_secret"] == GOOGLE_CLIENT_SECRET
    assert post.form["scope"] == GMAIL_SEND_SCOPE
    (request,) = stand_in.api_requests()
    assert request.method == "POST"
    assert request.path == f"{GMAIL_PATH}?uploadType=media"
    assert request.headers["authorization"] == "Bearer access-token-1"
    assert request.headers["content-type"] == "message/rfc822"
    assert_exact_uploads(gmail, rendered)
    assert result.provider_id == "18c2f0a9d3e4b5a6"
    assert result.relay == "gmail://me"
    assert_secret_free(stand_in, caplog.text, repr(result), sender.name)


async def test_gmail_429_waits_for_retry_after_then_sends(
    stand_in: TokenEndpoint,
    gmail: API,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    gmail.script.append(
        _gmail_error(
            429,
            "rateLimitExceeded",
            "Too many concurrent requests for user.",
            **{"Retry-After": "1"},
        )
    )
    rendered = Rendered()
    async with AsyncSender(gmail_url(stand_in, monkeypatch), retry=FAST_RETRY) as sender:
        result = await sender.send(message("reports@example.com"), on_handover=rendered)
    first, second = stand_in.api_requests()
    assert second.at - first.at >= 0.95
    assert [a.outcome for a in result.attempts] == ["transient", "delivered"]
    assert len(stand_in.token_posts()) == 1
    assert_exact_uploads(gmail, rendered)
    assert result.provider_id == "18c2f0a9d3e4b5a6"
    assert_secret_free(stand_in, caplog.text, repr(result))


async def test_gmail_403_rate_limit_is_transient_and_retried(
    stand_in: TokenEndpoint,
    gmail: API,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    gmail.script.append(_gmail_error(403, "rateLimitExceeded", "User-rate limit exceeded."))
    rendered = Rendered()
    async with AsyncSender(gmail_url(stand_in, monkeypatch), retry=FAST_RETRY) as sender:
        result = await sender.send(message("reports@example.com"), on_handover=rendered)
    assert [a.outcome for a in result.attempts] == ["transient", "delivered"]
    assert result.attempts[0].code == 403
    assert "rateLimitExceeded" in (result.attempts[0].text or "")
    assert len(stand_in.api_requests()) == 2
    assert_exact_uploads(gmail, rendered)
    assert_secret_free(stand_in, caplog.text, repr(result))


async def test_gmail_401_refreshes_the_token_once_then_sends(
    stand_in: TokenEndpoint,
    gmail: API,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    gmail.revoked.add("access-token-1")
    rendered = Rendered()
    async with AsyncSender(gmail_url(stand_in, monkeypatch), retry=FAST_RETRY) as sender:
        result = await sender.send(message("reports@example.com"), on_handover=rendered)
    posts = stand_in.token_posts()
    assert len(posts) == 2
    # The stand-in hands out a new refresh token with each access token; google-auth keeps it.
    assert [p.form["refresh_token"] for p in posts] == [REFRESH_TOKEN, "refresh-token-1"]
    assert auth_headers(gmail) == ["Bearer access-token-1", "Bearer access-token-2"]
    assert gmail.uploads == [BCC_HEADER + rendered.raw[0]]
    assert result.provider_id == "18c2f0a9d3e4b5a6"
    assert_secret_free(stand_in, caplog.text, repr(result))


async def test_gmail_service_account_url_acts_for_the_delegated_user(
    stand_in: TokenEndpoint,
    gmail: API,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    caplog.set_level(logging.DEBUG)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    key_file = tmp_path / "sa.json"
    info: dict[str, Any] = {
        "type": "service_account",
        "project_id": "project-1234",
        "private_key_id": "0123abcd",
        "private_key": pem,
        "client_email": "mailer@project-1234.iam.gserviceaccount.com",
        "client_id": "1234567890",
        "token_uri": "https://oauth2.googleapis.com/token",
    }
    key_file.write_text(json.dumps(info))
    gmail.path = "/upload/gmail/v1/users/reports@example.com/messages/send"
    url = (
        f"gmail://reports%40example.com?key_file={key_file}&token_uri={stand_in.base}/token"
        f"&token_ca_file={stand_in.ca_file}&base_url={stand_in.base}&ca_file={stand_in.ca_file}"
    )
    rendered = Rendered()
    async with AsyncSender(url, retry=FAST_RETRY) as sender:
        result = await sender.send(message("reports@example.com"), on_handover=rendered)
    (post,) = stand_in.token_posts()
    assert post.form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    (request,) = stand_in.api_requests()
    assert request.headers["authorization"] == "Bearer access-token-1"
    assert_exact_uploads(gmail, rendered)
    assert result.provider_id == "18c2f0a9d3e4b5a6"
    assert_secret_free(stand_in, caplog.text, repr(result))
    # Neither the signed assertion nor the key shows in the logs.
    assert post.form["assertion"] not in caplog.text
    assert pem.splitlines()[1] not in caplog.text
