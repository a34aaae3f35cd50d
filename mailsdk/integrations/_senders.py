"""One Sender per configuration for the whole process, shared by the framework integrations.

Django builds an email backend per ``send_mail`` call and Flask has an application context
per request; a Sender per backend or context would open a connection (and TLS handshake,
and keyring look-up) per call. Here each distinct configuration gets one Sender, whose pool
serves every request and thread. Sender is fork-safe (a child process starts its own loop
thread and connections) and every Sender is closed at interpreter exit.
"""

from __future__ import annotations

import atexit
import threading
from collections.abc import Callable, Hashable, Mapping
from typing import Any

from mailsdk.sender import Sender, _override

_senders: dict[Hashable, Sender] = {}
# Senders built while mail is captured, per capture (the capture's transport): closed and
# forgotten when that capture ends, so no later test or request ever sees them.
_captured: dict[int, dict[Hashable, Sender]] = {}
_lock = threading.Lock()


def freeze(value: Any) -> Hashable:
    """A hashable stand-in for a configuration value (dicts and lists included)."""
    if isinstance(value, Mapping):
        return tuple(sorted((str(k), freeze(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple, set, frozenset)):
        return tuple(freeze(v) for v in value)
    try:
        hash(value)
    except TypeError:
        return ("id", id(value))  # an unhashable object: only the same object matches
    return value  # type: ignore[no-any-return]


def shared_sender(key: Hashable, build: Callable[[], Sender]) -> Sender:
    """The process's Sender for configuration *key*, built by *build* on first use.

    While mail is captured (:mod:`mailsdk.testing`) the sender belongs to that capture and
    ends with it, so a later test gets a sender for its own capture, or for the real relays.
    """
    with _lock:
        senders = _captured.setdefault(id(_override[-1]), {}) if _override else _senders
        sender = senders.get(key)
        if sender is None:
            sender = senders[key] = build()
        return sender


def end_capture(transport: object) -> None:
    """Close the senders built during the capture that delivered to *transport*."""
    with _lock:
        senders = _captured.pop(id(transport), {})
    for sender in senders.values():
        sender.close()


def close_shared_senders() -> None:
    """Close and forget every shared sender (a later send builds new ones)."""
    with _lock:
        senders = list(_senders.values())
        _senders.clear()
    for sender in senders:
        sender.close()


atexit.register(close_shared_senders)
