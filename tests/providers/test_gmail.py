"""Gmail API users.messages.send (media upload): the exact request, 401 refresh, error table."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from mailsdk import (
    Attachment,
    ConfigurationError,
    MailError,
    MessageError,
    PermanentError,
    RelayError,
    TransientError,
)
from mailsdk.auth import (
    GMAIL_SEND_SCOPE,
    AccessToken,
    GoogleRefreshToken,
    GoogleServiceAccount,
    StaticToken,
)
from mailsdk.config import needs_secret, parse_url, transport_from_url
from mailsdk.transports.http.gmail import GMAIL_MAX_UPLOAD, GmailTransport
from tests.oauth_standin import service_account_file
from tests.providers.oauth_tokens import CountingTokens, plain

URL = "https://gmail.googleapis.com/upload/gmail/v1/users/me/messages/send?uploadType=media"
TOKEN = "ya29.a0AfB_gmail-access-token"
SENT = {"id": "18c2f0a1b2c3d4e5", "threadId": "18c2f0a1b2c3d4e5", "labelIds": ["SENT"]}


class Tokens(CountingTokens):
    prefix = TOKEN


@respx.mock
async def test_upload_is_the_rendered_message_with_bcc(make_message: Callable[..., Any]) -> None:
    route = respx.post(URL).mock(return_value=httpx.Response(200, json=SENT))
    outgoing = plain(make_message)
    async with GmailTransport(token_provider=StaticToken(TOKEN)) as gmail:
        result = await gmail.send(outgoing)
    request = route.calls.last.request
    assert request.method == "POST"
    assert request.url.params["uploadType"] == "media"
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["Content-Type"] == "message/rfc822"
    assert request.content == b"Bcc: audit@example.com\r\n" + outgoing.raw
    assert result.provider_id == "18c2f0a1b2c3d4e5"
    assert result.relay == "gmail://me"
    assert result.accepted == list(outgoing.envelope.rcpt_to)


@respx.mock
async def test_delegated_user_and_exact_bytes_without_bcc(
    make_message: Callable[..., Any],
) -> None:
    route = respx.post(
        "https://gmail.googleapis.com/upload/gmail/v1/users/reports@example.com/messages/send",
        params={"uploadType": "media"},
    ).mock(return_value=httpx.Response(200, json=SENT))
    outgoing = plain(make_message, bcc=[])
    async with GmailTransport("reports@example.com", token_provider=StaticToken(TOKEN)) as gmail:
        await gmail.send(outgoing)
    assert route.calls.last.request.content == outgoing.raw


@respx.mock
async def test_a_401_refreshes_once(make_message: Callable[..., Any]) -> None:
    unauthorized = {
        "error": {
            "code": 401,
            "message": "Request had invalid authentication credentials.",
            "errors": [
                {"reason": "authError", "domain": "global", "message": "Invalid Credentials"}
            ],
            "status": "UNAUTHENTICATED",
        }
    }
    route = respx.post(URL).mock(
        side_effect=[httpx.Response(401, json=unauthorized), httpx.Response(200, json=SENT)]
    )
    tokens = Tokens()
    async with GmailTransport(token_provider=tokens) as gmail:
        result = await gmail.send(plain(make_message))
    assert result.provider_id == SENT["id"]
    assert tokens.calls == [False, True]
    assert [c.request.headers["Authorization"] for c in route.calls] == [
        f"Bearer {TOKEN}-1",
        f"Bearer {TOKEN}-2",
    ]


def google_error(status: int, reason: str, message: str = "m") -> dict[str, Any]:
    return {
        "error": {
            "code": status,
            "message": message,
            "errors": [{"message": message, "domain": "usageLimits", "reason": reason}],
            "status": "X",
        }
    }


@pytest.mark.parametrize(
    ("status", "reason", "headers", "expected", "retry_after"),
    [
        (429, "rateLimitExceeded", {"Retry-After": "30"}, TransientError, 30.0),
        (429, "userRateLimitExceeded", {}, TransientError, None),
        (403, "userRateLimitExceeded", {}, TransientError, None),
        (403, "rateLimitExceeded", {}, TransientError, None),
        (403, "dailyLimitExceeded", {}, RelayError, None),
        (403, "insufficientPermissions", {}, RelayError, None),
        (400, "failedPrecondition", {}, RelayError, None),
        (400, "invalidArgument", {}, PermanentError, None),
        (500, "backendError", {}, TransientError, None),
        (503, "backendError", {"Retry-After": "5"}, TransientError, 5.0),
        (401, "authError", {}, RelayError, None),
    ],
)
@respx.mock
async def test_error_classification(
    make_message: Callable[..., Any],
    status: int,
    reason: str,
    headers: dict[str, str],
    expected: type[MailError],
    retry_after: float | None,
) -> None:
    respx.post(URL).mock(
        return_value=httpx.Response(status, json=google_error(status, reason), headers=headers)
    )
    async with GmailTransport(token_provider=StaticToken(TOKEN)) as gmail:
        with pytest.raises(MailError) as info:
            await gmail.send(plain(make_message))
    assert type(info.value) is expected
    assert info.value.code == status
    assert reason in str(info.value)
    assert TOKEN not in str(info.value)
    if isinstance(info.value, TransientError):
        assert info.value.retry_after == retry_after


async def test_over_35_mib_is_refused_before_any_request(make_message: Callable[..., Any]) -> None:
    tokens = Tokens()
    # Base64 makes the rendered attachment 4/3 its size: just over the upload limit.
    big = Attachment(filename="big.bin", content=b"\0" * (GMAIL_MAX_UPLOAD * 3 // 4 + 1024))
    with respx.mock(assert_all_called=False) as mock:
        route = mock.post(URL).mock(return_value=httpx.Response(200, json=SENT))
        async with GmailTransport(token_provider=tokens) as gmail:
            with pytest.raises(MessageError, match="at most 36700160"):
                await gmail.send(plain(make_message, attachments=[big]))
    assert not route.called
    assert tokens.calls == []


def test_url_with_service_account_acts_for_the_delegated_user(tmp_path: Path) -> None:
    key_file = service_account_file(tmp_path)
    url = f"gmail://reports%40example.com?key_file={key_file}"
    assert not needs_secret(parse_url(url))
    gmail = transport_from_url(url)
    assert isinstance(gmail, GmailTransport)
    assert gmail._tokens is not None
    provider = gmail._tokens.provider
    assert isinstance(provider, GoogleServiceAccount)
    assert provider.subject == "reports@example.com"
    assert provider.scopes == [GMAIL_SEND_SCOPE]


def test_url_with_refresh_token_from_the_environment() -> None:
    url = "gmail://me?client_id=cid.apps.googleusercontent.com&client_secret=GOCSPX-x"
    assert needs_secret(parse_url(url))
    gmail = transport_from_url(url, environ={"MAILSDK_PASSWORD_GMAIL_ME": "1//refresh-token"})
    assert isinstance(gmail, GmailTransport)
    assert gmail._tokens is not None
    provider = gmail._tokens.provider
    assert isinstance(provider, GoogleRefreshToken)
    assert provider.scopes == [GMAIL_SEND_SCOPE]
    assert "refresh-token" not in repr(provider)


def test_gmail_url_refuses_a_microsoft_provider() -> None:
    with pytest.raises(ConfigurationError, match="needs oauth=google"):
        transport_from_url("gmail://me?oauth=microsoft&tenant_id=t&client_id=c")


def test_client_secret_option_never_shows() -> None:
    url = parse_url("gmail://me?client_id=cid&client_secret=GOCSPX-hidden")
    assert "GOCSPX-hidden" not in repr(url)
    assert "GOCSPX-hidden" not in url.display()
    gmail = transport_from_url(url, environ={"MAILSDK_PASSWORD_GMAIL_ME": "1//rt"})
    assert "GOCSPX-hidden" not in repr(gmail) + gmail.name


async def test_a_token_endpoint_slower_than_the_deadline_is_transient(
    make_message: Callable[..., Any],
) -> None:
    class Slow:
        async def token(self, *, force_refresh: bool = False) -> AccessToken:
            await asyncio.sleep(30)
            raise AssertionError("never reached")

    outgoing = plain(make_message)
    async with GmailTransport(token_provider=Slow()) as gmail:
        with pytest.raises(TransientError, match="no access token within"):
            await gmail.send(outgoing, deadline=time.monotonic() + 0.05)
