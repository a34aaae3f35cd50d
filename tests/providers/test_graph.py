"""Microsoft Graph sendMail (MIME): the exact request, the body, 401 refresh, error table."""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import respx

from mailsdk import (
    AsyncSender,
    Attachment,
    ConfigurationError,
    MailError,
    MessageError,
    PermanentError,
    RelayError,
    TransientError,
)
from mailsdk.auth import GRAPH_SCOPE, MicrosoftClientCredentials, StaticToken
from mailsdk.config import needs_secret, parse_url, transport_from_url
from mailsdk.devserver import LocalRelay
from mailsdk.transports.http.graph import GRAPH_MAX_REQUEST, GraphTransport
from tests.conftest import PASSWORD, USER
from tests.providers.oauth_tokens import CountingTokens, plain

URL = "https://graph.microsoft.com/v1.0/users/reports@contoso.com/sendMail"
TOKEN = "eyJ0eXAiOiJKV1QiLCJub25jZSI6.graph-access-token"


class Tokens(CountingTokens):
    prefix = TOKEN


def transport(tokens: Any = None) -> GraphTransport:
    return GraphTransport("reports@contoso.com", token_provider=tokens or StaticToken(TOKEN))


@respx.mock
async def test_request_is_the_rendered_mime_in_base64_with_bcc(
    make_message: Callable[..., Any],
) -> None:
    route = respx.post(URL).mock(
        return_value=httpx.Response(202, headers={"request-id": "5f1c-req"})
    )
    outgoing = plain(make_message)
    async with transport() as graph:
        result = await graph.send(outgoing)
    request = route.calls.last.request
    assert request.method == "POST"
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["Content-Type"] == "text/plain"
    assert base64.b64decode(request.content, validate=True) == (
        b"Bcc: audit@example.com\r\n" + outgoing.raw
    )
    assert result.accepted == list(outgoing.envelope.rcpt_to)
    assert result.provider_id is None
    assert result.relay == "graph://reports%40contoso.com"
    assert result.attempts[-1].text == "accepted (request-id 5f1c-req)"


@respx.mock
async def test_without_bcc_the_body_is_exactly_the_rendered_message(
    make_message: Callable[..., Any],
) -> None:
    route = respx.post(URL).mock(return_value=httpx.Response(202))
    outgoing = plain(make_message, bcc=[])
    async with transport() as graph:
        await graph.send(outgoing)
    assert base64.b64decode(route.calls.last.request.content) == outgoing.raw


@respx.mock
async def test_many_bcc_recipients_fold_the_header(make_message: Callable[..., Any]) -> None:
    route = respx.post(URL).mock(return_value=httpx.Response(202))
    bcc = [f"auditor{n}@example.com" for n in range(12)]
    outgoing = plain(make_message, bcc=bcc)
    async with transport() as graph:
        await graph.send(outgoing)
    sent = base64.b64decode(route.calls.last.request.content)
    header, _ = sent.split(b"\r\n" + outgoing.raw[:20], 1)
    lines = header.split(b"\r\n")
    assert all(len(line) <= 78 for line in lines)
    assert all(line.startswith(b" ") for line in lines[1:])
    assert b"".join(lines).decode().removeprefix("Bcc: ").split(", ") == bcc


@respx.mock
async def test_user_id_path_and_national_cloud_base_url(make_message: Callable[..., Any]) -> None:
    user_id = "87d349ed-44d7-43e1-9a83-5f2406dee5bd"
    route = respx.post(f"https://graph.microsoft.us/v1.0/users/{user_id}/sendMail").mock(
        return_value=httpx.Response(202)
    )
    graph = GraphTransport(
        user_id, token_provider=StaticToken(TOKEN), base_url="https://graph.microsoft.us"
    )
    async with graph:
        await graph.send(plain(make_message))
    assert route.called


@respx.mock
async def test_a_401_refreshes_the_token_once(make_message: Callable[..., Any]) -> None:
    expired = {"error": {"code": "InvalidAuthenticationToken", "message": "Token is expired."}}
    route = respx.post(URL).mock(
        side_effect=[httpx.Response(401, json=expired), httpx.Response(202)]
    )
    tokens = Tokens()
    async with transport(tokens) as graph:
        await graph.send(plain(make_message))
    assert tokens.calls == [False, True]
    sent = [call.request.headers["Authorization"] for call in route.calls]
    assert sent == [f"Bearer {TOKEN}-1", f"Bearer {TOKEN}-2"]


@respx.mock
async def test_a_second_401_is_a_relay_error_without_the_token(
    make_message: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    body = {"error": {"code": "InvalidAuthenticationToken", "message": "Access token is empty."}}
    respx.post(URL).mock(return_value=httpx.Response(401, json=body))
    tokens = Tokens()
    async with transport(tokens) as graph:
        with pytest.raises(RelayError) as info:
            await graph.send(plain(make_message))
    assert info.value.code == 401
    assert "InvalidAuthenticationToken" in str(info.value)
    assert tokens.calls == [False, True]
    assert info.value.__context__ is None
    for text in (str(info.value), repr(info.value), caplog.text):
        assert TOKEN not in text


def error(code: str, message: str = "m") -> dict[str, Any]:
    return {
        "error": {
            "code": code,
            "message": message,
            "innerError": {
                "date": "2026-12-01T09:00:00",
                "request-id": "r",
                "client-request-id": "c",
            },
        }
    }


@pytest.mark.parametrize(
    ("status", "body", "headers", "expected", "retry_after"),
    [
        (400, error("ErrorInvalidRecipients"), {}, PermanentError, None),
        (400, error("ErrorMimeContentInvalidBase64String"), {}, PermanentError, None),
        (403, error("ErrorAccessDenied", "Access is denied."), {}, RelayError, None),
        (403, error("ErrorSendAsDenied"), {}, RelayError, None),
        (404, error("MailboxNotEnabledForRESTAPI"), {}, RelayError, None),
        (404, error("ResourceNotFound"), {}, RelayError, None),
        (403, error("NoPermissionsInAccessToken"), {}, RelayError, None),
        (413, error("ErrorMessageSizeExceeded"), {}, PermanentError, None),
        (429, error("ApplicationThrottled"), {"Retry-After": "7"}, TransientError, 7.0),
        (503, error("ServiceUnavailable"), {"Retry-After": "30"}, TransientError, 30.0),
        (504, error("GatewayTimeout"), {"Retry-After": "2"}, TransientError, 2.0),
        (500, error("UnknownError"), {}, TransientError, None),
        (400, error("ErrorExceededMessageLimit"), {}, TransientError, None),
    ],
)
@respx.mock
async def test_error_classification(
    make_message: Callable[..., Any],
    status: int,
    body: dict[str, Any],
    headers: dict[str, str],
    expected: type[MailError],
    retry_after: float | None,
) -> None:
    respx.post(URL).mock(return_value=httpx.Response(status, json=body, headers=headers))
    async with transport() as graph:
        with pytest.raises(MailError) as info:
            await graph.send(plain(make_message))
    assert type(info.value) is expected
    assert info.value.code == status
    assert body["error"]["code"] in str(info.value)
    if isinstance(info.value, TransientError):
        assert info.value.retry_after == retry_after


@respx.mock
async def test_access_denied_names_the_permission(make_message: Callable[..., Any]) -> None:
    respx.post(URL).mock(return_value=httpx.Response(403, json=error("ErrorAccessDenied")))
    async with transport() as graph:
        with pytest.raises(RelayError, match=r"Mail\.Send as an Application permission"):
            await graph.send(plain(make_message))


@respx.mock
async def test_too_large_is_refused_before_any_request(make_message: Callable[..., Any]) -> None:
    route = respx.post(URL).mock(return_value=httpx.Response(202))
    tokens = Tokens()
    big = Attachment(filename="big.bin", content=b"\0" * (GRAPH_MAX_REQUEST * 3 // 4))
    async with transport(tokens) as graph:
        with pytest.raises(MessageError, match="sendMail takes at most 4194304"):
            await graph.send(plain(make_message, attachments=[big]))
    assert not route.called
    assert tokens.calls == []


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"tags": ["x"]}, "tags"),
        ({"metadata": {"k": "v"}}, "metadata"),
        ({"envelope_from": "bounces@example.com"}, "envelope_from"),
        ({"track_opens": True}, "a mailbox API does not track"),
        ({"track_clicks": True, "track_opens": False}, "a mailbox API does not track"),
        ({"provider_options": {"graph": {"saveToSentItems": False}}}, "provider_options"),
    ],
)
async def test_what_mime_cannot_carry_is_refused(
    make_message: Callable[..., Any], overrides: dict[str, Any], match: str
) -> None:
    async with transport() as graph:
        with pytest.raises(MessageError, match=match):
            await graph.send(plain(make_message, **overrides))


@respx.mock
async def test_tracking_off_is_honoured_as_a_mailbox_never_tracks(
    make_message: Callable[..., Any],
) -> None:
    route = respx.post(URL).mock(return_value=httpx.Response(202))
    outgoing = plain(make_message, bcc=[], track_opens=False, track_clicks=False)
    async with transport() as graph:
        await graph.send(outgoing)
    assert base64.b64decode(route.calls.last.request.content) == outgoing.raw


def test_url_with_client_credentials_finds_the_secret_in_the_environment() -> None:
    url = "graph://reports%40contoso.com?tenant_id=contoso.onmicrosoft.com&client_id=app-1"
    assert needs_secret(parse_url(url))
    graph = transport_from_url(
        url, environ={"MAILSDK_PASSWORD_GRAPH_REPORTS_CONTOSO_COM": "client-secret-1"}
    )
    assert isinstance(graph, GraphTransport)
    assert graph.user == "reports@contoso.com"
    assert graph.name == "graph://reports%40contoso.com"
    assert parse_url(parse_url(url).display()).host == "reports@contoso.com"
    assert graph._tokens is not None
    provider = graph._tokens.provider
    assert isinstance(provider, MicrosoftClientCredentials)
    assert provider.scopes == [GRAPH_SCOPE]
    assert provider.client_id == "app-1"
    assert "client-secret-1" not in repr(graph) + repr(provider)


def test_url_without_provider_waits_for_the_senders() -> None:
    url = parse_url("graph://reports%40contoso.com")
    assert not needs_secret(url)
    with pytest.raises(ConfigurationError, match="needs tenant_id= and client_id="):
        transport_from_url("graph://reports%40contoso.com?tenant_id=t")
    with pytest.raises(ConfigurationError, match="needs the mailbox"):
        transport_from_url("graph://")


async def test_no_token_provider_at_all_is_a_configuration_error(
    make_message: Callable[..., Any],
) -> None:
    async with GraphTransport("reports@contoso.com") as graph:
        with pytest.raises(ConfigurationError, match="token provider"):
            await graph.send(plain(make_message))


@respx.mock
async def test_fails_over_to_smtp_and_shares_the_senders_token_provider(
    make_message: Callable[..., Any], relay_factory: Callable[..., LocalRelay]
) -> None:
    relay = relay_factory(users={USER: PASSWORD}, require_auth=True)
    route = respx.post(URL).mock(return_value=httpx.Response(403, json=error("ErrorAccessDenied")))
    respx.route(host="127.0.0.1").pass_through()
    tokens = Tokens()
    async with AsyncSender(
        ["graph://reports%40contoso.com", relay.url(USER, PASSWORD)], token_provider=tokens
    ) as sender:
        result = await sender.send(make_message(tags=[], metadata={}))
    assert route.called
    assert route.calls.last.request.headers["Authorization"] == f"Bearer {TOKEN}-1"
    assert result.relay.startswith("smtp://")
    assert [a.outcome for a in result.attempts][-1] == "delivered"
    assert len(relay.messages) == 1


def test_unknown_option_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="unknown option"):
        transport_from_url("graph://reports%40contoso.com?colour=blue")
    with pytest.raises(ConfigurationError, match="needs oauth=microsoft"):
        transport_from_url("graph://reports%40contoso.com?oauth=google&client_id=x")


def test_declared_capabilities_match_the_payloads() -> None:
    from mailsdk.transports.http.gmail import GmailPayload, GmailTransport
    from mailsdk.transports.http.graph import GraphPayload

    for transport, payload in ((GraphTransport, GraphPayload), (GmailTransport, GmailPayload)):
        assert transport.capabilities.raw_mime is payload.takes_raw_mime is True
        assert transport.capabilities.tags is False
        assert transport.capabilities.metadata is False
