"""The outbox under Django: mail enqueued when, and only if, the caller's transaction commits.

::

    EMAIL_BACKEND = "mailsdk.integrations.django.OutboxEmailBackend"
    MAILSDK = {"OUTBOX": "/var/lib/shop/outbox.sqlite3", "URL": "smtp://…", "FROM": "…"}

    with transaction.atomic():
        order.save()
        send_mail("Your order", body, None, [order.email])  # queued when the block commits

``send_mail()`` converts and validates each message at once (bad input raises
:class:`~mailsdk.MessageError` in the request) and, inside ``transaction.atomic()``, stores it
in the :class:`~mailsdk.Outbox` from ``transaction.on_commit``: a rolled-back transaction
sends nothing, a committed one is in the outbox before ``atomic()`` returns. Outside a
transaction it is stored at once. A worker drains the outbox: ``mailsdk outbox run --outbox
PATH`` or ``Outbox(PATH).run(sender)``.

Code that uses an Outbox directly gets the same rule from :func:`enqueue_on_commit`.

The outbox is its own SQLite file, not the application's database, so the two cannot commit
as one: a process killed between the database commit and the outbox write loses that mail.
Where that window matters, keep the mail in the application's database instead: the
database task backend of :class:`~mailsdk.integrations.django.TaskEmailBackend` stores its
task in the same transaction.
"""

# Django ships no type information: its names are Any here.
# mypy: disable-error-code="import-untyped"
# mypy: allow-subclassing-any

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.mail.backends.base import BaseEmailBackend
from django.db import transaction

from mailsdk.errors import MailError
from mailsdk.integrations._django_backend import convert_message
from mailsdk.message import Message

if TYPE_CHECKING:
    from mailsdk.outbox import Outbox

__all__ = ["OutboxEmailBackend", "enqueue_on_commit"]

log = logging.getLogger("mailsdk.django")

_lock = threading.Lock()
_outboxes: dict[str, Outbox] = {}


def _outbox_at(path: str | os.PathLike[str]) -> Outbox:
    """One Outbox per file and process (it keeps its SQLite connections)."""
    from mailsdk.outbox import Outbox

    key = os.path.abspath(os.fspath(path))
    with _lock:
        outbox = _outboxes.get(key)
        if outbox is None:
            outbox = _outboxes[key] = Outbox(key)
        return outbox


def enqueue_on_commit(
    outbox: Outbox,
    messages: Message | Sequence[Message],
    *,
    send_at: datetime | None = None,
    using: str | None = None,
    then: Callable[[list[str]], None] | None = None,
    route: str | None = None,
) -> None:
    """Store *messages* in *outbox* when the current transaction of database *using* commits
    (at once outside a transaction); nothing if it rolls back.

    The messages are validated now, so bad input raises here, inside the transaction.
    ``then`` receives the entry ids once they are stored; ``route`` names the sender route
    the worker sends them through (see :meth:`mailsdk.Outbox.enqueue`).
    """
    batch = [messages] if isinstance(messages, Message) else list(messages)
    for message in batch:
        message.recheck()

    def store() -> None:
        ids = outbox.enqueue_many(batch, send_at=send_at, route=route)
        if then is not None:
            then(ids)

    # robust=False: a failed outbox write is an error the caller must see, not a log line.
    transaction.on_commit(store, using=using, robust=False)


class OutboxEmailBackend(BaseEmailBackend):
    """A Django email backend that stores each message in a mailsdk :class:`~mailsdk.Outbox`.

    Args:
        outbox: the outbox file (default: ``MAILSDK["OUTBOX"]``).
        using: the database whose transaction decides (default: Django's default database).
        route: the route of the worker's sender the messages go through (``MAILSDK["ROUTES"]``
            or ``Sender(routes=...)``); None: its main relays.
        fail_silently: count messages that could not be converted instead of raising.

    Each Django message gets ``mailsdk_outbox_id`` (the entry id) once it is stored.
    """

    def __init__(
        self,
        fail_silently: bool = False,
        *,
        alias: str | None = None,
        outbox: str | os.PathLike[str] | None = None,
        using: str | None = None,
        route: str | None = None,
        **kwargs: Any,
    ) -> None:
        ignored = set(kwargs.pop("_ignore_unknown_kwargs", None) or ())
        unknown = sorted(set(kwargs) - ignored)
        if unknown:
            names = ", ".join(repr(name) for name in unknown)
            raise TypeError(f"mailsdk OutboxEmailBackend got unknown keyword argument(s) {names}")
        if alias is not None:
            super().__init__(alias=alias)
        else:
            super().__init__()
        self.fail_silently = bool(fail_silently)
        if outbox is None:
            outbox = (getattr(settings, "MAILSDK", None) or {}).get("OUTBOX")
        if not outbox:
            raise ImproperlyConfigured(
                "OutboxEmailBackend needs an outbox file: set MAILSDK['OUTBOX'] or pass outbox="
            )
        self.outbox_path = os.fspath(outbox)
        self.using = using
        if route is not None and (not isinstance(route, str) or not route.strip()):
            raise ImproperlyConfigured(f"OutboxEmailBackend: route must be a name, not {route!r}")
        self.route = route

    def send_messages(self, email_messages: Sequence[Any]) -> int:
        """Convert the messages and store them in the outbox (on commit inside a
        transaction); return how many will be stored. Nothing is sent here."""
        from mailsdk.integrations.django_tasks import _email_backend

        if not email_messages:
            return 0
        from_email = _email_backend().config.from_email
        converted: list[tuple[Any, Message]] = []
        for django_message in email_messages:
            if not django_message.recipients():
                continue
            try:
                converted.append(
                    (django_message, convert_message(django_message, from_email=from_email))
                )
            except MailError as exc:
                django_message.mailsdk_error = exc
                if not self.fail_silently:
                    raise
                log.warning("message %r was not queued: %s", django_message.subject, exc)
        if not converted:
            return 0

        def record(ids: list[str]) -> None:
            for (django_message, _), entry_id in zip(converted, ids, strict=True):
                django_message.mailsdk_outbox_id = entry_id

        enqueue_on_commit(
            _outbox_at(self.outbox_path),
            [message for _, message in converted],
            using=self.using,
            then=record,
            route=self.route,
        )
        return len(converted)
