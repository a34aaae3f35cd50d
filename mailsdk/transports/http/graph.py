"""Microsoft Graph: ``POST /v1.0/users/{sender}/sendMail`` with the rendered MIME, base64.

``graph://reports%40contoso.com?tenant_id=…&client_id=…`` (the client secret from the
environment or keyring), or ``graph://<user id>`` with ``token_provider=`` on the sender.
Options: ``base_url=`` (a national cloud such as ``https://graph.microsoft.us``, or a test
server), ``authority=`` (the token endpoint's authority), ``certificate_file=``, ``scope=``,
``timeout=``, ``ca_file=``.

Per the sendMail reference (microsoftgraph/microsoft-graph-docs-contrib,
``api-reference/v1.0/api/user-sendmail.md``): the body is the whole MIME message in base64
with ``Content-Type: text/plain``; ``202 Accepted`` with an empty body means accepted (not
delivered: later failures come back as non-delivery reports); the message is saved to Sent
Items; recipients come from To, Cc and Bcc. A request may carry about 4 MB; larger messages
would need a draft and an attachment upload session, which rebuilds the message from JSON and
so loses our exact bytes (and needs Mail.ReadWrite), so they are refused before any request.
Errors are ``{"error": {"code", "message", "innerError"}}``; 429, 503 and 504 carry
Retry-After (seconds) and are transient.
"""

from __future__ import annotations

import base64
from typing import ClassVar

import httpx

from mailsdk.config import ConfigurationError, TransportURL
from mailsdk.errors import MailError, PermanentError, RelayError, TransientError
from mailsdk.mime import OutgoingMessage
from mailsdk.transports.http._oauth import OAuthHTTPTransport, RawUploadPayload
from mailsdk.transports.http.base import (
    ErrorReply,
    SuccessReply,
    response_json,
)

__all__ = ["GRAPH_MAX_REQUEST", "GraphPayload", "GraphTransport"]

GRAPH_MAX_REQUEST = 4 * 1024 * 1024
"""The sendMail request limit (about 4 MB, said of the request body, base64 included)."""

# Graph error codes whose meaning is clearer than their status (classes per decision 4:
# a relay that cannot send anything fails over at once; a refused message is permanent).
_RELAY_CODES: dict[str, str] = {
    "ErrorAccessDenied": (
        "the app may not send as this mailbox: grant Mail.Send as an Application permission "
        "(not Delegated) with admin consent, and check that no ApplicationAccessPolicy or "
        "RBAC for Applications scope leaves this mailbox out"
    ),
    "ErrorSendAsDenied": "the mailbox may not send as the message's From address",
    "MailboxNotEnabledForRESTAPI": (
        "the mailbox is inactive, soft-deleted, on premises or unlicensed for Exchange Online"
    ),
    "ResourceNotFound": "no such mailbox: check the graph:// user (UPN or object id)",
    "ErrorInvalidUser": "no such mailbox: check the graph:// user (UPN or object id)",
    "NoPermissionsInAccessToken": (
        "the token carries no roles: grant Mail.Send (Application) and admin consent"
    ),
    "InvalidAuthenticationToken": (
        "the token was refused: it must be for https://graph.microsoft.com/.default"
    ),
}
_TRANSIENT_CODES = frozenset(
    {"ErrorExceededMessageLimit", "ApplicationThrottled", "ErrorTimeoutExpired"}
)
_PERMANENT_CODES = frozenset(
    {
        "ErrorInvalidRecipients",
        "ErrorMimeContentInvalidBase64String",
        "ErrorMimeContentConversionFailed",
        "ErrorMessageSizeExceeded",
    }
)


class GraphPayload(RawUploadPayload["GraphTransport"]):
    """The MIME message (Bcc header added), base64, as a text/plain body."""

    path = "/v1.0/users/{user}/sendMail"
    content_type = "text/plain"

    def encode(self, data: bytes) -> bytes:
        """Base64 of the message; the request may carry about 4 MB."""
        encoded_size = (len(data) + 2) // 3 * 4
        if encoded_size > GRAPH_MAX_REQUEST:
            self.unsupported(
                f"a message of {len(data)} bytes ({encoded_size} as base64; sendMail takes "
                f"at most {GRAPH_MAX_REQUEST}): send it over SMTP (smtp.office365.com with "
                "OAuth) or make the attachments smaller"
            )
        return base64.b64encode(data)


class GraphTransport(OAuthHTTPTransport):
    """Sends as one Microsoft 365 mailbox through Microsoft Graph ``sendMail`` (MIME).

    Args:
        user: the mailbox's user principal name (``reports@contoso.com``) or object id.
        token_provider: usually :class:`~mailsdk.auth.MicrosoftClientCredentials` with
            ``endpoint="graph"``; a sender's ``token_provider`` is used when this is None.
        base_url: ``https://graph.microsoft.com`` by default (a national cloud or a test
            server otherwise); ``timeout``, ``client``, ``ca_file`` as for every HTTP
            transport.
    """

    scheme: ClassVar[str] = "graph"
    regions: ClassVar[dict[str, str]] = {"default": "https://graph.microsoft.com"}
    payload_class = GraphPayload
    endpoint = "graph"
    user_advice = "graph:// needs the mailbox's UPN or object id"

    @classmethod
    def from_url(cls, url: TransportURL) -> GraphTransport:
        """``graph://USER?tenant_id=…&client_id=…[&base_url=…&authority=…]``."""
        if not url.host:
            raise ConfigurationError(
                "graph:// needs the mailbox: graph://reports%40contoso.com (UPN, @ encoded) "
                "or graph://<user object id>"
            )
        return cls._from_url_for(url, url.host)

    def parse_success(self, response: httpx.Response, outgoing: OutgoingMessage) -> SuccessReply:
        """202 with an empty body; the request-id header is kept for support cases."""
        request_id = response.headers.get("request-id")
        return SuccessReply(text=f"accepted (request-id {request_id})" if request_id else None)

    def parse_error(self, response: httpx.Response) -> ErrorReply:
        """``{"error": {"code", "message"}}``; the code decides where the status does not."""
        body = response_json(response)
        error = body.get("error") if isinstance(body, dict) else None
        if not isinstance(error, dict):
            return ErrorReply(response.text)
        code = str(error.get("code") or "")
        text = f"{code}: {error.get('message') or ''}".strip(": ")
        cls: type[MailError] | None = None
        if code in _RELAY_CODES and response.status_code != 401:
            cls = RelayError
            text += f" ({_RELAY_CODES[code]})"
        elif code in _RELAY_CODES:
            text += f" ({_RELAY_CODES[code]})"  # 401 already fails over after a refresh
        elif code in _TRANSIENT_CODES:
            cls = TransientError
        elif code in _PERMANENT_CODES:
            cls = PermanentError
        return ErrorReply(text, error=cls)
