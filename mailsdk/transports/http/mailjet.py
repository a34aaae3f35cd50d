"""Mailjet Send API v3.1: ``POST /v3.1/send`` with one message in ``Messages`` (no raw MIME).

``mailjet://API_KEY:SECRET@default`` (or ``@us`` for accounts on Mailjet's US architecture);
options ``sandbox=true`` (``SandboxMode``: validated, not delivered), ``base_url=``,
``timeout=`` and ``ca_file=``. Fields and error codes follow mailjet/api-documentation
``guides/_send-api.md``; each recipient gets its own ``MessageID`` in a ``200``, and a refused
message comes back as ``Status: error`` with ``Errors`` naming the properties at fault.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

import httpx
from pydantic import SecretStr

from mailsdk.config import ConfigurationError, TransportURL
from mailsdk.errors import MailError, RelayError
from mailsdk.message import Address, Attachment
from mailsdk.mime import OutgoingMessage
from mailsdk.transports.http import base

__all__ = ["MailjetPayload", "MailjetTransport"]

_MAX_RECIPIENTS = 50  # To + Cc + Bcc (send-0015)
_MAX_ITEMS = 50  # Attachments, InlinedAttachments, Headers (mj-0008)
_MAX_SUBJECT = 255
_MAX_ATTACHMENTS = 15 * 1024 * 1024  # bytes, all attachments together
# Headers Mailjet sets itself or that have their own property: setting one fails (send-0011).
_FORBIDDEN_LIST = (
    "from sender subject to cc bcc reply-to return-path delivered-to date message-id "
    "dkim-signature domainkey-status received-spf authentication-results received "
    "user-agent x-mailer list-id x-csa-complaints x-feedback-id"
)
_FORBIDDEN = frozenset(_FORBIDDEN_LIST.split())
_FORBIDDEN_PREFIXES = ("x-mj-", "x-mailjet-")
_RECIPIENT_FIELD = re.compile(r"^(To|Cc|Bcc)\[(\d+)\]\.Email$")
_REFUSED, _NOT_SENT = 550, 451  # SMTP-style: refused for good / not tried, send again


def _contact(address: Address) -> dict[str, str]:
    return base.address_object(address, email="Email", name="Name")


def _error_text(error: Mapping[str, Any]) -> str:
    text = f"{error.get('ErrorCode') or 'error'}: {error.get('ErrorMessage') or ''}".strip()
    related = error.get("ErrorRelatedTo")
    return f"{text} [{', '.join(map(str, related))}]" if isinstance(related, list) else text


def _message_errors(body: Any) -> list[dict[str, Any]]:
    """The errors of a ``Status: error`` message, or a global error, as one list."""
    if isinstance(body, dict) and "ErrorMessage" in body and "Messages" not in body:
        return [body]
    messages = body.get("Messages") if isinstance(body, dict) else None
    if not isinstance(messages, list):
        return []
    errors = [m.get("Errors") for m in messages if isinstance(m, dict)]
    return [e for group in errors if isinstance(group, list) for e in group if isinstance(e, dict)]


class MailjetPayload(base.JSONPayload["MailjetTransport"]):
    """Builds ``{"Messages": [message]}``: everything lives in the one message object, built
    in ``data`` (``Subject`` at most 255 characters; empty parts are left out)."""

    fields = {"subject": "Subject", "text": "TextPart", "html": "HTMLPart"}
    max_subject = _MAX_SUBJECT

    def message_id_metadata(self) -> str | None:
        """None: ``CustomID`` already carries our Message-ID into Mailjet's events."""
        return None

    def __init__(self, transport: MailjetTransport, outgoing: OutgoingMessage) -> None:
        super().__init__(transport, outgoing)
        self.attached = 0

    def set_from(self, address: Address) -> None:
        """``From: {Email, Name}`` (a validated sender)."""
        self.data["From"] = _contact(address)

    def set_recipients(self, kind: base.RecipientKind, addresses: Sequence[Address]) -> None:
        """``To``, ``Cc``, ``Bcc``."""
        self.data[kind.capitalize()] = [_contact(a) for a in addresses]

    def set_reply_to(self, addresses: Sequence[Address]) -> None:
        """``ReplyTo``: Mailjet takes one address."""
        if len(addresses) > 1:
            self.unsupported(f"{len(addresses)} reply_to addresses (at most 1)")
        self.data["ReplyTo"] = _contact(addresses[0])

    def set_headers(self, headers: Mapping[str, str]) -> None:
        """``Headers``; the Message-ID becomes ``CustomID``, since Mailjet writes its own."""
        extra = {}
        for name, value in headers.items():
            lowered = name.lower()
            if lowered == "message-id":
                # Setting it fails the message (send-0011). CustomID keeps our id with Mailjet:
                # in its events and searchable with GET /v3/REST/message?CustomID=...
                self.data["CustomID"] = value
            elif lowered in _FORBIDDEN or lowered.startswith(_FORBIDDEN_PREFIXES):
                self.unsupported(f"the {name} header (Mailjet sets it itself)")
            else:
                extra[name] = value
        if len(extra) > _MAX_ITEMS:
            self.unsupported(f"{len(extra)} custom headers (at most {_MAX_ITEMS})")
        if extra:
            self.data["Headers"] = extra

    def add_attachment(self, attachment: Attachment) -> None:
        """``Attachments[]``."""
        self._attach("Attachments", attachment)

    def add_inline(self, attachment: Attachment) -> None:
        """``InlinedAttachments[]`` with ``ContentID`` (the HTML refers to ``cid:<id>``)."""
        self._attach("InlinedAttachments", attachment, ContentID=attachment.cid)

    def _attach(self, field: str, attachment: Attachment, **extra: str | None) -> None:
        if not attachment.content:
            self.unsupported(f"the empty attachment {attachment.filename!r}")  # mj-0012
        items = self.data.setdefault(field, [])
        if len(items) == _MAX_ITEMS:
            self.unsupported(f"more than {_MAX_ITEMS} {field}")
        self.attached += len(attachment.content)
        if self.attached > _MAX_ATTACHMENTS:
            self.unsupported(f"more than {_MAX_ATTACHMENTS} bytes of attachments")
        item = {
            "ContentType": attachment.content_type,
            "Filename": attachment.filename,
            "Base64Content": base.b64(attachment.content),
        }
        items.append(item | {k: v for k, v in extra.items() if v is not None})

    def set_tags(self, tags: Sequence[str]) -> None:
        """``CustomCampaign``: one tag per message."""
        unique = list(dict.fromkeys(tags))
        if len(unique) > 1:
            self.unsupported(f"{len(unique)} tags (Mailjet has one CustomCampaign)")
        self.data["CustomCampaign"] = unique[0]

    def set_metadata(self, metadata: Mapping[str, str]) -> None:
        """``EventPayload``: a string, so the metadata as compact JSON."""
        self.data["EventPayload"] = json.dumps(dict(metadata), separators=(",", ":"))

    def set_tracking(self, opens: bool | None, clicks: bool | None) -> None:
        """``TrackOpens`` and ``TrackClicks``: ``enabled`` or ``disabled``."""
        for field, value in (("TrackOpens", opens), ("TrackClicks", clicks)):
            if value is not None:
                self.data[field] = "enabled" if value else "disabled"

    def build(self) -> base.HTTPRequest:
        """The POST; checks what Mailjet would refuse before spending a request."""
        if "To" not in self.data:
            self.unsupported("a message without To recipients (Mailjet requires one)")
        if "TextPart" not in self.data and "HTMLPart" not in self.data:
            self.unsupported("a message without a text or HTML body")
        count = len(self.outgoing.envelope.rcpt_to)
        if count > _MAX_RECIPIENTS:
            self.unsupported(f"{count} recipients in one message (at most {_MAX_RECIPIENTS})")
        body: dict[str, Any] = {"Messages": [self.data]}
        if self.transport.sandbox:
            body["SandboxMode"] = True
        return base.HTTPRequest("POST", "/v3.1/send", json=body)


class MailjetTransport(base.HTTPTransport):
    """Sends through Mailjet's Send API v3.1 (HTTP Basic: API key and secret key).

    ``MailjetTransport("key", "secret")``, ``MailjetTransport("key", "secret", region="us")``
    or ``mailjet://KEY:SECRET@default?sandbox=true``.
    """

    scheme = "mailjet"
    regions = {"default": "https://api.mailjet.com", "us": "https://api.us.mailjet.com"}
    payload_class = MailjetPayload
    capabilities = base.Capabilities(reply_to=1, custom_headers=_MAX_ITEMS, tags=1, tracking=True)
    options_path = ("Messages", 0)  # provider_options are the message's fields
    url_options = ("sandbox",)

    def __init__(
        self,
        api_key: str | SecretStr,
        secret_key: str | SecretStr,
        *,
        sandbox: bool = False,
        **kwargs: Any,
    ) -> None:
        self.secret_key = secret_key if isinstance(secret_key, SecretStr) else SecretStr(secret_key)
        if not self.secret_key.get_secret_value():
            raise ConfigurationError("mailjet: the secret key is empty")
        self.sandbox = sandbox
        super().__init__(api_key, **kwargs)

    @classmethod
    def credentials_from_url(cls, url: TransportURL) -> dict[str, Any]:
        """``mailjet://API_KEY:SECRET@REGION``: Mailjet needs both halves of the key pair."""
        secret = url.password.get_secret_value() if url.password else ""
        if not url.username or not secret:
            raise ConfigurationError(
                "mailjet:// URL needs the API key and the secret key; "
                "write mailjet://API_KEY:SECRET@default"
            )
        return {"api_key": url.username, "secret_key": secret}

    @classmethod
    def options_from_url(cls, url: TransportURL) -> dict[str, Any]:
        """``sandbox=true``."""
        return {"sandbox": url.flag("sandbox")}

    def _basic(self) -> str:
        pair = f"{self.api_key_value()}:{self.secret_key.get_secret_value()}"
        return base64.b64encode(pair.encode()).decode("ascii")

    def authenticate(self, request: httpx.Request) -> None:
        """``Authorization: Basic base64(key:secret)``."""
        request.headers["Authorization"] = f"Basic {self._basic()}"

    def secrets(self) -> list[str]:
        """Both keys, and their Basic token (a server echoing the header would show it)."""
        return [self.api_key_value(), self.secret_key.get_secret_value(), self._basic()]

    # -- replies -------------------------------------------------------------------------

    def parse_success(
        self, response: httpx.Response, outgoing: OutgoingMessage
    ) -> base.SuccessReply | base.ErrorReply:
        """``Messages[0]``: ``Status: success`` with a ``MessageID`` per recipient (the first
        To's is the provider id; all are listed in the attempt text)."""
        body = base.response_json(response)
        result = (body.get("Messages") or [None])[0] if isinstance(body, dict) else None
        if not isinstance(result, dict):
            return base.SuccessReply()
        if result.get("Status") != "success":
            return self.parse_error(response)  # a 2xx carrying a refusal is still a refusal
        sent = [r for k in ("To", "Cc", "Bcc") for r in result.get(k) or [] if isinstance(r, dict)]
        ids = [(r.get("Email"), r.get("MessageID")) for r in sent if r.get("MessageID")]
        if not ids:  # sandbox mode: validated, nothing sent, MessageID 0
            return base.SuccessReply(text="accepted (no MessageID)")
        listed = ", ".join(f"{email} {mid}" for email, mid in ids)
        return base.SuccessReply(provider_id=str(ids[0][1]), text=f"MessageIDs: {listed}")

    def parse_error(self, response: httpx.Response) -> base.ErrorReply:
        """A global ``{ErrorCode, ErrorMessage, StatusCode}`` or per-message ``Errors``; an
        error's own ``StatusCode`` 401/403 (bad key, unauthorised sender) means the relay."""
        errors = _message_errors(base.response_json(response))
        text = "; ".join(_error_text(e) for e in errors) or response.text
        statuses = {e.get("StatusCode") for e in errors}
        error: type[MailError] | None = RelayError if statuses & {401, 403} else None
        return base.ErrorReply(text, error=error, refused=_refusals(response, errors))


def _refusals(response: httpx.Response, errors: list[dict[str, Any]]) -> dict[str, tuple[int, str]]:
    """When every error points at recipient addresses (ErrorRelatedTo ``To[0].Email`` ...),
    Mailjet refused the whole message for them: those are refused, the others were not tried
    and may go again (a failover retry sends them alone)."""
    bad: dict[str, str] = {}
    try:
        sent = json.loads(response.request.content)["Messages"][0]
        for error in errors:
            for field in error.get("ErrorRelatedTo") or [None]:
                match = _RECIPIENT_FIELD.match(str(field))
                if match is None:
                    return {}  # an error about the message itself: no recipient to blame
                email = sent[match[1]][int(match[2])]["Email"]
                bad[email] = _error_text(error)
    except (ValueError, LookupError, TypeError, RuntimeError):
        return {}
    if not bad:
        return {}
    everyone = [r["Email"] for k in ("To", "Cc", "Bcc") for r in sent.get(k, [])]
    refused = {r: (_REFUSED, bad[r]) for r in everyone if r in bad}
    waiting = "not sent: Mailjet refused the message for another recipient"
    refused.update({r: (_NOT_SENT, waiting) for r in everyone if r not in bad})
    return refused
