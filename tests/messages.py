"""Test messages whose Message-ID and Date are fixed, so what they render to is byte-stable."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from mailsdk import Message


def message_factory(fixed: Mapping[str, str], **defaults: Any) -> Callable[..., Message]:
    """Make Messages of *defaults*, each field replaceable by a keyword, whose headers are
    *fixed* (a copy per message) unless ``headers=`` is given."""

    def make(**overrides: Any) -> Message:
        return Message(**{"headers": dict(fixed), **defaults, **overrides})

    return make
