"""Mailgun: ``POST /v3/{domain}/messages.mime`` with the rendered MIME, so nothing is lost.

``mailgun://API_KEY@DOMAIN`` (US) or ``mailgun://API_KEY@DOMAIN?region=eu``; options
``region=``, ``base_url=`` and ``timeout=``. The URL's host is the sending domain, not a region.
The body is multipart/form-data: one ``to`` field per envelope recipient (Bcc included, and only
the recipients this send is for), the MIME as the ``message`` file, tags as ``o:tag`` and
metadata as ``v:`` variables (mailgun/documentation ``source/api-sending.rst``). Success is
``200 {"id": "<...>", "message": "Queued. Thank you."}``; errors are ``{"message": "..."}``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import SecretStr

from mailsdk.classify import parse_retry_after
from mailsdk.config import ConfigurationError, TransportURL
from mailsdk.errors import MessageError, RelayError
from mailsdk.mime import OutgoingMessage
from mailsdk.transports.http import base

__all__ = ["MailgunPayload", "MailgunTransport"]

_MAX_RECIPIENTS = 1000
_MAX_TAGS = 3  # per message, and not configurable (source/api-limits.rst)
_MAX_OPTIONS = 16 * 1024  # o:, h:, v: and t: fields together
_MAX_MESSAGE = 25 * 1024 * 1024
_DOMAIN = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+$")
_TRY_AGAIN = re.compile(r"try again after (.+?)\s*$", re.IGNORECASE)


class MailgunPayload(base.Payload["MailgunTransport"]):
    """Builds the ``messages.mime`` form: envelope recipients, the MIME file, options."""

    takes_raw_mime = True

    def __init__(self, transport: MailgunTransport, outgoing: OutgoingMessage) -> None:
        super().__init__(transport, outgoing)
        self.fields: dict[str, str | list[str]] = {}
        self.raw = b""

    def set_raw_message(self, raw: bytes) -> None:
        """The ``message`` file, and one ``to`` per envelope recipient.

        Mailgun delivers to the ``to`` fields, not to the headers: Bcc recipients reach it only
        this way, and a failover retry of some recipients sends to those alone.
        """
        message = self.outgoing.message
        bounce = message.envelope_from
        if bounce is not None and bounce.envelope != message.sender.envelope:
            # The MIME carries no bounce address, and Mailgun sets its own Return-Path.
            self.unsupported("an envelope_from (bounce) address")
        if len(raw) > _MAX_MESSAGE:
            self.unsupported(f"a message of {len(raw)} bytes (at most 25 MiB)")
        recipients = list(self.outgoing.envelope.rcpt_to)
        if len(recipients) > _MAX_RECIPIENTS:
            self.unsupported(f"{len(recipients)} recipients in one message (at most 1000)")
        self.fields["to"] = recipients
        self.raw = raw

    def set_tags(self, tags: Sequence[str]) -> None:
        """``o:tag``, repeated; Mailgun takes at most three per message."""
        unique = list(dict.fromkeys(tags))
        if len(unique) > _MAX_TAGS:
            self.unsupported(f"{len(unique)} tags (at most {_MAX_TAGS})")
        self.fields["o:tag"] = unique

    def set_metadata(self, metadata: Mapping[str, str]) -> None:
        """``v:<key>`` custom variables, echoed to webhooks as ``user-variables``."""
        for key, value in metadata.items():
            self.fields[f"v:{key}"] = value

    def set_tracking(self, opens: bool | None, clicks: bool | None) -> None:
        """``o:tracking-opens`` and ``o:tracking-clicks``: ``yes`` or ``no``."""
        for name, value in (("o:tracking-opens", opens), ("o:tracking-clicks", clicks)):
            if value is not None:
                self.fields[name] = "yes" if value else "no"

    def build(self) -> base.HTTPRequest:
        """The POST to ``/v3/{domain}/messages.mime`` (always multipart/form-data); the
        16 kB limit on options is checked once, with ``provider_options``, by the transport."""
        path = f"/v3/{quote(self.transport.domain, safe='')}/messages.mime"
        files = [("message", ("message.mime", self.raw, "message/rfc822"))]
        return base.HTTPRequest("POST", path, data=self.fields, files=files)


def _options_size(fields: Mapping[str, Any]) -> int:
    return sum(
        len(name) + sum(len(v.encode()) for v in ([value] if isinstance(value, str) else value))
        for name, value in fields.items()
        if name[:2] in ("o:", "h:", "v:", "t:")
    )


class MailgunTransport(base.HTTPTransport):
    """Sends raw MIME through Mailgun (HTTP Basic ``api:<key>``).

    ``MailgunTransport("key-xxx", "mg.example.com")``, ``..., region="eu")``, or from a URL:
    ``mailgun://key-xxx@mg.example.com``, ``mailgun://key-xxx@mg.example.com?region=eu``.
    """

    scheme = "mailgun"
    # The domain's region decides the host; a domain on the wrong one answers 404.
    regions = {
        "default": "https://api.mailgun.net",
        "us": "https://api.mailgun.net",
        "eu": "https://api.eu.mailgun.net",
    }
    payload_class = MailgunPayload
    capabilities = base.Capabilities(
        tags=_MAX_TAGS, raw_mime=True, dkim=True, tracking=True, calendar=True
    )
    url_options = ("region",)
    host_keyword = "domain"
    url_example = "mailgun://API_KEY@DOMAIN"

    def build_request(self, outgoing: OutgoingMessage) -> base.HTTPRequest:
        """The walk's request; the 16 kB limit on options holds with ``provider_options``."""
        request = super().build_request(outgoing)
        size = _options_size(request.data or {})
        if size > _MAX_OPTIONS:
            raise MessageError(
                f"{self.name} cannot send {size} bytes of tags, metadata and provider options "
                "(at most 16 kB); nothing was sent",
                relay=self.name,
            )
        return request

    def __init__(
        self,
        api_key: str | SecretStr,
        domain: str,
        *,
        region: str = "default",
        base_url: str | None = None,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        domain = domain.strip().lower()
        # A "/" in the domain makes Mailgun answer 200 "Mailgun Magnificent API" and send
        # nothing (anymail's mailgun backend guards against it too): insist on a host name.
        if not _DOMAIN.match(domain):
            raise ConfigurationError(
                f"mailgun: {domain!r} is not a sending domain; write mailgun://API_KEY@DOMAIN"
            )
        self.domain = domain
        if name is None:
            if base_url is not None:
                name = f"mailgun://{domain}?base_url={httpx.URL(base_url).host}"
            elif region in ("default", "us"):
                name = f"mailgun://{domain}"
            else:
                name = f"mailgun://{domain}?region={region}"
        super().__init__(api_key, region=region, base_url=base_url, name=name, **kwargs)

    @classmethod
    def options_from_url(cls, url: TransportURL) -> dict[str, Any]:
        """``region=``: the URL's host is the sending domain, so the region is an option."""
        return {"region": url.option("region") or "default"}

    def authenticate(self, request: httpx.Request) -> None:
        """HTTP Basic with user ``api`` and the key as password."""
        request.headers["Authorization"] = f"Basic {self._basic()}"

    def _basic(self) -> str:
        return base.b64(f"api:{self.api_key_value()}".encode())

    def secrets(self) -> list[str]:
        """The key, and the Basic credentials that carry it (an echoed header shows those)."""
        return [self.api_key_value(), self._basic()]

    def parse_success(
        self, response: httpx.Response, outgoing: OutgoingMessage
    ) -> base.SuccessReply:
        """``{"id": "<...@domain>", "message": "Queued. Thank you."}``; the id keeps its ``<>``."""
        if "Mailgun Magnificent API" in response.text:
            # Mailgun's answer to a path it does not route: 200, and nothing was sent.
            raise RelayError(
                "Mailgun answered 'Mailgun Magnificent API': the URL is not its send endpoint "
                "(check the domain and base_url); nothing was sent",
                relay=self.name,
                code=response.status_code,
            )
        body = base.response_json(response)
        if not isinstance(body, dict):
            return base.SuccessReply()
        provider_id = body.get("id")
        text = body.get("message")
        return base.SuccessReply(
            provider_id=provider_id if isinstance(provider_id, str) else None,
            text=text if isinstance(text, str) else None,
        )

    def parse_error(self, response: httpx.Response) -> base.ErrorReply:
        """``{"message": "..."}`` (or plain text, e.g. ``Forbidden`` for a bad key)."""
        body = base.response_json(response)
        message = body.get("message") if isinstance(body, dict) else None
        text = message if isinstance(message, str) and message else response.text
        status = response.status_code
        error: type[RelayError] | None = None
        retry_after = None
        if status == 400 and "is not allowed to send" in text:
            # Sandbox, free-plan, unverified or inactive domain: no message can go this way.
            error = RelayError
        elif status in (402, 404):
            # 402: the account cannot send; 404 "Domain not found", usually the wrong region.
            error = RelayError
            if status == 404:
                text = f"{text} (is {self.domain} on {self.base_url}? check region=)"
        elif status == 429 and "Retry-After" not in response.headers:
            # No rate-limit headers: the reset time is only in the text.
            match = _TRY_AGAIN.search(text)
            retry_after = parse_retry_after(match.group(1), now=self._now()) if match else None
        return base.ErrorReply(text, error=error, retry_after=retry_after)
