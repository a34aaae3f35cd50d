"""SMTP XOAUTH2 with token providers against the embedded relay (aiosmtpd, STARTTLS).

The relay answers a refused token as Gmail does: a 334 challenge carrying the error as
base64 JSON, then 535 after the client's empty line.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import pytest
from pydantic import SecretStr

from mailsdk import AsyncSender, ConfigurationError, DeliveryFailed, Message, RelayError, Sender
from mailsdk.auth import AccessToken, StaticToken
from mailsdk.devserver import LocalRelay
from tests.conftest import USER


def message(n: int = 0) -> Message:
    return Message(from_=USER, to=[f"rcpt{n}@example.com"], subject=f"report {n}", text="numbers\n")


class RotatingProvider:
    """Hands out the given tokens in turn (the last one repeats); counts every request."""

    def __init__(self, *values: str) -> None:
        self.values = list(values)
        self.calls: list[bool] = []

    async def token(self, *, force_refresh: bool = False) -> AccessToken:
        self.calls.append(force_refresh)
        await asyncio.sleep(0.01)  # a token endpoint takes a moment: callers overlap
        value = self.values[min(len(self.calls), len(self.values)) - 1]
        return AccessToken(SecretStr(value), datetime.now(timezone.utc) + timedelta(hours=1))


def xoauth2_url(relay: LocalRelay) -> str:
    user = USER.replace("@", "%40")
    return f"smtp://{user}@{relay.host}:{relay.port}?ca_file={relay.ca_file}&auth=xoauth2"


async def test_stale_token_is_refreshed_once_and_delivers(
    relay_factory: Callable[..., LocalRelay],
) -> None:
    relay = relay_factory(users={USER: "fresh-token"}, require_auth=True)
    tokens = RotatingProvider("stale-token", "fresh-token")
    async with AsyncSender(xoauth2_url(relay), token_provider=tokens) as sender:
        result = await sender.send(message())
    assert tokens.calls == [False, True]
    assert relay.messages[0].login == USER
    assert result.accepted == ["rcpt0@example.com"]
    assert result.attempts[-1].outcome == "delivered"


async def test_fifty_concurrent_sends_share_one_token_request(
    relay_factory: Callable[..., LocalRelay],
) -> None:
    relay = relay_factory(users={USER: "fresh-token"}, require_auth=True)
    tokens = RotatingProvider("fresh-token")
    url = xoauth2_url(relay) + "&max_connections=8"
    async with AsyncSender(url, token_provider=tokens) as sender:
        results = await sender.send_many([message(n) for n in range(50)], concurrency=50)
    assert all(not isinstance(r, Exception) for r in results)
    assert len(relay.messages) == 50
    assert tokens.calls == [False]


async def test_fifty_concurrent_sends_with_a_stale_token_refresh_once(
    relay_factory: Callable[..., LocalRelay],
) -> None:
    relay = relay_factory(users={USER: "fresh-token"}, require_auth=True)
    tokens = RotatingProvider("stale-token", "fresh-token")
    url = xoauth2_url(relay) + "&max_connections=8"
    async with AsyncSender(url, token_provider=tokens) as sender:
        results = await sender.send_many([message(n) for n in range(50)], concurrency=50)
    assert all(not isinstance(r, Exception) for r in results)
    assert len(relay.messages) == 50
    assert tokens.calls == [False, True]


async def test_token_refused_after_refresh_is_a_relay_error(
    relay_factory: Callable[..., LocalRelay], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    relay = relay_factory(users={USER: "the-only-good-token"}, require_auth=True)
    tokens = RotatingProvider("bad-1", "bad-2")
    async with AsyncSender(xoauth2_url(relay), token_provider=tokens) as sender:
        with pytest.raises(DeliveryFailed) as info:
            await sender.send(message())
    assert tokens.calls == [False, True]
    (error,) = info.value.errors
    assert isinstance(error, RelayError)
    assert error.code == 535
    assert "status 401" in str(error)
    for secret in ("bad-1", "bad-2"):
        assert secret not in str(info.value)
        assert secret not in repr(error)
        assert secret not in caplog.text
    assert relay.messages == []


def test_sync_sender_with_static_token(relay_factory: Callable[..., LocalRelay]) -> None:
    relay = relay_factory(users={USER: "tok-123"}, require_auth=True)
    with Sender(xoauth2_url(relay), token_provider=StaticToken("tok-123")) as sender:
        sender.send(message())
    assert relay.messages[0].login == USER


def test_token_provider_nobody_uses_is_refused(relay: LocalRelay) -> None:
    with pytest.raises(ConfigurationError, match="auth=xoauth2"):
        Sender(relay.url(USER, "pw"), token_provider=StaticToken("tok"))


async def test_xoauth2_url_without_any_token_says_what_is_missing(relay: LocalRelay) -> None:
    async with AsyncSender(xoauth2_url(relay)) as sender:
        with pytest.raises(DeliveryFailed, match="token_provider"):
            await sender.send(message())


async def test_probe_reports_a_refused_token(relay_factory: Callable[..., LocalRelay]) -> None:
    from mailsdk import SMTPTransport

    relay = relay_factory(users={USER: "good"}, require_auth=True)

    def with_token(token: str) -> SMTPTransport:
        return SMTPTransport(
            relay.host,
            relay.port,
            username=USER,
            token_provider=StaticToken(token),
            ca_file=relay.ca_file,
        )

    report = await with_token("stale").probe()
    assert report.error is not None
    assert report.error.code == 535
    assert "status 401" in str(report.error)
    report = await with_token("good").probe()
    assert report.error is None
    assert report.auth_used == "XOAUTH2"


def test_from_env_with_a_token_provider(
    relay_factory: Callable[..., LocalRelay], monkeypatch: pytest.MonkeyPatch
) -> None:
    relay = relay_factory(users={USER: "tok-env"}, require_auth=True)
    monkeypatch.setenv("MAILSDK_URL", xoauth2_url(relay))
    with Sender.from_env(
        env_file=None, config_file=False, token_provider=StaticToken("tok-env")
    ) as sender:
        sender.send(message())
    assert relay.messages[0].login == USER
