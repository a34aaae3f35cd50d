"""Mailtrap Email Sending API: ``POST /api/send`` with a JSON body (no raw MIME).

``mailtrap://TOKEN@default`` (transactional stream, ``send.api.mailtrap.io``),
``mailtrap://TOKEN@bulk`` (bulk stream, ``bulk.api.mailtrap.io``) or
``mailtrap://TOKEN@sandbox?inbox_id=123`` (test inbox, ``sandbox.api.mailtrap.io``); options
``base_url=`` and ``timeout=``. Fields follow Mailtrap's OpenAPI description
(mailtrap/mailtrap-openapi ``specs/email-sending-transactional.openapi.yml``); success is
``200 {"success": true, "message_ids": [...]}`` with one id per recipient.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import httpx
from pydantic import SecretStr

from mailsdk.config import ConfigurationError, TransportURL
from mailsdk.errors import PermanentError
from mailsdk.message import Address
from mailsdk.mime import OutgoingMessage
from mailsdk.transports.http import base

__all__ = ["MailtrapPayload", "MailtrapTransport"]

_MAX_PER_KIND = 1000  # to, cc and bcc each (the spec's maxItems)
_MAX_CATEGORY_LENGTH = 255


def _error_text(body: Any) -> str:
    """The sending API's ``{"errors": [...]}``, or the account APIs' ``error`` / ``errors``
    string (what the sandbox host answers with for a bad token)."""
    if not isinstance(body, dict):
        return ""
    errors = body.get("errors", body.get("error"))
    if isinstance(errors, list):
        return "; ".join(str(e) for e in errors)
    if isinstance(errors, dict):  # {"field": ["message", ...]} from some endpoints
        return "; ".join(
            f"{field}: {', '.join(map(str, v)) if isinstance(v, list) else v}"
            for field, v in errors.items()
        )
    return str(errors) if errors else ""


class MailtrapPayload(base.DispositionAttachmentsPayload["MailtrapTransport"]):
    """Builds the ``/api/send`` JSON body (a ``subject`` of at least one character; the spec
    allows no empty body)."""

    fields = {"subject": "subject", "text": "text", "html": "html"}
    subject_required = True

    def __init__(self, transport: MailtrapTransport, outgoing: OutgoingMessage) -> None:
        super().__init__(transport, outgoing)
        self.headers: dict[str, str] = {}

    def set_from(self, address: Address) -> None:
        """``from``."""
        self.data["from"] = base.address_object(address)

    def set_recipients(self, kind: base.RecipientKind, addresses: Sequence[Address]) -> None:
        """``to`` / ``cc`` / ``bcc``, at most 1000 each."""
        if len(addresses) > _MAX_PER_KIND:
            self.unsupported(f"{len(addresses)} {kind} recipients (at most {_MAX_PER_KIND})")
        self.data[kind] = [base.address_object(a) for a in addresses]

    def set_reply_to(self, addresses: Sequence[Address]) -> None:
        """``reply_to`` for one address; several go in a ``Reply-To`` header.

        The API's ``reply_to`` is a single object; anymail (mailtrap.py, set_reply_to) sends
        the header instead, which Mailtrap passes through.
        """
        if len(addresses) == 1:
            self.data["reply_to"] = base.address_object(addresses[0])
        else:
            self.headers["Reply-To"] = ", ".join(str(a) for a in addresses)

    def set_headers(self, headers: Mapping[str, str]) -> None:
        """``headers`` (Mailtrap encodes non-ASCII values itself, per anymail)."""
        self.headers.update(headers)

    def set_tags(self, tags: Sequence[str]) -> None:
        """``category``: a single tag of at most 255 characters."""
        unique = list(dict.fromkeys(tags))
        if len(unique) > 1:
            self.unsupported(f"{len(unique)} tags (Mailtrap takes one category)")
        if len(unique[0]) > _MAX_CATEGORY_LENGTH:
            self.unsupported(f"a tag longer than {_MAX_CATEGORY_LENGTH} characters")
        self.data["category"] = unique[0]

    def set_metadata(self, metadata: Mapping[str, str]) -> None:
        """``custom_variables`` (string values), echoed in Mailtrap's webhooks."""
        self.data["custom_variables"] = dict(metadata)

    def build(self) -> base.HTTPRequest:
        """The POST to ``/api/send`` (``/api/send/{inbox_id}`` on the sandbox)."""
        if "text" not in self.data and "html" not in self.data:
            self.unsupported("a message without a body (Mailtrap requires text or html)")
        if self.headers:
            self.data["headers"] = self.headers
        inbox = self.transport.inbox_id
        path = f"/api/send/{inbox}" if inbox else "/api/send"
        return base.HTTPRequest("POST", path, json=self.data)


class MailtrapTransport(base.HTTPTransport):
    """Sends through Mailtrap's Email Sending API (``Api-Token: <token>``).

    ``MailtrapTransport("token")``, ``MailtrapTransport("token", region="bulk")``,
    ``MailtrapTransport("token", region="sandbox", inbox_id=123)``, or from a URL:
    ``mailtrap://TOKEN@default``, ``mailtrap://TOKEN@bulk``,
    ``mailtrap://TOKEN@sandbox?inbox_id=123``.
    """

    scheme = "mailtrap"
    regions = {
        "default": "https://send.api.mailtrap.io",
        "bulk": "https://bulk.api.mailtrap.io",
        "sandbox": "https://sandbox.api.mailtrap.io",
    }
    payload_class = MailtrapPayload
    capabilities = base.Capabilities(cc=_MAX_PER_KIND, bcc=_MAX_PER_KIND, tags=1)
    url_options = ("inbox_id",)

    def __init__(
        self, api_key: str | SecretStr, *, inbox_id: int | str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(api_key, **kwargs)
        inbox = str(inbox_id).strip() if inbox_id is not None else ""
        if self.region == "sandbox" and not inbox.isdigit():
            raise ConfigurationError(
                "mailtrap://sandbox needs a numeric inbox_id (mailtrap://TOKEN@sandbox?inbox_id=N)"
            )
        if self.region != "sandbox" and inbox:
            raise ConfigurationError("mailtrap: inbox_id is for the sandbox region only")
        self.inbox_id = inbox or None
        """The sandbox inbox that receives test messages (sandbox region only)."""

    @classmethod
    def options_from_url(cls, url: TransportURL) -> dict[str, Any]:
        """``inbox_id=`` for ``mailtrap://TOKEN@sandbox``."""
        inbox = url.option("inbox_id")
        return {"inbox_id": inbox} if inbox is not None else {}

    def authenticate(self, request: httpx.Request) -> None:
        """``Api-Token: <token>``, the spec's first scheme (Bearer also works)."""
        request.headers["Api-Token"] = self.api_key_value()

    def parse_success(
        self, response: httpx.Response, outgoing: OutgoingMessage
    ) -> base.SuccessReply | base.ErrorReply:
        """``message_ids``, one per recipient in to, cc, bcc order, joined with commas.

        The sandbox answers with a single id. A 2xx with ``success: false`` is a refusal
        (documented for batches; anymail guards single sends the same way).
        """
        body = base.response_json(response)
        if not isinstance(body, dict):
            return base.SuccessReply()
        if body.get("success") is False:
            return base.ErrorReply(_error_text(body) or "success: false", error=PermanentError)
        ids = body.get("message_ids")
        if isinstance(ids, list) and ids:
            return base.SuccessReply(provider_id=",".join(str(i) for i in ids))
        return base.SuccessReply()

    def parse_error(self, response: httpx.Response) -> base.ErrorReply:
        """``{"success": false, "errors": ["'from' address is invalid", ...]}``."""
        return base.ErrorReply(_error_text(base.response_json(response)) or response.text)
