"""Django receiver for delivery webhooks: a CSRF-exempt view per provider, and URL patterns.

``path("webhooks/", include(webhook_urls({"postmark": WebhookHandler("postmark", ...)})))``
serves ``POST /webhooks/postmark/``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from mailsdk.webhooks.receiver import WebhookHandler

__all__ = ["webhook_urls", "webhook_view"]


def webhook_view(handler: WebhookHandler) -> Callable[..., HttpResponse]:
    """A Django view answering the provider's POSTs through *handler*."""

    def view(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = handler.handle(request.body, dict(request.headers))
        return HttpResponse(response.text, status=response.status, content_type="text/plain")

    # Providers post without a CSRF token; the signature or credentials are the check.
    checked: Callable[..., HttpResponse] = csrf_exempt(require_POST(view))
    return checked


def webhook_urls(handlers: Mapping[str, WebhookHandler]) -> list[URLPattern]:
    """URL patterns ``<name>/`` for each handler, for ``include(...)`` in a urls.py."""
    return [
        path(f"{name}/", webhook_view(handler), name=f"mailsdk-webhook-{name}")
        for name, handler in handlers.items()
    ]
