"""The classification table (docs/architecture.md, decision 4), row by row."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from mailsdk import PermanentError, RelayError, TransientError
from mailsdk.classify import (
    classify_http_status,
    classify_smtp_reply,
    parse_retry_after,
    split_enhanced_code,
)


@pytest.mark.parametrize(
    ("code", "phase", "expected"),
    [
        (421, "greeting", TransientError),
        (421, "mail", TransientError),
        (421, "rcpt", TransientError),
        (421, "data_end", TransientError),
        (450, "rcpt", TransientError),
        (451, "data_end", TransientError),
        (452, "rcpt", TransientError),
        (454, "auth", TransientError),
        (554, "greeting", RelayError),
        (502, "ehlo", RelayError),
        (530, "auth", RelayError),
        (534, "auth", RelayError),
        (535, "auth", RelayError),
        (454, "starttls", TransientError),
        (501, "starttls", RelayError),
        (550, "mail", RelayError),
        (553, "mail", RelayError),
        (550, "rcpt", PermanentError),
        (551, "rcpt", PermanentError),
        (554, "data", PermanentError),
        (552, "data_end", PermanentError),
        (554, "data_end", PermanentError),
    ],
)
def test_smtp_reply_rows(code: int, phase: str, expected: type) -> None:
    assert classify_smtp_reply(code, phase) is expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (429, TransientError),
        (500, TransientError),
        (502, TransientError),
        (503, TransientError),
        (504, TransientError),
        (401, RelayError),
        (403, RelayError),
        (400, PermanentError),
        (404, PermanentError),
        (413, PermanentError),
        (422, PermanentError),
    ],
)
def test_http_status_rows(status: int, expected: type) -> None:
    assert classify_http_status(status) is expected


@pytest.mark.parametrize(
    ("text", "enhanced", "rest"),
    [
        ("5.7.8 Authentication credentials invalid", "5.7.8", "Authentication credentials invalid"),
        ("4.3.2 Service shutting down", "4.3.2", "Service shutting down"),
        ("Ok: queued as 4XyZ", None, "Ok: queued as 4XyZ"),
        ("2.0.0 Ok", "2.0.0", "Ok"),
        ("5.1.10", "5.1.10", ""),
    ],
)
def test_enhanced_code_split(text: str, enhanced: str | None, rest: str) -> None:
    assert split_enhanced_code(text) == (enhanced, rest)


def test_retry_after_forms() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
    assert parse_retry_after("30", now) == 30.0
    assert parse_retry_after("Thu, 01 Jan 2026 12:00:45 GMT", now) == 45.0
    assert parse_retry_after("Thu, 01 Jan 2026 11:00:00 GMT", now) == 0.0
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None
    assert parse_retry_after("-5", now) == 0.0
