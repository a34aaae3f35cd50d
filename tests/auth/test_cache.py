"""CachedTokenProvider: reuse until shortly before expiry, one shared fetch, forced refresh."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest
from pydantic import SecretStr

from mailsdk import ConfigurationError
from mailsdk.auth import AccessToken, CachedTokenProvider, StaticToken, cached
from tests.auth.conftest import FakeClock


class CountingProvider:
    """Issues token-1, token-2, ... each valid for *lifetime* from the fake clock's now."""

    def __init__(self, clock: FakeClock, lifetime: timedelta = timedelta(hours=1)) -> None:
        self.clock = clock
        self.lifetime = lifetime
        self.calls: list[bool] = []
        self.gate: asyncio.Event | None = None

    async def token(self, *, force_refresh: bool = False) -> AccessToken:
        self.calls.append(force_refresh)
        if self.gate is not None:
            await self.gate.wait()
        return AccessToken(SecretStr(f"token-{len(self.calls)}"), self.clock() + self.lifetime)


def value(token: AccessToken) -> str:
    return token.value.get_secret_value()


async def test_token_is_reused_until_five_minutes_before_expiry(clock: FakeClock) -> None:
    inner = CountingProvider(clock)
    tokens = CachedTokenProvider(inner, clock=clock)
    assert value(await tokens.token()) == "token-1"
    clock.advance(minutes=54, seconds=59)
    assert value(await tokens.token()) == "token-1"
    clock.advance(seconds=1)  # 55 minutes: five minutes left
    assert value(await tokens.token()) == "token-2"
    assert inner.calls == [False, False]


async def test_short_lived_token_is_renewed_at_half_its_lifetime(clock: FakeClock) -> None:
    inner = CountingProvider(clock, lifetime=timedelta(minutes=4))
    tokens = CachedTokenProvider(inner, clock=clock)
    await tokens.token()
    clock.advance(minutes=1, seconds=59)
    assert value(await tokens.token()) == "token-1"
    clock.advance(seconds=1)
    assert value(await tokens.token()) == "token-2"


async def test_fifty_concurrent_callers_share_one_fetch(clock: FakeClock) -> None:
    inner = CountingProvider(clock)
    inner.gate = asyncio.Event()
    tokens = CachedTokenProvider(inner, clock=clock)
    waiting = [asyncio.ensure_future(tokens.token()) for _ in range(50)]
    await asyncio.sleep(0)
    inner.gate.set()
    got = await asyncio.gather(*waiting)
    assert {value(t) for t in got} == {"token-1"}
    assert inner.calls == [False]
    assert tokens.fetches == 1


async def test_refresh_after_rejection_once_for_many_connections(clock: FakeClock) -> None:
    inner = CountingProvider(clock)
    tokens = CachedTokenProvider(inner, clock=clock)
    stale = await tokens.token()
    inner.gate = asyncio.Event()
    refreshes = [asyncio.ensure_future(tokens.refresh_after_rejection(stale)) for _ in range(4)]
    await asyncio.sleep(0)
    inner.gate.set()
    fresh = await asyncio.gather(*refreshes)
    assert {value(t) for t in fresh} == {"token-2"}
    # A connection refused the old token after the refresh finished: no second refresh.
    assert value(await tokens.refresh_after_rejection(stale)) == "token-2"
    assert inner.calls == [False, True]


async def test_force_refresh_reaches_the_provider(clock: FakeClock) -> None:
    inner = CountingProvider(clock)
    tokens = CachedTokenProvider(inner, clock=clock)
    await tokens.token()
    assert value(await tokens.token(force_refresh=True)) == "token-2"
    assert inner.calls == [False, True]


async def test_a_failed_fetch_is_not_cached(clock: FakeClock) -> None:
    class Flaky:
        calls = 0

        async def token(self, *, force_refresh: bool = False) -> AccessToken:
            self.calls += 1
            if self.calls == 1:
                raise ConfigurationError("token endpoint down")
            return AccessToken(SecretStr("ok"), clock() + timedelta(hours=1))

    tokens = CachedTokenProvider(Flaky(), clock=clock)
    with pytest.raises(ConfigurationError):
        await tokens.token()
    assert value(await tokens.token()) == "ok"


async def test_cancelled_caller_does_not_cancel_the_shared_fetch(clock: FakeClock) -> None:
    inner = CountingProvider(clock)
    inner.gate = asyncio.Event()
    tokens = CachedTokenProvider(inner, clock=clock)
    first = asyncio.ensure_future(tokens.token())
    second = asyncio.ensure_future(tokens.token())
    await asyncio.sleep(0)
    first.cancel()
    inner.gate.set()
    assert value(await second) == "token-1"
    assert inner.calls == [False]


def test_cached_wraps_once_and_refuses_non_providers() -> None:
    inner = StaticToken("abc")
    wrapped = cached(inner)
    assert cached(wrapped) is wrapped
    assert CachedTokenProvider(wrapped).provider is inner
    with pytest.raises(TypeError, match="async token"):
        cached(lambda: "abc")  # type: ignore[arg-type]


def test_access_token_hides_its_value_and_needs_an_aware_expiry() -> None:
    token = AccessToken(SecretStr("eyJ.secret.token"), datetime(2027, 1, 1, tzinfo=timezone.utc))
    assert "eyJ" not in repr(token)
    assert "eyJ" not in str(token)
    with pytest.raises(ConfigurationError, match="timezone-aware"):
        AccessToken(SecretStr("x"), datetime(2027, 1, 1))
    with pytest.raises(ConfigurationError, match="empty"):
        AccessToken(SecretStr(""), datetime(2027, 1, 1, tzinfo=timezone.utc))


async def test_static_token_never_expires_and_ignores_force_refresh() -> None:
    provider = StaticToken(SecretStr("fixed"))
    first = await provider.token()
    assert first is await provider.token(force_refresh=True)
    assert first.expires_at.year == 9999
    assert "fixed" not in repr(provider)
