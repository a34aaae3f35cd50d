"""Postmark: ``POST /email`` with a PascalCase JSON body (raw MIME goes over SMTP only).

``postmark://SERVER_TOKEN@default`` with options ``message_stream=`` (default ``outbound``),
``base_url=`` and ``timeout=``. Fields follow https://postmarkapp.com/developer/api/email-api
(names as in ActiveCampaign/postmark-python ``schemas.py``). Success is
``200 {"MessageID": ..., "ErrorCode": 0, "Message": "OK"}``; every error body is
``{"ErrorCode": n, "Message": "..."}`` and the ErrorCode says more than the HTTP status.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import httpx
from pydantic import SecretStr

from mailsdk.config import TransportURL
from mailsdk.errors import (
    MailError,
    RelayError,
    TransientError,
)
from mailsdk.message import Address, Attachment
from mailsdk.mime import OutgoingMessage
from mailsdk.transports.http import base

__all__ = ["PostmarkPayload", "PostmarkTransport"]

_MAX_PER_FIELD = 50  # "Max 50" for each of To, Cc and Bcc
# ErrorCode -> class (overview page's table; classes from PROVIDERS.md section 2.3).
_RELAY_CODES = frozenset({10, 400, 401, 405, 412, 413})  # token, signature, account
_TRANSIENT_CODES = frozenset({100, 429})  # maintenance, rate limit
_INACTIVE = re.compile(r"inactive addresses:\s*(.+?)\.\s*Inactive recipients", re.I | re.S)
_REFUSED_CODE = 550  # an inactive (suppressed) recipient is refused for good, as SMTP 550


def _mailbox(address: Address) -> str:
    # Address's own quoting, with the IDNA domain that every API accepts.
    if not address.name:
        return address.envelope
    return str(address).rsplit("<", 1)[0] + f"<{address.envelope}>"


def _inactive(text: str) -> list[str]:
    # "Found inactive addresses: a@x, b@y. Inactive recipients are ..." (Postmark lowercases)
    match = _INACTIVE.search(text)
    return [a.strip() for a in match.group(1).split(",") if a.strip()] if match else []


def _error_class(code: int, text: str) -> type[MailError] | None:
    if code in _RELAY_CODES:
        return RelayError
    if code in _TRANSIENT_CODES:
        return TransientError
    if code == 300 and re.search(r"'From'|sender signature", text, re.I):
        return RelayError  # an unverified sender: no message can go this way
    return None  # other codes concern this message: the status (422: permanent) decides


class PostmarkPayload(base.JSONPayload["PostmarkTransport"]):
    """Builds the ``/email`` JSON body."""

    fields = {"subject": "Subject", "text": "TextBody", "html": "HtmlBody"}
    send_empty = True

    def set_from(self, address: Address) -> None:
        """``From`` (a confirmed Sender Signature or an address on a verified domain)."""
        self.data["From"] = _mailbox(address)

    def set_recipients(self, kind: base.RecipientKind, addresses: Sequence[Address]) -> None:
        """``To``, ``Cc``, ``Bcc``: comma-separated, at most 50 each."""
        if len(addresses) > _MAX_PER_FIELD:
            self.unsupported(f"{len(addresses)} {kind} recipients (at most {_MAX_PER_FIELD})")
        self.data[kind.capitalize()] = ", ".join(_mailbox(a) for a in addresses)

    def set_reply_to(self, addresses: Sequence[Address]) -> None:
        """``ReplyTo``, comma-separated."""
        self.data["ReplyTo"] = ", ".join(_mailbox(a) for a in addresses)

    def set_headers(self, headers: Mapping[str, str]) -> None:
        """``Headers: [{Name, Value}]``, the Message-ID first."""
        self.data["Headers"] = [{"Name": k, "Value": v} for k, v in headers.items()]

    def add_attachment(self, attachment: Attachment) -> None:
        """``Attachments[]``: ``Name``, base64 ``Content``, ``ContentType``."""
        self._attach(attachment)

    def add_inline(self, attachment: Attachment) -> None:
        """An attachment with ``ContentID: "cid:<id>"``, the form Postmark documents."""
        self._attach(attachment, ContentID=f"cid:{attachment.cid}")

    def _attach(self, attachment: Attachment, **extra: str) -> None:
        item = {
            "Name": attachment.filename,
            "Content": base.b64(attachment.content),
            "ContentType": attachment.content_type,
            **extra,
        }
        self.data.setdefault("Attachments", []).append(item)

    def set_tags(self, tags: Sequence[str]) -> None:
        """``Tag``: Postmark keeps one tag per message."""
        unique = list(dict.fromkeys(tags))
        if len(unique) > 1:
            self.unsupported(f"{len(unique)} tags (Postmark keeps one per message)")
        self.data["Tag"] = unique[0]

    def set_metadata(self, metadata: Mapping[str, str]) -> None:
        """``Metadata``: string keys and values, echoed in webhooks."""
        self.data["Metadata"] = dict(metadata)

    def set_tracking(self, opens: bool | None, clicks: bool | None) -> None:
        """``TrackOpens`` (a boolean) and ``TrackLinks`` (``HtmlAndText`` or ``None``)."""
        if opens is not None:
            self.data["TrackOpens"] = opens
        if clicks is not None:
            self.data["TrackLinks"] = "HtmlAndText" if clicks else "None"

    def build(self) -> base.HTTPRequest:
        """The POST, on the transport's message stream."""
        self.data["MessageStream"] = self.transport.message_stream
        # Without Accept: application/json Postmark answers ErrorCode 409 "JSON required".
        return base.HTTPRequest(
            "POST", "/email", json=self.data, headers={"Accept": "application/json"}
        )


class PostmarkTransport(base.HTTPTransport):
    """Sends through Postmark's Email API (``X-Postmark-Server-Token: <server token>``).

    ``PostmarkTransport("server-token")``, ``..., message_stream="broadcast")``, or from a URL:
    ``postmark://server-token@default?message_stream=outbound``.
    """

    scheme = "postmark"
    regions = {"default": "https://api.postmarkapp.com"}
    payload_class = PostmarkPayload
    capabilities = base.Capabilities(cc=_MAX_PER_FIELD, bcc=_MAX_PER_FIELD, tags=1, tracking=True)
    url_options = ("message_stream",)

    def __init__(
        self, api_key: str | SecretStr, *, message_stream: str = "outbound", **kwargs: Any
    ) -> None:
        super().__init__(api_key, **kwargs)
        self.message_stream = message_stream

    @classmethod
    def options_from_url(cls, url: TransportURL) -> dict[str, Any]:
        """``message_stream=`` (the stream's id, ``outbound`` by default)."""
        return {"message_stream": url.option("message_stream") or "outbound"}

    def authenticate(self, request: httpx.Request) -> None:
        """The server token in ``X-Postmark-Server-Token``."""
        request.headers["X-Postmark-Server-Token"] = self.api_key_value()

    def parse_success(
        self, response: httpx.Response, outgoing: OutgoingMessage
    ) -> base.SuccessReply | base.ErrorReply:
        """``MessageID``; "Message OK, but will not deliver to these inactive addresses: ..."
        names recipients refused while the others got the message."""
        body = base.response_json(response)
        if not isinstance(body, dict):
            return base.SuccessReply()
        text = str(body.get("Message") or "")
        code = body.get("ErrorCode") or 0  # missing when "delivery may be delayed": queued
        if code != 0:  # a 200 that is a failure (documented for /email/batch items)
            return self.parse_error(response)
        refused = {addr: (_REFUSED_CODE, text) for addr in _inactive(text)}
        message_id = body.get("MessageID")
        return base.SuccessReply(
            provider_id=str(message_id) if message_id else None, refused=refused, text=text or None
        )

    def parse_error(self, response: httpx.Response) -> base.ErrorReply:
        """``{"ErrorCode": n, "Message": "..."}`` shown as ``ErrorCode n: Message``."""
        body = base.response_json(response)
        if not isinstance(body, dict) or "ErrorCode" not in body:
            return base.ErrorReply(response.text)
        code, text = body.get("ErrorCode"), " ".join(str(body.get("Message") or "").split())
        error = _error_class(code, text) if isinstance(code, int) else None
        # ErrorCode 406: every recipient is inactive (hard bounce, complaint, unsubscribe).
        refused = {a: (_REFUSED_CODE, text) for a in _inactive(text)} if code == 406 else {}
        return base.ErrorReply(f"ErrorCode {code}: {text}", error=error, refused=refused)
