"""No OAuth secret ever shows: client secret, access tokens and refresh tokens, through a
whole failing send (token endpoint stand-in, Graph answering 401 through respx)."""

from __future__ import annotations

import base64
import logging
import traceback

import httpx
import pytest
import respx

from mailsdk import DeliveryFailed, Message, RetryPolicy, Sender
from mailsdk.credentials import env_var_name
from tests.auth.conftest import TokenEndpoint

CLIENT_SECRET = "Kx8Q~entra-client-Secret-77ab"
GRAPH = "https://graph.microsoft.com/v1.0/users/reports@contoso.com/sendMail"


def forms(secret: str) -> list[str]:
    return [secret, base64.b64encode(secret.encode()).decode()]


def test_graph_send_failing_on_tokens_shows_no_secret(
    token_endpoint: TokenEndpoint,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.DEBUG)
    url = (
        "graph://reports%40contoso.com?tenant_id=contoso&client_id=app-1"
        f"&authority={token_endpoint.base}/contoso&token_ca_file={token_endpoint.ca_file}"
    )
    monkeypatch.setenv(env_var_name(url), CLIENT_SECRET)
    expired = {"error": {"code": "InvalidAuthenticationToken", "message": "expired"}}
    with respx.mock:
        route = respx.post(GRAPH).mock(return_value=httpx.Response(401, json=expired))
        with (
            Sender(url, retry=RetryPolicy(attempts=1)) as sender,
            pytest.raises(DeliveryFailed) as info,
        ):
            sender.send(
                Message(from_="reports@contoso.com", to=["a@example.com"], subject="s", text="t")
            )
        shown = [
            repr(sender),
            sender.name,
            *(repr(t) for t in sender.async_sender.transports),
        ]
    assert route.call_count == 2  # one fresh token after the first 401
    tokens = [f"access-token-{n}" for n in (1, 2)]
    assert [c.request.headers["Authorization"] for c in route.calls] == [
        f"Bearer {t}" for t in tokens
    ]
    out, err = capfd.readouterr()
    shown += [
        str(info.value),
        repr(info.value),
        "".join(traceback.format_exception(info.value)),
        caplog.text,
        out,
        err,
    ]
    shown += [repr(r.args) for r in caplog.records]
    for secret in [CLIENT_SECRET, *tokens]:
        for form in forms(secret):
            assert all(form not in text for text in shown), f"{secret} leaked"
