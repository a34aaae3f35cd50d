"""The Django email backend and the message conversion, below the public facade.

:mod:`mailsdk.integrations.django` re-exports everything here (that is the path settings
name: ``EMAIL_BACKEND = "mailsdk.integrations.django.EmailBackend"``) together with the
task and outbox backends; those backends use :class:`EmailBackend` and
:func:`convert_message` from this module, so none of them imports the facade back.
"""

# Django ships no type information: its names are Any here.
# mypy: disable-error-code="import-untyped"
# mypy: allow-subclassing-any

from __future__ import annotations

import codecs
import email.message
import logging
import mimetypes
import ssl
import threading
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from email.utils import getaddresses
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.mail.backends.base import BaseEmailBackend
from django.utils.module_loading import import_string

from mailsdk.config import ConfigurationError, split_urls
from mailsdk.controls import CancelSend
from mailsdk.errors import MailError, MessageError
from mailsdk.events import EventHandler
from mailsdk.integrations._controls import control_options
from mailsdk.integrations._senders import freeze, shared_sender
from mailsdk.message import Address, Attachment, Message
from mailsdk.options import FRAMEWORK_DEADLINE, SenderOptions, Strategy, TransportSpec
from mailsdk.preflight import check_url
from mailsdk.result import SendResult
from mailsdk.retry import RetryPolicy
from mailsdk.sender import Sender
from mailsdk.transports.base import Transport
from mailsdk.transports.smtp import SMTPTransport, TLSMode

try:  # Django 6.1+: configuration errors of a MAILERS entry name the entry.
    from django.core.mail import InvalidMailer as _InvalidMailer
except ImportError:  # pragma: no cover - Django < 6.1
    _InvalidMailer = None

__all__ = ["EmailBackend", "convert_message"]

log = logging.getLogger("mailsdk.django")

# The keyword arguments (MAILERS OPTIONS) Django's own SMTP backend takes; accepted here so a
# MAILERS entry or an EMAIL_* configuration carries over unchanged.
_SMTP_OPTIONS = (
    "host",
    "port",
    "username",
    "password",
    "use_tls",
    "use_ssl",
    "timeout",
    "ssl_keyfile",
    "ssl_certfile",
)
_MAILSDK_KEYS = {
    "URL": "url",
    "FROM": "from_email",
    "RETRY": "retry",
    "COOLDOWN": "cooldown",
    "STRATEGY": "strategy",
    "ON_EVENT": "on_event",
    "CONCURRENCY": "concurrency",
    "DEADLINE": "deadline",
    "KEEP_ALIVE": "keep_alive",
    "ALLOWED_RECIPIENTS": "allowed_recipients",
    "REDIRECT_TO": "redirect_to",
    "SUPPRESSIONS_DB": "suppressions_db",
    "BEFORE_SEND": "before_send",
    "ROUTES": "routes",
}
# Django's defaults for the legacy EMAIL_* settings (django/conf/global_settings.py). They are
# read only when a project set them: Django 6.1 warns on every read of these settings.
_EMAIL_DEFAULTS: dict[str, Any] = {
    "EMAIL_HOST": "localhost",
    "EMAIL_PORT": 25,
    "EMAIL_HOST_USER": "",
    "EMAIL_HOST_PASSWORD": "",
    "EMAIL_USE_TLS": False,
    "EMAIL_USE_SSL": False,
    "EMAIL_TIMEOUT": None,
    "EMAIL_SSL_CERTFILE": None,
    "EMAIL_SSL_KEYFILE": None,
}
# The Django methods that build a message's MIME. A subclass that overrides one of them sends
# something this backend cannot see, so its messages are refused rather than sent differently.
_MIME_BUILDERS = (
    "message",
    "_create_message",
    "_create_attachments",
    "_create_alternatives",
    "_create_mime_attachment",
    "_create_attachment",
    "_add_bodies",
    "_add_attachments",
    "_add_attachment",
    "_set_list_header_if_not_empty",
)
_PART_HEADERS = frozenset(
    {
        "content-type",
        "content-transfer-encoding",
        "content-disposition",
        "content-id",
        "mime-version",
    }
)


def _improperly_configured(alias: str | None, text: str) -> ImproperlyConfigured:
    if alias is not None and _InvalidMailer is not None:
        return _InvalidMailer(text, alias=alias)
    where = f"MAILERS[{alias!r}]" if alias is not None else "mailsdk EmailBackend"
    return ImproperlyConfigured(f"{where}: {text}")


def _setting(name: str) -> Any:
    """A legacy EMAIL_* setting, read only when the project set it."""
    try:
        if settings.is_overridden(name):
            return getattr(settings, name)
    except AttributeError:  # Django 6.1 hides them once MAILERS is defined
        pass
    return _EMAIL_DEFAULTS[name]


@dataclass(frozen=True)
class _Config:
    """The backend's configuration: the sender's options and what only Django needs."""

    options: SenderOptions
    from_email: str | None
    concurrency: int
    keep_alive: bool
    key: Hashable
    """The configuration as given (not as built): backends with equal keys share a sender."""


def _deadline(options: Mapping[str, Any], alias: str | None) -> float | None:
    """DEADLINE, else the retry policy's own when RETRY names one, else a web-request one."""
    value = options.get("deadline")
    if value is not None:
        try:
            return float(value)
        except (TypeError, ValueError):
            raise _improperly_configured(alias, f"deadline: {value!r} is not seconds") from None
    retry = options.get("retry")
    if isinstance(retry, RetryPolicy) or (isinstance(retry, Mapping) and "deadline" in retry):
        return None
    return FRAMEWORK_DEADLINE


def _retry_policy(value: Any, alias: str | None) -> RetryPolicy | None:
    if value is None or isinstance(value, RetryPolicy):
        return value
    if isinstance(value, Mapping):
        try:
            return RetryPolicy(**{str(k).lower(): v for k, v in value.items()})
        except (TypeError, ConfigurationError) as exc:
            raise _improperly_configured(alias, f"retry: {exc}") from None
    raise _improperly_configured(alias, "retry must be a dict of RetryPolicy fields")


def _event_handler(value: Any, alias: str | None) -> EventHandler | None:
    if value is None or callable(value):
        handler: EventHandler | None = value
        return handler
    if isinstance(value, str):
        try:
            imported: EventHandler = import_string(value)
        except ImportError as exc:
            raise _improperly_configured(alias, f"on_event: {exc}") from None
        return imported
    raise _improperly_configured(alias, "on_event must be a callable or its dotted path")


def _smtp_transport(options: Mapping[str, Any], alias: str | None) -> Transport:
    """An SMTPTransport from Django-style SMTP options (host, port, use_tls, …)."""
    use_tls = bool(options.get("use_tls"))
    use_ssl = bool(options.get("use_ssl"))
    if use_tls and use_ssl:
        raise _improperly_configured(
            alias, "use_tls (EMAIL_USE_TLS) and use_ssl (EMAIL_USE_SSL) are mutually exclusive"
        )
    tls: TLSMode = "implicit" if use_ssl else "starttls" if use_tls else "none"
    context: ssl.SSLContext | None = None
    certfile, keyfile = options.get("ssl_certfile"), options.get("ssl_keyfile")
    if tls != "none" and certfile:
        # A client certificate, as Django's SMTP backend loads it; the server's certificate
        # is still verified against the system's CAs.
        context = ssl.create_default_context()
        context.load_cert_chain(str(certfile), str(keyfile) if keyfile else None)
    timeout = options.get("timeout")
    try:
        return SMTPTransport(
            str(options["host"]),
            int(options["port"]) if options.get("port") else None,
            username=options.get("username") or None,
            password=options.get("password") or None,
            tls=tls,
            tls_context=context,
            timeout=float(timeout) if timeout else 30.0,
        )
    except ConfigurationError as exc:
        hint = ""
        if "without TLS" in exc.message:
            hint = (
                " (set use_tls/EMAIL_USE_TLS or use_ssl/EMAIL_USE_SSL, or give a URL with"
                " ?tls=none&allow_insecure_auth=true for a trusted local relay)"
            )
        raise _improperly_configured(alias, f"{exc.message}{hint}") from None


def _check_urls(spec: Any, alias: str | None) -> TransportSpec:
    items = [spec] if isinstance(spec, (str, Transport)) else list(spec)
    for item in items:
        if isinstance(item, str):
            try:
                for url in split_urls(item):
                    check_url(url)  # scheme, options and extra: no secret is looked up
            except ConfigurationError as exc:
                raise _improperly_configured(alias, f"url: {exc.message}") from None
        elif not isinstance(item, Transport):
            raise _improperly_configured(alias, "url must be URLs or mailsdk Transports")
    if not items:
        raise _improperly_configured(alias, "url is empty")
    return items


def _resolve(alias: str | None, options: dict[str, Any]) -> _Config:
    """The backend's configuration: MAILERS OPTIONS only, or keywords, MAILSDK, EMAIL_*."""
    if alias is None:
        # EMAIL_BACKEND (or direct construction): keywords, then MAILSDK, then EMAIL_*.
        mailsdk = getattr(settings, "MAILSDK", None) or {}
        if not isinstance(mailsdk, Mapping):
            raise _improperly_configured(None, "the MAILSDK setting must be a dict")
        unknown = sorted(set(mailsdk) - set(_MAILSDK_KEYS))
        if unknown:
            raise _improperly_configured(
                None,
                f"unknown MAILSDK key(s) {', '.join(unknown)}; known: {', '.join(_MAILSDK_KEYS)}",
            )
        for key, name in _MAILSDK_KEYS.items():
            if options.get(name) is None and mailsdk.get(key) is not None:
                options[name] = mailsdk[key]
    smtp_given = [name for name in _SMTP_OPTIONS if options.get(name) is not None]
    url = options.get("url")
    if url is not None and smtp_given:
        raise _improperly_configured(
            alias,
            f"give transport URLs (url) or SMTP options ({', '.join(smtp_given)}), not both;"
            " put credentials in the URL",
        )
    transport: TransportSpec
    legacy: dict[str, Any] = {}  # the EMAIL_* values used, part of the sharing key
    if url is not None:
        transport = _check_urls(url, alias)
    elif alias is not None:
        if options.get("host") is None:
            raise _improperly_configured(alias, "OPTIONS must define 'url' or 'host'")
        transport = [_smtp_transport(options, alias)]
    else:
        smtp = {
            "host": options.get("host") or _setting("EMAIL_HOST"),
            "port": options.get("port") or _setting("EMAIL_PORT"),
            "username": _pick(options, "username", "EMAIL_HOST_USER"),
            "password": _pick(options, "password", "EMAIL_HOST_PASSWORD"),
            "use_tls": _pick(options, "use_tls", "EMAIL_USE_TLS"),
            "use_ssl": _pick(options, "use_ssl", "EMAIL_USE_SSL"),
            "timeout": _pick(options, "timeout", "EMAIL_TIMEOUT"),
            "ssl_certfile": _pick(options, "ssl_certfile", "EMAIL_SSL_CERTFILE"),
            "ssl_keyfile": _pick(options, "ssl_keyfile", "EMAIL_SSL_KEYFILE"),
        }
        transport = [_smtp_transport(smtp, None)]
        legacy = smtp
    from_email = options.get("from_email")
    try:
        cooldown = float(options["cooldown"]) if options.get("cooldown") is not None else 30.0
        concurrency = int(options.get("concurrency") or 8)
        sender_options = SenderOptions(
            transport,
            retry=_retry_policy(options.get("retry"), alias),
            cooldown=cooldown,
            strategy=options.get("strategy") or "failover",
            deadline=_deadline(options, alias),
            on_event=_event_handler(options.get("on_event"), alias),
            **control_options(options),
        )
    except ConfigurationError as exc:
        raise _improperly_configured(alias, exc.message) from None
    except (TypeError, ValueError) as exc:
        raise _improperly_configured(alias, str(exc)) from None
    keep_alive = options.get("keep_alive")
    given = {k: v for k, v in options.items() if k != "from_email"}
    return _Config(
        options=sender_options,
        from_email=str(from_email) if from_email else None,
        concurrency=max(1, concurrency),
        keep_alive=True if keep_alive is None else bool(keep_alive),
        key=(alias, freeze(given), freeze(legacy)),
    )


def _pick(options: Mapping[str, Any], name: str, setting: str) -> Any:
    value = options.get(name)
    return _setting(setting) if value is None else value


class EmailBackend(BaseEmailBackend):
    """A Django email backend that sends through a mailsdk :class:`~mailsdk.Sender`.

    Keyword arguments (the ``OPTIONS`` of a Django 6.1 ``MAILERS`` entry, or
    ``get_connection(**kwargs)``):

    Args:
        url: a transport URL, a comma-separated string of them, or a list (a failover list,
            most preferred first); mailsdk Transport objects are accepted too.
        from_email: the sender of messages that did not name one, i.e. whose ``from_email``
            is Django's ``DEFAULT_FROM_EMAIL``; lets each mailer send as its own address.
        retry: a :class:`~mailsdk.RetryPolicy` or a dict of its fields.
        cooldown: seconds a failed relay is skipped by later sends.
        strategy: ``"failover"`` (default) or ``"round_robin"``.
        on_event: a callable (or its dotted path) receiving :mod:`mailsdk.events`.
        concurrency: messages in flight at once when ``fail_silently`` lets a batch go on
            past a failure (``send_mass_mail``); strict batches are sent one by one.
        deadline: seconds one send may take over every relay and retry. Default 10 s
            (:data:`mailsdk.options.FRAMEWORK_DEADLINE`), so that a hung relay cannot hold a
            request for minutes, unless ``retry`` sets its own ``deadline``.
        keep_alive: share one sender (and its connection pool) per configuration for the
            whole process (default True); False builds a sender per backend and closes it
            when the backend closes, as Django's SMTP backend closes its connection.
        fail_silently: count failures instead of raising them.
        allowed_recipients, redirect_to, before_send, routes: the sending controls (see
            :mod:`mailsdk.controls`); ``before_send`` items may be dotted paths.
        suppressions_db: the SQLite file of the suppression list to honour. The
            environment's ``MAILSDK_ALLOWED_RECIPIENTS``, ``MAILSDK_REDIRECT_TO`` and
            ``MAILSDK_SUPPRESSIONS_DB`` apply when these are not set.

    Django's SMTP options (``host``, ``port``, ``username``, ``password``, ``use_tls``,
    ``use_ssl``, ``timeout``, ``ssl_keyfile``, ``ssl_certfile``) are accepted too, for one SMTP
    relay instead of ``url``.

    Built by ``EMAIL_BACKEND`` (no ``alias``), missing keywords come from the ``MAILSDK``
    setting (``URL``, ``FROM``, ``RETRY``, ``COOLDOWN``, ``STRATEGY``, ``ON_EVENT``,
    ``CONCURRENCY``, ``DEADLINE``, ``KEEP_ALIVE``, ``ALLOWED_RECIPIENTS``, ``REDIRECT_TO``,
    ``SUPPRESSIONS_DB``, ``BEFORE_SEND``, ``ROUTES``) and, without a URL, from Django's
    ``EMAIL_*`` settings. Built from ``MAILERS`` (with an ``alias``), only ``OPTIONS``
    count, as for Django's own backends.

    Connections are pooled by one sender per configuration for the whole process (Django
    builds a backend per ``send_mail``; the pool outlives them): a hundred ``send_mail``
    calls through one relay open at most the pool's ``max_connections``. The sender is
    fork-safe and closed at interpreter exit. With ``keep_alive=False`` a backend has its own
    sender, closed by :meth:`close` (after each call on a backend that was not opened).
    """

    def __init__(
        self,
        fail_silently: bool = False,
        *,
        alias: str | None = None,
        url: str | Transport | Sequence[str | Transport] | None = None,
        from_email: str | None = None,
        retry: RetryPolicy | Mapping[str, Any] | None = None,
        cooldown: float | None = None,
        strategy: Strategy | None = None,
        on_event: EventHandler | str | None = None,
        concurrency: int | None = None,
        deadline: float | None = None,
        keep_alive: bool | None = None,
        allowed_recipients: Sequence[str] | str | None = None,
        redirect_to: str | None = None,
        suppressions_db: str | None = None,
        before_send: Any = None,
        routes: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        # Django 6.1's get_connection(**kwargs) names the keywords a MAILERS entry may not
        # know (its deprecated per-call overrides): they are not unknown OPTIONS.
        ignored = set(kwargs.pop("_ignore_unknown_kwargs", None) or ())
        smtp = {name: kwargs.pop(name) for name in _SMTP_OPTIONS if name in kwargs}
        unknown = sorted(set(kwargs) - ignored)
        if unknown:
            names = ", ".join(repr(name) for name in unknown)
            if alias is not None:
                raise _improperly_configured(alias, f"Unknown options {names}.")
            raise TypeError(f"mailsdk EmailBackend got unknown keyword argument(s) {names}")
        # fail_silently is handled here, not by BaseEmailBackend (Django 6.1 deprecates it
        # there and reports it as an unknown option when passed up).
        if alias is not None:
            super().__init__(alias=alias)
        else:
            super().__init__()
        self.alias = alias
        self.fail_silently = bool(fail_silently)
        options: dict[str, Any] = {
            "url": url,
            "from_email": from_email,
            "retry": retry,
            "cooldown": cooldown,
            "strategy": strategy,
            "on_event": on_event,
            "concurrency": concurrency,
            "deadline": deadline,
            "keep_alive": keep_alive,
            "allowed_recipients": allowed_recipients,
            "redirect_to": redirect_to,
            "suppressions_db": suppressions_db,
            "before_send": before_send,
            "routes": routes,
            **smtp,
        }
        self.config = _resolve(alias, options)
        try:
            if self.config.keep_alive:
                self.sender = shared_sender(self.config.key, self._new_sender)
            else:
                self.sender = self._new_sender()
        except ConfigurationError as exc:
            raise _improperly_configured(alias, exc.message) from None
        self._lock = threading.RLock()
        self._opened = False

    def _new_sender(self) -> Sender:
        return Sender.from_options(self.config.options)

    def open(self) -> bool:
        """Keep the sender's connections between sends until :meth:`close`.

        Returns True when this call opened the backend, False when it already was open.
        Connections themselves are made on first use.
        """
        with self._lock:
            if self._opened:
                return False
            self._opened = True
            return True

    def close(self) -> None:
        """End this backend's use of the sender.

        With ``keep_alive`` (the default) the process's sender and its pooled connections
        stay for the next backend; without it they are closed here.
        """
        with self._lock:
            self._opened = False
            if not self.config.keep_alive:
                self.sender.close()

    def send_messages(self, email_messages: Sequence[Any]) -> int:
        """Send Django messages; return how many were sent.

        A message with no recipient is skipped, as Django does. With ``fail_silently`` a
        failure is logged, recorded on the message (``mailsdk_error``) and not counted;
        without it the first failure is raised (a :class:`~mailsdk.MailError`), after the
        messages before it were sent.
        """
        if not email_messages:
            return 0
        with self._lock:
            opened_here = self.open()
            try:
                if self.fail_silently:
                    return self._send_tolerant(email_messages)
                return self._send_strict(email_messages)
            finally:
                if opened_here:
                    self.close()

    def _send_strict(self, email_messages: Sequence[Any]) -> int:
        sent = 0
        for django_message in email_messages:
            if not django_message.recipients():
                continue
            try:
                message = convert_message(django_message, from_email=self.config.from_email)
                result = self.sender.send(message)
            except CancelSend as exc:
                # A before_send hook decided: not sent, not counted, not an error (as
                # django-anymail's AnymailCancelSend).
                self._record_failure(django_message, exc)
                continue
            except MailError as exc:
                self._record_failure(django_message, exc)
                raise
            self._record_success(django_message, result)
            sent += 1
        return sent

    def _send_tolerant(self, email_messages: Sequence[Any]) -> int:
        batch: list[tuple[Any, Message]] = []
        for django_message in email_messages:
            if not django_message.recipients():
                continue
            try:
                batch.append(
                    (
                        django_message,
                        convert_message(django_message, from_email=self.config.from_email),
                    )
                )
            except MailError as exc:
                self._record_failure(django_message, exc)
        if not batch:
            return 0
        outcomes = self.sender.send_many(
            [message for _, message in batch], concurrency=self.config.concurrency
        )
        sent = 0
        for (django_message, _), outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, MailError):
                self._record_failure(django_message, outcome)
            else:
                self._record_success(django_message, outcome)
                sent += 1
        return sent

    def _record_success(self, django_message: Any, result: SendResult) -> None:
        django_message.mailsdk_result = result
        django_message.mailsdk_error = None
        log.info(
            "sent %s via %s to %d recipient(s)%s after %d attempt(s)",
            result.message_id,
            result.relay,
            len(result.accepted),
            f", {len(result.refused)} refused" if result.refused else "",
            len(result.attempts),
        )
        if len(result.attempts) > 1:
            for attempt in result.attempts:
                log.info("  %s", attempt.describe())

    def _record_failure(self, django_message: Any, error: MailError) -> None:
        django_message.mailsdk_result = None
        django_message.mailsdk_error = error
        subject = str(getattr(django_message, "subject", ""))
        log.warning("message %r was not sent: %s", subject, error)

    def __repr__(self) -> str:
        alias = f", alias={self.alias!r}" if self.alias is not None else ""
        return f"<mailsdk EmailBackend {self.sender.name!r}{alias}>"


# -- conversion ------------------------------------------------------------------------------


def _text(value: Any) -> str:
    """str() of a possibly lazy (gettext_lazy) value; bytes are read as UTF-8."""
    if isinstance(value, bytes):
        return value.decode("utf-8")
    return str(value)


def _address_values(values: Any) -> list[Any]:
    out: list[Any] = []
    for value in values or ():
        if not value:
            continue  # Django drops empty entries from the envelope
        out.append(value if isinstance(value, tuple) else _text(value))
    return out


def _header_addresses(value: str, header: str) -> list[Address]:
    parsed = getaddresses([value])
    if not parsed or any(not email for _, email in parsed):
        raise MessageError(
            f"the {header!r} header {value!r} is not a list of addresses, which mailsdk needs"
        )
    return [Address(name, email) for name, email in parsed]


def _emails(addresses: Sequence[Any]) -> set[str]:
    out: set[str] = set()
    for value in addresses:
        if isinstance(value, tuple):
            out.add(Address(str(value[0] or ""), str(value[1])).email.lower())
        else:
            out.add(Address.parse(value).email.lower())
    return out


def _display_list(
    header: str, listed: list[Any], extra: dict[str, str]
) -> list[Any] | list[Address]:
    """A To or Cc list with Django's override: an extra header of that name is what readers
    see, while the envelope still goes to the list. mailsdk shows what it delivers to, so the
    header is used only when it names the same addresses."""
    value = extra.pop(header, None)
    if value is None:
        return listed
    shown = _header_addresses(value, header)
    if {a.email.lower() for a in shown} != _emails(listed):
        raise MessageError(
            f"the {header!r} header ({value!r}) names other addresses than the message's "
            f"{header.lower()} list; mailsdk sends to exactly the addresses it shows "
            "(use bcc for hidden recipients)"
        )
    return shown


def _check_not_customised(django_message: Any) -> None:
    cls = type(django_message)
    for name in _MIME_BUILDERS:
        method = getattr(cls, name, None)
        if method is not None and getattr(method, "__module__", "") != "django.core.mail.message":
            raise MessageError(
                f"{cls.__name__} overrides {name}(); mailsdk builds the MIME from the message's "
                "fields and would not send what that method builds"
            )
    recipients = getattr(cls, "recipients", None)
    if (
        recipients is not None
        and getattr(recipients, "__module__", "") != "django.core.mail.message"
    ):
        # Django's SMTP backend sends to recipients(); mailsdk sends to to + cc + bcc.
        listed = _address_values([*django_message.to, *django_message.cc, *django_message.bcc])
        if _emails(_address_values(django_message.recipients())) != _emails(listed):
            raise MessageError(
                f"{cls.__name__}.recipients() differs from to + cc + bcc, which mailsdk sends to"
            )
    mixed = getattr(django_message, "mixed_subtype", "mixed")
    if mixed not in ("mixed", "related"):
        raise MessageError(f"mixed_subtype {mixed!r} is not supported (only mixed or related)")
    alternative = getattr(django_message, "alternative_subtype", "alternative")
    if alternative != "alternative":
        raise MessageError(f"alternative_subtype {alternative!r} is not supported")


def _bodies(django_message: Any) -> tuple[str | None, str | None]:
    subtype = getattr(django_message, "content_subtype", "plain")
    body = _text(django_message.body or "")
    text: str | None = None
    html: str | None = None
    if subtype == "plain":
        text = body
    elif subtype == "html":
        html = body
    else:
        raise MessageError(
            f"a text/{subtype} body is not supported: mailsdk sends text/plain and text/html"
        )
    for alternative in getattr(django_message, "alternatives", None) or ():
        content, mimetype = alternative[0], str(alternative[1]).strip().lower()
        if mimetype == "text/html" and html is None:
            html = _text(content)
        elif mimetype == "text/plain" and not text:
            text = _text(content)
        else:
            raise MessageError(
                f"an alternative of type {mimetype} cannot be sent by mailsdk "
                "(one text/plain and one text/html body are supported)"
            )
    if text == "" and html is not None:
        text = None  # Django leaves an empty body out when there is an alternative
    return text, html


def _generated_name(content_type: str) -> str:
    return "attachment" + (mimetypes.guess_extension(content_type) or ".bin")


def _tuple_attachment(filename: Any, content: Any, mimetype: Any) -> Attachment:
    name = _text(filename) if filename else ""
    ctype = (
        str(mimetype).strip().lower()
        if mimetype
        else (mimetypes.guess_type(name)[0] if name else None) or "application/octet-stream"
    )
    maintype = ctype.partition("/")[0]
    if maintype in ("message", "multipart"):
        raise MessageError(
            f"attachment {name or '(unnamed)'} of type {ctype} cannot be sent by mailsdk "
            "(attachments are base64 encoded); attach it as application/octet-stream"
        )
    declared = "charset" in ctype  # 'text/plain; charset="iso-8859-1"': the caller says
    if isinstance(content, str):
        # Encoded by Attachment with the declared charset (UTF-8 when none is declared).
        fields = {"filename": name or _generated_name(ctype), "content": content}
        return Attachment.model_validate({**fields, "content_type": ctype})
    if isinstance(content, (bytes, bytearray, memoryview)):
        data = bytes(content)
        if maintype == "text" and not declared:
            try:
                data.decode("utf-8")
            except UnicodeDecodeError:
                ctype = "application/octet-stream"  # what Django does with binary "text"
    else:
        data = _text(content).encode("utf-8")
    return Attachment(filename=name or _generated_name(ctype), content=data, content_type=ctype)


def _part_attachment(part: email.message.Message) -> Attachment:
    ctype = part.get_content_type()
    if part.is_multipart() or ctype.partition("/")[0] in ("message", "multipart"):
        raise MessageError(f"a {ctype} attachment part cannot be sent by mailsdk")
    extra = sorted({name.lower() for name in part} - _PART_HEADERS)
    if extra:
        raise MessageError(
            f"attachment part header(s) {', '.join(extra)} cannot be sent by mailsdk"
        )
    params = [key.lower() for key, _ in (part.get_params() or [])[1:]]
    odd = sorted(set(params) - {"charset", "name"})
    if odd:
        raise MessageError(
            f"Content-Type parameter(s) {', '.join(odd)} of a {ctype} attachment "
            "cannot be sent by mailsdk"
        )
    disposition = part.get_content_disposition()
    disposition_params = [
        key.lower() for key, _ in (part.get_params(header="content-disposition") or [])[1:]
    ]
    odd = sorted({p.rstrip("*") for p in disposition_params} - {"filename"})
    if odd:
        raise MessageError(
            f"Content-Disposition parameter(s) {', '.join(odd)} cannot be sent by mailsdk"
        )
    raw_cid = part.get("Content-ID")
    cid = str(raw_cid).strip().removeprefix("<").removesuffix(">") if raw_cid else None
    inline = disposition == "inline" or (disposition is None and cid is not None)
    if cid is not None and not inline:
        raise MessageError(
            f"attachment with Content-ID <{cid}> has disposition 'attachment'; mailsdk sends a "
            "Content-ID only on inline parts"
        )
    payload = part.get_payload(decode=True)
    data = payload if isinstance(payload, bytes) else b""
    charset = part.get_content_charset()
    if ctype.startswith("text/") and charset:
        try:
            if codecs.lookup(charset).name not in ("utf-8", "ascii"):
                data = data.decode(charset).encode("utf-8")
        except (LookupError, UnicodeDecodeError):
            raise MessageError(f"a {ctype} attachment is not valid {charset}") from None
    filename = part.get_filename() or part.get_param("name")
    name = _text(filename) if isinstance(filename, str) and filename else _generated_name(ctype)
    return Attachment(filename=name, content=data, content_type=ctype, inline=inline, cid=cid)


def convert_message(django_message: Any, *, from_email: str | None = None) -> Message:
    """The :class:`~mailsdk.Message` that sends what Django would send for *django_message*.

    Handles ``EmailMessage`` and ``EmailMultiAlternatives``: text and HTML bodies,
    attachments given as ``(name, content, mimetype)`` or as MIME parts (inline images with a
    Content-ID go into a multipart/related part with the HTML), cc, bcc, reply_to and extra
    headers. Like Django, an extra ``From`` header is the displayed sender while
    ``from_email`` stays the envelope sender (``envelope_from``), an extra ``Reply-To``
    header replaces ``reply_to``, and extra ``To``/``Cc`` headers may restyle the display of
    the same addresses. *from_email* replaces a sender that is Django's
    ``DEFAULT_FROM_EMAIL``. ``tags``, ``metadata``, ``track_opens`` and ``track_clicks``
    attributes (as on django-anymail messages) and a ``provider_options`` attribute are
    carried over.

    Raises:
        MessageError: the message has something mailsdk cannot send faithfully (another
            alternative type, a message/rfc822 attachment, a ``Bcc`` header, To/Cc headers
            naming other addresses than the lists, a subclass that builds its own MIME…).
    """
    _check_not_customised(django_message)
    extra: dict[str, str] = {}
    for name, value in (django_message.extra_headers or {}).items():
        lowered = str(name).lower()
        if lowered in ("from", "to", "cc", "reply-to") and name not in (
            "From",
            "To",
            "Cc",
            "Reply-To",
        ):
            # Django reads these four only under this exact spelling and drops the others.
            log.warning(
                "header %r is ignored, as Django ignores it; spell it %r", name, name.title()
            )
            continue
        extra[str(name)] = _text(value)

    sender_text = _text(django_message.from_email or "")
    if from_email and (not sender_text or sender_text == _text(settings.DEFAULT_FROM_EMAIL)):
        sender_text = from_email
    if not sender_text:
        raise MessageError("the message has no from_email and DEFAULT_FROM_EMAIL is empty")
    envelope_sender = Address.parse(sender_text)
    shown_sender = envelope_sender
    from_header = extra.pop("From", None)
    if from_header is not None:
        shown_sender = Address.parse(from_header)
    envelope_from = (
        envelope_sender if shown_sender.email.lower() != envelope_sender.email.lower() else None
    )

    to = _display_list("To", _address_values(django_message.to), extra)
    cc = _display_list("Cc", _address_values(django_message.cc), extra)
    reply_header = extra.pop("Reply-To", None)
    reply_to: list[Any] = (
        _header_addresses(reply_header, "Reply-To")
        if reply_header is not None
        else _address_values(getattr(django_message, "reply_to", None))
    )
    text, html = _bodies(django_message)
    attachments: list[Attachment] = []
    for item in django_message.attachments or ():
        if isinstance(item, email.message.Message):
            attachments.append(_part_attachment(item))
        else:
            attachments.append(_tuple_attachment(*item))
    tags = getattr(django_message, "tags", None)
    metadata = getattr(django_message, "metadata", None)
    return Message(
        from_=shown_sender,
        envelope_from=envelope_from,
        to=to,
        cc=cc,
        bcc=_address_values(django_message.bcc),
        reply_to=reply_to,
        subject=_text(django_message.subject or ""),
        # An HTML-only Django message stays HTML-only, as Django would send it: no text
        # alternative is generated behind the application's back.
        text=False if text is None and html is not None else text,
        html=html,
        attachments=attachments,
        headers=extra,
        tags=[_text(t) for t in tags] if tags else None,
        metadata={_text(k): _text(v) for k, v in metadata.items()} if metadata else None,
        track_opens=getattr(django_message, "track_opens", None),
        track_clicks=getattr(django_message, "track_clicks", None),
        provider_options=getattr(django_message, "provider_options", None) or None,
    )
