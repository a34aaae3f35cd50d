"""Resend: ``POST /emails`` with a JSON body and an ``Idempotency-Key`` (no raw MIME).

``resend://API_KEY@default`` with options ``base_url=`` and ``timeout=``. Fields follow
Resend's OpenAPI description (resend/resend-openapi ``resend.yaml``, ``SendEmailRequest``);
success is ``200 {"id": "..."}`` and errors are ``{"statusCode", "message", "name"}``
(https://resend.com/docs/api-reference/errors). The idempotency key makes a resend after a
lost reply safe for 24 hours, so a read timeout is retried instead of reported as unknown.
"""

from __future__ import annotations

import hashlib
import mimetypes
import re
from collections.abc import Mapping, Sequence
from email.charset import QP, Charset

import httpx

from mailsdk.errors import MailError, RelayError, TransientError
from mailsdk.message import Address, Attachment
from mailsdk.mime import OutgoingMessage
from mailsdk.transports.http import base

__all__ = ["ResendPayload", "ResendTransport"]

_MAX_TO = 50  # the spec's maxItems for "to"
_MAX_TAGS = 75  # https://resend.com/docs/dashboard/emails/tags
_TAG_TEXT = re.compile(r"^[A-Za-z0-9_-]{1,256}$")  # for tag names and values alike
_SPECIALS = re.compile(r'[()<>\[\]:;@\\,."]')  # a display name with these needs quotes
_FROM_SPECIALS = re.compile(r'[,;:<>@"\\\[\]]')
_ENCODED_WORD = Charset("utf-8")
_ENCODED_WORD.header_encoding = QP


def _check_ascii_mailbox(payload: ResendPayload, address: Address) -> None:
    if address.needs_smtputf8:
        payload.unsupported(f"{address.email} (Resend takes no non-ASCII local part)")


def _recipient(address: Address) -> str:
    # Resend refuses a correctly quoted display name ("Doe, Jane" <j@x>) in to/cc/bcc/reply_to
    # but takes an RFC 2047 encoded word there (anymail's resend backend works around it the
    # same way). Drop this when Resend parses RFC 5322 quoted strings.
    name = address.name
    if not name:
        return address.envelope
    if _SPECIALS.search(name) or not name.isascii():
        name = _ENCODED_WORD.header_encode(name)
    return f"{name} <{address.envelope}>"


class ResendPayload(base.NameValueTags, base.JSONPayload["ResendTransport"]):
    """Builds the ``/emails`` JSON body (``subject`` is required by the spec, so it is sent
    even when empty)."""

    fields = {"subject": "subject", "text": "text", "html": "html"}
    send_empty = True

    def __init__(self, transport: ResendTransport, outgoing: OutgoingMessage) -> None:
        super().__init__(transport, outgoing)
        self.tags: list[dict[str, str]] = []

    def set_from(self, address: Address) -> None:
        """``from`` as ``Name <addr>``, the name unquoted.

        Resend refuses ``from`` with a quoted name (422) and with an encoded word (451
        security_error), so a name that needs quotes cannot be sent (anymail found the same).
        """
        _check_ascii_mailbox(self, address)
        if _FROM_SPECIALS.search(address.name):
            self.unsupported(f'the From display name {address.name!r} (no , ; : < > @ " \\ [ ])')
        name = address.name
        self.data["from"] = f"{name} <{address.envelope}>" if name else address.envelope

    def set_recipients(self, kind: base.RecipientKind, addresses: Sequence[Address]) -> None:
        """``to`` (at most 50), ``cc``, ``bcc`` as arrays of strings."""
        for address in addresses:
            _check_ascii_mailbox(self, address)
        if kind == "to" and len(addresses) > _MAX_TO:
            self.unsupported(f"{len(addresses)} To recipients (at most {_MAX_TO})")
        self.data[kind] = [_recipient(a) for a in addresses]

    def set_reply_to(self, addresses: Sequence[Address]) -> None:
        """``reply_to`` as an array of strings."""
        for address in addresses:
            _check_ascii_mailbox(self, address)
        self.data["reply_to"] = [_recipient(a) for a in addresses]

    def set_headers(self, headers: Mapping[str, str]) -> None:
        """``headers``, an object of strings."""
        self.data["headers"] = dict(headers)

    def add_attachment(self, attachment: Attachment) -> None:
        """``attachments[]``: base64 ``content``, ``filename``, ``content_type``."""
        self._attach(attachment)

    def add_inline(self, attachment: Attachment) -> None:
        """An attachment with ``content_id``, referenced from the HTML as ``cid:<id>``."""
        self._attach(attachment, content_id=attachment.cid or "")

    def _attach(self, attachment: Attachment, **extra: str) -> None:
        # Resend types an attachment by its file name's extension and has silently dropped
        # messages whose extension disagrees with the content type (anymail checks this too).
        guessed = mimetypes.guess_type(attachment.filename)[0]
        if guessed is not None and guessed != attachment.content_type:
            self.unsupported(
                f"attachment {attachment.filename!r} as {attachment.content_type} "
                f"(Resend would type it {guessed} from its extension)"
            )
        item = {
            "content": base.b64(attachment.content),
            "filename": attachment.filename,
            "content_type": attachment.content_type,
            **extra,
        }
        self.data.setdefault("attachments", []).append(item)

    def _tag(self, name: str, value: str) -> None:
        # Native ``tags``, {"name", "value"}: Resend's only per-message data echoed in
        # webhooks (a header would reach recipients), but they take only ASCII letters,
        # digits, "_" and "-".
        for text in (name, value):
            if not _TAG_TEXT.match(text):
                self.unsupported(f"tag or metadata {text!r} (only A-Z a-z 0-9 _ -, 1-256 long)")
        if any(t["name"] == name for t in self.tags):
            self.unsupported(f"a tag and a metadata key both named {name!r}")
        self.tags.append({"name": name, "value": value})

    def build(self) -> base.HTTPRequest:
        """The POST, with an ``Idempotency-Key`` that is the same on every retry."""
        if "to" not in self.data:
            self.unsupported("a message without To recipients (Resend requires one)")
        if len(self.tags) > _MAX_TAGS:
            self.unsupported(f"{len(self.tags)} tags and metadata keys (at most {_MAX_TAGS})")
        if self.tags:
            self.data["tags"] = self.tags
        key = self.idempotency_key()
        rcpt_to = self.outgoing.envelope.rcpt_to
        if len(rcpt_to) != len(self.outgoing.message.recipients()):
            # A failover retry of some recipients is a different body: reusing the key would
            # get 409 invalid_idempotent_request, so the recipients join the key.
            key += "-" + hashlib.sha256("\n".join(sorted(rcpt_to)).encode()).hexdigest()[:16]
        return base.HTTPRequest(
            "POST", "/emails", json=self.data, headers={"Idempotency-Key": key}, idempotent=True
        )


class ResendTransport(base.HTTPTransport):
    """Sends through Resend's ``/emails`` API (``Authorization: Bearer <key>``).

    ``ResendTransport("re_xxx")`` or from a URL: ``resend://re_xxx@default?timeout=10``.
    """

    scheme = "resend"
    regions = {"default": "https://api.resend.com"}
    rate_limit_reset = "ratelimit-reset"  # seconds from now
    payload_class = ResendPayload
    capabilities = base.Capabilities(idempotency=True)

    def parse_success(
        self, response: httpx.Response, outgoing: OutgoingMessage
    ) -> base.SuccessReply:
        """``{"id": "..."}``."""
        body = base.response_json(response)
        provider_id = body.get("id") if isinstance(body, dict) else None
        return base.SuccessReply(provider_id=provider_id if isinstance(provider_id, str) else None)

    def parse_error(self, response: httpx.Response) -> base.ErrorReply:
        """``{"statusCode", "message", "name"}`` shown as ``name: message``."""
        body = base.response_json(response)
        if not isinstance(body, dict) or not body.get("message"):
            return base.ErrorReply(response.text)
        name, message = str(body.get("name") or ""), str(body["message"])
        error: type[MailError] | None = None
        if name in ("daily_quota_exceeded", "monthly_quota_exceeded"):
            error = RelayError  # the reset is hours away: fail over now, cool down
        elif name == "concurrent_idempotent_requests":
            error = TransientError  # the first request with this key is still running
        elif "api key is invalid" in message.lower():
            error = RelayError  # Resend also says this with 400 for a malformed key
        elif response.status_code in (404, 405, 451):
            error = RelayError  # wrong base_url, or security_error: not this message's fault
        return base.ErrorReply(f"{name}: {message}" if name else message, error)
