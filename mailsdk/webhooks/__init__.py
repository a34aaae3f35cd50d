"""Delivery webhooks: every provider's events, verified and turned into one DeliveryEvent.

``parse("sendgrid", body=raw_bytes, headers=request.headers, secret=verification_key)``
checks the request is from the provider (its signature, or the Basic credentials a provider
that does not sign sends from the webhook URL), refuses a signed timestamp older than the
tolerance, and returns the events, normalised. Only two errors come out of it:
:class:`WebhookSignatureError` (answer 403) and :class:`WebhookPayloadError`, a ValueError
(answer 400). An event type we do not know is ``kind="other"``, never an error.

The receivers in :mod:`mailsdk.webhooks.asgi`, :mod:`mailsdk.webhooks.django` and
:mod:`mailsdk.webhooks.flask` wrap this, drop replays and feed a
:class:`~mailsdk.suppressions.Suppressions` list.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any, Protocol

from mailsdk.webhooks._common import Clock, SecretTypeError, as_tolerance, utcnow
from mailsdk.webhooks._event import (
    METADATA_KEY,
    BounceType,
    DeliveryEvent,
    EventKind,
    WebhookError,
    WebhookPayloadError,
    WebhookSignatureError,
)

__all__ = [
    "METADATA_KEY",
    "PROVIDERS",
    "BounceType",
    "DeliveryEvent",
    "EventKind",
    "SeenEvents",
    "WebhookError",
    "WebhookPayloadError",
    "WebhookSignatureError",
    "default_tolerance",
    "parse",
]

log = logging.getLogger("mailsdk.webhooks")

PROVIDERS = (
    "sendgrid",
    "mailgun",
    "postmark",
    "resend",
    "ses",
    "brevo",
    "sparkpost",
    "mailjet",
    "mailersend",
    "mailtrap",
)
"""The providers :func:`parse` knows (``"amazon_ses"`` is an alias of ``"ses"``)."""

_ALIASES = {"amazon_ses": "ses", "amazonses": "ses", "sendinblue": "brevo"}


class SeenEvents(Protocol):
    """Where event ids already handled are remembered (a Suppressions list is one)."""

    def seen(self, provider: str, event_ids: Iterable[str]) -> set[str]:
        """The subset of *event_ids* already recorded for *provider*."""
        ...


def _module(provider: str) -> Any:
    name = _ALIASES.get(provider.lower(), provider.lower())
    if name not in PROVIDERS:
        raise ValueError(f"unknown webhook provider {provider!r}; one of {', '.join(PROVIDERS)}")
    return importlib.import_module(f"mailsdk.webhooks.{name}")


def default_tolerance(provider: str) -> timedelta | None:
    """How old a signed timestamp *provider* may send is accepted by default (None: it signs
    no timestamp)."""
    tolerance: timedelta | None = _module(provider).WEBHOOK.tolerance
    return tolerance


def parse(
    provider: str,
    *,
    body: bytes,
    headers: Mapping[str, str],
    secret: Any = None,
    tolerance: float | timedelta | None = None,
    now: Clock = utcnow,
    seen: SeenEvents | None = None,
    **options: Any,
) -> list[DeliveryEvent]:
    """Verify one webhook request from *provider* and return its events, normalised.

    Args:
        provider: one of :data:`PROVIDERS`.
        body: the raw request body, byte for byte (signatures cover these bytes).
        headers: the request headers (any case).
        secret: what proves the request: SendGrid's verification key (base64 DER or PEM),
            Mailgun's webhook signing key, Resend's ``whsec_...`` secret, MailerSend's or
            Mailtrap's signing secret; ``"user:password"`` Basic credentials for Postmark,
            Brevo, SparkPost and Mailjet (which do not sign). Amazon SES (SNS) needs none
            (optional Basic credentials).
        tolerance: seconds (or a timedelta) a signed timestamp may be off from *now*; the
            default is :func:`default_tolerance`.
        now: the clock (a callable returning an aware datetime).
        seen: a store of handled event ids; events it has seen are dropped (replays).
        options: provider-specific, for ``ses``: ``fetch_certificate`` (``url -> PEM
            bytes``), ``on_subscription`` (called with a verified
            :class:`~mailsdk.webhooks.ses.SnsSubscription`) and ``topic_arns``.

    Raises:
        WebhookSignatureError: not provably from the provider, or stale.
        WebhookPayloadError: authentic but unreadable (a ValueError).
        ValueError: an unknown provider. TypeError: a missing or unusable *secret*.
    """
    module = _module(provider)
    window = as_tolerance(tolerance, module.WEBHOOK.tolerance)
    try:
        events: list[DeliveryEvent] = module.WEBHOOK.parse(
            body, headers, secret=secret, tolerance=window, now=now, **options
        )
    except (WebhookError, SecretTypeError):
        raise
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError, RecursionError) as exc:
        # A shape the parser did not foresee: still the caller's bad body, never a crash.
        raise WebhookPayloadError(f"{provider} payload not understood: {exc!r:.200}") from None
    if seen is not None:
        ids = [e.event_id for e in events if e.event_id]
        if ids:
            old = seen.seen(module.__name__.rsplit(".", 1)[1], ids)
            if old:
                log.info("%s webhook: dropped %d event(s) already seen", provider, len(old))
                events = [e for e in events if e.event_id not in old]
    return events
