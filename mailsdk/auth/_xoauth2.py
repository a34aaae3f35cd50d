"""The SMTP XOAUTH2 exchange, keeping the server's error challenge.

``AUTH XOAUTH2 <base64("user=" user ^A "auth=Bearer " token ^A ^A)>``: success is 235. A
refusal is either a 334 challenge carrying base64 JSON (``{"status", "schemes", "scope"}``,
Google), answered with an empty line to get the final 5xx, or a 5xx at once (Microsoft's
``535 5.7.3``). The JSON says why (``"status": "401"``: a bad or expired token; ``"400"``:
a malformed request that a new token will not fix), so it is read instead of skipped.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

import aiosmtplib

from mailsdk.auth._hints import auth_hint
from mailsdk.auth._token import AccessToken
from mailsdk.classify import classify_smtp_reply, split_enhanced_code
from mailsdk.errors import MailError, RelayError

__all__ = ["XOAuth2Refused", "xoauth2_exchange"]


class XOAuth2Refused(RelayError):
    """The relay refused *token*; ``error`` is what to raise if a fresh token fails too.

    A RelayError itself, so code that only reports (``SMTPTransport.probe``) shows it as the
    error it wraps; the transport catches it to refresh the token once.
    """

    def __init__(self, error: MailError, token: AccessToken, *, may_refresh: bool) -> None:
        super().__init__(
            error.message,
            relay=error.relay,
            code=error.code,
            enhanced_code=error.enhanced_code,
            server_text=error.server_text,
        )
        self.hint = error.hint
        self.error = error
        self.token = token
        self.may_refresh = may_refresh


def _challenge(text: str) -> dict[str, Any]:
    try:
        data = json.loads(base64.b64decode(text.strip(), validate=True))
    except (binascii.Error, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def initial_response(username: str, token: AccessToken) -> bytes:
    """The base64 client response for AUTH XOAUTH2."""
    raw = f"user={username}\x01auth=Bearer {token.value.get_secret_value()}\x01\x01"
    return base64.b64encode(raw.encode())


async def xoauth2_exchange(
    smtp: aiosmtplib.SMTP, username: str, token: AccessToken, *, relay: str, host: str
) -> None:
    """Authenticate *smtp* with *token*; raise XOAuth2Refused (5xx) or a MailError (4xx)."""
    reply = await smtp.execute_command(b"AUTH", b"XOAUTH2", initial_response(username, token))
    details: dict[str, Any] = {}
    if reply.code == 334:
        details = _challenge(reply.message)
        reply = await smtp.execute_command(b"")
    if reply.code == 235:
        note = getattr(smtp, "note_auth", None)  # mailsdk check's probe reports the mechanism
        if callable(note):
            note("XOAUTH2")
        return
    enhanced, server_text = split_enhanced_code(reply.message)
    message = f"AUTH XOAUTH2 failed for user {username!r}"
    status = str(details.get("status") or "")
    if details:
        said = ", ".join(f"{k} {details[k]}" for k in ("status", "scope") if details.get(k))
        message += f" (token refused: {said})" if said else ""
    error = classify_smtp_reply(reply.code, "auth")(
        message, relay=relay, code=reply.code, enhanced_code=enhanced, server_text=server_text
    )
    error.hint = auth_hint(reply.code, enhanced, server_text, host=host, mechanism="xoauth2")
    if reply.code < 500:
        raise error
    raise XOAuth2Refused(error, token, may_refresh=status != "400")
