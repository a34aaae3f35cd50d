"""Django email backend: Django's mail APIs, delivered by mailsdk (retries, failover, results).

Use it as ``EMAIL_BACKEND = "mailsdk.integrations.django.EmailBackend"`` with a ``MAILSDK``
setting (falling back to Django's ``EMAIL_HOST``/``EMAIL_PORT``/… settings), or, on Django
6.1 and later, as the ``BACKEND`` of one or more ``MAILERS`` entries whose ``OPTIONS`` are
this backend's keyword arguments::

    MAILERS = {
        "default": {
            "BACKEND": "mailsdk.integrations.django.EmailBackend",
            "OPTIONS": {"url": ["smtp://user:pass@mail.example.com:587", "sendgrid://KEY@default"]},
        },
    }

Every Django message is converted field by field (:func:`convert_message`); whatever mailsdk
cannot send exactly as Django would have is refused with :class:`~mailsdk.MessageError`
rather than changed quietly. After a send each message carries ``mailsdk_result`` (a
:class:`~mailsdk.SendResult`, with every failover attempt) or ``mailsdk_error``.
"""

# Django ships no type information: its names are Any here.
# mypy: disable-error-code="import-untyped"
# mypy: allow-subclassing-any

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured

from mailsdk.integrations._django_backend import EmailBackend, _resolve, convert_message
from mailsdk.integrations.django_outbox import OutboxEmailBackend as OutboxEmailBackend
from mailsdk.integrations.django_tasks import TaskEmailBackend as TaskEmailBackend

__all__ = ["EmailBackend", "MailsdkConfig", "check_mail_settings", "convert_message"]


# -- system checks -------------------------------------------------------------------------

_BACKEND_PATH = "mailsdk.integrations.django.EmailBackend"


def _configured_backends() -> list[tuple[str | None, dict[str, Any]]]:
    """(alias, OPTIONS) of each MAILERS entry using this backend, or (None, {}) for
    EMAIL_BACKEND (its MAILSDK and EMAIL_* settings are read by _resolve)."""
    mailers = getattr(settings, "MAILERS", None) if settings.is_overridden("MAILERS") else None
    if isinstance(mailers, Mapping):
        return [
            (str(alias), dict(entry.get("OPTIONS") or {}))
            for alias, entry in mailers.items()
            if isinstance(entry, Mapping) and entry.get("BACKEND") == _BACKEND_PATH
        ]
    if settings.is_overridden("EMAIL_BACKEND") and settings.EMAIL_BACKEND == _BACKEND_PATH:
        return [(None, {})]
    return []


def check_mail_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Django system check (``manage.py check``, and every ``runserver`` start): each mailer
    using this backend has a configuration that resolves: URLs that parse, known schemes
    (with a "did you mean"), options the transport takes, installed extras, valid retry,
    strategy and deadline. Nothing is sent and no secret is looked up."""
    found: list[checks.CheckMessage] = []
    for alias, options in _configured_backends():
        where = f"MAILERS[{alias!r}]" if alias is not None else "MAILSDK"
        try:
            _resolve(alias, {**options})
        except ImproperlyConfigured as exc:
            found.append(
                checks.Error(
                    str(exc),
                    hint=f"fix the mail settings in {where}; see mailsdk's Django page",
                    id="mailsdk.E001",
                )
            )
        except TypeError as exc:  # an option of the wrong type
            found.append(checks.Error(f"{where}: {exc}", id="mailsdk.E001"))
    return found


checks.register(check_mail_settings, "mailsdk")


class MailsdkConfig(AppConfig):
    """Add ``"mailsdk.integrations.django.MailsdkConfig"`` to ``INSTALLED_APPS`` so that
    ``manage.py check`` (and ``runserver``) checks the mail settings at start-up."""

    name = "mailsdk.integrations.django"
    label = "mailsdk"
    verbose_name = "mailsdk"
