"""Shared machinery for provider HTTP APIs: the message walk, one pooled client, error mapping.

A provider file (``sendgrid.py`` is the model) holds a :class:`Payload` subclass, the payload
builder whose hooks the walk calls once per feature (hooks it does not implement refuse the
feature with MessageError before any request: nothing is dropped silently), and an
:class:`HTTPTransport` subclass naming its scheme, base URLs, authentication, the capabilities
it declares and how to read its documented success and error bodies (the response parser:
:meth:`HTTPTransport.parse_success` and :meth:`HTTPTransport.parse_error`, which return data,
never errors). The base owns the rest: building from a URL (with small hooks), the httpx client
(lazy, pooled, remade after fork or under a new loop), timeouts bounded by the send's deadline,
error mapping, per-recipient refusals mapped back to the envelope, the SendResult, and keeping
credentials out of names, reprs, logs, results and errors. No provider needs a private method
of the base.
"""

from __future__ import annotations

import abc
import asyncio
import base64
import hashlib
import logging
import os
import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from importlib import metadata
from typing import Any, ClassVar, Generic, Literal, NoReturn, TypeAlias, TypeVar

import httpx
from pydantic import SecretStr

from mailsdk import errors
from mailsdk._calendar_model import Calendar
from mailsdk.classify import classify_http_status, parse_retry_after
from mailsdk.config import ConfigurationError, TransportURL, relay_name
from mailsdk.message import METADATA_MESSAGE_ID, Address, Attachment
from mailsdk.mime import OutgoingMessage
from mailsdk.result import Attempt, RecipientStatus, SendResult, refusal
from mailsdk.transports.base import Transport

__all__ = [
    "Capabilities",
    "ErrorReply",
    "HTTPRequest",
    "HTTPTransport",
    "JSONPayload",
    "Payload",
    "RecipientKind",
    "SuccessReply",
    "address_object",
    "b64",
    "encode_message_id",
    "response_json",
]

log = logging.getLogger("mailsdk")

RecipientKind = Literal["to", "cc", "bcc"]
TransportT = TypeVar("TransportT", bound="HTTPTransport")

try:
    _USER_AGENT = f"mailsdk/{metadata.version('mailsdk')}"
except metadata.PackageNotFoundError:  # running from a source tree that was never installed
    _USER_AGENT = "mailsdk"
_MAX_SERVER_TEXT = 1000
_MAX_TAG_VALUE = 256  # SES MessageTag and Resend tag values
_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})
# Lost after the request was fully written: the provider may have accepted the message.
_AFTER_SEND = (httpx.ReadTimeout, httpx.ReadError, httpx.RemoteProtocolError, httpx.CloseError)


def encode_message_id(message_id: str) -> str:
    """*message_id* without ``<>`` as unpadded base64url: the characters name/value tags
    allow (``mailsdk.webhooks`` decodes it; a Message-ID always holds ``@``, which base64url
    never does, so the two forms cannot be confused)."""
    raw = message_id.strip().removeprefix("<").removesuffix(">").encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def address_object(address: Address, *, email: str = "email", name: str = "name") -> dict[str, str]:
    """*address* as the JSON object most providers take: ``{"email": ..., "name": ...}``, the
    name left out when there is none (the keys as the provider spells them)."""
    obj = {email: address.envelope}
    if address.name:
        obj[name] = address.name
    return obj


def b64(data: bytes) -> str:
    """Base64 text for JSON bodies (attachments, raw MIME)."""
    return base64.b64encode(data).decode("ascii")


def response_json(response: httpx.Response) -> Any:
    """The response body as JSON, or None when it is empty or not JSON."""
    try:
        return response.json()
    except ValueError:  # JSONDecodeError and UnicodeDecodeError are both ValueErrors
        return None


@dataclass(frozen=True, slots=True)
class HTTPRequest:
    """The request a payload asks for; the base adds base URL, credentials and timeouts.

    ``path`` is joined to the base URL (an absolute URL is used as is). Give ``json``, or
    ``data`` and ``files`` (multipart/form-data when there are files), or raw ``content``
    bytes (with their Content-Type in ``headers``). The body is final when
    :meth:`HTTPTransport.authenticate` sees it, so a provider can sign ``request.content``.
    """

    method: str
    path: str
    json: Any = None
    data: Mapping[str, Any] | None = None
    files: Sequence[tuple[str, tuple[str, bytes, str]]] | None = None
    content: bytes | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    idempotent: bool = False
    """True when the request carries an idempotency key the provider honours: resending after
    a lost reply cannot deliver twice, so a read timeout is transient instead of unknown."""


@dataclass(frozen=True, slots=True)
class SuccessReply:
    """What a provider said when it took the message (from :meth:`HTTPTransport.parse_success`).

    ``refused`` maps the addresses the provider rejected (spelled as the provider spells them:
    the base maps them back to the envelope without regard to case) to ``(status, text)``; the
    other envelope recipients count as accepted. Every recipient refused raises
    RecipientsRefused. ``text`` goes into the Attempt (the base scrubs secrets from it); with
    ``warning`` it is also logged at WARNING, for what the user should hear about.
    """

    provider_id: str | None = None
    refused: Mapping[str, tuple[int, str]] = field(default_factory=dict)
    text: str | None = None
    warning: bool = False


@dataclass(frozen=True, slots=True)
class ErrorReply:
    """The provider's own words for a non-2xx reply (from :meth:`HTTPTransport.parse_error`).

    ``error`` overrides the status-based class (TransientError, PermanentError, RelayError or
    DeliveryUnknown) when the body says more than the status; ``retry_after`` overrides the
    Retry-After header when the provider uses another one. ``refused`` names recipients the
    provider refused the message for (address as the provider spells it -> ``(status,
    text)``): when it is not empty the base raises RecipientsRefused with them, mapped back to
    the envelope. :meth:`HTTPTransport.parse_success` returns one for a 2xx the provider
    documents as a failure (PermanentError unless ``error`` says otherwise).
    """

    text: str
    error: type[errors.MailError] | None = None
    retry_after: float | None = None
    refused: Mapping[str, tuple[int, str]] = field(default_factory=dict)


Limit: TypeAlias = "bool | int"
"""A capability: False (refused with MessageError), True (taken), or the most it takes."""


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a provider can send, declared as data (``docs/providers/index.md`` shows it and a
    test checks that the two agree and that what is declared refused is refused)."""

    text: Limit = True
    html: Limit = True
    cc: Limit = True
    bcc: Limit = True
    reply_to: Limit = True
    custom_headers: Limit = True
    attachments: Limit = True
    inline_images: Limit = True
    tags: Limit = True
    metadata: Limit = True
    raw_mime: bool = False
    idempotency: bool = False
    dkim: bool = False
    """The sender's DKIM signature arrives (only raw-MIME APIs send our signed bytes)."""
    list_unsubscribe: Limit = True
    """List-Unsubscribe and List-Unsubscribe-Post reach the recipient (RFC 2369, RFC 8058)."""
    tracking: Limit = False
    """``track_opens`` and ``track_clicks`` are set per message (else they are refused)."""
    calendar: bool = False
    """A calendar invite (``Message(calendar=...)``) arrives as built: its text/calendar
    alternative and invite.ics attachment travel in the rendered MIME, so raw-MIME APIs only;
    JSON APIs have no field for an alternative part, and a calendar is refused there."""


class Payload(abc.ABC, Generic[TransportT]):
    """Builds one provider request from one message; a fresh one is made for every send.

    The hooks are called in the order below, each only when the message uses the feature
    (``set_from``, ``set_subject`` and ``set_headers`` always: ``headers`` always holds the
    Message-ID, so the id in the SendResult is the one recipients see). Every hook a provider
    does not override refuses the feature. With ``takes_raw_mime = True`` the walk calls only
    ``set_raw_message`` (the rendered MIME carries everything else), then tags, metadata and
    tracking. Metadata holds our Message-ID under ``mailsdk_message_id`` (webhook events map
    back to the message by it) wherever the provider declares metadata.
    """

    takes_raw_mime: ClassVar[bool] = False

    def __init__(self, transport: TransportT, outgoing: OutgoingMessage) -> None:
        self.transport = transport
        self.outgoing = outgoing

    def unsupported(self, feature: str) -> NoReturn:
        """Refuse a feature this provider cannot express (before any request is made)."""
        name = self.transport.name
        raise errors.MessageError(f"{name} cannot send {feature}; nothing was sent", relay=name)

    def idempotency_key(self) -> str:
        """A key that is the same on every retry of this message (derived from its Message-ID)."""
        return hashlib.sha256(self.outgoing.message_id.encode()).hexdigest()

    def set_raw_message(self, raw: bytes) -> None:
        """The whole rendered message (only when ``takes_raw_mime``)."""
        self.unsupported("raw MIME")

    def set_from(self, address: Address) -> None:
        """The From address."""
        self.unsupported("a From address")

    def set_envelope_from(self, address: Address) -> None:
        """A bounce address that differs from From."""
        self.unsupported("an envelope_from (bounce) address")

    def set_recipients(self, kind: RecipientKind, addresses: Sequence[Address]) -> None:
        """To, Cc or Bcc recipients (called once per non-empty kind)."""
        self.unsupported(f"{kind} recipients")

    def set_reply_to(self, addresses: Sequence[Address]) -> None:
        """Reply-To addresses."""
        self.unsupported("reply_to")

    def set_subject(self, subject: str) -> None:
        """The subject, possibly empty."""
        self.unsupported("a subject")

    def set_text(self, text: str) -> None:
        """The text/plain body (called before :meth:`set_html`)."""
        self.unsupported("a text body")

    def set_html(self, html: str) -> None:
        """The text/html body."""
        self.unsupported("an HTML body")

    def set_headers(self, headers: Mapping[str, str]) -> None:
        """Extra headers: Message-ID first, then the message's own headers."""
        self.unsupported("custom headers")

    def add_attachment(self, attachment: Attachment) -> None:
        """One attachment."""
        self.unsupported("attachments")

    def add_inline(self, attachment: Attachment) -> None:
        """One inline image, referenced from the HTML as ``cid:<attachment.cid>``."""
        self.unsupported("inline images")

    def set_calendar(self, calendar: Calendar) -> None:
        """A calendar invite (see :class:`~mailsdk.Calendar`)."""
        self.unsupported(
            "a calendar invite (its text/calendar alternative part); send it over SMTP or a "
            "raw-MIME provider (Mailgun, SES, SparkPost, Graph, Gmail)"
        )

    def set_tags(self, tags: Sequence[str]) -> None:
        """Tags (categories) for the provider's reporting."""
        self.unsupported("tags")

    def set_metadata(self, metadata: Mapping[str, str]) -> None:
        """Key/value metadata the provider echoes in its events (``mailsdk_message_id``
        included: see :meth:`message_id_metadata`)."""
        self.unsupported("metadata")

    def message_id_metadata(self) -> str | None:
        """The value sent as ``mailsdk_message_id``: our Message-ID as it is (providers
        whose metadata takes fewer characters encode it, and the webhook parsers decode it);
        None leaves it out."""
        return self.outgoing.message_id

    def set_tracking(self, opens: bool | None, clicks: bool | None) -> None:
        """Open and click tracking for this message (None: the provider's own setting).

        Called only when the message sets one of them."""
        self.unsupported("per-message open or click tracking (track_opens, track_clicks)")

    @abc.abstractmethod
    def build(self) -> HTTPRequest:
        """The request to send, once every hook has run."""


class JSONPayload(Payload[TransportT]):
    """A payload whose request body is one JSON object, :attr:`data`.

    The subject and the two bodies go where :attr:`fields` says (``"subject"``, ``"text"``,
    ``"html"`` -> the provider's field name), so a provider declares them instead of writing
    three hooks; a part it leaves out of ``fields`` is refused as usual. An empty value is left
    out of the body unless ``send_empty``; ``subject_required`` refuses an empty subject and
    ``max_subject`` a longer one, before any request.
    """

    fields: ClassVar[Mapping[str, str]] = {}
    send_empty: ClassVar[bool] = False
    subject_required: ClassVar[bool] = False
    max_subject: ClassVar[int | None] = None

    def __init__(self, transport: TransportT, outgoing: OutgoingMessage) -> None:
        super().__init__(transport, outgoing)
        self.data: dict[str, Any] = {}

    def set_subject(self, subject: str) -> None:
        """The ``subject`` field."""
        provider = type(self.transport).__name__.removesuffix("Transport")
        if self.subject_required and not subject:
            self.unsupported(f"a message without a subject ({provider} requires one)")
        if self.max_subject is not None and len(subject) > self.max_subject:
            self.unsupported(f"a subject of {len(subject)} characters (at most {self.max_subject})")
        self._put("subject", subject, super().set_subject)

    def set_text(self, text: str) -> None:
        """The ``text`` field."""
        self._put("text", text, super().set_text)

    def set_html(self, html: str) -> None:
        """The ``html`` field."""
        self._put("html", html, super().set_html)

    def _put(self, part: str, value: str, refuse: Callable[[str], None]) -> None:
        name = self.fields.get(part)
        if name is None:
            refuse(value)
        elif value or self.send_empty:
            self.data[name] = value


class NameValueTags:
    """Tags and metadata for providers whose tags are name/value pairs (Resend, SES): a
    plain tag becomes ``{tag: "true"}`` and each metadata item one pair, added by
    :meth:`_tag` (which refuses what the provider cannot take)."""

    def set_tags(self, tags: Sequence[str]) -> None:
        """Each distinct tag as a pair whose value is ``"true"``."""
        for tag in dict.fromkeys(tags):
            self._tag(tag, "true")

    def set_metadata(self, metadata: Mapping[str, str]) -> None:
        """Each key/value pair as a tag, echoed in the provider's events."""
        for key, value in metadata.items():
            self._tag(key, value)

    def _tag(self, name: str, value: str) -> None:
        raise NotImplementedError

    outgoing: OutgoingMessage

    def message_id_metadata(self) -> str | None:
        """Our Message-ID (without ``<>``) in unpadded base64url, the only form tag values
        take (``A-Z a-z 0-9 _ -``); the webhook parsers decode it. None (left out, logged)
        when that passes the 256 characters a tag value may have."""
        value = encode_message_id(self.outgoing.message_id)
        if len(value) > _MAX_TAG_VALUE:
            log.info(
                "Message-ID %s too long for a tag: not sent as metadata", self.outgoing.message_id
            )
            return None
        return value


class DispositionAttachmentsPayload(JSONPayload[TransportT]):
    """A JSON payload whose files go in ``attachments[]`` as ``content`` (base64),
    ``filename``, ``type`` and ``disposition``, with the ``content_id`` of an inline one: the
    shape SendGrid's v3 API and Mailtrap's send API share."""

    def add_attachment(self, attachment: Attachment) -> None:
        """``attachments[]`` with ``disposition: attachment``."""
        self._attach(attachment, disposition="attachment")

    def add_inline(self, attachment: Attachment) -> None:
        """``attachments[]`` with ``disposition: inline`` and its ``content_id``."""
        self._attach(attachment, disposition="inline", content_id=attachment.cid)

    def _attach(self, attachment: Attachment, **extra: str | None) -> None:
        item = {
            "content": b64(attachment.content),
            "filename": attachment.filename,
            "type": attachment.content_type,
        }
        item.update({k: v for k, v in extra.items() if v is not None})
        self.data.setdefault("attachments", []).append(item)


def _check_smtp_options(payload: Payload[Any], outgoing: OutgoingMessage) -> None:
    """Provider APIs take no SMTP envelope parameters: REQUIRETLS and a required DSN request
    are refused (the next relay may be SMTP), an advisory DSN request goes unsent, said in
    the log once per relay, as on an SMTP relay without DSN."""
    message = outgoing.message
    if message.require_tls:
        payload.unsupported("a message that requires REQUIRETLS (RFC 8689; SMTP relays only)")
    if message.dsn is not None and message.dsn.required:
        payload.unsupported("a required DSN request (RFC 3461; SMTP relays only)")
    noted = payload.transport._noted
    if message.dsn is not None and "dsn" not in noted:
        noted.add("dsn")
        log.warning(
            "%s takes no DSN request: %s goes without it (the provider reports bounces "
            "through its own events; as will later messages there; said once per relay)",
            payload.transport.name,
            outgoing.message_id,
        )


class HTTPTransport(Transport):
    """Base for provider transports: owns one pooled ``httpx.AsyncClient`` per transport.

    Subclasses set ``scheme``, ``regions``, ``payload_class`` and ``capabilities``, and override
    the public hooks as needed: :meth:`authenticate` (default ``Authorization: Bearer <key>``),
    :meth:`parse_success`, :meth:`parse_error`, :meth:`secrets`, :meth:`before_send`, and for
    URLs :meth:`credentials_from_url` and :meth:`options_from_url`. A ``client`` passed in is
    used as is: never remade, never closed by :meth:`aclose`; it should not follow redirects.
    """

    scheme: ClassVar[str]
    regions: ClassVar[Mapping[str, str]] = {}
    """Region name (the URL's host, ``default`` first) -> base URL."""
    payload_class: ClassVar[type[Payload[Any]]]
    capabilities: ClassVar[Capabilities] = Capabilities()
    """What this provider can send (the table in ``docs/providers/index.md``)."""
    url_options: ClassVar[tuple[str, ...]] = ()
    """URL query options the provider reads in :meth:`options_from_url`."""
    options_path: ClassVar[tuple[str | int, ...]] = ()
    """Where in the JSON body ``provider_options[scheme]`` is merged (the top level by
    default; Mailjet's message object is ``("Messages", 0)``)."""
    host_keyword: ClassVar[str] = "region"
    """The constructor keyword that the URL's host fills (Mailgun: its sending domain)."""
    url_example: ClassVar[str | None] = None
    """How to write a URL, shown when one lacks credentials (default ``scheme://API_KEY@region``)."""
    rate_limit_reset: ClassVar[str | None] = None
    """A header saying in how many seconds a 429's rate window resets, read when the reply
    has no Retry-After (Brevo's ``x-sib-ratelimit-reset``, Resend's ``ratelimit-reset``)."""
    requires_api_key: ClassVar[bool] = True
    """False when the provider finds credentials elsewhere (SES: botocore's chain)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Read by the sender when dkim= is given: declared once, in the capabilities.
        cls.carries_signature = cls.capabilities.dkim

    def __init__(
        self,
        api_key: str | SecretStr | None = None,
        *,
        region: str = "default",
        base_url: str | None = None,
        timeout: float = 30.0,
        client: httpx.AsyncClient | None = None,
        name: str | None = None,
        ca_file: str | None = None,
    ) -> None:
        self.ca_file = ca_file
        """A private CA to trust (a corporate proxy, a test server); None: the system store."""
        key = SecretStr(api_key) if isinstance(api_key, str) else api_key
        if self.requires_api_key and (key is None or not key.get_secret_value()):
            raise ConfigurationError(f"{self.scheme}: the API key is empty")
        self.api_key: SecretStr | None = key
        if base_url is None:
            if region not in self.regions:
                known = ", ".join(self.regions) or "none"
                raise ConfigurationError(
                    f"{self.scheme}://{region}: unknown region {region!r}; known: {known}"
                )
            base_url = self.regions[region]
        host = httpx.URL(base_url).host
        if not base_url.startswith(("https://", "http://")) or not host:
            raise ConfigurationError(f"{self.scheme}: base_url must be an https:// URL")
        if base_url.startswith("http://") and host not in _LOOPBACK:
            # The key would cross the network in clear text; plain http is for local mocks.
            raise ConfigurationError(f"{self.scheme}: base_url must use https:// for {host}")
        self.region = region
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        default = base_url == self.regions.get(region)
        self.name = name or relay_name(self.scheme, region if default else host)
        self.clock: Callable[[], float] = time.monotonic
        """The clock deadlines are read against (``time.monotonic``; tests inject another)."""
        self._client = client
        self._owns_client = client is None
        self._owner: tuple[int, asyncio.AbstractEventLoop] | None = None
        self.clients_created = 0
        """How many httpx clients this transport has made (for tests and diagnostics)."""
        self.wall_clock: Callable[[], float] = time.time
        """Wall-clock seconds since the epoch, read only to turn a reply's absolute reset time
        (an HTTP-date ``Retry-After``, a quota reset) into seconds to wait; tests replace it."""
        self._noted: set[str] = set()  # what was logged once for this relay ("dsn")

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.wall_clock(), timezone.utc)

    def api_key_value(self) -> str:
        """The API key itself, for :meth:`authenticate` (a provider that requires one has one)."""
        if self.api_key is None:
            raise errors.RelayError(f"{self.scheme}: no API key to send with", relay=self.name)
        return self.api_key.get_secret_value()

    # -- URLs ----------------------------------------------------------------------------

    @classmethod
    def from_url(cls: type[TransportT], url: TransportURL) -> TransportT:
        """``scheme://API_KEY@HOST?base_url=...&timeout=...&ca_file=...`` plus the provider's
        ``url_options``.

        :meth:`credentials_from_url` reads the user and password slots, the host fills the
        ``host_keyword`` argument (a region unless the provider says otherwise), and
        :meth:`options_from_url` reads the provider's own options.
        """
        # The user slot, which TransportURL.display() shows, may hold a key: drop it first.
        safe = replace(url, username=None, password=None)
        safe.check_options(("base_url", "timeout", "ca_file", *cls.url_options))
        kwargs: dict[str, Any] = cls.credentials_from_url(url)
        kwargs[cls.host_keyword] = safe.host or "default"
        kwargs["base_url"] = safe.option("base_url")
        kwargs["timeout"] = safe.number("timeout", 30.0)
        ca_file = safe.option("ca_file")
        if ca_file:
            kwargs["ca_file"] = ca_file
        kwargs.update(cls.options_from_url(safe))
        return cls(**kwargs)

    @classmethod
    def credentials_from_url(cls, url: TransportURL) -> dict[str, Any]:
        """Constructor keywords for the credentials: ``api_key`` from the user slot, or from
        the password slot (``scheme://:API_KEY@region``)."""
        key = url.password or (SecretStr(url.username) if url.username else None)
        if key is None or not key.get_secret_value():
            if not cls.requires_api_key:
                return {}
            example = cls.url_example or f"{cls.scheme}://API_KEY@{next(iter(cls.regions), '')}"
            raise ConfigurationError(f"{cls.scheme}:// URL has no API key; write {example}")
        return {"api_key": key}

    @classmethod
    def options_from_url(cls, url: TransportURL) -> dict[str, Any]:
        """Constructor keywords from the provider's own ``url_options`` (none by default).

        *url* has no credentials in it; what is returned overrides the base's keywords.
        """
        return {}

    # -- provider hooks ------------------------------------------------------------------

    def authenticate(self, request: httpx.Request) -> None:
        """Add credentials to the built request (body final, so it can be signed)."""
        request.headers["Authorization"] = f"Bearer {self.api_key_value()}"

    async def before_send(self, outgoing: OutgoingMessage) -> None:
        """Called once the message was walked without error and before the request is made
        (SES looks its credentials up here, off the event loop)."""

    def parse_success(
        self, response: httpx.Response, outgoing: OutgoingMessage
    ) -> SuccessReply | ErrorReply:
        """Read the provider's id and any per-recipient refusals from a 2xx reply.

        Return an :class:`ErrorReply` for a 2xx the provider documents as a failure.
        """
        return SuccessReply()

    def parse_error(self, response: httpx.Response) -> ErrorReply:
        """Read the provider's documented error body (default: the body as text)."""
        return ErrorReply(response.text)

    def secrets(self) -> list[str]:
        """Every secret value, scrubbed from any text that reaches a result, error or log."""
        return [self.api_key.get_secret_value()] if self.api_key is not None else []

    def redact(self, text: str) -> str:
        """*text* with every value of :meth:`secrets` replaced by ``***``."""
        for secret in self.secrets():
            if secret:
                text = text.replace(secret, "***")
        return text

    # -- the walk ------------------------------------------------------------------------

    def build_request(self, outgoing: OutgoingMessage) -> HTTPRequest:
        """Walk the message once, calling the payload's hooks; no I/O happens here."""
        message = outgoing.message
        payload = self.payload_class(self, outgoing)
        _check_smtp_options(payload, outgoing)
        if payload.takes_raw_mime:
            payload.set_raw_message(outgoing.raw)
        else:
            payload.set_from(message.sender)
            bounce = message.envelope_from
            if bounce is not None and bounce.envelope != message.sender.envelope:
                payload.set_envelope_from(bounce)
            # A failover retry of deferred recipients sends a restricted envelope: only those
            # recipients may get the message again, never the ones already accepted.
            wanted = {r.lower() for r in outgoing.envelope.rcpt_to}
            everyone: dict[RecipientKind, list[Address]] = {
                "to": message.to,
                "cc": message.cc,
                "bcc": message.bcc,
            }
            kinds = {
                kind: [a for a in addrs if a.envelope.lower() in wanted]
                for kind, addrs in everyone.items()
            }
            for kind, addresses in kinds.items():
                if addresses:
                    payload.set_recipients(kind, addresses)
            if message.reply_to:
                payload.set_reply_to(message.reply_to)
            payload.set_subject(message.subject)
            if message.text is not None:
                payload.set_text(message.text)
            if message.html is not None:
                payload.set_html(message.html)
            headers = {"Message-ID": outgoing.message_id}
            headers.update((k, v) for k, v in message.headers.items() if k.lower() != "message-id")
            headers.update(message.list_headers(folded=False))
            payload.set_headers(headers)
            for attachment in message.attachments:
                (payload.add_inline if attachment.inline else payload.add_attachment)(attachment)
            if message.calendar is not None:
                payload.set_calendar(message.calendar)
        if message.tags:
            payload.set_tags(message.tags)
        metadata = dict(message.metadata)
        if self.capabilities.metadata is not False:
            our_id = payload.message_id_metadata()
            if our_id is not None:
                metadata[METADATA_MESSAGE_ID] = our_id
        if metadata:
            payload.set_metadata(metadata)
        if message.track_opens is not None or message.track_clicks is not None:
            payload.set_tracking(message.track_opens, message.track_clicks)
        request = payload.build()
        options = message.provider_options.get(self.scheme)
        return self._with_options(request, options) if options else request

    def _with_options(self, request: HTTPRequest, options: Mapping[str, Any]) -> HTTPRequest:
        # The escape hatch: the message's own fields for this provider, merged into the body
        # last so that they win (objects merge key by key; anything else is replaced).
        if isinstance(request.json, dict):
            body = request.json
            target: Any = body
            for step in self.options_path:
                target = target[step]
            _merge(target, options)
            return replace(request, json=body)
        if request.data is not None and request.content is None:
            fields = dict(request.data)
            for key, value in options.items():
                if not (
                    isinstance(value, str)
                    or (isinstance(value, list) and all(isinstance(v, str) for v in value))
                ):
                    raise errors.MessageError(
                        f"{self.name}: provider option {key!r} must be text or a list of text "
                        "(form fields); nothing was sent",
                        relay=self.name,
                    )
                fields[key] = value
            return replace(request, data=fields)
        raise errors.MessageError(
            f"{self.name} cannot send provider_options (its request is not JSON or form "
            "fields); nothing was sent",
            relay=self.name,
        )

    # -- sending -------------------------------------------------------------------------

    def _http(self) -> httpx.AsyncClient:
        if not self._owns_client:
            assert self._client is not None
            return self._client
        owner = (os.getpid(), asyncio.get_running_loop())
        if self._client is None or self._owner != owner:
            # After fork(), or under a new event loop, the old client's sockets belong to
            # someone else: forget it without touching it (closing would use them).
            self._client = httpx.AsyncClient(
                http1=True,
                http2=False,
                timeout=self._timeouts(None),
                follow_redirects=False,  # a redirect would resend the key to another host
                headers={"User-Agent": _USER_AGENT},
                verify=ssl.create_default_context(cafile=self.ca_file) if self.ca_file else True,
            )
            self._owner = owner
            self.clients_created += 1
        return self._client

    def _timeouts(self, deadline: float | None) -> httpx.Timeout:
        total = self.timeout
        if deadline is not None:
            left = deadline - self.clock()
            if left <= 0:
                raise errors.TransientError(
                    "the send's deadline passed before this relay", relay=self.name
                )
            total = min(total, left)
        # Connecting gets a shorter budget: a dead host should fail over fast.
        return httpx.Timeout(total, connect=min(total, 10.0))

    async def send(self, outgoing: OutgoingMessage, *, deadline: float | None = None) -> SendResult:
        """Send one message; errors follow the classification table (DESIGN.md decision 4).

        *deadline* is a :attr:`clock` (``time.monotonic()``) value after which the send must
        have ended: every timeout of the request is bounded by what is left, and a deadline
        already passed raises TransientError before any request.
        """
        spec = self.build_request(outgoing)  # MessageError here costs no I/O
        self._timeouts(deadline)  # a passed deadline costs no I/O either
        await self.before_send(outgoing)
        client = self._http()
        url = spec.path if "://" in spec.path else self.base_url + spec.path
        request = client.build_request(
            spec.method,
            url,
            json=spec.json,
            data=spec.data,
            files=spec.files,
            content=spec.content,
            headers=dict(spec.headers),
            timeout=self._timeouts(deadline),  # ours, even on an injected client
        )
        self.authenticate(request)
        start = time.perf_counter()
        await outgoing.handing_over()
        response = await self._exchange(client, request, idempotent=spec.idempotent)
        duration = time.perf_counter() - start
        if not response.is_success:
            log.debug("%s answered HTTP %d", self.name, response.status_code)
            raise self._status_error(response, outgoing, self._read_error(response))
        return self._result(outgoing, response, duration)

    async def _exchange(
        self, client: httpx.AsyncClient, request: httpx.Request, *, idempotent: bool
    ) -> httpx.Response:
        try:
            return await client.send(request)
        except httpx.RequestError as exc:
            failure = self._network_error(exc, idempotent=idempotent)
        # Raised outside the except block so that the httpx error, whose request carries the
        # credentials, is not chained onto ours as its __context__.
        raise failure

    def _network_error(self, exc: httpx.RequestError, *, idempotent: bool) -> errors.MailError:
        what = f"{type(exc).__name__}: {self.redact(str(exc)) or 'no detail'}"
        if isinstance(exc, _AFTER_SEND) and not idempotent:
            return errors.DeliveryUnknown(
                f"connection lost after the request was sent ({what}); "
                "the message may have been delivered",
                relay=self.name,
            )
        if isinstance(exc, httpx.ConnectError) and _caused_by(exc, ssl.SSLCertVerificationError):
            return errors.RelayError(f"TLS certificate not trusted ({what})", relay=self.name)
        return errors.TransientError(f"request failed ({what})", relay=self.name)

    def _read_error(self, response: httpx.Response) -> ErrorReply:
        try:
            return self.parse_error(response)
        except Exception:  # an undocumented body must not hide the status itself
            return ErrorReply(response.text)

    def _status_error(
        self, response: httpx.Response, outgoing: OutgoingMessage, reply: ErrorReply
    ) -> errors.MailError:
        status = response.status_code
        if reply.refused:
            return errors.RecipientsRefused(
                self._refusals(reply.refused, outgoing), relay=self.name
            )
        cls = reply.error or (errors.PermanentError if response.is_success else None)
        cls = cls or classify_http_status(status)
        text = self.redact(" ".join(reply.text.split()))[:_MAX_SERVER_TEXT] or None
        message = f"HTTP {status} {response.reason_phrase}".rstrip()
        if response.is_success:
            message += " (a reply the provider documents as a failure)"
        if issubclass(cls, errors.TransientError):
            retry_after = reply.retry_after
            if retry_after is None:
                retry_after = parse_retry_after(
                    response.headers.get("Retry-After"), now=self._now()
                )
            if retry_after is None and status == 429 and self.rate_limit_reset:
                retry_after = _seconds(response.headers.get(self.rate_limit_reset))
            return cls(
                message, retry_after=retry_after, relay=self.name, code=status, server_text=text
            )
        return cls(message, relay=self.name, code=status, server_text=text)

    def _refusals(
        self, reported: Mapping[str, tuple[int, str]], outgoing: OutgoingMessage
    ) -> dict[str, RecipientStatus]:
        # Providers lowercase or re-spell the addresses they report; the failover layer
        # matches refusals to the envelope exactly, so each is named as the envelope names it.
        envelope = {r.lower(): r for r in outgoing.envelope.rcpt_to}
        named = ((envelope.get(a.lower(), a), pair) for a, pair in reported.items())
        return {a: refusal(a, code, self.redact(text)) for a, (code, text) in named}

    def _result(
        self, outgoing: OutgoingMessage, response: httpx.Response, duration: float
    ) -> SendResult:
        try:
            reply = self.parse_success(response, outgoing)
        except errors.MailError:
            raise
        except Exception:
            # The provider said 2xx: it has the message. Failing now would invite a resend.
            log.warning(
                "%s accepted %s but its reply could not be read",
                self.name,
                outgoing.message_id,
                exc_info=True,
            )
            reply = SuccessReply()
        if isinstance(reply, ErrorReply):
            raise self._status_error(response, outgoing, reply)
        refused = self._refusals(reply.refused, outgoing)
        gone = {addr.lower() for addr in refused}
        accepted = [r for r in outgoing.envelope.rcpt_to if r.lower() not in gone]
        if refused and not accepted:
            raise errors.RecipientsRefused(refused, relay=self.name)
        text = self.redact(reply.text or response.reason_phrase)
        if reply.warning:
            log.warning("%s: %s (message %s)", self.name, text, outgoing.message_id)
        log.info(
            "delivered %s via %s in %.0f ms (HTTP %d, id %s)",
            outgoing.message_id,
            self.name,
            duration * 1000,
            response.status_code,
            reply.provider_id,
        )
        return SendResult(
            message_id=outgoing.message_id,
            relay=self.name,
            accepted=accepted,
            refused=refused,
            provider_id=reply.provider_id,
            attempts=[
                Attempt(
                    self.name,
                    "delivered",
                    code=response.status_code,
                    text=text,
                    duration=duration,
                )
            ],
        )

    async def aclose(self) -> None:
        """Close the client this transport made (an injected client is left to its owner)."""
        client, owner = self._client, self._owner
        if not self._owns_client or client is None:
            return
        self._client = self._owner = None
        if owner == (os.getpid(), asyncio.get_running_loop()):
            await client.aclose()


def _merge(target: dict[str, Any], options: Mapping[str, Any]) -> None:
    for key, value in options.items():
        current = target.get(key)
        if isinstance(current, dict) and isinstance(value, Mapping):
            _merge(current, value)
        else:
            target[key] = _copy(value)


def _copy(value: Any) -> Any:
    # The message's options must not be changed by a later merge into the built body.
    if isinstance(value, Mapping):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _seconds(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:  # chains can loop
        if isinstance(current, kind):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False
