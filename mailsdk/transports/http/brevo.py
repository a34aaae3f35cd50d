"""Brevo (formerly Sendinblue): ``POST /v3/smtp/email`` with a JSON body (no raw MIME).

``brevo://API_KEY@default``; options ``base_url=`` and ``timeout=``. Field names follow Brevo's
generated SDKs (getbrevo/brevo-go ``lib/model_send_smtp_email.go``); success is ``201`` with
``{"messageId": "<...@smtp-relay.mailin.fr>"}``. Every request carries an idempotency key, the
one Brevo documents (developers.brevo.com/docs/heterogenous-versions-batch-emails), so a reply
lost after sending can be retried without a second delivery.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
import uuid
from collections.abc import Mapping, Sequence
from email.header import Header

import httpx

from mailsdk.errors import DeliveryUnknown, MailError, RelayError
from mailsdk.message import Address, Attachment
from mailsdk.mime import OutgoingMessage
from mailsdk.transports.http import base

__all__ = ["BrevoPayload", "BrevoTransport"]

# The attachment types Brevo takes, by file name extension (the SendSmtpEmail field docs).
_EXTENSION_LIST = (
    "xlsx xls ods docx docm doc csv pdf txt gif jpg jpeg png tif tiff rtf bmp cgm css shtml html "
    "htm zip xml ppt pptx tar ez ics mobi msg pub eps odt mp3 m4a m4v wma ogg flac wav aif aifc "
    "aiff mp4 mov avi mkv mpeg mpg wmv pkpass xlsm"
)
_EXTENSIONS = frozenset(_EXTENSION_LIST.split())
_SPECIALS = frozenset('()<>[]:;@\\,."')
# Error codes (getbrevo/brevo-python ErrorModel) that mean this account cannot send at all.
_RELAY_CODES = frozenset(
    {
        "unauthorized",
        "permission_denied",
        "account_under_validation",
        "reseller_permission_denied",
        "not_enough_credits",
    }
)
_METADATA_HEADER = "x-mailin-custom"
_IDEMPOTENCY_HEADER = "idempotencykey"


def _email(address: Address) -> dict[str, str]:
    obj = {"email": address.envelope}
    name = address.name
    if name:
        # Brevo silently drops a display name holding both non-ASCII characters and a special
        # such as "," (anymail brevo.py, email_object); an RFC 2047 encoded word gets through.
        # This can go when Brevo encodes such names itself.
        if not name.isascii() and any(c in _SPECIALS for c in name):
            name = " ".join(Header(name, "utf-8").encode().split())
        obj["name"] = name
    return obj


def _typed_by_extension(attachment: Attachment) -> bool:
    """True when the file name's extension implies the attachment's own content type."""
    guessed = mimetypes.guess_type(attachment.filename)[0] or "application/octet-stream"
    return guessed == attachment.content_type


class BrevoPayload(base.JSONPayload["BrevoTransport"]):
    """Builds the ``/v3/smtp/email`` JSON body (``subject`` is required without a template)."""

    fields = {"subject": "subject", "text": "textContent", "html": "htmlContent"}
    subject_required = True

    def __init__(self, transport: BrevoTransport, outgoing: OutgoingMessage) -> None:
        super().__init__(transport, outgoing)
        self.headers: dict[str, str] = {}

    def set_from(self, address: Address) -> None:
        """``sender``."""
        self.data["sender"] = _email(address)

    def set_recipients(self, kind: base.RecipientKind, addresses: Sequence[Address]) -> None:
        """``to`` / ``cc`` / ``bcc``."""
        self.data[kind] = [_email(a) for a in addresses]

    def set_reply_to(self, addresses: Sequence[Address]) -> None:
        """``replyTo``: Brevo takes a single address."""
        if len(addresses) > 1:
            self.unsupported(f"{len(addresses)} reply_to addresses (Brevo takes one)")
        self.data["replyTo"] = _email(addresses[0])

    def set_headers(self, headers: Mapping[str, str]) -> None:
        """``headers``: ASCII values only.

        Brevo sends header values as raw 8-bit UTF-8, and decodes an RFC 2047 value before
        sending it the same way (anymail brevo.py, prevent_header_encoding_bug).
        """
        for name, value in headers.items():
            if not value.isascii():
                self.unsupported(f"non-ASCII characters in the {name} header")
            self.headers[name] = value

    def add_attachment(self, attachment: Attachment) -> None:
        """``attachment[]`` as ``{content, name}``: Brevo types it by its extension."""
        name = attachment.filename
        extension = name.rpartition(".")[2].lower() if "." in name else ""
        if extension not in _EXTENSIONS:
            self.unsupported(f"the attachment {name!r} (Brevo refuses that file type)")
        if not _typed_by_extension(attachment):
            self.unsupported(
                f"the attachment {name!r} as {attachment.content_type} "
                "(Brevo types attachments by file name extension)"
            )
        self.data.setdefault("attachment", []).append(
            {"content": base.b64(attachment.content), "name": name}
        )

    def set_tags(self, tags: Sequence[str]) -> None:
        """``tags``."""
        self.data["tags"] = list(tags)

    def _own_metadata_header(self) -> bool:
        return any(name.lower() == _METADATA_HEADER for name in self.headers)

    def message_id_metadata(self) -> str | None:
        """Our Message-ID, unless the message sets ``X-Mailin-custom`` itself: that header
        is kept as it is (Brevo events still carry the Message-ID header)."""
        return None if self._own_metadata_header() else super().message_id_metadata()

    def set_metadata(self, metadata: Mapping[str, str]) -> None:
        """The ``X-Mailin-custom`` header, a JSON string Brevo echoes in its webhooks.

        Recipients can see it. Like other header values it must be ASCII, and a JSON escape
        (``\\u00e9``) would be sent verbatim, so non-ASCII metadata is refused. A message
        that sets the header itself keeps it: then only our ``mailsdk_message_id`` is left
        out (Brevo events still carry the Message-ID header), and metadata of its own is
        refused.
        """
        if self._own_metadata_header():
            self.unsupported("metadata together with an X-Mailin-custom header")
        value = json.dumps(dict(metadata), ensure_ascii=False, separators=(",", ":"))
        if not value.isascii() or "\\u" in value:
            self.unsupported("non-ASCII characters in metadata")
        self.headers["X-Mailin-custom"] = value

    def idempotency_uuid(self) -> str:
        """The ``idempotencyKey``: a UUID, as Brevo asks, stable across retries of one send.

        It covers the envelope recipients too: a failover retry of deferred recipients keeps
        the Message-ID, and Brevo would refuse the same key as a duplicate for 30 minutes.
        """
        recipients = "\n".join(sorted(r.lower() for r in self.outgoing.envelope.rcpt_to))
        digest = hashlib.sha256(f"{self.idempotency_key()}\n{recipients}".encode()).hexdigest()
        return str(uuid.UUID(hex=digest[:32], version=4))

    def build(self) -> base.HTTPRequest:
        """The POST, with the idempotency key unless the message brought its own."""
        if "to" not in self.data:
            self.unsupported("a message without To recipients (Brevo requires one)")
        if "htmlContent" not in self.data:
            # Brevo now takes textContent alone, but turns it into an HTML-only message
            # (anymail/django-anymail#487): the text/plain part would be lost.
            self.unsupported("a message without an HTML body (Brevo rewrites text-only as HTML)")
        if not any(name.lower() == _IDEMPOTENCY_HEADER for name in self.headers):
            self.headers["idempotencyKey"] = self.idempotency_uuid()
        self.data["headers"] = self.headers
        return base.HTTPRequest(
            "POST",
            "/v3/smtp/email",
            json=self.data,
            headers={"Accept": "application/json"},
            idempotent=True,
        )


class BrevoTransport(base.HTTPTransport):
    """Sends through Brevo's transactional email API (``api-key: <key>``).

    ``BrevoTransport("xkeysib-...")``, or from a URL: ``brevo://xkeysib-...@default``.
    """

    scheme = "brevo"
    regions = {"default": "https://api.brevo.com"}
    rate_limit_reset = "x-sib-ratelimit-reset"  # seconds from now
    payload_class = BrevoPayload
    capabilities = base.Capabilities(reply_to=1, inline_images=False, idempotency=True)

    def authenticate(self, request: httpx.Request) -> None:
        """Brevo reads the key from an ``api-key`` header."""
        request.headers["api-key"] = self.api_key_value()

    def parse_success(
        self, response: httpx.Response, outgoing: OutgoingMessage
    ) -> base.SuccessReply:
        """``201 {"messageId": ...}`` (``messageIds`` for batches; anymail allows no body)."""
        body = base.response_json(response)
        if not isinstance(body, dict):
            return base.SuccessReply()
        if isinstance(body.get("messageId"), str):
            return base.SuccessReply(provider_id=body["messageId"])
        ids = body.get("messageIds")
        if isinstance(ids, list) and ids:
            return base.SuccessReply(provider_id=",".join(str(i) for i in ids))
        return base.SuccessReply()

    def parse_error(self, response: httpx.Response) -> base.ErrorReply:
        """``{"code": ..., "message": ...}``, shown as ``code: message``."""
        body = base.response_json(response)
        fields = body if isinstance(body, dict) else {}
        code, message = fields.get("code"), fields.get("message")
        text = f"{code}: {message}" if code and message else str(message or code or response.text)
        error: type[MailError] | None = None
        if code in _RELAY_CODES:
            # Out of credits (402) or an account not allowed to send: the status alone
            # would say "this message", but no message will pass here.
            error = RelayError
        elif code == "duplicate_parameter":
            # Our idempotency key was seen within its TTL: an earlier try of this very send
            # reached Brevo, so it most likely went out. Never fail over to send it again.
            error = DeliveryUnknown
            text += " (idempotency key already used: Brevo most likely sent this message)"
        return base.ErrorReply(text, error=error)
