"""What the task integrations (Celery, Django tasks) share: the idempotency key, the JSON of
a result, and how a send's error decides between done, retry later and unknown."""

from __future__ import annotations

from email.utils import make_msgid
from typing import Any, Literal

from mailsdk.errors import (
    DeliveryFailed,
    DeliveryUnknown,
    MailError,
    PermanentError,
    RecipientsRefused,
    TaskFailed,
    TransientError,
)
from mailsdk.message import Message
from mailsdk.result import SendResult

Verdict = Literal["unknown", "permanent", "transient"]


def with_message_id(message: Message) -> Message:
    """*message* with a Message-ID header fixed now: the idempotency key of a background send.

    Every try, on every worker, then sends the same Message-ID, so hand-over records match
    and receivers can de-duplicate an at-least-once redelivery.
    """
    if any(name.lower() == "message-id" for name in message.headers):
        return message
    domain = message.sender.email.rpartition("@")[2] or None
    headers = {**message.headers, "Message-ID": make_msgid(domain=domain)}
    return Message.model_validate_json(
        message.model_copy(update={"headers": headers}).model_dump_json()
    )


def message_id_of(message: Message) -> str:
    """The Message-ID header of a message that went through :func:`with_message_id`."""
    for name, value in message.headers.items():
        if name.lower() == "message-id":
            return value.strip()
    raise ValueError("the message has no Message-ID header")


def _status(value: Any) -> dict[str, Any]:
    code, text = (value.code, value.text) if hasattr(value, "code") else value
    return {"code": code, "text": text}


def result_json(result: SendResult) -> dict[str, Any]:
    """A SendResult as plain JSON values (what a task returns)."""
    return {
        "message_id": result.message_id,
        "relay": result.relay,
        "accepted": list(result.accepted),
        "refused": {addr: _status(status) for addr, status in result.refused.items()},
        "provider_id": result.provider_id,
    }


def verdict(error: MailError) -> Verdict:
    """``unknown`` when some try may have delivered; ``permanent`` when every relay said no
    for good; ``transient`` when a later try may succeed (including unusable relays)."""
    errors = error.errors if isinstance(error, DeliveryFailed) and error.errors else [error]
    if any(isinstance(e, DeliveryUnknown) for e in errors):
        return "unknown"
    if all(isinstance(e, PermanentError) for e in errors):
        if all(isinstance(e, RecipientsRefused) and e.transient for e in errors):
            return "transient"
        return "permanent"
    return "transient"


def retry_after(error: MailError) -> float | None:
    """The longest delay a relay asked for (HTTP Retry-After), if any did."""
    errors = error.errors if isinstance(error, DeliveryFailed) else [error]
    asked = [e.retry_after for e in errors if isinstance(e, TransientError) and e.retry_after]
    return max(asked) if asked else None


def task_failed(error: MailError, message_id: str, *, name: str | None = None) -> TaskFailed:
    """The TaskFailed a task ends with after *error*, with every refused recipient."""
    recipients: dict[str, dict[str, Any]] = {}
    errors = error.errors if isinstance(error, DeliveryFailed) else [error]
    for e in errors:
        if isinstance(e, RecipientsRefused):
            recipients.update({addr: _status(s) for addr, s in e.refused.items()})
    return TaskFailed(
        name or type(error).__name__,
        str(error),
        message_id,
        recipients,
        error.relay,
        error.code,
    )
