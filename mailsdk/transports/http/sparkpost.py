"""SparkPost Transmissions: ``POST /api/v1/transmissions`` with the rendered MIME as
``content.email_rfc822``, so every header, part and inline image reaches recipients as built.

``sparkpost://API_KEY@default`` (US) or ``sparkpost://API_KEY@eu`` (also written
``sparkpost://API_KEY@default?region=eu``); options ``subaccount=`` (``X-MSYS-SUBACCOUNT``),
``base_url=`` (Enterprise hosts), ``timeout=`` and ``ca_file=``. Fields follow SparkPost's API
Blueprint (``transmissions.apib``, ``recipient-lists.apib``); success is ``200`` with
``results.id``, the transmission id.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any

import httpx
from pydantic import SecretStr

from mailsdk.config import ConfigurationError, TransportURL
from mailsdk.errors import MailError, RelayError, TransientError
from mailsdk.mime import OutgoingMessage
from mailsdk.transports.http import base

__all__ = ["SparkPostPayload", "SparkPostTransport"]

log = logging.getLogger("mailsdk")

_MAX_TAGS = 10  # per recipient; "any tags over the limits are ignored", so we refuse them
_MAX_METADATA = 1000  # bytes of merged metadata
_TEMPLATE_MARKS = ("{{", "}}")
_ADDRESS = re.compile(r"[^\s<>\"',;:()\[\]]+@[^\s<>\"',;:()\[\]]+")
_LIMIT_WAIT = {"hourly": 3600.0, "daily": 86400.0}  # 420 names the limit it hit
_REFUSED = 550  # SMTP-style: a permanent refusal of that recipient


def _error_text(error: Mapping[str, Any]) -> str:
    parts = [str(error.get(k)) for k in ("message", "description") if error.get(k)]
    code = f" (code {error['code']})" if error.get("code") else ""
    return ": ".join(parts) + code


class SparkPostPayload(base.Payload["SparkPostTransport"]):
    """Builds the transmission: the MIME, one recipient per envelope address, tags, metadata."""

    takes_raw_mime = True

    def __init__(self, transport: SparkPostTransport, outgoing: OutgoingMessage) -> None:
        super().__init__(transport, outgoing)
        self.data: dict[str, Any] = {}
        self.tags: list[str] = []

    def set_raw_message(self, raw: bytes) -> None:
        """``content.email_rfc822`` and ``recipients``; ``envelope_from`` is ``return_path``.

        SparkPost runs its template language over the top-level headers and the first text
        and HTML parts of RFC822 content, so ``{{``/``}}`` there would be rewritten: refused.
        """
        message = self.outgoing.message
        texts = [message.subject, message.text or "", message.html or ""]
        texts += [*message.headers.values(), message.sender.name]
        texts += [a.name for a in (*message.to, *message.cc, *message.reply_to)]
        if any(mark in text for text in texts for mark in _TEMPLATE_MARKS):
            self.unsupported("text holding '{{' or '}}' (SparkPost's template language)")
        # "The To header is not built for email_rfc822 content": header_to (the inline-content
        # way to show Cc and hide Bcc) has nothing to act on; the MIME's own To/Cc stand and a
        # Bcc is only an envelope address here. Only the envelope (maybe a failover subset) goes.
        self.data["recipients"] = [
            {"address": {"email": r}} for r in self.outgoing.envelope.rcpt_to
        ]
        self.data["content"] = {"email_rfc822": raw.decode("utf-8")}
        bounce = message.envelope_from
        if bounce is not None and bounce.envelope != message.sender.envelope:
            self.data["return_path"] = bounce.envelope  # its domain must be CNAME-verified

    def set_tags(self, tags: Sequence[str]) -> None:
        """Recipient ``tags`` (each recipient carries them into webhook events)."""
        self.tags = list(dict.fromkeys(tags))
        if len(self.tags) > _MAX_TAGS:
            self.unsupported(f"{len(self.tags)} tags (at most {_MAX_TAGS})")

    def set_metadata(self, metadata: Mapping[str, str]) -> None:
        """Transmission ``metadata`` (at most 1000 bytes as JSON)."""
        size = len(json.dumps(metadata, ensure_ascii=False, separators=(",", ":")).encode())
        if size > _MAX_METADATA:
            self.unsupported(f"{size} bytes of metadata (at most {_MAX_METADATA})")
        self.data["metadata"] = dict(metadata)

    def set_tracking(self, opens: bool | None, clicks: bool | None) -> None:
        """``options.open_tracking`` and ``options.click_tracking``."""
        options = self.data.setdefault("options", {})
        if opens is not None:
            options["open_tracking"] = opens
        if clicks is not None:
            options["click_tracking"] = clicks

    def build(self) -> base.HTTPRequest:
        """The POST, with ``X-MSYS-SUBACCOUNT`` when the transport names a subaccount."""
        if self.tags:
            for recipient in self.data["recipients"]:
                recipient["tags"] = self.tags
        subaccount = self.transport.subaccount
        headers = {"X-MSYS-SUBACCOUNT": subaccount} if subaccount else {}
        return base.HTTPRequest("POST", "/transmissions", json=self.data, headers=headers)


class SparkPostTransport(base.HTTPTransport):
    """Sends through SparkPost's Transmissions API (``Authorization: <API key>``).

    ``SparkPostTransport("key")``, ``SparkPostTransport("key", region="eu", subaccount="123")``,
    or ``sparkpost://KEY@eu?subaccount=123``.
    """

    scheme = "sparkpost"
    regions = {
        "default": "https://api.sparkpost.com/api/v1",
        "eu": "https://api.eu.sparkpost.com/api/v1",
    }
    payload_class = SparkPostPayload
    capabilities = base.Capabilities(
        tags=_MAX_TAGS, raw_mime=True, dkim=True, tracking=True, calendar=True
    )
    url_options = ("region", "subaccount")

    def __init__(
        self,
        api_key: str | SecretStr,
        *,
        subaccount: str | int | None = None,
        **kwargs: Any,
    ) -> None:
        if subaccount is not None and not str(subaccount).isdigit():
            raise ConfigurationError(f"sparkpost: subaccount {subaccount!r} is not a number")
        self.subaccount = str(subaccount) if subaccount is not None else None
        super().__init__(api_key, **kwargs)

    @classmethod
    def options_from_url(cls, url: TransportURL) -> dict[str, Any]:
        """``subaccount=``, and ``region=``, which names the region when the host is
        ``default``."""
        options: dict[str, Any] = {"subaccount": url.option("subaccount")}
        region = url.option("region")
        if region is not None:
            if url.host not in ("", "default", region):
                raise ConfigurationError(
                    f"sparkpost://{url.host}: the host and region={region} disagree"
                )
            options["region"] = region
        return options

    def authenticate(self, request: httpx.Request) -> None:
        """SparkPost takes the key itself as the ``Authorization`` value."""
        request.headers["Authorization"] = self.api_key_value()

    def parse_success(
        self, response: httpx.Response, outgoing: OutgoingMessage
    ) -> base.SuccessReply:
        """``results.id``; a ``200`` may still reject recipients (``rcpt_to_errors``)."""
        body = base.response_json(response)
        results = body.get("results") if isinstance(body, dict) else None
        if not isinstance(results, dict):
            return base.SuccessReply()
        provider_id = str(results["id"]) if results.get("id") is not None else None
        rejected = int(results.get("total_rejected_recipients") or 0)
        if not rejected:
            return base.SuccessReply(provider_id)
        errors = [e for e in results.get("rcpt_to_errors") or [] if isinstance(e, dict)]
        texts = [_error_text(e) for e in errors] or ["recipient rejected"]
        everyone = outgoing.envelope.rcpt_to
        refused: dict[str, tuple[int, str]] = {}
        if not int(results.get("total_accepted_recipients") or 0):
            refused = {r: (_REFUSED, "; ".join(texts)) for r in everyone}
        else:  # only refusals that name their address can be pinned on a recipient
            for text in texts:
                named = {a.lower() for a in _ADDRESS.findall(text)}
                refused.update({r: (_REFUSED, text) for r in everyone if r.lower() in named})
        if len(refused) < rejected:  # the base logs this as a warning
            note = f"{rejected} of {len(everyone)} rejected: {'; '.join(texts)}"
            return base.SuccessReply(
                provider_id, refused, f"{note} (SparkPost does not say which)", True
            )
        return base.SuccessReply(provider_id, refused=refused)

    def parse_error(self, response: httpx.Response) -> base.ErrorReply:
        """``{"errors": [{"message", "description", "code"}]}``; 420 is a sending limit."""
        body = base.response_json(response)
        errors = body.get("errors") if isinstance(body, dict) else None
        items = [e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else []
        text = "; ".join(_error_text(e) for e in items) or response.text
        lowered, status = text.lower(), response.status_code
        error: type[MailError] | None = None
        retry_after = None
        if status == 420 or (status == 429 and "sending limit" in lowered):
            if "sandbox" in lowered:
                error = RelayError  # the sandbox allowance is for the account's lifetime
            else:  # a quota, not a burst: fail over now, come back after the window
                error = TransientError
                retry_after = next((w for k, w in _LIMIT_WAIT.items() if k in lowered), 3600.0)
        elif status == 404 or any(str(e.get("code")) == "7001" for e in items):
            error = RelayError  # unknown resource or unverified sending domain: configuration
        return base.ErrorReply(text, error=error, retry_after=retry_after)
