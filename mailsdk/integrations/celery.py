"""Celery integration: send mail from Celery workers, never twice by our doing.

::

    from celery import Celery
    from mailsdk.integrations.celery import register, send_later

    app = Celery("shop", broker="redis://localhost:6379/0")
    register(app)                                   # adds the task "mailsdk.send"

    result = send_later(message)                    # -> celery.result.AsyncResult
    send_later(message, sender="bulk", send_at=datetime(2026, 12, 24, 8, tzinfo=UTC))

The message crosses the broker as its JSON (``Message.model_dump_json``), never as a pickle.
A worker sends it with a named sender: ``"default"`` is :meth:`mailsdk.Sender.from_env`
(``MAILSDK_*``, ``.env``, ``mailsdk.toml``); other names come from ``register(app,
senders={...})`` or, failing that, are relay names of ``[relays]`` in ``mailsdk.toml``
(built with the other ``MAILSDK_*`` options).

Delivery guarantees. The task is acknowledged late and rejected (so redelivered) when its
worker is lost. Before sending, it claims the message's Message-ID in a hand-over record
(:mod:`mailsdk.integrations.handover`, in the broker's Redis by default) and, right before the
final dot, marks it handed over. A redelivered copy therefore finds ``sent`` (and returns the
stored result), a live claim (and waits), or a hand-over whose run died after the dot: then
the outcome is unknown and, at-most-once by default, the task fails with
:class:`~mailsdk.TaskFailed` (``error="DeliveryUnknown"``) instead of sending a duplicate.
``on_unknown="retry"`` chooses at-least-once (same Message-ID, so receivers can de-duplicate).

Outcomes: a delivery returns a dict (``message_id``, ``relay``, ``accepted``, ``refused``,
``provider_id``); a transient failure is retried with backoff (honouring Retry-After) until
``max_age`` after the first try; a permanent one (every recipient refused, message refused)
fails with :class:`~mailsdk.TaskFailed` carrying each recipient's code and text.

A Redis broker redelivers a task whose ``eta`` lies beyond its visibility timeout, so waits
(``send_at``, backoff) are made in hops shorter than half of it; the hand-over record covers
whatever slips through.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from mailsdk.config import ConfigurationError
from mailsdk.errors import MailError, MessageError, TaskFailed
from mailsdk.integrations._background import (
    message_id_of,
    result_json,
    retry_after,
    task_failed,
    verdict,
    with_message_id,
)
from mailsdk.integrations.handover import HandoverStore, RedisHandoverStore
from mailsdk.message import Message
from mailsdk.mime import OutgoingMessage
from mailsdk.options import SenderOptions
from mailsdk.retry import RetryPolicy
from mailsdk.sender import Sender

if TYPE_CHECKING:
    from celery import Celery, Task
    from celery.result import AsyncResult

__all__ = ["BACKOFF", "TASK_NAME", "SenderSource", "register", "send_later"]

log = logging.getLogger("mailsdk.celery")

TASK_NAME = "mailsdk.send"
"""The name of the task :func:`register` adds."""

BACKOFF = RetryPolicy(backoff=60.0, max_backoff=3600.0, jitter=30.0, max_retry_after=86400.0)
"""Waits between tries of a background send: a minute, doubling to an hour, or longer when
a relay asks (Retry-After), like an MTA's queue. Only its backoff fields are used."""

SenderSource = str | Sender | SenderOptions | Callable[[], Sender]
"""A named sender: a URL (or failover list of URLs), a Sender, SenderOptions, or a function
making a Sender."""

_REDIS_SCHEMES = ("redis", "rediss", "sentinel", "unix")
_DEFAULT_VISIBILITY_TIMEOUT = 3600.0  # kombu's Redis transport default


class _ClaimLost(Exception):
    """Another run took the message over while this one was sending: stop before the dot."""


class _StoreDown(Exception):
    """The hand-over store could not be reached: stop before the dot and try again later."""


@dataclass
class _Config:
    # A sender given as a URL may carry its password: keep it out of every repr.
    senders: dict[str, SenderSource] = field(repr=False)
    store: HandoverStore
    on_unknown: Literal["fail", "retry"]
    backoff: RetryPolicy
    max_age: float
    max_hop: float | None
    built: dict[str, Sender] = field(default_factory=dict, repr=False)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def sender(self, name: str) -> Sender:
        """The worker's Sender for *name*, built once per process (connections are pooled)."""
        with self.lock:
            sender = self.built.get(name)
            if sender is None:
                sender = self.built[name] = _build_sender(name, self.senders.get(name))
            return sender


def _build_sender(name: str, source: SenderSource | None) -> Sender:
    if isinstance(source, Sender):
        return source
    if isinstance(source, SenderOptions):
        return Sender.from_options(source)
    if isinstance(source, str):
        return Sender(source)
    if callable(source):
        return source()
    if name == "default":
        return Sender.from_env()
    from mailsdk.settings import MailSettings

    settings = MailSettings.load(url=[name])  # a relay name from [relays] in mailsdk.toml
    settings.export_default_sender()
    return Sender.from_options(SenderOptions.from_settings(settings))


def _redis_url(app: Celery) -> str | None:
    """The broker's URL if the broker is Redis, else the result backend's if that is."""
    for url in (app.conf.broker_url, app.conf.result_backend):
        if isinstance(url, str) and urlsplit(url).scheme in _REDIS_SCHEMES:
            return url
    return None


def _max_hop(app: Celery) -> float | None:
    """The longest countdown that is safe from the broker's visibility-timeout redelivery."""
    url = app.conf.broker_url
    scheme = urlsplit(url).scheme if isinstance(url, str) else ""
    if scheme not in (*_REDIS_SCHEMES, "sqs"):
        return None
    options = app.conf.broker_transport_options or {}
    return float(options.get("visibility_timeout", _DEFAULT_VISIBILITY_TIMEOUT)) / 2


def register(
    app: Celery | None = None,
    *,
    senders: Mapping[str, SenderSource] | None = None,
    store: HandoverStore | None = None,
    lease: float = 600.0,
    keep: timedelta = timedelta(days=7),
    on_unknown: Literal["fail", "retry"] = "fail",
    backoff: RetryPolicy = BACKOFF,
    max_age: timedelta = timedelta(days=3),
) -> Task:
    """Add the mail task (:data:`TASK_NAME`) to *app* (default: Celery's ``current_app``).

    Args:
        senders: named senders for ``send_later(..., sender=NAME)``; ``"default"`` is
            :meth:`~mailsdk.Sender.from_env` unless given here.
        store: where hand-over records live; default: a :class:`RedisHandoverStore` on the
            broker's Redis (or the result backend's). Raises ConfigurationError when neither
            is Redis and no store is given.
        lease: seconds a run owns a message (see :class:`RedisHandoverStore`); longer than
            one send may take, the wait for the reply after the final dot included.
        keep: how long hand-over records are kept (copies of a task are recognised within it).
        on_unknown: ``"fail"`` (at-most-once): a message handed over by a run that died
            before the reply is reported, not re-sent. ``"retry"`` (at-least-once): it is sent
            again, with the same Message-ID.
        backoff: waits between tries (its ``backoff``, ``max_backoff``, ``jitter`` and
            ``max_retry_after``).
        max_age: a message still failing transiently this long after its first try fails.

    Call it in the module that workers and producers both import, after configuring *app*.
    Returns the task.
    """
    if app is None:
        from celery import current_app

        app = current_app
    if on_unknown not in ("fail", "retry"):
        raise ConfigurationError('on_unknown must be "fail" or "retry"')
    if store is None:
        url = _redis_url(app)
        if url is None:
            raise ConfigurationError(
                "the Celery mail task keeps hand-over records in Redis: use a Redis broker or "
                "result backend, or pass store= to register()"
            )
        store = RedisHandoverStore.from_url(url, lease=lease, keep=keep.total_seconds())
    config = _Config(
        senders=dict(senders or {}),
        store=store,
        on_unknown=on_unknown,
        backoff=backoff,
        max_age=max_age.total_seconds(),
        max_hop=_max_hop(app),
    )
    task: Task = app.task(
        name=TASK_NAME,
        bind=True,
        shared=False,
        lazy=False,
        acks_late=True,
        reject_on_worker_lost=True,
        max_retries=None,
        mailsdk_config=config,
    )(_send_task)
    return task


def send_later(
    message: Message | Mapping[str, Any],
    *,
    sender: str = "default",
    send_at: datetime | None = None,
    app: Celery | None = None,
) -> AsyncResult:
    """Queue *message* for the mail task; return its AsyncResult at once.

    The message is validated here (a :class:`~mailsdk.MessageError` is raised before
    anything is queued) and given a Message-ID, its idempotency key, unless it has one.
    ``send_at`` (timezone-aware) delays the send; ``sender`` names the sender configuration.
    """
    if app is None:
        from celery import current_app

        app = current_app
    if send_at is not None and send_at.utcoffset() is None:
        raise MessageError("send_at must be timezone-aware")
    msg = message if isinstance(message, Message) else Message.model_validate(dict(message))
    msg = with_message_id(msg)
    try:
        task = app.tasks[TASK_NAME]
    except KeyError:
        raise ConfigurationError(
            "the mail task is not registered on this Celery app: call "
            "mailsdk.integrations.celery.register(app) first"
        ) from None
    not_before = send_at.timestamp() if send_at is not None else None
    kwargs: dict[str, Any] = {
        "sender": sender,
        "not_before": not_before,
        "first_try": None,
        "failures": 0,
    }
    countdown = _hop(task.mailsdk_config, not_before - time.time()) if not_before else None
    result: AsyncResult = task.apply_async(
        args=(msg.model_dump_json(),), kwargs=kwargs, countdown=countdown
    )
    return result


def _hop(config: _Config, delay: float) -> float:
    delay = max(0.0, delay)
    return min(delay, config.max_hop) if config.max_hop is not None else delay


def _send_task(
    self: Any,
    message_json: str,
    *,
    sender: str = "default",
    not_before: float | None = None,
    first_try: float | None = None,
    failures: int = 0,
) -> dict[str, Any]:
    """Send one message (the JSON of a :class:`~mailsdk.Message`) at most once."""
    config: _Config = self.mailsdk_config
    now = time.time()
    try:
        message = Message.model_validate_json(message_json)
        key = message_id_of(message)
    except (MessageError, ValueError) as exc:
        raise TaskFailed("MessageError", str(exc)) from None
    kwargs = {
        "sender": sender,
        "not_before": not_before,
        "first_try": first_try or now,
        "failures": failures,
    }
    if not_before is not None and now < not_before:
        # Not due yet (send_at, or a backoff longer than one hop): wait another hop.
        raise self.retry(countdown=_hop(config, not_before - now), kwargs=kwargs)
    run = f"{self.request.id}:{uuid.uuid4().hex}"
    try:
        claim = config.store.claim(key, run, take_over_unknown=config.on_unknown == "retry")
    except Exception as exc:
        # Without the record the task cannot know what earlier runs did: never send blind.
        log.warning("hand-over store unavailable for %s (%s); trying again", key, exc)
        delay = config.backoff.delay_for(failures + 1, None)
        raise self.retry(countdown=_hop(config, delay), kwargs=kwargs) from None
    if claim.outcome == "sent":
        log.info("%s was sent by an earlier run of task %s", key, self.request.id)
        return claim.result or {"message_id": key}
    if claim.outcome == "busy":
        log.info("%s is being sent by another run; checking again in %.1f s", key, claim.wait)
        raise self.retry(countdown=_hop(config, claim.wait + 0.5), kwargs=kwargs)
    if claim.outcome == "handed":
        raise TaskFailed(
            "DeliveryUnknown",
            f"an earlier run handed {key} over and was lost before the relay replied; it may "
            "have been delivered, so it is not sent again (on_unknown='fail')",
            key,
        )

    def handing_over(_outgoing: OutgoingMessage) -> None:
        try:
            ours = config.store.hand_over(key, run)
        except Exception as exc:
            raise _StoreDown(str(exc)) from None
        if not ours:
            raise _ClaimLost(key)

    try:
        result = config.sender(sender).send(message, on_handover=handing_over)
    except _ClaimLost:
        log.warning("%s was taken over by another run; this one stopped before the dot", key)
        raise self.retry(countdown=1.0, kwargs=kwargs) from None
    except _StoreDown as exc:
        # Stopped before the dot: nothing was handed over; our claim lapses with its lease.
        log.warning("hand-over store unavailable for %s (%s); trying again", key, exc)
        delay = config.backoff.delay_for(failures + 1, None)
        raise self.retry(countdown=_hop(config, delay), kwargs=kwargs) from None
    except ConfigurationError as exc:
        config.store.release(key, run)
        raise TaskFailed("ConfigurationError", str(exc), key) from None
    except MailError as exc:
        return _after_failure(self, config, exc, key, run, kwargs, now)
    summary = result_json(result)
    try:
        config.store.finish(key, run, summary)
    except Exception as exc:
        # Delivered all the same; a later copy would only find "handed" (unknown), never send.
        log.warning("could not record %s as sent (%s)", key, exc)
    return summary


def _after_failure(
    task: Any,
    config: _Config,
    error: MailError,
    key: str,
    run: str,
    kwargs: dict[str, Any],
    now: float,
) -> dict[str, Any]:
    judged = verdict(error)
    if judged == "unknown":
        if config.on_unknown == "retry":
            config.store.release(key, run)  # at-least-once: the next try sends again
        else:
            raise task_failed(error, key, name="DeliveryUnknown") from None
    else:
        config.store.release(key, run)  # the relays answered: nothing was delivered
        if judged == "permanent":
            raise task_failed(error, key) from None
        if now - kwargs["first_try"] >= config.max_age:
            raise task_failed(error, key) from None
    failures = kwargs["failures"] + 1
    delay = config.backoff.delay_for(failures, retry_after(error))
    log.info("%s failed (%s); trying again in %.0f s", key, type(error).__name__, delay)
    kwargs = {**kwargs, "failures": failures, "not_before": now + delay}
    raise task.retry(countdown=_hop(config, delay), kwargs=kwargs)
