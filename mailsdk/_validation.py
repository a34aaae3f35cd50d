"""Pydantic's validation errors as mailsdk's MessageError, for every model that checks input.

One module of its own, below ``message``, ``dsn`` and ``_calendar_model``, so each model can
use it without importing another (``message`` imports the other two).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from pydantic import ValidationError

from mailsdk.errors import MessageError

__all__ = ["as_message_error", "message_error"]


@contextlib.contextmanager
def as_message_error(model: str) -> Iterator[None]:
    """Raise a pydantic ValidationError raised inside as a MessageError about *model*."""
    try:
        yield
    except ValidationError as exc:
        raise message_error(exc, model) from None


def message_error(exc: ValidationError, model: str) -> MessageError:
    """``invalid MODEL: field: problem; ...`` for *exc* (validators' own words, unprefixed)."""
    problems = []
    for err in exc.errors(include_url=False, include_input=False):
        loc = ".".join(str(p) for p in err["loc"] if p != "__root__")
        msg = str(err["msg"]).removeprefix("Value error, ")
        problems.append(f"{loc}: {msg}" if loc else msg)
    return MessageError(f"invalid {model}: " + "; ".join(problems))
