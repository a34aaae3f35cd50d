"""Flask receiver for delivery webhooks: a blueprint with one POST route per provider.

``app.register_blueprint(webhook_blueprint({"mailgun": WebhookHandler("mailgun", ...)}),
url_prefix="/webhooks")`` serves ``POST /webhooks/mailgun``.
"""

from __future__ import annotations

from collections.abc import Mapping

from flask import Blueprint, Response, request

from mailsdk.webhooks.receiver import WebhookHandler

__all__ = ["webhook_blueprint"]


def webhook_blueprint(
    handlers: Mapping[str, WebhookHandler], name: str = "mailsdk_webhooks"
) -> Blueprint:
    """A blueprint answering POST ``/<provider>`` through the matching handler."""
    blueprint = Blueprint(name, __name__)
    table = dict(handlers)

    @blueprint.post("/<provider>")
    def receive(provider: str) -> Response:
        handler = table.get(provider)
        if handler is None:
            return Response("no such webhook", status=404, content_type="text/plain")
        response = handler.handle(request.get_data(cache=False), dict(request.headers))
        return Response(response.text, status=response.status, content_type="text/plain")

    return blueprint
