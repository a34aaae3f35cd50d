"""What the Graph and Gmail transports share: OAuth bearer tokens and the Bcc header.

Both APIs take the rendered MIME message and read its recipients from the To, Cc and Bcc
headers, so the Bcc recipients (which the rendered message leaves out, as SMTP keeps them in
the envelope only) are put back as a ``Bcc:`` header on the uploaded copy, and only there.
"""

from __future__ import annotations

import abc
import asyncio
import contextvars
import logging
from collections.abc import Coroutine
from datetime import datetime, timezone
from typing import Any, ClassVar, TypeVar
from urllib.parse import quote

import httpx

from mailsdk.auth._cache import CachedTokenProvider, cached
from mailsdk.auth._config import Endpoint, provider_from_url
from mailsdk.auth._token import AccessToken, TokenProvider
from mailsdk.config import ConfigurationError, TransportURL
from mailsdk.errors import MailError, RelayError, TransientError
from mailsdk.mime import OutgoingMessage
from mailsdk.result import SendResult
from mailsdk.transports.http.base import Capabilities, HTTPRequest, HTTPTransport, Payload
from mailsdk.url import OAUTH_URL_OPTIONS

__all__ = ["OAuthHTTPTransport", "RawUploadPayload", "raw_with_bcc"]

log = logging.getLogger("mailsdk")

_T = TypeVar("_T", bound="OAuthHTTPTransport")
_OAuthT = TypeVar("_OAuthT", bound="OAuthHTTPTransport")

# The token of the send in progress: concurrent sends on one transport run in their own
# tasks, so each request is signed with the token its own send fetched.
_current: contextvars.ContextVar[AccessToken | None] = contextvars.ContextVar(
    "mailsdk_oauth_token", default=None
)
# The request built before the token was fetched, reused by the base's send (no second
# render and base64 of a large message).
_built: contextvars.ContextVar[tuple[OutgoingMessage, HTTPRequest] | None] = contextvars.ContextVar(
    "mailsdk_oauth_request", default=None
)
_MAX_LINE = 78


def raw_with_bcc(payload: Payload[Any]) -> bytes:
    """The rendered message, with a ``Bcc:`` header first when the message has Bcc recipients.

    Refuses (MessageError, before any I/O) what the API cannot do with raw MIME: a bounce
    address other than From, and a resend to only some recipients (the API would send to
    every header address again).
    """
    outgoing = payload.outgoing
    message = outgoing.message
    if message.envelope_from is not None and (
        message.envelope_from.envelope != message.sender.envelope
    ):
        payload.unsupported("an envelope_from (bounce) address")
    everyone = {a.envelope.lower() for a in message.recipients()}
    if {r.lower() for r in outgoing.envelope.rcpt_to} != everyone:
        payload.unsupported(
            "a resend to only some recipients (the API sends to every To, Cc and Bcc address)"
        )
    raw = outgoing.raw
    if not message.bcc:
        return raw
    lines: list[str] = []
    line = "Bcc:"
    for i, address in enumerate(message.bcc):
        item = f" {address.envelope}" + ("," if i < len(message.bcc) - 1 else "")
        if len(line) + len(item) > _MAX_LINE and line != "Bcc:":
            lines.append(line)
            line = ""
        line += item
    lines.append(line)
    encoding = "utf-8" if outgoing.envelope.smtputf8 else "ascii"
    return "\r\n".join(lines).encode(encoding) + b"\r\n" + raw


class RawUploadPayload(Payload[_OAuthT]):
    """The rendered message (Bcc header added) as the whole body of a ``POST`` to
    :attr:`path` for the transport's mailbox."""

    takes_raw_mime = True
    path: ClassVar[str]
    """The request path; ``{user}`` is the mailbox, percent-encoded (``@`` kept)."""
    content_type: ClassVar[str]
    """The request's Content-Type."""

    def __init__(self, transport: _OAuthT, outgoing: OutgoingMessage) -> None:
        super().__init__(transport, outgoing)
        self.body = b""

    def set_raw_message(self, raw: bytes) -> None:
        """The request body: :meth:`encode` of the exact rendered message plus its Bcc header."""
        self.body = self.encode(raw_with_bcc(self))

    def set_tracking(self, opens: bool | None, clicks: bool | None) -> None:
        """A mailbox never tracks opens or clicks: asking it not to is honoured as is;
        asking it to is refused."""
        if opens or clicks:
            self.unsupported("open or click tracking (a mailbox API does not track)")

    @abc.abstractmethod
    def encode(self, data: bytes) -> bytes:
        """The request body for the message *data*; refuses one the API cannot take."""

    def build(self) -> HTTPRequest:
        """``POST`` :attr:`path` with the body."""
        return HTTPRequest(
            "POST",
            self.path.format(user=quote(self.transport.user, safe="@")),
            content=self.body,
            headers={"Content-Type": self.content_type},
        )


class OAuthHTTPTransport(HTTPTransport):
    """An HTTP provider transport that authenticates with OAuth bearer tokens.

    The token provider (given here, named in the URL, or shared by the sender) is cached;
    a 401 gets one fresh token and one more try before it counts as a RelayError.
    """

    requires_api_key: ClassVar[bool] = False
    # Both APIs take the rendered message as it is, with no field for tags or metadata.
    capabilities = Capabilities(tags=False, metadata=False, raw_mime=True, dkim=True, calendar=True)
    endpoint: ClassVar[Endpoint]
    default_user: ClassVar[str | None] = None
    """The mailbox when none is given (Gmail: ``"me"``); None: one must be given."""
    user_advice: ClassVar[str]
    """The ConfigurationError's text for a missing or malformed mailbox."""

    def __init__(
        self,
        user: str | None = None,
        *,
        token_provider: TokenProvider | None = None,
        base_url: str | None = None,
        timeout: float = 30.0,
        client: httpx.AsyncClient | None = None,
        name: str | None = None,
        ca_file: str | None = None,
    ) -> None:
        user = self.default_user if user is None else user
        if not user or "/" in user:
            raise ConfigurationError(self.user_advice)
        self.user = user
        super().__init__(
            None,
            base_url=base_url,
            timeout=timeout,
            client=client,
            name=name or f"{self.scheme}://{quote(user, safe='')}",
            ca_file=ca_file,
        )
        self._tokens: CachedTokenProvider | None = (
            cached(token_provider) if token_provider is not None else None
        )

    @classmethod
    def _from_url_for(cls: type[_T], url: TransportURL, user: str) -> _T:
        """The transport for *user*'s mailbox with the URL's options and token provider."""
        url.check_options(("base_url", "timeout", "ca_file", *OAUTH_URL_OPTIONS))
        return cls(
            user,
            token_provider=provider_from_url(url, cls.endpoint),
            base_url=url.option("base_url"),
            timeout=url.number("timeout", 30.0),
            ca_file=url.option("ca_file"),
        )

    def use_token_provider(self, provider: TokenProvider) -> bool:
        """Take the sender's token provider unless this transport has one."""
        if self._tokens is not None:
            return False
        self._tokens = cached(provider)
        return True

    def authenticate(self, request: httpx.Request) -> None:
        """``Authorization: Bearer <access token>``."""
        token = _current.get()
        assert token is not None, "authenticate() runs inside send()"
        request.headers["Authorization"] = f"Bearer {token.value.get_secret_value()}"

    def secrets(self) -> list[str]:
        """The access token of the send in progress."""
        token = _current.get()
        return [token.value.get_secret_value()] if token is not None else []

    async def check_token(self) -> tuple[str, bool]:
        """Fetch a token (nothing is sent): a line for ``mailsdk check`` and whether it worked."""
        if self._tokens is None:
            return "token      : no token provider configured", False
        try:
            token = await self._tokens.token()
        except MailError as exc:
            return f"FAILED     : {exc}", False
        finally:
            await self.aclose()
        left = token.expires_at - datetime.now(timezone.utc)
        minutes = max(0, int(left.total_seconds() // 60))
        return (
            f"token      : OK from {type(self._tokens.provider).__name__}, valid {minutes} min; "
            f"the {self.scheme} API itself is not called",
            True,
        )

    async def send(self, outgoing: OutgoingMessage, *, deadline: float | None = None) -> SendResult:
        """Send with a cached token; after a 401, once more with a fresh one."""
        if self._tokens is None:
            raise ConfigurationError(
                f"{self.name} has no token provider: pass token_provider= to the sender or "
                "the transport, or name one in the URL (tenant_id=, client_id=, ...)",
                relay=self.name,
            )
        # A message the API cannot take is refused before a token is even requested.
        built = _built.set((outgoing, super().build_request(outgoing)))
        try:
            token = await self._bounded(self._tokens.token(), outgoing, deadline)
            try:
                return await self._send_with(outgoing, token, deadline)
            except RelayError as exc:
                if exc.code != 401:
                    raise
            log.info("%s refused the access token (HTTP 401); refreshing it once", self.name)
            fresh = await self._bounded(
                self._tokens.refresh_after_rejection(token), outgoing, deadline
            )
            return await self._send_with(outgoing, fresh, deadline)
        finally:
            _built.reset(built)

    def build_request(self, outgoing: OutgoingMessage) -> HTTPRequest:
        """The request for *outgoing* (built once per send)."""
        ready = _built.get()
        if ready is not None and ready[0] is outgoing:
            return ready[1]
        return super().build_request(outgoing)

    async def _bounded(
        self,
        fetch: Coroutine[Any, Any, AccessToken],
        outgoing: OutgoingMessage,
        deadline: float | None,
    ) -> AccessToken:
        """A token fetch, within the send's deadline (the shared fetch itself goes on)."""
        left = self.timeout
        if deadline is not None:
            left = min(left, deadline - self.clock())
        try:
            return await asyncio.wait_for(fetch, left if left > 0 else 0.001)
        except asyncio.TimeoutError:
            failure = TransientError(
                f"no access token within {max(left, 0):.1f} s (the send's deadline)",
                relay=self.name,
            )
        raise failure

    async def _send_with(
        self, outgoing: OutgoingMessage, token: AccessToken, deadline: float | None
    ) -> SendResult:
        reset = _current.set(token)
        try:
            return await super().send(outgoing, deadline=deadline)
        finally:
            _current.reset(reset)
