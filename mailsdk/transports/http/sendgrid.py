"""SendGrid v3 Mail Send: ``POST /v3/mail/send`` with a JSON body (SendGrid takes no raw MIME).

``sendgrid://API_KEY@default`` (global) or ``sendgrid://API_KEY@eu`` (EU regional subusers);
options ``base_url=`` and ``timeout=``. Field names and limits follow SendGrid's OpenAPI
description (twilio/sendgrid-oai ``tsg_mail_v3.json``, ``PostMailSend``); success is ``202``
with the message id in the ``X-Message-Id`` response header.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from mailsdk.errors import TransientError
from mailsdk.message import Address
from mailsdk.mime import OutgoingMessage
from mailsdk.transports.http import base

__all__ = ["SendGridPayload", "SendGridTransport"]

_MAX_RECIPIENTS = 1000  # to + cc + bcc over all personalizations
_MAX_CATEGORIES = 10
_MAX_CATEGORY_LENGTH = 255
_MAX_CUSTOM_ARGS = 10_000  # bytes: "This field may not exceed 10,000 bytes" (PostMailSend)


def _email(address: Address, *, quote_name: bool = False) -> dict[str, str]:
    obj = {"email": address.envelope}
    name = address.name
    if name:
        # SendGrid does not quote display names holding "," or ";" inside personalizations
        # (sendgrid/sendgrid-python#291): the header it writes splits into two addresses.
        # Quoting them ourselves works around it; it can go when SendGrid quotes them.
        if quote_name and any(c in name for c in ",;"):
            name = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
        obj["name"] = name
    return obj


class SendGridPayload(base.DispositionAttachmentsPayload["SendGridTransport"]):
    """Builds the ``/v3/mail/send`` JSON body: one personalization carries every recipient.
    The spec requires a non-empty ``subject``, so an empty one is left out."""

    fields = {"subject": "subject"}  # the bodies go in the content list (set_text, set_html)

    def __init__(self, transport: SendGridTransport, outgoing: OutgoingMessage) -> None:
        super().__init__(transport, outgoing)
        self.personalization: dict[str, Any] = {}
        self.data["personalizations"] = [self.personalization]
        self.content: list[dict[str, str]] = []

    def set_from(self, address: Address) -> None:
        """``from``; SendGrid documents that it takes no Unicode there."""
        if address.needs_smtputf8:
            self.unsupported("a From address with a non-ASCII local part")
        self.data["from"] = _email(address)

    def set_recipients(self, kind: base.RecipientKind, addresses: Sequence[Address]) -> None:
        """``personalizations[0].to / cc / bcc``."""
        self.personalization[kind] = [_email(a, quote_name=True) for a in addresses]

    def set_reply_to(self, addresses: Sequence[Address]) -> None:
        """``reply_to_list`` (it takes one address as well as many)."""
        self.data["reply_to_list"] = [_email(a) for a in addresses]

    def set_text(self, text: str) -> None:
        """``content`` text/plain (SendGrid requires it before text/html)."""
        if text:
            self.content.insert(0, {"type": "text/plain", "value": text})

    def set_html(self, html: str) -> None:
        """``content`` text/html."""
        if html:
            self.content.append({"type": "text/html", "value": html})

    def set_headers(self, headers: Mapping[str, str]) -> None:
        """``headers`` (string values only, which Message guarantees)."""
        self.data["headers"] = dict(headers)

    def set_tags(self, tags: Sequence[str]) -> None:
        """``categories``: at most 10, each at most 255 characters, no duplicates."""
        unique = list(dict.fromkeys(tags))  # the spec wants unique items; a repeat adds nothing
        if len(unique) > _MAX_CATEGORIES:
            self.unsupported(f"{len(unique)} tags (at most {_MAX_CATEGORIES})")
        if any(len(tag) > _MAX_CATEGORY_LENGTH for tag in unique):
            self.unsupported(f"a tag longer than {_MAX_CATEGORY_LENGTH} characters")
        self.data["categories"] = unique

    def set_metadata(self, metadata: Mapping[str, str]) -> None:
        """``personalizations[0].custom_args``.

        The spec types the top-level ``custom_args`` as a string but the personalization's as
        an object; with a single personalization both apply to the whole message.
        """
        size = len(json.dumps(dict(metadata), ensure_ascii=False, separators=(",", ":")).encode())
        if size > _MAX_CUSTOM_ARGS:
            self.unsupported(f"{size} bytes of metadata (at most {_MAX_CUSTOM_ARGS})")
        self.personalization["custom_args"] = dict(metadata)

    def set_tracking(self, opens: bool | None, clicks: bool | None) -> None:
        """``tracking_settings.open_tracking`` / ``click_tracking`` (``enable``)."""
        settings: dict[str, Any] = {}
        if opens is not None:
            settings["open_tracking"] = {"enable": opens}
        if clicks is not None:
            settings["click_tracking"] = {"enable": clicks}
        self.data["tracking_settings"] = settings

    def build(self) -> base.HTTPRequest:
        """The POST; checks the limits SendGrid documents before spending a request."""
        if "to" not in self.personalization:
            self.unsupported("a message without To recipients (SendGrid requires one)")
        count = len(self.outgoing.envelope.rcpt_to)
        if count > _MAX_RECIPIENTS:
            self.unsupported(f"{count} recipients in one message (at most {_MAX_RECIPIENTS})")
        if self.content:
            self.data["content"] = self.content
        return base.HTTPRequest("POST", "/v3/mail/send", json=self.data)


class SendGridTransport(base.HTTPTransport):
    """Sends through SendGrid's v3 Mail Send API (``Authorization: Bearer <key>``).

    ``SendGridTransport("SG.xxx")``, ``SendGridTransport("SG.xxx", region="eu")``, or from a
    URL: ``sendgrid://SG.xxx@default``, ``sendgrid://SG.xxx@eu?timeout=10``.
    """

    scheme = "sendgrid"
    regions = {"default": "https://api.sendgrid.com", "eu": "https://api.eu.sendgrid.com"}
    payload_class = SendGridPayload
    capabilities = base.Capabilities(tags=_MAX_CATEGORIES, tracking=True)

    def parse_success(
        self, response: httpx.Response, outgoing: OutgoingMessage
    ) -> base.SuccessReply:
        """``202`` with an empty body; the id is the ``X-Message-Id`` header."""
        return base.SuccessReply(provider_id=response.headers.get("X-Message-Id"))

    def parse_error(self, response: httpx.Response) -> base.ErrorReply:
        """``{"errors": [{"message", "field", "help"}]}``, each error as ``field: message``."""
        body = base.response_json(response)
        errors = body.get("errors") if isinstance(body, dict) else None
        texts = [
            f"{e['field']}: {e['message']}" if e.get("field") else str(e["message"])
            for e in (errors if isinstance(errors, list) else [])
            if isinstance(e, dict) and e.get("message")
        ]
        text = "; ".join(texts) or response.text
        error = None
        # 403 has two documented meanings: a key without permission or an unverified sender
        # (RelayError, from the status), and "Too many bad requests. Temporary block", which
        # passes: only the text tells them apart.
        if response.status_code == 403 and "temporary block" in text.lower():
            error = TransientError
        retry_after = None
        reset = response.headers.get("X-RateLimit-Reset")  # epoch seconds
        if response.status_code == 429 and "Retry-After" not in response.headers and reset:
            try:
                retry_after = max(0.0, float(reset) - self.wall_clock())
            except ValueError:
                retry_after = None
        return base.ErrorReply(text, error=error, retry_after=retry_after)
