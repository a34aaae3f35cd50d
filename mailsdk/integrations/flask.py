"""Flask extension: ``Mail`` sends through mailsdk, configured from ``app.config``.

```python
from mailsdk.integrations.flask import Mail

mail = Mail()

def create_app():
    app = Flask(__name__)
    app.config["MAILSDK_URL"] = "smtp://user:pass@mail.example.com:587"
    app.config["MAILSDK_FROM"] = "App <app@example.com>"
    mail.init_app(app)
    return app

# in a view
mail.send(to="alice@example.com", subject="Welcome", text="Hello!")
```

Configuration keys: ``MAILSDK_URL`` (a URL, a comma-separated string of URLs or a list: a
failover list), ``MAILSDK_FROM``, ``MAILSDK_RETRY`` (a RetryPolicy or a dict of its fields),
``MAILSDK_COOLDOWN``, ``MAILSDK_STRATEGY``, ``MAILSDK_DEADLINE`` (seconds one send may take;
10 by default, so a hung relay cannot hold a request for minutes, unless ``MAILSDK_RETRY``
sets its own ``deadline``), ``MAILSDK_ON_EVENT`` (a callable or its dotted path),
``MAILSDK_KEEP_ALIVE`` and ``MAILSDK_TESTING`` (defaults to ``TESTING``: messages go to
:attr:`Mail.outbox` instead of a relay); the sending controls ``MAILSDK_ALLOWED_RECIPIENTS``,
``MAILSDK_REDIRECT_TO``, ``MAILSDK_BEFORE_SEND`` (callables or dotted paths),
``MAILSDK_ROUTES`` (route name -> URLs) and ``MAILSDK_SUPPRESSIONS_DB`` (the first three of
which fall back to the environment variables of the same names). They make one
:class:`~mailsdk.SenderOptions`.

By default the process keeps one :class:`~mailsdk.Sender` per configuration, shared by
every request, thread and application configured alike; its connection pool outlives the
requests (fork-safe, closed at interpreter exit), so requests do not pay a connection and
TLS handshake each. Secrets are looked up by :meth:`Mail.init_app`. With
``MAILSDK_KEEP_ALIVE = False`` each application context gets its own sender instead, closed
when the context is torn down.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app, g, has_app_context
from werkzeug.utils import import_string

from mailsdk.config import ConfigurationError, transports_from_urls
from mailsdk.defaults import add_default_sender_provider
from mailsdk.errors import MailError
from mailsdk.events import EventHandler
from mailsdk.integrations._controls import CONTROL_KEYS, control_options
from mailsdk.integrations._senders import freeze, shared_sender
from mailsdk.message import Message
from mailsdk.mime import OutgoingMessage
from mailsdk.options import FRAMEWORK_DEADLINE, SenderOptions, TransportSpec
from mailsdk.preflight import check_urls
from mailsdk.result import SendResult
from mailsdk.retry import RetryPolicy
from mailsdk.sender import Sender, _override
from mailsdk.transports.memory import MemoryTransport

__all__ = ["Mail"]

_EXTENSION = "mailsdk"
_G_SENDER = "_mailsdk_sender"


@dataclass
class _MailState:
    """What :meth:`Mail.init_app` read from one application's config."""

    options: SenderOptions
    from_email: str | None
    keep_alive: bool
    memory: MemoryTransport | None
    key: Hashable = None
    """The configuration as given: applications with equal keys share one sender."""
    _own: Sender | None = None

    def new_sender(self) -> Sender:
        return Sender.from_options(self.options)

    def shared_sender(self) -> Sender:
        if self.memory is not None:
            # A testing app's outbox is its own: its sender lives and dies with the app.
            if self._own is None:
                self._own = self.new_sender()
            return self._own
        return shared_sender(self.key, self.new_sender)


def _naming_the_key(message: str) -> str:
    """*message* (SenderOptions and the controls name the field first: "strategy must be
    ...", "routes['bulk']: ...") led by the ``app.config`` key that holds the field."""
    found = re.match(r"[a-z_]+", message)
    field = found.group(0) if found else ""
    key = f"MAILSDK_{field.upper()}"
    rest = message[len(field) :]
    if field == "routes" and rest.startswith(("[", ":")):
        return f"{key}{rest}"  # MAILSDK_ROUTES['bulk']: unknown scheme 'nope'
    return f"{key}: {message}"


def _retry(value: Any) -> RetryPolicy | None:
    if value is None or isinstance(value, RetryPolicy):
        return value
    if isinstance(value, Mapping):
        try:
            return RetryPolicy(**{str(k).lower(): v for k, v in value.items()})
        except TypeError as exc:
            raise ConfigurationError(f"MAILSDK_RETRY: {exc}") from None
    raise ConfigurationError("MAILSDK_RETRY must be a RetryPolicy or a dict of its fields")


def _event_handler(value: Any) -> EventHandler | None:
    if value is None or callable(value):
        handler: EventHandler | None = value
        return handler
    if isinstance(value, str):
        imported: EventHandler = import_string(value)
        return imported
    raise ConfigurationError("MAILSDK_ON_EVENT must be a callable or its dotted path")


class Mail:
    """The Flask extension. ``Mail(app)``, or ``mail = Mail()`` then ``mail.init_app(app)``
    in an application factory; one ``Mail`` serves any number of applications."""

    def __init__(self, app: Flask | None = None) -> None:
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Read ``MAILSDK_*`` from ``app.config`` and register the teardown that closes the
        context's sender. Raises :class:`~mailsdk.ConfigurationError` for a bad setting."""
        config = app.config
        testing = bool(config.get("MAILSDK_TESTING", app.testing))
        memory: MemoryTransport | None = None
        transport: TransportSpec
        if testing:
            memory = MemoryTransport("memory://flask-outbox")
            transport = memory
        else:
            url = config.get("MAILSDK_URL")
            if not url:
                raise ConfigurationError(
                    "MAILSDK_URL is not set (or set TESTING / MAILSDK_TESTING to use the outbox)"
                )
            check_urls(url)  # typos and missing extras first, before any secret look-up
            transport = url
        retry = config.get("MAILSDK_RETRY")
        deadline = config.get("MAILSDK_DEADLINE")
        if deadline is None and not (
            isinstance(retry, RetryPolicy) or (isinstance(retry, Mapping) and "deadline" in retry)
        ):
            deadline = FRAMEWORK_DEADLINE  # a hung relay must not hold a request for minutes
        try:
            options = SenderOptions(
                transport,
                retry=_retry(retry),
                cooldown=config.get("MAILSDK_COOLDOWN", 30.0),
                strategy=config.get("MAILSDK_STRATEGY", "failover"),
                deadline=deadline,
                on_event=_event_handler(config.get("MAILSDK_ON_EVENT")),
                **control_options(
                    {key: config.get(f"MAILSDK_{key.upper()}") for key in CONTROL_KEYS},
                    testing=memory,
                ),
            )
        except ConfigurationError as exc:
            raise ConfigurationError(_naming_the_key(exc.message)) from None
        from_email = config.get("MAILSDK_FROM")
        keep_alive = bool(config.get("MAILSDK_KEEP_ALIVE", True))
        given = {
            k: v for k, v in config.items() if k.startswith("MAILSDK_") and k != "MAILSDK_FROM"
        }
        state = _MailState(
            options=options,
            from_email=str(from_email) if from_email else None,
            keep_alive=keep_alive,
            memory=memory,
            key=("flask", freeze(given)),
        )
        app.extensions[_EXTENSION] = state
        if memory is None and not _override:
            # Secrets are looked up now (keyring, environment), not at the first request.
            if keep_alive:
                state.shared_sender()
            else:
                transports_from_urls(config["MAILSDK_URL"])
        app.teardown_appcontext(_close_context_sender)
        # Message(to=..., ...) without from_ inside this app takes its MAILSDK_FROM.
        add_default_sender_provider(_app_default_sender)

    @staticmethod
    def _state() -> _MailState:
        try:
            state: _MailState = current_app.extensions[_EXTENSION]
        except KeyError:
            raise RuntimeError(
                "mailsdk Mail is not initialised for this app: call mail.init_app(app)"
            ) from None
        return state

    @property
    def sender(self) -> Sender:
        """The :class:`~mailsdk.Sender` of the current application context."""
        state = self._state()
        if state.keep_alive:
            return state.shared_sender()
        sender: Sender | None = g.get(_G_SENDER)
        if sender is None:
            sender = state.new_sender()
            setattr(g, _G_SENDER, sender)
        return sender

    def message(self, **fields: Any) -> Message:
        """A :class:`~mailsdk.Message` from keywords, ``from_`` defaulting to
        ``MAILSDK_FROM``."""
        return Message(**self._with_sender(fields))

    def send(self, message: Message | Mapping[str, Any] | None = None, **fields: Any) -> SendResult:
        """Send a Message, a dict, or a message given as keywords (``to=``, ``subject=``,
        ``text=``, …). A dict or keywords without a sender use ``MAILSDK_FROM``.

        Returns the :class:`~mailsdk.SendResult`; raises a :class:`~mailsdk.MailError`.
        """
        return self.sender.send(self._prepared(message, fields))

    def send_many(
        self,
        messages: Iterable[Message | Mapping[str, Any]],
        *,
        concurrency: int = 8,
    ) -> list[SendResult | MailError]:
        """Send many messages concurrently; one SendResult or MailError per message, in
        order (see :meth:`mailsdk.Sender.send_many`). *messages* is read lazily in this
        thread, and a mapping that is not a valid message is that item's MessageError."""
        return self.sender.send_many(
            (self._batch_item(m) for m in messages), concurrency=concurrency
        )

    def _batch_item(self, message: Message | Mapping[str, Any]) -> Message | Mapping[str, Any]:
        # Only the app's default sender needs this thread (its app context): it is filled in
        # here, and the sender validates each item, so one bad mapping is its own entry.
        return self._with_sender(message) if isinstance(message, Mapping) else message

    @property
    def outbox(self) -> list[OutgoingMessage]:
        """In testing mode, every message sent by the current app, in order.

        Each entry is an :class:`~mailsdk.OutgoingMessage`: ``.message`` is the Message,
        ``.envelope`` the recipients, ``.raw`` the MIME bytes.
        """
        state = self._state()
        if state.memory is None:
            raise RuntimeError(
                "mail.outbox exists in testing mode only (TESTING or MAILSDK_TESTING)"
            )
        return state.memory.outbox

    def _with_sender(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        data = dict(fields)
        default = self._state().from_email
        if default and data.get("from_") is None and data.get("from") is None:
            data["from_"] = default
        return data

    def _prepared(
        self, message: Message | Mapping[str, Any] | None, fields: Mapping[str, Any]
    ) -> Message:
        if isinstance(message, Message):
            if fields:
                raise TypeError("give a Message or keywords, not both")
            return message
        data = {**(message or {}), **fields}
        if "from" in data and "from_" not in data:
            data["from_"] = data.pop("from")
        return Message(**self._with_sender(data))


def _app_default_sender() -> str | None:
    """``MAILSDK_FROM`` of the current Flask app (None outside an app context)."""
    if not has_app_context():
        return None
    state: _MailState | None = current_app.extensions.get(_EXTENSION)
    return state.from_email if state is not None else None


def _close_context_sender(exc: BaseException | None) -> None:
    sender: Sender | None = g.pop(_G_SENDER, None)
    if sender is not None:
        sender.close()
