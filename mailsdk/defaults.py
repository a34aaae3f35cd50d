"""The sender a :class:`~mailsdk.Message` gets when it names none (``from_`` omitted).

Frameworks and configuration supply it without touching the process environment. Where
``Message`` looks, first match wins:

1. the innermost :func:`default_sender` block of the current context (a context variable:
   per thread, per asyncio task, so one request cannot leak its sender into another);
2. the providers added with :func:`add_default_sender_provider`, in the order they were
   added (the Flask extension adds one that answers ``MAILSDK_FROM`` of the current app);
3. the process-wide default set with :func:`set_default_sender` (``Sender.from_env()`` sets
   it from ``MAILSDK_FROM`` in the environment, ``.env`` or ``mailsdk.toml``);
4. the ``MAILSDK_FROM`` environment variable.

A value is anything ``from_`` takes (``"Name <addr>"``, an ``Address``, a ``(name, addr)``
pair) or a callable returning one, or None for "no opinion".
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

# Anything Message's from_ takes ("Name <addr>", an Address, a (name, addr) pair, a dict).
# Typed loosely so that this module, which mailsdk.message imports, imports nothing back.
AddressInput = Any

__all__ = [
    "DefaultSender",
    "add_default_sender_provider",
    "default_sender",
    "resolve_default_sender",
    "set_default_sender",
]

DefaultSender = Any
"""A default sender: an address as ``from_`` takes it, or a callable returning one (or
None)."""

_UNSET: Any = object()
_scoped: ContextVar[Any] = ContextVar("mailsdk_default_sender", default=_UNSET)
_lock = threading.Lock()
_providers: list[Callable[[], AddressInput]] = []
_process_default: DefaultSender | None = None


@contextmanager
def default_sender(sender: DefaultSender | None) -> Iterator[None]:
    """Within this block (this thread or task only), messages without ``from_`` use *sender*.

    ``None`` turns every default off inside the block, environment included.
    """
    token = _scoped.set(sender)
    try:
        yield
    finally:
        _scoped.reset(token)


def set_default_sender(sender: DefaultSender | None) -> None:
    """Set (None: clear) the process-wide default sender, below scopes and providers."""
    global _process_default
    with _lock:
        _process_default = sender


def add_default_sender_provider(
    provider: Callable[[], AddressInput],
) -> Callable[[], None]:
    """Ask *provider* for a default sender (it returns None when it has no opinion).

    Adding the same provider twice keeps one. Returns a function that removes it.
    """
    with _lock:
        if provider not in _providers:
            _providers.append(provider)

    def remove() -> None:
        with _lock:
            if provider in _providers:
                _providers.remove(provider)

    return remove


def _value(sender: Any) -> Any:
    return sender() if callable(sender) else sender


def resolve_default_sender() -> AddressInput:
    """The default sender now, looked up in the order the module docstring gives; None
    when there is none."""
    scoped = _scoped.get()
    if scoped is not _UNSET:
        return _value(scoped)
    with _lock:
        providers = list(_providers)
        process_default = _process_default
    for provider in providers:
        found = provider()
        if found is not None and found != "":
            return found
    if process_default is not None:
        found = _value(process_default)
        if found is not None and found != "":
            return found
    return os.environ.get("MAILSDK_FROM", "").strip() or None
