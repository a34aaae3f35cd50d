"""Django's tasks framework as a mail queue: TaskEmailBackend enqueues, a task worker sends.

::

    EMAIL_BACKEND = "mailsdk.integrations.django.TaskEmailBackend"
    MAILSDK = {"URL": "smtp://app@mail.example.com:587", "FROM": "Shop <shop@example.com>"}
    TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}  # for example

``send_mail()`` then converts and validates each message in the request (bad input raises
:class:`~mailsdk.MessageError` there), enqueues one task per message and returns at once; a
task worker (``manage.py db_worker`` for the database backend) sends each one through the
sender the ``MAILSDK`` setting configures (see :class:`mailsdk.integrations.django.EmailBackend`).
The tasks framework is ``django.tasks`` on Django 6.0 and later, the ``django-tasks`` backport
before it (``pip install 'mailsdk[django-tasks]'``).

Inside a database transaction the task is enqueued when the transaction commits
(``transaction.on_commit``), so the mail goes out if and only if the data it talks about was
saved. The message crosses to the worker as its JSON with a fixed Message-ID. A delivered
message's task returns the result (``message_id``, ``relay``, ``accepted``, ``refused``,
``provider_id``); a failed one raises :class:`~mailsdk.TaskFailed`. Retries are the sender's
(its RetryPolicy); a task is run once: at-most-once, like the backends' workers themselves.
"""

# Django ships no type information: its names are Any here.
# mypy: disable-error-code="import-untyped"
# mypy: allow-subclassing-any

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any

from django.core.mail.backends.base import BaseEmailBackend
from django.db import transaction

from mailsdk.errors import MailError, TaskFailed
from mailsdk.integrations._background import (
    message_id_of,
    result_json,
    task_failed,
    with_message_id,
)
from mailsdk.integrations._django_backend import EmailBackend, convert_message
from mailsdk.message import Message

__all__ = ["TaskEmailBackend"]

log = logging.getLogger("mailsdk.django")

_TASK_NAME = "send_message"
_lock = threading.Lock()
_task: Any = None
_backends: dict[str, Any] = {}


def _tasks_module() -> Any:
    try:
        from django import tasks  # Django 6.0+
    except ImportError:
        try:
            import django_tasks as tasks  # the backport
        except ImportError:
            from mailsdk.config import ConfigurationError

            raise ConfigurationError(
                "TaskEmailBackend needs Django's tasks framework: Django 6.0 or later, or "
                "pip install 'mailsdk[django-tasks]'"
            ) from None
    return tasks


def _send(message_json: str) -> dict[str, Any]:
    """Send one message (its JSON) through the sender the MAILSDK setting configures."""
    try:
        message = Message.model_validate_json(message_json)
        key = message_id_of(message)
    except (MailError, ValueError) as exc:
        raise TaskFailed("MessageError", str(exc)) from None
    try:
        result = _email_backend().sender.send(message)
    except MailError as exc:
        raise task_failed(exc, key) from None
    return result_json(result)


def _email_backend() -> Any:
    """The worker's mailsdk EmailBackend, one per process, so its connections are pooled."""
    with _lock:
        backend = _backends.get("default")
        if backend is None:
            backend = _backends["default"] = EmailBackend()
        return backend


def _send_task() -> Any:
    """The task object, made on first use: making it reads the TASKS setting."""
    global _task
    with _lock:
        if _task is None:
            _send.__name__ = _send.__qualname__ = _TASK_NAME  # its import path: send_message
            _task = _tasks_module().task(_send)
        return _task


def __getattr__(name: str) -> Any:
    # Workers import the task by path (mailsdk.integrations.django_tasks.send_message); it is
    # built lazily so that importing this module needs neither settings nor the framework.
    if name == _TASK_NAME:
        return _send_task()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class TaskEmailBackend(BaseEmailBackend):
    """A Django email backend that hands each message to a task instead of sending it.

    Keyword arguments (``get_connection(**kwargs)``, or the ``OPTIONS`` of a ``MAILERS``
    entry):

    Args:
        task_backend: the ``TASKS`` alias to enqueue on (default ``"default"``).
        queue_name: the queue (default: the task framework's default queue).
        priority: the task priority, where the backend supports priorities.
        on_commit: inside a transaction, enqueue when it commits (default True); False
            enqueues at once, which sends mail for a transaction that may roll back unless
            the task backend stores tasks in the same database transaction.
        fail_silently: count messages that could not be enqueued instead of raising.

    Each Django message gets ``mailsdk_task_result`` (the framework's TaskResult, with its
    ``id``) once its task is enqueued, and ``mailsdk_message_id``.
    """

    def __init__(
        self,
        fail_silently: bool = False,
        *,
        alias: str | None = None,
        task_backend: str | None = None,
        queue_name: str | None = None,
        priority: int | None = None,
        on_commit: bool = True,
        **kwargs: Any,
    ) -> None:
        ignored = set(kwargs.pop("_ignore_unknown_kwargs", None) or ())
        unknown = sorted(set(kwargs) - ignored)
        if unknown:
            names = ", ".join(repr(name) for name in unknown)
            raise TypeError(f"mailsdk TaskEmailBackend got unknown keyword argument(s) {names}")
        if alias is not None:
            super().__init__(alias=alias)
        else:
            super().__init__()
        self.fail_silently = bool(fail_silently)
        self.task_backend = task_backend
        self.queue_name = queue_name
        self.priority = priority
        self.on_commit = on_commit

    def _task(self) -> Any:
        options = {
            "backend": self.task_backend,
            "queue_name": self.queue_name,
            "priority": self.priority,
        }
        chosen = {name: value for name, value in options.items() if value is not None}
        task = _send_task()
        return task.using(**chosen) if chosen else task

    def send_messages(self, email_messages: Sequence[Any]) -> int:
        """Convert each message and enqueue its task; return how many were (or, inside a
        transaction, will be on commit) enqueued. Nothing is sent here."""
        if not email_messages:
            return 0
        from_email = _email_backend().config.from_email
        task = self._task()
        queued = 0
        for django_message in email_messages:
            if not django_message.recipients():
                continue
            try:
                message = with_message_id(convert_message(django_message, from_email=from_email))
            except MailError as exc:
                django_message.mailsdk_error = exc
                if not self.fail_silently:
                    raise
                log.warning("message %r was not queued: %s", django_message.subject, exc)
                continue
            django_message.mailsdk_message_id = message_id_of(message)
            payload = message.model_dump_json()

            def enqueue(django_message: Any = django_message, payload: str = payload) -> None:
                django_message.mailsdk_task_result = task.enqueue(payload)

            if self.on_commit:
                transaction.on_commit(enqueue, robust=False)
            else:
                enqueue()
            queued += 1
        return queued
