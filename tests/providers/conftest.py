"""Fixtures for provider transport tests: a message using every feature, specs, a known secret.

Every provider test builds its request from ``make_message()``, so each provider is checked
against the same features; one that cannot express a feature must refuse it (MessageError).
Helpers are fixtures, not imports: several test folders have a ``conftest.py``.

The checks every provider makes the same way are fixtures here too (``reply``,
``assert_maps_to``, ``assert_secret_free``, ``send_each``); what a provider documents (its URLs,
error bodies, classes and texts) is its row in ``contract_table.py``, which
``test_contract.py`` runs for every provider.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from contract_table import bodies

from mailsdk import (
    Attachment,
    MailError,
    Message,
    MessageError,
    OutgoingMessage,
    SendResult,
    TransientError,
    Transport,
)

SPECS = Path(__file__).resolve().parents[2].parent / "shared" / "specs"
"""Provider API descriptions live beside the repository (CI clones it next to shared/)."""

API_KEY = "SG.test-Secret-KEY_0123456789.abcdefghijklmnopqrstuvwxyz"
MESSAGE_ID = "<20260101120000.4242@example.com>"

MessageFactory = Callable[..., Message]
OutgoingFactory = Callable[..., OutgoingMessage]


def _full_message(**overrides: Any) -> Message:
    fields: dict[str, Any] = {
        "from_": "Reports Bot <reports@example.com>",
        "to": ["Alice Example <alice@example.com>", '"Doe, Jane" <jane@example.org>'],
        "cc": ["carol@example.net"],
        "bcc": ["audit@example.com"],
        "reply_to": ["Support <support@example.com>"],
        **bodies(),
        "attachments": [
            Attachment(
                filename="report.pdf", content=b"%PDF-1.4 fake", content_type="application/pdf"
            ),
            Attachment(
                filename="logo.png", content=b"\x89PNG fake", inline=True, cid="logo@example.com"
            ),
        ],
        "headers": {"Message-ID": MESSAGE_ID, "X-Campaign": "spring-2026"},
        "tags": ["reports", "monthly"],
        "metadata": {"account_id": "42", "plan": "pro"},
    }
    fields.update(overrides)
    return Message(**fields)


@pytest.fixture
def api_key() -> str:
    """A recognisable fake key: tests assert it never shows in names, reprs, errors or logs."""
    return API_KEY


@pytest.fixture
def transport(request: pytest.FixtureRequest, api_key: str) -> Transport:
    """The transport of the provider a test module is about: its contract-table row, which
    the module names ``ROW``, built with the key under test."""
    return request.module.ROW.make(api_key)  # type: ignore[no-any-return]


@pytest.fixture
def post(
    request: pytest.FixtureRequest, transport: Transport, respx_mock: respx.MockRouter
) -> Callable[..., Any]:
    """``route = await post(**fields)``: send ``make_message(**fields)`` (or the
    OutgoingMessage given first) through the module's transport, its endpoint answering the
    row's documented success; the respx route shows what was sent."""

    async def send(outgoing: OutgoingMessage | None = None, **fields: Any) -> respx.Route:
        row = request.module.ROW
        route = respx_mock.post(row.endpoint).mock(return_value=row.success())
        await transport.send(outgoing or OutgoingMessage(_full_message(**fields)))
        return route

    return send


@pytest.fixture
def refused(transport: Transport, respx_mock: respx.MockRouter) -> Callable[..., Any]:
    """``await refused(outgoing, match)``: the module's transport refuses *outgoing* with a
    MessageError matching *match* before any request (respx, with no route, would fail one)."""

    async def check(outgoing: OutgoingMessage, match: str) -> None:
        with pytest.raises(MessageError, match=match):
            await transport.send(outgoing)
        assert not respx_mock.calls

    return check


@pytest.fixture
def make_message() -> MessageFactory:
    """``make_message(**overrides)``: a message using every feature (display names, one with a
    comma, cc, bcc, reply-to, text and HTML, a PDF attachment, an inline PNG with a content id,
    a fixed Message-ID, a custom header, two tags, two metadata keys)."""
    return _full_message


@pytest.fixture
def make_outgoing() -> OutgoingFactory:
    """``make_outgoing(message=None, **overrides)``: an OutgoingMessage (default: full)."""

    def make(message: Message | None = None, **overrides: Any) -> OutgoingMessage:
        return OutgoingMessage(message if message is not None else _full_message(**overrides))

    return make


@pytest.fixture
def load_spec() -> Callable[[str], Any]:
    """``load_spec("sendgrid.json")``: a provider description from ``shared/specs`` (JSON or
    YAML). Missing, it skips locally and fails under CI, where a skip would hide the check."""

    def load(name: str) -> Any:
        path = SPECS / name
        if not path.is_file():
            reason = f"provider spec {path} is missing"
            if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
                pytest.fail(f"{reason} (CI is set)", pytrace=False)
            pytest.skip(reason)
        text = path.read_text(encoding="utf-8")
        if path.suffix in (".yaml", ".yml"):
            import yaml

            return yaml.safe_load(text)
        return json.loads(text)

    return load


@pytest.fixture
def secret_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Capture every log record at DEBUG; afterwards assert none of them shows the API key."""
    caplog.set_level(logging.DEBUG)
    yield caplog
    formatter = logging.Formatter()
    for record in caplog.records:
        text = formatter.format(record) + repr(record.args)
        assert API_KEY not in text, f"the API key leaked into a {record.name} log record"


# -- replies and the error tree ------------------------------------------------------------


def _reply(
    status: int, body: Any = None, headers: Mapping[str, str] | None = None
) -> httpx.Response:
    if isinstance(body, str):
        return httpx.Response(status, text=body, headers=headers)
    return httpx.Response(status, json=body, headers=headers)


@pytest.fixture
def reply() -> Callable[..., httpx.Response]:
    """``reply(status, body, headers=None)``: a provider reply; a ``str`` body is sent as text
    (an HTML error page, say), anything else as JSON."""
    return _reply


def _assert_maps_to(
    exc: MailError,
    error: type[MailError],
    *,
    code: int,
    relay: str,
    text: str,
    retry_after: float | str | None = None,
) -> None:
    assert type(exc) is error, f"{type(exc).__name__} raised, {error.__name__} expected"
    assert exc.code == code
    assert exc.relay == relay
    assert exc.server_text is not None
    assert text in exc.server_text
    assert text in str(exc)
    if retry_after is not None:
        assert isinstance(exc, TransientError), "a delay was given, so a retry was expected"
    if isinstance(exc, TransientError):
        expected = None if retry_after is None else float(retry_after)
        assert exc.retry_after == expected


@pytest.fixture
def assert_maps_to() -> Callable[..., None]:
    """``assert_maps_to(exc, error, code=, relay=, text=, retry_after=None)``: ``exc`` is exactly
    ``error``, carries the HTTP status, the relay's name and the provider's text (in
    ``server_text`` and in ``str(exc)``); a transient one waits exactly ``retry_after`` seconds
    (``None``: no delay known; a ``Retry-After`` header value is accepted as given)."""
    return _assert_maps_to


# -- secrets -----------------------------------------------------------------------------


def _assert_secret_free(thing: object, *secrets: str, may_chain: bool = False) -> None:
    shown = [str(thing), repr(thing), repr(vars(thing))]
    if isinstance(thing, BaseException):
        shown.append(repr(thing.args))
        chained = [e for e in (thing.__cause__, thing.__context__) if e is not None]
        if may_chain:
            shown.extend(str(e) + repr(e) for e in chained)
        else:
            # Nothing chained: an httpx error's request carries the credentials.
            assert not chained, f"{type(thing).__name__} chains {chained!r}"
    else:
        shown.append(str(getattr(thing, "name", "")))
    for secret in secrets:
        assert all(secret not in text for text in shown), f"{type(thing).__name__} shows a secret"


@pytest.fixture
def assert_secret_free() -> Callable[..., None]:
    """``assert_secret_free(thing, *secrets, may_chain=False)``: none of ``secrets`` shows in
    ``thing``'s str, repr or attributes. A transport: nor in its name. An error: nor in its args,
    and it chains nothing (``may_chain=True``: what it chains shows no secret either)."""
    return _assert_secret_free


async def _send_each(
    transport: Transport, make: Callable[[], OutgoingMessage], times: int
) -> tuple[list[SendResult], list[MailError]]:
    results: list[SendResult] = []
    errors: list[MailError] = []
    for _ in range(times):
        try:
            results.append(await transport.send(make()))
        except MailError as exc:
            errors.append(exc)
    return results, errors


@pytest.fixture
def send_each() -> Callable[..., Any]:
    """``await send_each(transport, make, times)``: send ``make()`` that many times (one for each
    mocked outcome); returns ``(results, errors)``, the MailErrors caught, nothing else."""
    return _send_each
