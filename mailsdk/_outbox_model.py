"""What the outbox and its worker share: the outcome types, the stored JSON readers and the
outbox settings the worker reads (:class:`OutboxLike`).

Kept below both :mod:`mailsdk.outbox` and :mod:`mailsdk._outbox_worker` so that neither
imports the other: ``Outbox.arun`` starts a worker, and the worker reads its outbox only
through :class:`OutboxLike`. The public names are exported from :mod:`mailsdk.outbox` and
:mod:`mailsdk`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Literal, NamedTuple, Protocol

from mailsdk._outbox_store import Store
from mailsdk.result import Attempt, SendResult

__all__ = ["OutboxLike", "RecipientOutcome", "RunStats"]


class RecipientOutcome(NamedTuple):
    """What happened to one envelope recipient: ``pending`` (not yet accepted, or deferred
    with a 4xx), ``accepted`` or ``refused`` (5xx), with the relay's last code and text."""

    status: Literal["pending", "accepted", "refused"]
    code: int | None = None
    text: str | None = None


@dataclass
class RunStats:
    """What one :meth:`~mailsdk.Outbox.run` did: entries finished per state, and retries
    scheduled."""

    sent: int = 0
    refused: int = 0
    failed: int = 0
    unknown: int = 0
    requeued: int = 0
    recovered: int = 0
    """Entries whose worker had died, returned to the queue or marked unknown."""


class OutboxLike(Protocol):
    """The parts of an :class:`~mailsdk.Outbox` its worker reads (settings, clock, store)."""

    lease: float
    on_unknown: Literal["fail", "retry"]
    max_age: float
    _store: Store

    def _now(self) -> float: ...

    def retry_delay(self, attempts: int, retry_after: float | None = None) -> float: ...


def _result_from_json(text: str | None) -> SendResult | None:
    if not text:
        return None
    data = json.loads(text)
    data["attempts"] = [Attempt(**a) for a in data.get("attempts", [])]
    data["refused"] = {k: (v[0], v[1]) for k, v in data.get("refused", {}).items()}
    return SendResult(**data)


def _recipients_from_json(text: str | None) -> dict[str, RecipientOutcome]:
    if not text:
        return {}
    return {k: RecipientOutcome(*v) for k, v in json.loads(text).items()}


def _ms(timestamp: float) -> float:
    """Stored times are whole milliseconds, so a stored time and the datetime shown for it
    (microsecond resolution) compare equal. Rounded down: "due now" is never in the future."""
    return math.floor(timestamp * 1000) / 1000
