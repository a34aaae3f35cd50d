"""Fixtures for provider transport tests: a message using every feature, specs, a known secret.

Every provider test builds its request from ``make_message()``, so each provider is checked
against the same features; one that cannot express a feature must refuse it (MessageError).
Helpers are fixtures, not imports: several test folders have a ``conftest.py``.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mailsdk import Attachment, Message, OutgoingMessage

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
        "subject": "Your March report",
        "text": "Hello Alice,\nyour report is attached.",
        "html": '<p>Hello Alice,</p><img src="cid:logo@example.com">',
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
