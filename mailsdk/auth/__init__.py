"""OAuth access tokens for SMTP XOAUTH2 and the Microsoft Graph and Gmail API transports.

A :class:`TokenProvider` hands out :class:`AccessToken` values. Give one to a sender
(``Sender(url, token_provider=...)``) and it is wrapped in a :class:`CachedTokenProvider`
shared by every connection: tokens are reused until shortly before they expire, concurrent
sends share one refresh, and a token a server refuses is refreshed once before the relay
counts as failed. The Microsoft and Google providers need the ``microsoft`` and ``google``
extras; they are imported only when used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mailsdk.auth._cache import CachedTokenProvider, Clock, cached
from mailsdk.auth._token import (
    GMAIL_SEND_SCOPE,
    GOOGLE_MAIL_SCOPE,
    GRAPH_SCOPE,
    OUTLOOK_SMTP_SCOPE,
    AccessToken,
    StaticToken,
    TokenProvider,
)

if TYPE_CHECKING:
    from mailsdk.auth.google import GoogleRefreshToken, GoogleServiceAccount
    from mailsdk.auth.microsoft import MicrosoftClientCredentials

__all__ = [
    "GMAIL_SEND_SCOPE",
    "GOOGLE_MAIL_SCOPE",
    "GRAPH_SCOPE",
    "OUTLOOK_SMTP_SCOPE",
    "AccessToken",
    "CachedTokenProvider",
    "Clock",
    "GoogleRefreshToken",
    "GoogleServiceAccount",
    "MicrosoftClientCredentials",
    "StaticToken",
    "TokenProvider",
    "cached",
]

_LAZY = {
    "MicrosoftClientCredentials": "mailsdk.auth.microsoft",
    "GoogleServiceAccount": "mailsdk.auth.google",
    "GoogleRefreshToken": "mailsdk.auth.google",
}


def __getattr__(name: str) -> Any:
    # The provider modules are light (msal and google-auth load on first token), but keeping
    # them lazy keeps ``import mailsdk`` from touching them at all.
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'mailsdk.auth' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
