"""Gmail API: ``users.messages.send`` with the rendered message as a media upload.

``gmail://me`` (the account the token belongs to) or ``gmail://user%40example.com`` (a
Workspace user a service account acts for). Configured in the URL with
``key_file=/path/sa.json`` (service account with domain-wide delegation), or
``client_id=…&client_secret=…`` with the refresh token from the keyring or environment;
or give the sender a ``token_provider``. Options: ``base_url=``, ``token_uri=``, ``scope=``,
``timeout=``, ``ca_file=``.

Per the Gmail discovery document (googleapis/google-api-python-client,
``gmail.v1.json``): ``POST /upload/gmail/v1/users/{userId}/messages/send?uploadType=media``
takes ``message/rfc822`` up to 36700160 bytes (35 MiB) and answers with the sent Message
(``id``, ``threadId``, ``labelIds``). Recipients come from To, Cc and Bcc. Errors are
``{"error": {"code", "message", "errors": [{"reason"}], "status"}}``: ``rateLimitExceeded`` and
``userRateLimitExceeded`` (403 or 429) and every 429 are transient (Gmail's guide on errors);
a daily sending limit makes the mailbox unusable for the day, so it fails over.
"""

from __future__ import annotations

from typing import ClassVar

import httpx

from mailsdk.config import TransportURL
from mailsdk.errors import MailError, RelayError, TransientError
from mailsdk.mime import OutgoingMessage
from mailsdk.transports.http._oauth import OAuthHTTPTransport, RawUploadPayload
from mailsdk.transports.http.base import (
    ErrorReply,
    SuccessReply,
    response_json,
)

__all__ = ["GMAIL_MAX_UPLOAD", "GmailPayload", "GmailTransport"]

GMAIL_MAX_UPLOAD = 36_700_160
"""``maxSize`` of the send media upload (35 MiB)."""

_TRANSIENT_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded", "backendError"})
_RELAY_REASONS: dict[str, str] = {
    "dailyLimitExceeded": "the mailbox reached its daily sending limit",
    "quotaExceeded": "the project's quota is used up",
    "insufficientPermissions": (
        "the token lacks a send scope: use https://www.googleapis.com/auth/gmail.send"
    ),
    "failedPrecondition": (
        "for a service account: set subject= to a Workspace user and grant domain-wide "
        "delegation; a consumer account cannot be impersonated"
    ),
    "domainPolicy": "the Workspace admin has disabled the Gmail API for this domain",
    "notFound": "no such user: check the gmail:// user",
}


class GmailPayload(RawUploadPayload["GmailTransport"]):
    """The rendered message (Bcc header added) as a ``message/rfc822`` upload."""

    path = "/upload/gmail/v1/users/{user}/messages/send?uploadType=media"
    content_type = "message/rfc822"

    def encode(self, data: bytes) -> bytes:
        """The upload: the message itself, at most 35 MiB."""
        if len(data) > GMAIL_MAX_UPLOAD:
            self.unsupported(
                f"a message of {len(data)} bytes (the Gmail API takes at most "
                f"{GMAIL_MAX_UPLOAD}, 35 MiB): share large files by link instead"
            )
        return data


class GmailTransport(OAuthHTTPTransport):
    """Sends through the Gmail API as one Google account.

    Args:
        user: ``"me"`` (whoever the token is for) or the address a service account acts for.
        token_provider: :class:`~mailsdk.auth.GoogleServiceAccount` or
            :class:`~mailsdk.auth.GoogleRefreshToken` (``endpoint="gmail"``); a sender's
            ``token_provider`` is used when this is None.
        base_url: ``https://gmail.googleapis.com`` by default; ``timeout``, ``client``,
            ``ca_file`` as for every HTTP transport.
    """

    scheme: ClassVar[str] = "gmail"
    regions: ClassVar[dict[str, str]] = {"default": "https://gmail.googleapis.com"}
    payload_class = GmailPayload
    endpoint = "gmail"
    default_user = "me"
    user_advice = 'gmail:// needs "me" or the address to send as'

    @classmethod
    def from_url(cls, url: TransportURL) -> GmailTransport:
        """``gmail://me`` or ``gmail://user%40example.com`` with provider options."""
        return cls._from_url_for(url, url.host or "me")

    def parse_success(self, response: httpx.Response, outgoing: OutgoingMessage) -> SuccessReply:
        """The sent Message: its ``id`` is the provider id."""
        body = response_json(response)
        message_id = body.get("id") if isinstance(body, dict) else None
        return SuccessReply(provider_id=str(message_id) if message_id else None)

    def parse_error(self, response: httpx.Response) -> ErrorReply:
        """The first ``errors[].reason`` decides where the status does not."""
        body = response_json(response)
        error = body.get("error") if isinstance(body, dict) else None
        if not isinstance(error, dict):
            return ErrorReply(response.text)
        items = error.get("errors")
        first = items[0] if isinstance(items, list) and items and isinstance(items[0], dict) else {}
        reason = str(first.get("reason") or "")
        text = str(error.get("message") or response.reason_phrase)
        if reason:
            text = f"{reason}: {text}"
        cls: type[MailError] | None = None
        if reason in _TRANSIENT_REASONS:
            cls = TransientError
        elif reason in _RELAY_REASONS:
            cls = RelayError if response.status_code != 401 else None
            text += f" ({_RELAY_REASONS[reason]})"
        return ErrorReply(text, error=cls)
