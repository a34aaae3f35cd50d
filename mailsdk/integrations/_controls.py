"""The sending controls and suppression list as the Django and Flask settings give them.

Both frameworks take the same values (``allowed_recipients``, ``redirect_to``,
``suppressions_db``, ``before_send``, ``routes``); the first three fall back to the
process environment's variables of the names :meth:`mailsdk.Sender.from_env` reads
(``MAILSDK_ALLOWED_RECIPIENTS``, ``MAILSDK_REDIRECT_TO``, ``MAILSDK_SUPPRESSIONS_DB``; not a
``.env`` file or ``mailsdk.toml``, whose place the framework's settings take), so one
``MAILSDK_REDIRECT_TO`` on a staging host holds back every sender there, whichever way it was
configured.
"""

from __future__ import annotations

import os
import pkgutil
import threading
from collections.abc import Mapping
from typing import Any

from mailsdk.config import ConfigurationError
from mailsdk.controls import check_routes

__all__ = ["CONTROL_KEYS", "control_options"]

CONTROL_KEYS = ("allowed_recipients", "redirect_to", "suppressions_db", "before_send", "routes")
"""The option names (lower case; the settings' keys are these in upper case)."""

_FROM_ENVIRONMENT = ("allowed_recipients", "redirect_to", "suppressions_db")

# One open list per file for the process: Django builds a backend per send_mail, and each
# must not open (and leak) its own SQLite connection.
_opened: dict[str, Any] = {}
_lock = threading.Lock()


def _hooks(value: Any) -> Any:
    """Dotted paths in *value* (one or a list) imported; callables kept."""
    if value is None:
        return ()
    items = [value] if isinstance(value, str) or callable(value) else list(value)
    out = []
    for item in items:
        if isinstance(item, str):
            try:
                item = pkgutil.resolve_name(item)
            except (ImportError, AttributeError, ValueError) as exc:
                raise ConfigurationError(f"before_send: cannot import {item!r}: {exc}") from None
        out.append(item)
    return out


def _suppressions(value: Any) -> Any:
    from mailsdk.suppressions import Suppressions, open_setting

    if value is None or isinstance(value, Suppressions):
        return value
    if not isinstance(value, (str, os.PathLike)):
        raise ConfigurationError("suppressions_db must be a file path or a Suppressions list")
    path = os.path.abspath(os.fspath(value))
    with _lock:
        if path not in _opened:
            _opened[path] = open_setting(path, "suppressions_db")
        return _opened[path]


def _is_url_list(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)


def _is_transports(value: Any) -> bool:
    from mailsdk.transports.base import Transport

    items = value if isinstance(value, (list, tuple)) else [value]
    return bool(items) and all(isinstance(v, (str, Transport)) for v in items)


def control_options(values: Mapping[str, Any], *, testing: Any = None) -> dict[str, Any]:
    """:class:`~mailsdk.SenderOptions` keywords from *values* (keys of
    :data:`CONTROL_KEYS`, None when not set), the environment filling in the first three.

    *testing*: the transport every route sends to instead (a framework's test outbox).
    """
    given = {key: values.get(key) for key in CONTROL_KEYS}
    for key in _FROM_ENVIRONMENT:
        if given[key] is None:
            given[key] = os.environ.get(f"MAILSDK_{key.upper()}") or None
    routes = check_routes(given["routes"], relays="relay URLs")
    if routes is not None:
        for name, relays in routes.items():
            if testing is None and (isinstance(relays, str) or _is_url_list(relays)):
                from mailsdk.preflight import check_urls

                try:
                    check_urls(relays)  # typos and missing extras now, naming the route
                except ConfigurationError as exc:
                    raise ConfigurationError(f"routes[{name!r}]: {exc.message}") from None
            elif testing is None and not _is_transports(relays):
                raise ConfigurationError(
                    f"routes[{name!r}]: give relay URLs (a string or a list), "
                    f"not {type(relays).__name__}"
                )
        if testing is not None:
            routes = {name: testing for name in routes}
    return {
        "allowed_recipients": given["allowed_recipients"],
        "redirect_to": given["redirect_to"],
        "suppressions": _suppressions(given["suppressions_db"]),
        "before_send": _hooks(given["before_send"]),
        "routes": routes,
    }
