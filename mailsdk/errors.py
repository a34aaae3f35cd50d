"""The error tree: every failure says what happened and what the caller should do next.

```
MailError
├── MessageError        bad input, raised before any I/O (also a ValueError)
├── ConfigurationError  a bad transport URL or option; nothing was sent (also a ValueError)
│   └── CredentialError     a secret could not be found, stored or removed
├── TransientError      try again later (SMTP 4xx, HTTP 429/5xx, network)
├── PermanentError      this relay will not take this message: do not retry it here
│   └── RecipientsRefused   every recipient was refused (per-recipient codes)
├── RelayError          this relay is unusable (connect/TLS/AUTH): fail over at once
├── DeliveryUnknown     the connection was lost after the message was handed over
├── DeliveryFailed      every relay failed; carries every attempt
├── TaskFailed          a background send (Celery, Django task) ended undelivered
└── BatchInterrupted    the messages given to send_many could not all be read
```

Errors carry the relay's display name, the SMTP or HTTP status, the enhanced status code and
the server's text. They never carry a secret: relay names are built without passwords and
transports redact credentials before they reach an error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from mailsdk.result import RecipientStatus, recipient_statuses

if TYPE_CHECKING:
    from mailsdk.result import Attempt, Outcome, SendResult

__all__ = [
    "BatchInterrupted",
    "ConfigurationError",
    "CredentialError",
    "DeliveryFailed",
    "DeliveryUnknown",
    "MailError",
    "MessageError",
    "PermanentError",
    "RecipientsRefused",
    "RelayError",
    "TaskFailed",
    "TransientError",
    "attempt_outcome",
]


class MailError(Exception):
    """Root of every error mailsdk raises.

    Attributes:
        relay: display name of the relay involved (never contains a secret), or None.
        code: SMTP reply code or HTTP status, when the server gave one.
        enhanced_code: RFC 3463 enhanced status code such as ``"5.7.8"``, when given.
        server_text: the server's own words, when it said any.
    """

    def __init__(
        self,
        message: str,
        *,
        relay: str | None = None,
        code: int | None = None,
        enhanced_code: str | None = None,
        server_text: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.relay = relay
        self.code = code
        self.enhanced_code = enhanced_code
        self.server_text = server_text
        self.attempts: list[Attempt] = []
        """Every attempt the send made before this error, when a failover layer ran it."""
        self.hint: str | None = None
        """What to do about it, when the reply is a known one (``550 5.7.30``: use OAuth)."""

    def __str__(self) -> str:
        parts = [self.message]
        detail = " ".join(
            str(p) for p in (self.code, self.enhanced_code, self.server_text) if p is not None
        )
        if detail and (self.server_text is None or self.server_text not in self.message):
            parts.append(f"[{detail}]")
        if self.relay and self.relay not in self.message:
            parts.append(f"(relay {self.relay})")
        if self.hint:
            parts.append(f"Hint: {self.hint}")
        return " ".join(parts)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


class MessageError(MailError, ValueError):
    """The message or its options are invalid; nothing was sent."""


class ConfigurationError(MailError, ValueError):
    """A transport URL or option is invalid; nothing was sent. The text never quotes a secret."""


class CredentialError(ConfigurationError):
    """A secret could not be found, stored or removed; the message says where to put it."""


class TransientError(MailError):
    """A temporary failure: the same relay may accept the message later.

    ``retry_after`` is the delay in seconds the server asked for (HTTP Retry-After), if any.
    """

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        relay: str | None = None,
        code: int | None = None,
        enhanced_code: str | None = None,
        server_text: str | None = None,
    ) -> None:
        super().__init__(
            message, relay=relay, code=code, enhanced_code=enhanced_code, server_text=server_text
        )
        self.retry_after = retry_after


class PermanentError(MailError):
    """This relay refused this message for good; retrying it on the same relay will not help."""


class RelayError(MailError):
    """The relay cannot be used at all (connection, TLS, STARTTLS or AUTH failure)."""


class RecipientsRefused(PermanentError):
    """Every recipient was refused, so no message was sent.

    ``refused`` maps each address to its :class:`~mailsdk.RecipientStatus` (code, enhanced
    code, text, permanent); ``(code, text)`` pairs given here are turned into one.
    """

    def __init__(
        self,
        refused: Mapping[str, RecipientStatus | tuple[int, str]],
        *,
        relay: str | None = None,
    ) -> None:
        self.refused: dict[str, RecipientStatus] = recipient_statuses(refused)
        codes = sorted({status.code for status in self.refused.values()})
        first = next(iter(self.refused.values()), None)
        first_code, first_text = (first.code, first.text) if first else (None, None)
        summary = ", ".join(f"{addr} ({s.code})" for addr, s in self.refused.items())
        super().__init__(
            f"all recipients refused: {summary}",
            relay=relay,
            code=first_code if len(codes) == 1 else None,
            server_text=first_text,
        )

    @property
    def transient(self) -> bool:
        """True when every refusal was temporary (4xx), so the recipients may be retried."""
        return not any(status.permanent for status in self.refused.values())


class DeliveryUnknown(MailError):
    """The connection was lost after the message was handed over and before the server replied.

    The message may or may not have been delivered. mailsdk does not resend it by default
    (at-most-once), so a receiver never gets it twice by our doing.
    """


class DeliveryFailed(MailError):
    """Every relay failed. ``attempts`` lists each attempt in the order it was made, and
    ``errors`` the error each relay ended with (the last one is also ``__cause__``)."""

    def __init__(
        self,
        message: str,
        attempts: Sequence[Attempt],
        errors: Sequence[MailError] = (),
    ) -> None:
        last = attempts[-1] if attempts else None
        super().__init__(
            message,
            relay=last.relay if last else None,
            code=last.code if last else None,
            enhanced_code=last.enhanced_code if last else None,
            server_text=last.text if last else None,
        )
        self.attempts = list(attempts)
        self.errors = list(errors)

    def __str__(self) -> str:
        lines = [self.message]
        lines.extend(f"  {a.describe()}" for a in self.attempts)
        hints = dict.fromkeys(e.hint for e in self.errors if e.hint)
        lines.extend(f"  Hint: {hint}" for hint in hints)
        return "\n".join(lines)


class TaskFailed(MailError):
    """A background send (a Celery or Django task) ended without delivering the message.

    ``error`` names the error it ended with: ``"RecipientsRefused"``, ``"PermanentError"``,
    ``"DeliveryUnknown"`` (handed over, outcome unknown: not re-sent), ``"MessageError"``,
    ``"ConfigurationError"``, or ``"TransientError"`` / ``"DeliveryFailed"`` once retries ran
    out. ``message_id`` is the idempotency key; ``recipients`` maps each refused address to
    ``{"code": int, "text": str}``. The arguments are plain JSON values, so a task backend
    that stores exceptions as JSON (Celery's default) rebuilds the error whole.
    """

    def __init__(
        self,
        error: str,
        message: str,
        message_id: str | None = None,
        recipients: Mapping[str, Mapping[str, object]] | None = None,
        relay: str | None = None,
        code: int | None = None,
    ) -> None:
        super().__init__(message, relay=relay, code=code)
        self.error = error
        self.message_id = message_id
        self.recipients = {addr: dict(status) for addr, status in (recipients or {}).items()}
        self.args = (error, message, message_id, self.recipients, relay, code)


class BatchInterrupted(MailError):
    """Reading the messages given to ``send_many`` raised, so the batch stopped there.

    Messages are read as the batch goes, so those read before were sent: ``results`` holds
    their entries (a SendResult or the MailError each ended with, in order; every send under
    way finished first), and nothing after item ``index`` was read. The exception the
    iterable raised is ``__cause__``. Nothing is lost: resend from item ``index`` on.
    """

    def __init__(self, message: str, results: Sequence[SendResult | MailError], index: int) -> None:
        super().__init__(message)
        self.results = list(results)
        self.index = index


def attempt_outcome(error: MailError) -> Outcome:
    """The :class:`~mailsdk.result.Attempt` outcome a failed try with *error* records.

    One classifier for the failover loop and telemetry, so the two never disagree.
    """
    if isinstance(error, RecipientsRefused):
        return "refused"
    if isinstance(error, TransientError):
        return "transient"
    if isinstance(error, RelayError):
        return "relay"
    if isinstance(error, DeliveryUnknown):
        return "unknown"
    return "permanent"
