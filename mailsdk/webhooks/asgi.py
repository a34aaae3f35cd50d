"""A pure ASGI receiver for delivery webhooks (no framework needed).

``app = WebhookApp({"sendgrid": WebhookHandler("sendgrid", secret=key, suppressions=s)})``
serves ``POST /sendgrid`` (the last path segment names the handler), mountable under any
prefix in Starlette, FastAPI, Quart or a bare ASGI server.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

from mailsdk.webhooks.receiver import MAX_BODY, WebhookHandler, WebhookResponse

__all__ = ["WebhookApp"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class WebhookApp:
    """An ASGI application answering webhook POSTs at ``/<name>`` for each handler."""

    def __init__(self, handlers: Mapping[str, WebhookHandler]) -> None:
        self.handlers = dict(handlers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        path: str = scope.get("path", "")
        root: str = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        handler = self.handlers.get(path.strip("/").rsplit("/", 1)[-1])
        if handler is None:
            await _answer(send, WebhookResponse(404, "no such webhook"))
            return
        if scope.get("method") != "POST":
            await _answer(send, WebhookResponse(405, "POST only"), allow=True)
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > MAX_BODY:
                await _answer(send, WebhookResponse(413, "body too large"))
                return
            if not message.get("more_body", False):
                break
        headers = {
            name.decode("latin-1"): value.decode("latin-1")
            for name, value in scope.get("headers", [])
        }
        await _answer(send, await handler.handle_async(bytes(body), headers))


async def _answer(send: Send, response: WebhookResponse, *, allow: bool = False) -> None:
    payload = response.text.encode()
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(payload)).encode()),
    ]
    if allow:
        headers.append((b"allow", b"POST"))
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
