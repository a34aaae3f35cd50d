"""MailerSend: ``POST /v1/email`` with a JSON body (MailerSend takes no raw MIME).

``mailersend://API_TOKEN@default``; options ``base_url=``, ``timeout=`` and
``custom_headers=true`` (plans that allow custom headers). Fields follow MailerSend's docs and
its official SDK (mailersend/mailersend-python ``mailersend/models/email.py``); success is
``202`` with the message id in the ``X-Message-Id`` response header, and a JSON body only when
recipients were suppressed.
"""

from __future__ import annotations

import mimetypes
import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

import httpx
from pydantic import SecretStr

from mailsdk.config import TransportURL
from mailsdk.errors import MailError, RelayError, TransientError
from mailsdk.message import Address, Attachment
from mailsdk.mime import OutgoingMessage
from mailsdk.transports.http import base

__all__ = ["MailerSendPayload", "MailerSendTransport"]

_LIMITS: dict[str, int] = {"to": 50, "cc": 10, "bcc": 10}
_MAX_TAGS = 5
_MAX_SUBJECT = 997  # "less than 998 characters"
_HEADER_NAME = re.compile(r"^[A-Za-z0-9-]+$")
# Codes that mean this account cannot send this sender's mail: an unverified from.email domain
# and the trial plan's unique-recipient cap. Another provider may well take the message.
_RELAY_CODES = ("#MS42207", "#MS42225")
# A refused recipient's code is read SMTP-style by FailoverTransport (4xx = retry later), so a
# suppression, which is permanent, is reported as 550.
_SUPPRESSED = 550


def _msg_ids(value: str) -> list[str]:
    # The SDK types in_reply_to as an address, so ids go without their angle brackets.
    return [part.strip("<>") for part in value.split()]


def _seconds_until(reset: str | None, now: float) -> float:
    """Seconds from *now* (epoch seconds) until ``x-apiquota-reset`` (an ISO date or a unix
    time), else until the next UTC midnight."""
    when: float | None = None
    if reset:
        try:
            when = float(reset)
        except ValueError:
            try:
                # Python 3.10's fromisoformat does not take a "Z" suffix.
                parsed = datetime.fromisoformat(reset.strip().replace("Z", "+00:00"))
                if parsed.tzinfo is None:
                    parsed = parsed.replace(tzinfo=timezone.utc)
                when = parsed.timestamp()
            except ValueError:
                when = None
    if when is None:
        when = (now // 86400 + 1) * 86400
    return max(0.0, when - now)


class MailerSendPayload(base.JSONPayload["MailerSendTransport"]):
    """Builds the ``/v1/email`` JSON body (``subject`` required, under 998 characters)."""

    fields = {"subject": "subject", "text": "text", "html": "html"}
    subject_required = True
    max_subject = _MAX_SUBJECT

    def set_from(self, address: Address) -> None:
        """``from`` (a verified domain)."""
        self.data["from"] = base.address_object(address)

    def set_recipients(self, kind: base.RecipientKind, addresses: Sequence[Address]) -> None:
        """``to`` (1-50), ``cc`` and ``bcc`` (10 each); names may not hold ``,`` or ``;``."""
        limit = _LIMITS[kind]
        if len(addresses) > limit:
            self.unsupported(f"{len(addresses)} {kind} recipients (at most {limit})")
        for address in addresses:
            if any(c in address.name for c in ",;"):
                self.unsupported(f"the {kind} display name {address.name!r} (no ',' or ';')")
        self.data[kind] = [base.address_object(a) for a in addresses]

    def set_reply_to(self, addresses: Sequence[Address]) -> None:
        """``reply_to``: a single address."""
        if len(addresses) > 1:
            self.unsupported(f"{len(addresses)} reply_to addresses (MailerSend takes one)")
        self.data["reply_to"] = base.address_object(addresses[0])

    def set_headers(self, headers: Mapping[str, str]) -> None:
        """Threading headers go in their own fields; the rest in ``headers``.

        ``in_reply_to``, ``references`` and ``precedence_bulk`` are open to every paid plan;
        the general ``headers`` list only to Professional and Enterprise plans
        (mailersend.com/help/custom-headers), so it needs ``custom_headers=True``. MailerSend
        sets the Message-ID itself and its defaults cannot be overridden.
        """
        own = {name.lower() for name in self.outgoing.message.headers}
        custom = []
        for name, value in headers.items():
            lowered = name.lower()
            if lowered == "message-id":
                if lowered in own:
                    self.unsupported("a Message-ID of its own (MailerSend sets the Message-ID)")
            elif lowered == "in-reply-to":
                self.data["in_reply_to"] = (_msg_ids(value) or [value])[0]
            elif lowered == "references":
                self.data["references"] = _msg_ids(value)
            elif lowered == "precedence":
                self.data["precedence_bulk"] = value.strip().lower() in ("bulk", "list", "junk")
            elif not self.transport.custom_headers:
                self.unsupported(
                    f"the {name} header (custom headers need a Professional or Enterprise "
                    "plan; set custom_headers=true if yours has one)"
                )
            elif not _HEADER_NAME.match(name):
                self.unsupported(f"the header name {name!r} (letters, digits and '-' only)")
            else:
                custom.append({"name": name, "value": value})
        if custom:
            self.data["headers"] = custom

    def add_attachment(self, attachment: Attachment) -> None:
        """``attachments[]`` with ``disposition: attachment``."""
        self._attach(attachment, disposition="attachment")

    def add_inline(self, attachment: Attachment) -> None:
        """``attachments[]`` with ``disposition: inline`` and ``id``, the content id."""
        self._attach(attachment, disposition="inline", id=attachment.cid)

    def _attach(self, attachment: Attachment, **extra: str | None) -> None:
        # MailerSend has no type field: it derives the type from the file name, so a type
        # the name does not imply would be changed on the way.
        guessed = mimetypes.guess_type(attachment.filename)[0] or "application/octet-stream"
        if guessed != attachment.content_type:
            self.unsupported(
                f"the attachment {attachment.filename!r} as {attachment.content_type} "
                "(MailerSend types attachments by file name extension)"
            )
        item = {"content": base.b64(attachment.content), "filename": attachment.filename}
        item.update({k: v for k, v in extra.items() if v is not None})
        self.data.setdefault("attachments", []).append(item)

    def set_tags(self, tags: Sequence[str]) -> None:
        """``tags``: at most 5."""
        unique = list(dict.fromkeys(tags))
        if len(unique) > _MAX_TAGS:
            self.unsupported(f"{len(unique)} tags (at most {_MAX_TAGS})")
        self.data["tags"] = unique

    # No set_metadata: MailerSend has no metadata field (personalization feeds templates and
    # is not echoed in webhooks), so the base refuses metadata.

    def set_tracking(self, opens: bool | None, clicks: bool | None) -> None:
        """``settings.track_opens`` and ``settings.track_clicks``."""
        settings = self.data.setdefault("settings", {})
        if opens is not None:
            settings["track_opens"] = opens
        if clicks is not None:
            settings["track_clicks"] = clicks

    def build(self) -> base.HTTPRequest:
        """The POST; ``Accept: application/json`` makes validation errors come back as JSON."""
        if "to" not in self.data:
            self.unsupported("a message without To recipients (MailerSend requires one)")
        if "text" not in self.data and "html" not in self.data:
            self.unsupported("a message without a body (MailerSend requires text or html)")
        return base.HTTPRequest(
            "POST", "/v1/email", json=self.data, headers={"Accept": "application/json"}
        )


class MailerSendTransport(base.HTTPTransport):
    """Sends through MailerSend's email API (``Authorization: Bearer <token>``).

    ``MailerSendTransport("mlsn.xxx")``, or from a URL: ``mailersend://mlsn.xxx@default``,
    ``mailersend://mlsn.xxx@default?custom_headers=true``. Tokens are per sending domain.
    """

    scheme = "mailersend"
    regions = {"default": "https://api.mailersend.com"}
    payload_class = MailerSendPayload
    # List-Unsubscribe is a custom header to MailerSend: refused unless custom_headers=true.
    capabilities = base.Capabilities(
        cc=_LIMITS["cc"],
        bcc=_LIMITS["bcc"],
        reply_to=1,
        tags=_MAX_TAGS,
        metadata=False,
        list_unsubscribe=False,
        tracking=True,
    )
    url_options = ("custom_headers",)

    def __init__(
        self, api_key: str | SecretStr, *, custom_headers: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(api_key, **kwargs)
        self.custom_headers = custom_headers
        """True when the plan takes custom headers (Professional, Enterprise)."""

    @classmethod
    def options_from_url(cls, url: TransportURL) -> dict[str, Any]:
        """``custom_headers=true|false``."""
        return {"custom_headers": url.flag("custom_headers", False)}

    def parse_success(
        self, response: httpx.Response, outgoing: OutgoingMessage
    ) -> base.SuccessReply:
        """``X-Message-Id``, plus suppressed recipients from a ``warnings`` body.

        ``SOME_SUPPRESSED`` names the recipients left out; with ``ALL_SUPPRESSED`` nothing
        was sent and there is no id, so every recipient is refused.
        """
        provider_id = response.headers.get("X-Message-Id")
        body = base.response_json(response)
        warnings = body.get("warnings") if isinstance(body, dict) else None
        if not isinstance(warnings, list):
            return base.SuccessReply(provider_id=provider_id)
        refused: dict[str, tuple[int, str]] = {}
        everyone = False
        for warning in warnings:
            if not isinstance(warning, dict):
                continue
            everyone = everyone or warning.get("type") == "ALL_SUPPRESSED"
            for recipient in warning.get("recipients") or []:
                email = recipient.get("email") if isinstance(recipient, dict) else None
                if isinstance(email, str) and email:
                    reasons = recipient.get("reasons")
                    why = ", ".join(map(str, reasons)) if isinstance(reasons, list) else ""
                    refused[email] = (_SUPPRESSED, f"suppressed: {why or 'no reason given'}")
        if everyone:
            named = {address.lower() for address in refused}
            unsent = (_SUPPRESSED, "not sent: every recipient was suppressed")
            refused.update({r: unsent for r in outgoing.envelope.rcpt_to if r.lower() not in named})
        text = body.get("message") if isinstance(body, dict) else None
        return base.SuccessReply(
            provider_id=provider_id, refused=refused, text=text if isinstance(text, str) else None
        )

    def parse_error(self, response: httpx.Response) -> base.ErrorReply:
        """``{"message": ..., "errors": {"field": ["... #MSnnnnn"]}}``, each as field: text."""
        body = base.response_json(response)
        fields = body if isinstance(body, dict) else {}
        parts = [str(fields["message"])] if fields.get("message") else []
        errors = fields.get("errors")
        if isinstance(errors, dict):
            for field, messages in errors.items():
                listed = messages if isinstance(messages, list) else [messages]
                parts.extend(f"{field}: {m}" for m in listed)
        text = " ".join(parts) or response.text
        status = response.status_code
        error: type[MailError] | None = None
        if any(code in text for code in _RELAY_CODES):
            error = RelayError
        elif status in (408, 421):
            # 408 "error on our system" and 421 "running maintenance, try again later"
            # (developers.mailersend.com/general): MailerSend did not take the message.
            error = TransientError
        retry_after = None
        if status == 429 and response.headers.get("x-apiquota-remaining") == "0":
            # The daily API quota, not the per-minute limit: it resets at UTC midnight.
            retry_after = _seconds_until(
                response.headers.get("x-apiquota-reset"), self.wall_clock()
            )
        return base.ErrorReply(text, error=error, retry_after=retry_after)
