"""Pure functions that turn a server's answer into the error class that says what to do.

One function per wire, kept apart from the socket code so each row of the classification table
(docs/architecture.md, decision 4) is a unit test:

| what happened                                   | class            |
|-------------------------------------------------|------------------|
| 421, or any 4xx reply; HTTP 429 / 5xx           | TransientError   |
| AUTH refused (530, 534, 535, any 5xx to AUTH)   | RelayError       |
| 5xx to greeting, EHLO, STARTTLS or MAIL FROM    | RelayError       |
| HTTP 401 / 403                                  | RelayError       |
| 5xx to RCPT                                     | PermanentError   |
| 5xx to DATA or after the final dot; HTTP 4xx    | PermanentError   |
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Literal

from mailsdk.errors import MailError, PermanentError, RelayError, TransientError

__all__ = [
    "SMTPPhase",
    "classify_http_status",
    "classify_smtp_reply",
    "parse_retry_after",
    "split_enhanced_code",
]

SMTPPhase = Literal[
    "greeting", "ehlo", "starttls", "auth", "mail", "rcpt", "data", "data_end", "rset"
]
"""Where in the SMTP dialogue a reply came: it decides what a 5xx means."""

_ENHANCED = re.compile(r"^\s*([245]\.\d{1,3}\.\d{1,3})\b\s*")

_RELAY_PHASES = frozenset({"greeting", "ehlo", "starttls", "auth", "mail", "rset"})


def classify_smtp_reply(code: int, phase: SMTPPhase) -> type[MailError]:
    """The error class for a non-success SMTP reply *code* received in *phase*."""
    if 400 <= code < 500:
        return TransientError
    if phase in _RELAY_PHASES:
        return RelayError
    return PermanentError


def classify_http_status(status: int) -> type[MailError]:
    """The error class for a non-success HTTP *status* from a provider's API."""
    if status == 429 or status >= 500:
        return TransientError
    if status in (401, 403):
        return RelayError
    return PermanentError


def split_enhanced_code(text: str) -> tuple[str | None, str]:
    """Split an RFC 3463 enhanced status code off the front of a reply text."""
    match = _ENHANCED.match(text)
    if not match:
        return None, text.strip()
    return match.group(1), text[match.end() :].strip()


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from an HTTP Retry-After value (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    now = now or datetime.now(timezone.utc)
    return max(0.0, (when - now).total_seconds())
