"""What the Gmail and Graph transport tests share: a counting token provider and messages
without the tags and metadata that raw-MIME APIs cannot carry."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar

from pydantic import SecretStr

from mailsdk.auth import AccessToken
from mailsdk.mime import OutgoingMessage


class CountingTokens:
    """``<prefix>-1``, ``<prefix>-2``, ...: counts requests so refreshes can be asserted."""

    prefix: ClassVar[str]

    def __init__(self) -> None:
        self.calls: list[bool] = []

    async def token(self, *, force_refresh: bool = False) -> AccessToken:
        self.calls.append(force_refresh)
        expires = datetime.now(timezone.utc) + timedelta(hours=1)
        return AccessToken(SecretStr(f"{self.prefix}-{len(self.calls)}"), expires)


def plain(make_message: Callable[..., Any], **overrides: Any) -> OutgoingMessage:
    """A message with no tags and no metadata unless *overrides* give them."""
    overrides.setdefault("tags", [])
    overrides.setdefault("metadata", {})
    return OutgoingMessage(make_message(**overrides))
