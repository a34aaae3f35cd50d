"""The webhook receivers (pure ASGI, Django, Flask) answer 2xx only once events are handled,
403 for a bad signature, 400 for a malformed body, and drop replays."""

from __future__ import annotations

import json
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from mailsdk.suppressions import Suppressions
from mailsdk.webhooks import DeliveryEvent
from mailsdk.webhooks.receiver import WebhookHandler
from tests.webhooks.signing import BASIC_SECRET, SendGridKeys, basic, clock

KEYS = SendGridKeys()
BATCH = [
    {
        "email": "gone@example.com",
        "timestamp": 1773500966,
        "event": "bounce",
        "type": "bounce",
        "sg_event_id": "ev-1",
        "status": "5.1.1",
        "reason": "550 5.1.1 unknown",
    },
    {
        "email": "fine@example.com",
        "timestamp": 1773500966,
        "event": "delivered",
        "sg_event_id": "ev-2",
    },
]
BODY = json.dumps(BATCH).encode()


class Scenario:
    def __init__(self, tmp_path: Path) -> None:
        self.store = Suppressions(tmp_path / "mail.sqlite3")
        self.received: list[list[DeliveryEvent]] = []
        self.fail = False

        def on_events(events: list[DeliveryEvent]) -> None:
            if self.fail:
                raise RuntimeError("the application's database is down")
            self.received.append(events)

        self.handlers = {
            "sendgrid": WebhookHandler(
                "sendgrid",
                secret=KEYS.verification_key,
                suppressions=self.store,
                on_events=on_events,
                now=clock(),
            ),
            "postmark": WebhookHandler("postmark", secret=BASIC_SECRET, suppressions=self.store),
        }


@pytest.fixture
def scenario(tmp_path: Path) -> Iterator[Scenario]:
    s = Scenario(tmp_path)
    yield s
    s.store.close()


Post = Callable[[str, bytes, dict[str, str]], tuple[int, str]]


def check_receiver(scenario: Scenario, post: Post) -> None:
    """The same story for every framework."""
    # A forged request: refused, nothing stored, the callback never sees it.
    status, _ = post("sendgrid", BODY, SendGridKeys().headers(BODY))
    assert status == 403
    assert scenario.store.check("gone@example.com") is None
    assert scenario.received == []
    # The application fails: 5xx so the provider retries, and nothing is marked handled.
    scenario.fail = True
    status, _ = post("sendgrid", BODY, KEYS.headers(BODY))
    assert status >= 500
    assert scenario.store.seen("sendgrid", ["ev-1", "ev-2"]) == set()
    scenario.fail = False
    # The retry: handled, stored, 200.
    status, text = post("sendgrid", BODY, KEYS.headers(BODY))
    assert (status, text) == (200, "2 event(s)")
    assert [e.kind for e in scenario.received[0]] == ["bounced", "delivered"]
    entry = scenario.store.check("gone@example.com")
    assert entry is not None
    assert (entry.reason, entry.source) == ("hard_bounce", "sendgrid")
    # A replay of the same events: 200 (so the provider stops), the callback is not called.
    status, text = post("sendgrid", BODY, KEYS.headers(BODY))
    assert (status, text) == (200, "0 event(s)")
    assert len(scenario.received) == 1
    # An authenticated but malformed body: 400; without credentials: 403.
    assert post("postmark", b"{not json", basic())[0] == 400
    assert post("postmark", b"{}", {})[0] == 403
    # Unknown webhook name: 404.
    assert post("nosuch", BODY, {})[0] == 404


def asgi_post(app: Any) -> Post:
    import asyncio

    async def call(name: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            response = await client.post(f"/hooks/{name}", content=body, headers=headers)
        return response.status_code, response.text

    return lambda name, body, headers: asyncio.run(call(name, body, headers))


def test_asgi(scenario: Scenario) -> None:
    from mailsdk.webhooks.asgi import WebhookApp

    check_receiver(scenario, asgi_post(WebhookApp(scenario.handlers)))


async def test_asgi_with_an_async_callback_and_other_methods(tmp_path: Path) -> None:
    from mailsdk.webhooks.asgi import WebhookApp

    seen: list[DeliveryEvent] = []

    async def on_events(events: list[DeliveryEvent]) -> None:
        seen.extend(events)

    with Suppressions(tmp_path / "s.db") as store:
        handler = WebhookHandler(
            "sendgrid",
            secret=KEYS.verification_key,
            suppressions=store,
            on_events=on_events,
            now=clock(),
        )
        app = WebhookApp({"sendgrid": handler})
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            ok = await client.post("/sendgrid", content=BODY, headers=KEYS.headers(BODY))
            get = await client.get("/sendgrid")
            huge = await client.post("/sendgrid", content=b"[" + b" " * (10 * 1024 * 1024) + b"]")
        assert ok.status_code == 200
        assert [e.recipient for e in seen] == [
            "gone@example.com",
            "fine@example.com",
        ]
        assert get.status_code == 405
        assert get.headers["allow"] == "POST"
        assert huge.status_code == 413


def test_django(scenario: Scenario, django_project: None) -> None:
    from django.test import Client, override_settings
    from django.urls import include, path

    from mailsdk.webhooks.django import webhook_urls

    urls = types.ModuleType("webhook_test_urls")
    urls.urlpatterns = [path("hooks/", include(webhook_urls(scenario.handlers)))]  # type: ignore[attr-defined]
    client = Client(enforce_csrf_checks=True, raise_request_exception=False)

    def post(name: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
        response = client.post(
            f"/hooks/{name}/", data=body, content_type="application/json", headers=headers
        )
        return response.status_code, response.content.decode()

    middleware = ["django.middleware.csrf.CsrfViewMiddleware"]
    with override_settings(ROOT_URLCONF=urls, MIDDLEWARE=middleware):
        check_receiver(scenario, post)
        assert client.get("/hooks/sendgrid/").status_code == 405


def test_flask(scenario: Scenario) -> None:
    from flask import Flask

    from mailsdk.webhooks.flask import webhook_blueprint

    app = Flask(__name__)
    app.register_blueprint(webhook_blueprint(scenario.handlers), url_prefix="/hooks")
    client = app.test_client()

    def post(name: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
        response = client.post(f"/hooks/{name}", data=body, headers=headers)
        return response.status_code, response.get_data(as_text=True)

    check_receiver(scenario, post)
    assert client.get("/hooks/sendgrid").status_code == 405


def test_a_handler_needs_somewhere_to_put_events() -> None:
    with pytest.raises(ValueError, match="suppressions= or on_events="):
        WebhookHandler("postmark", secret=BASIC_SECRET)
