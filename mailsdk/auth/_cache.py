"""The token cache every sender puts in front of its TokenProvider.

One cache per sender: every connection and every concurrent send asks it, and it asks the
provider only when the token is missing, about to expire, or was just refused by a server.
While one fetch is running, everyone else waits for that fetch instead of starting their own,
so fifty concurrent sends with an expired token cause one request to the token endpoint.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from mailsdk.auth._token import AccessToken, TokenProvider

__all__ = ["CachedTokenProvider", "Clock", "cached", "share_token_provider"]

log = logging.getLogger("mailsdk")

Clock = Callable[[], datetime]
"""Returns the current time as an aware datetime (injected in tests)."""


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


class CachedTokenProvider:
    """Caches another provider's token until shortly before it expires.

    A token is renewed once less than ``margin`` (default five minutes, the margin msal uses)
    or less than half of its lifetime is left, whichever is shorter, so a short-lived token
    is not refreshed on every send. Concurrent callers share one fetch. ``clock`` returns the
    current aware datetime and exists for tests.
    """

    def __init__(
        self,
        provider: TokenProvider,
        *,
        margin: timedelta = timedelta(minutes=5),
        clock: Clock | None = None,
    ) -> None:
        if isinstance(provider, CachedTokenProvider):
            provider = provider.provider
        self.provider: TokenProvider = provider
        self.margin = margin
        self._clock = clock or _utc_now
        self._token: AccessToken | None = None
        self._renew_at: datetime | None = None
        self._fetch: asyncio.Future[AccessToken] | None = None
        self._fetch_loop: asyncio.AbstractEventLoop | None = None
        self.fetches = 0
        """How many times the wrapped provider was asked (for tests and diagnostics)."""

    async def token(self, *, force_refresh: bool = False) -> AccessToken:
        """The cached token while it is fresh; otherwise one shared fetch."""
        current = self._token
        if not force_refresh and current is not None and self._fresh():
            return current
        return await self._shared_fetch(force_refresh)

    async def refresh_after_rejection(self, rejected: AccessToken) -> AccessToken:
        """A new token after a server refused *rejected*.

        When another connection already replaced that token, its replacement is returned
        without asking the provider again: many connections that were refused the same
        stale token cause one refresh between them.
        """
        current = self._token
        if current is not None and current is not rejected and self._fresh():
            return current
        return await self._shared_fetch(True)

    def invalidate(self) -> None:
        """Forget the cached token; the next :meth:`token` call fetches a new one."""
        self._token = self._renew_at = None

    def _fresh(self) -> bool:
        return self._renew_at is not None and self._clock() < self._renew_at

    async def _shared_fetch(self, force_refresh: bool) -> AccessToken:
        loop = asyncio.get_running_loop()
        fetch = self._fetch
        if fetch is None or fetch.done() or self._fetch_loop is not loop:
            fetch = loop.create_task(self._fetch_once(force_refresh))
            self._fetch, self._fetch_loop = fetch, loop
        # shield: one caller being cancelled must not cancel the fetch the others wait for.
        return await asyncio.shield(fetch)

    async def _fetch_once(self, force_refresh: bool) -> AccessToken:
        self.fetches += 1
        fetched_at = self._clock()
        token = await self.provider.token(force_refresh=force_refresh)
        if not isinstance(token, AccessToken):
            raise TypeError(
                f"{type(self.provider).__name__}.token() returned {type(token).__name__}, "
                "not an AccessToken"
            )
        lifetime = token.expires_at - fetched_at
        self._token = token
        self._renew_at = token.expires_at - min(self.margin, max(lifetime, timedelta(0)) / 2)
        log.debug(
            "new access token from %s, valid until %s",
            type(self.provider).__name__,
            token.expires_at.isoformat(),
        )
        return token

    def __repr__(self) -> str:
        return f"CachedTokenProvider({self.provider!r})"


def cached(provider: TokenProvider, *, clock: Clock | None = None) -> CachedTokenProvider:
    """*provider* behind a cache (itself when it already is one)."""
    if isinstance(provider, CachedTokenProvider):
        return provider
    if not isinstance(provider, TokenProvider):
        raise TypeError(
            f"token_provider must have an async token(*, force_refresh=False) method, "
            f"not {type(provider).__name__}"
        )
    return CachedTokenProvider(provider, clock=clock)


def share_token_provider(provider: TokenProvider, transports: Sequence[Any]) -> int:
    """Give one cache of *provider* to every transport that takes tokens and has none.

    Failover groups are walked. Returns how many transports took it; a provider that no
    transport uses is a configuration mistake (a URL without ``auth=xoauth2``), so the
    caller refuses it.
    """
    cache = cached(provider)
    taken = 0
    for transport in transports:
        nested = getattr(transport, "transports", None)
        if isinstance(nested, Sequence) and nested is not transports:
            taken += share_token_provider(cache, nested)
        use = getattr(transport, "use_token_provider", None)
        if use is not None and use(cache):
            taken += 1
    return taken
