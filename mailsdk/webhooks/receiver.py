"""What every webhook receiver does, framework aside: verify, drop replays, hand the events to
the user's callback, record them in the suppression list, and only then answer 2xx.

The answer follows what providers do with it: 403 for a request that is not provably theirs,
400 for a body we cannot read (both stop most providers' retries; neither is logged with the
body), 200 once the events are handled. If the callback or the database fails, the exception
propagates and the framework answers 5xx, so the provider retries; event ids are recorded only
after the callback returned, so nothing is marked handled that was not.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from mailsdk.webhooks import parse
from mailsdk.webhooks._common import Clock, utcnow
from mailsdk.webhooks._event import DeliveryEvent, WebhookPayloadError, WebhookSignatureError

if TYPE_CHECKING:
    from mailsdk.suppressions import Suppressions

__all__ = ["EventCallback", "WebhookHandler", "WebhookResponse"]

log = logging.getLogger("mailsdk.webhooks")

EventCallback = Callable[[list[DeliveryEvent]], "Awaitable[None] | None"]
"""Called with the new (not replayed) events of one request; may be async for the ASGI app."""

MAX_BODY = 10 * 1024 * 1024
"""Bodies larger than this are refused with 413 (SendGrid batches are about 768 KB)."""


@dataclass(frozen=True, slots=True)
class WebhookResponse:
    """The status and short plain-text body a receiver answers."""

    status: int
    text: str


class WebhookHandler:
    """Verifies and handles one provider's webhook requests.

    Args:
        provider: one of :data:`mailsdk.webhooks.PROVIDERS`.
        secret: as :func:`mailsdk.webhooks.parse` takes it (never logged or repr'd).
        suppressions: the list to feed and the store of event ids seen (replays dropped).
        on_events: a callback for the events of each request (sync; async in the ASGI app).
        tolerance, now, options: passed to :func:`~mailsdk.webhooks.parse`.
    """

    def __init__(
        self,
        provider: str,
        *,
        secret: Any = None,
        suppressions: Suppressions | None = None,
        on_events: EventCallback | None = None,
        tolerance: float | timedelta | None = None,
        now: Clock = utcnow,
        **options: Any,
    ) -> None:
        if suppressions is None and on_events is None:
            raise ValueError("a webhook handler needs suppressions= or on_events= (or both)")
        self.provider = provider
        self._secret = secret
        self.suppressions = suppressions
        self.on_events = on_events
        self._tolerance = tolerance
        self._now = now
        self._options = options

    def _parse(
        self, body: bytes, headers: Mapping[str, str]
    ) -> list[DeliveryEvent] | WebhookResponse:
        if len(body) > MAX_BODY:
            return WebhookResponse(413, "body too large")
        try:
            return parse(
                self.provider,
                body=body,
                headers=headers,
                secret=self._secret,
                tolerance=self._tolerance,
                now=self._now,
                seen=self.suppressions,
                **self._options,
            )
        except WebhookSignatureError as exc:
            log.warning("%s webhook refused: %s", self.provider, exc)
            return WebhookResponse(403, "forbidden")
        except WebhookPayloadError as exc:
            log.warning("%s webhook: malformed body: %s", self.provider, exc)
            return WebhookResponse(400, "malformed body")

    def handle(self, body: bytes, headers: Mapping[str, str]) -> WebhookResponse:
        """Handle one request (sync frameworks); the callback must be sync here."""
        parsed = self._parse(body, headers)
        if isinstance(parsed, WebhookResponse):
            return parsed
        if self.on_events is not None and parsed:
            outcome = self.on_events(parsed)
            if inspect.isawaitable(outcome):
                raise TypeError("an async on_events callback needs the ASGI receiver")
        if self.suppressions is not None and parsed:
            self.suppressions.record(parsed)
        return WebhookResponse(200, f"{len(parsed)} event(s)")

    async def handle_async(self, body: bytes, headers: Mapping[str, str]) -> WebhookResponse:
        """Handle one request from async code: parsing (which may fetch an SNS certificate)
        and SQLite run in a worker thread; the callback may be sync or async."""
        parsed = await asyncio.to_thread(self._parse, body, headers)
        if isinstance(parsed, WebhookResponse):
            return parsed
        if self.on_events is not None and parsed:
            outcome = self.on_events(parsed)
            if inspect.isawaitable(outcome):
                await outcome
        if self.suppressions is not None and parsed:
            await asyncio.to_thread(self.suppressions.record, parsed)
        return WebhookResponse(200, f"{len(parsed)} event(s)")

    def __repr__(self) -> str:
        return f"WebhookHandler({self.provider!r})"
