"""SMTP relay transport over aiosmtplib: TLS policy, AUTH, a connection pool, per-recipient results.

Policy lives here; reply classification is a pure function in :mod:`mailsdk.classify`. The
envelope always comes from the validated :class:`~mailsdk.Message`, never from headers.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import math
import os
import re
import socket
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal, NoReturn, cast

import aiosmtplib
from pydantic import SecretStr

from mailsdk.auth._cache import CachedTokenProvider, cached
from mailsdk.auth._config import provider_from_url
from mailsdk.auth._hints import auth_hint
from mailsdk.auth._token import AccessToken, TokenProvider
from mailsdk.auth._xoauth2 import XOAuth2Refused, xoauth2_exchange
from mailsdk.classify import SMTPPhase, classify_smtp_reply, split_enhanced_code
from mailsdk.config import ConfigurationError, TransportURL, relay_name
from mailsdk.dsn import DSN
from mailsdk.errors import (
    DeliveryUnknown,
    MailError,
    MessageError,
    PermanentError,
    RecipientsRefused,
    RelayError,
    TransientError,
)
from mailsdk.message import Message
from mailsdk.mime import OutgoingMessage
from mailsdk.result import Attempt, RecipientStatus, SendResult, refusal
from mailsdk.transports._smtp_wire import Reply, Wire, WireLost, WireTimeout
from mailsdk.transports.base import Transport, time_left
from mailsdk.transports.smtp_probe import SMTPProbeReport, run_probe
from mailsdk.url import OAUTH_URL_OPTIONS

__all__ = ["SMTPTransport", "TLSMode"]

log = logging.getLogger("mailsdk")

TLSMode = Literal["starttls", "implicit", "none"]
AuthMechanism = Literal["plain", "login", "xoauth2"]
TokenSource = str | SecretStr | Callable[[], str | Awaitable[str]]

# Postfix says "queued as 4XyZ", Exchange and others "id=…" or "<id> Queued mail for delivery".
_QUEUE_ID = re.compile(r"(?:queued as|id=)\s*<?([A-Za-z0-9._@-]{4,})>?", re.IGNORECASE)
_DOT_AT_LINE_START = re.compile(rb"(?m)^\.")
_ONE_WRITE = 256 * 1024
_URL_OPTIONS = (
    "tls",
    "ca_file",
    "timeout",
    "allow_insecure_auth",
    "auth",
    "local_hostname",
    "max_connections",
    "max_messages",
    "max_recipients",
    *OAUTH_URL_OPTIONS,
)


@lru_cache(maxsize=1)
def _default_local_hostname() -> str:
    name = socket.getfqdn()
    return name if name and "." in name else "localhost"


@dataclass
class _Connection:
    wire: Wire
    extensions: dict[str, str]
    created: float = field(default_factory=time.monotonic)
    last_used: float = field(default_factory=time.monotonic)
    sent: int = 0
    timeout: float = 30.0

    @property
    def pipelining(self) -> bool:
        return "pipelining" in self.extensions

    def offers(self, extension: str) -> bool:
        return extension in self.extensions


@dataclass
class _Outcome:
    accepted: list[str] = field(default_factory=list)
    refused: dict[str, RecipientStatus] = field(default_factory=dict)
    reply: tuple[int, str] | None = None


class SMTPTransport(Transport):
    """Sends through one SMTP relay, reusing a small pool of authenticated connections.

    Args:
        host, port: the relay. Port defaults to 587 (``tls="starttls"``), 465 (``"implicit"``)
            or 25 (``"none"``).
        username, password: AUTH credentials. ``password`` is kept as a SecretStr.
        oauth_token: for XOAUTH2, a token or a callable (sync or async) returning a fresh one.
        token_provider: for XOAUTH2, a :class:`~mailsdk.auth.TokenProvider` (Microsoft,
            Google or your own). Its tokens are cached for every connection, and a token the
            relay refuses is refreshed once and tried on a new connection.
        tls: ``"starttls"`` (required: a relay that does not offer it is refused),
            ``"implicit"`` (TLS from the first byte, as on 465) or ``"none"`` (local relays).
        ca_file / tls_context: trust a private CA, or bring a whole SSLContext.
        allow_insecure_auth: permit AUTH without TLS (``tls="none"``); off by default.
        auth: force a mechanism; by default XOAUTH2 with a token, else PLAIN, else LOGIN.
        timeout: seconds for connecting and for each command.
        data_timeout: seconds to wait for the reply after the final dot (RFC 5321 4.5.3.2.6
            suggests 10 minutes): losing the connection then is :class:`DeliveryUnknown`.
        max_connections: connections kept to this relay at once.
        max_messages: messages sent on one connection before it is replaced.
        max_recipients: recipients per mail transaction; more go in further transactions
            on the same connection. A relay's own lower limit is learned from its first
            "452 too many recipients" and used from then on.
        idle_timeout: seconds an idle connection is kept; older ones are replaced.
        noop_after: seconds of idleness after which a pooled connection is checked with NOOP.
    """

    def __init__(
        self,
        host: str,
        port: int | None = None,
        *,
        username: str | None = None,
        password: str | SecretStr | None = None,
        oauth_token: TokenSource | None = None,
        token_provider: TokenProvider | None = None,
        tls: TLSMode = "starttls",
        ca_file: str | None = None,
        tls_context: ssl.SSLContext | None = None,
        allow_insecure_auth: bool = False,
        auth: AuthMechanism | None = None,
        timeout: float = 30.0,
        data_timeout: float = 600.0,
        local_hostname: str | None = None,
        max_connections: int = 4,
        max_messages: int = 100,
        max_recipients: int = 1000,
        idle_timeout: float = 60.0,
        noop_after: float = 5.0,
        name: str | None = None,
    ) -> None:
        if tls not in ("starttls", "implicit", "none"):
            raise ConfigurationError(f"tls must be starttls, implicit or none, not {tls!r}")
        if auth not in (None, "plain", "login", "xoauth2"):
            raise ConfigurationError(f"auth must be plain, login or xoauth2, not {auth!r}")
        self.host = host
        self.port = port or {"starttls": 587, "implicit": 465, "none": 25}[tls]
        self.tls: TLSMode = tls
        self.username = username
        self._password = SecretStr(password) if isinstance(password, str) else password
        # A token given as text is held as a SecretStr, like the password, so that no repr,
        # vars() or traceback local shows it; a callable is a provider, asked per AUTH.
        self._oauth_token: SecretStr | Callable[[], str | Awaitable[str]] | None = (
            SecretStr(oauth_token) if isinstance(oauth_token, str) else oauth_token
        )
        self.auth: AuthMechanism | None = auth
        if auth == "xoauth2" and oauth_token is None and self._password is not None:
            # smtp://user:TOKEN@host?auth=xoauth2: the URL's password slot carries the token.
            self._oauth_token, self._password = self._password, None
        self._tokens: CachedTokenProvider | None = (
            cached(token_provider) if token_provider is not None else None
        )
        has_credentials = (
            self._password is not None or self._oauth_token is not None or self._tokens is not None
        )
        if auth == "xoauth2" and not username:
            raise ConfigurationError("AUTH XOAUTH2 needs a username (the mailbox to send as)")
        if has_credentials and not username:
            raise ConfigurationError("AUTH credentials need a username")
        if has_credentials and tls == "none" and not allow_insecure_auth:
            raise ConfigurationError(
                "refusing AUTH without TLS: use STARTTLS or implicit TLS, or set "
                "allow_insecure_auth=true for a trusted local relay"
            )
        self.allow_insecure_auth = allow_insecure_auth
        self.timeout = timeout
        self.data_timeout = max(data_timeout, timeout)
        self.local_hostname = local_hostname
        self.max_connections = max(1, max_connections)
        self.max_messages = max(1, max_messages)
        self.max_recipients = max(1, max_recipients)
        self._rcpt_limit: int | None = None
        # What this relay cannot carry is logged once, not once per message of a merge.
        self._noted: set[str] = set()
        self.idle_timeout = idle_timeout
        self.noop_after = noop_after
        if tls_context is None and tls != "none":
            tls_context = ssl.create_default_context(cafile=ca_file)
        self._tls_context = tls_context
        scheme = "smtps" if tls == "implicit" else "smtp"
        self.name = name or relay_name(scheme, host, self.port, user=username)
        self._idle: list[_Connection] = []
        self._slots: asyncio.Semaphore | None = None
        self._owner: tuple[int, asyncio.AbstractEventLoop] | None = None
        self._closing: set[asyncio.Task[None]] = set()
        self.connections_opened = 0
        """How many connections this transport has opened (for tests and diagnostics)."""

    @classmethod
    def from_url(cls, url: TransportURL) -> SMTPTransport:
        """``smtp://[user[:pass]@]host[:port][?tls=…&ca_file=…&timeout=…&auth=…]``, or
        ``smtps://…`` for implicit TLS (port 465)."""
        url.check_options(_URL_OPTIONS)
        if not url.host:
            raise ConfigurationError(f"{url.display()}: no host")
        default_tls: TLSMode = "implicit" if url.scheme == "smtps" else "starttls"
        tls = url.option("tls", default_tls)
        if tls not in ("starttls", "implicit", "none"):
            raise ConfigurationError(
                f"{url.display()}: tls={tls!r}; use starttls, implicit or none"
            )
        auth = url.option("auth")
        if auth is not None and auth not in ("plain", "login", "xoauth2"):
            raise ConfigurationError(f"{url.display()}: auth={auth!r}; use plain, login or xoauth2")
        # ?oauth=microsoft|google…: the password slot holds the OAuth client secret or
        # refresh token, from which the provider makes access tokens.
        provider = provider_from_url(url, "smtp")
        if provider is not None:
            auth = "xoauth2"
        return cls(
            url.host,
            url.port,
            username=url.username,
            password=url.password if provider is None else None,
            token_provider=provider,
            tls=tls,  # type: ignore[arg-type]
            ca_file=url.option("ca_file"),
            allow_insecure_auth=url.flag("allow_insecure_auth"),
            auth=auth,  # type: ignore[arg-type]
            timeout=url.number("timeout", 30.0),
            local_hostname=url.option("local_hostname"),
            max_connections=int(url.number("max_connections", 4)),
            max_messages=int(url.number("max_messages", 100)),
            max_recipients=int(url.number("max_recipients", 1000)),
        )

    def use_token_provider(self, provider: TokenProvider) -> bool:
        """Take the sender's token provider when this relay uses XOAUTH2 and has no token
        source of its own; return whether it was taken."""
        if self.auth != "xoauth2" or self._oauth_token is not None or self._tokens is not None:
            return False
        self._tokens = cached(provider)
        return True

    # -- pool ----------------------------------------------------------------------------

    def _pool_slots(self) -> asyncio.Semaphore:
        owner = (os.getpid(), asyncio.get_running_loop())
        if self._owner != owner or self._slots is None:
            # After fork(), or under a new event loop, the old sockets and the semaphore
            # belong to someone else: forget them without touching them.
            self._idle = []
            self._slots = asyncio.Semaphore(self.max_connections)
            self._owner = owner
        return self._slots

    async def _checkout(self, timeout: float, deadline: float | None) -> tuple[_Connection, bool]:
        now = time.monotonic()
        while self._idle:
            conn = self._idle.pop()
            if not conn.wire.is_open or now - conn.last_used > self.idle_timeout:
                await self._discard(conn, polite=True)
                continue
            conn.wire.deadline = _loop_deadline(deadline)
            if now - conn.last_used > self.noop_after:
                try:
                    reply = await conn.wire.command(b"NOOP", min(timeout, 10.0))
                except (WireLost, WireTimeout):
                    reply = None
                if reply is None or reply.code != 250:
                    await self._discard(conn)
                    continue
            return conn, True
        return await self._open_for(timeout, deadline), False

    async def _open_for(self, timeout: float, deadline: float | None) -> _Connection:
        conn = await self._open(timeout, _budget(deadline))
        conn.wire.deadline = _loop_deadline(deadline)
        return conn

    def _checkin(self, conn: _Connection) -> None:
        conn.last_used = time.monotonic()
        conn.wire.deadline = None
        if conn.wire.is_open and conn.sent < self.max_messages:
            self._idle.append(conn)
        else:
            task = asyncio.get_running_loop().create_task(self._discard(conn, polite=True))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    async def _discard(self, conn: _Connection, polite: bool = False) -> None:
        if polite and conn.wire.is_open:
            with contextlib.suppress(WireLost, WireTimeout):
                await conn.wire.command(b"QUIT", 2.0)
        conn.wire.close()

    async def aclose(self) -> None:
        """QUIT and close every pooled connection."""
        idle, self._idle = self._idle, []
        if self._owner is not None and self._owner[0] != os.getpid():
            return
        for conn in idle:
            await self._discard(conn, polite=True)
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)

    # -- connecting ----------------------------------------------------------------------

    def _fail(
        self,
        cls: type[MailError],
        text: str,
        *,
        code: int | None = None,
        reply: str | None = None,
    ) -> NoReturn:
        raise self._error(cls, text, code=code, reply=reply)

    async def _open(self, timeout: float, budget: float | None = None) -> _Connection:
        """A new authenticated session; every failure of it is one of our errors.

        *budget* (the send's time left) bounds the whole handshake, however slowly the relay
        answers; *timeout* bounds each of its steps. An access token the relay refuses is
        replaced once, and the session opened again on a new connection.
        """
        try:
            return await self._open_once(timeout, budget, None)
        except XOAuth2Refused as refused:
            if self._tokens is None or not refused.may_refresh:
                raise refused.error from None
            # The token may have been revoked or its permissions changed since it was cached:
            # one fresh token, on a new connection, before the relay counts as failed.
            log.info("%s refused the access token; refreshing it once", self.name)
            fresh = await self._tokens.refresh_after_rejection(refused.token)
        try:
            return await self._open_once(timeout, budget, fresh)
        except XOAuth2Refused as again:
            raise again.error from None

    async def _open_once(
        self, timeout: float, budget: float | None, token: AccessToken | None
    ) -> _Connection:
        smtp = aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            use_tls=self.tls == "implicit",
            start_tls=False,
            tls_context=self._tls_context if self.tls == "implicit" else None,
            timeout=timeout,
            local_hostname=self.local_hostname or _default_local_hostname(),
        )
        try:
            await self._handshake(smtp, budget, token)
            transport = smtp.transport
            if transport is None:
                self._fail(TransientError, "connection lost during the handshake")
            wire = Wire(cast(asyncio.Transport, transport))
        except BaseException:
            smtp.close()
            raise
        self.connections_opened += 1
        return _Connection(wire, dict(smtp.esmtp_extensions), timeout=timeout)

    def _error(
        self,
        cls: type[MailError],
        text: str,
        *,
        code: int | None = None,
        reply: str | None = None,
    ) -> MailError:
        enhanced, server_text = split_enhanced_code(reply) if reply is not None else (None, None)
        return cls(
            text, relay=self.name, code=code, enhanced_code=enhanced, server_text=server_text
        )

    def _handshake_error(self, exc: Exception, step: _Step, *, deadline: bool) -> MailError:
        """Our error for *exc*, raised by the handshake during *phase*, with a chain that
        holds no frame: only a copy of the cause's type and text."""
        error = self._classify_handshake(exc, step, deadline=deadline)
        if error is not exc:
            error.__cause__ = _Cause(f"{type(exc).__name__}: {exc}")
        error.__context__ = None
        error.__traceback__ = None
        return error

    def _classify_handshake(self, exc: Exception, step: _Step, *, deadline: bool) -> MailError:
        if isinstance(exc, MailError):
            return exc
        phase, mechanism = step.phase, step.mechanism
        where = _PHASE_TEXT[phase]
        if isinstance(exc, aiosmtplib.SMTPResponseException) and exc.code >= 0:
            smtp_phase = _SMTP_PHASE[phase]
            cls = classify_smtp_reply(exc.code, smtp_phase)
            if phase == "auth":
                # The server's text is kept; aiosmtplib never puts the credentials in it.
                text = f"AUTH {mechanism} failed for user {self.username!r}"
            else:
                text = f"{where} refused"
            error = self._error(cls, text, code=exc.code, reply=exc.message)
            if phase == "auth":
                error.hint = auth_hint(
                    exc.code,
                    error.enhanced_code,
                    error.server_text or "",
                    host=self.host,
                    mechanism=mechanism.lower(),
                )
            return error
        if isinstance(exc, aiosmtplib.SMTPResponseException):
            # aiosmtplib's code -1: a reply that is not SMTP, or longer than it accepts.
            return self._error(
                TransientError,
                f"the relay broke the protocol during {where}: {exc.message.strip()}",
            )
        if isinstance(exc, (asyncio.TimeoutError, TimeoutError)) and not isinstance(
            exc, aiosmtplib.SMTPException
        ):
            # Only asyncio.wait_for's own timeout gets here: the send's deadline.
            what = "the send's deadline" if deadline else "a timeout"
            return self._error(TransientError, f"{what} passed during {where}")
        if isinstance(exc, aiosmtplib.SMTPTimeoutError):
            hint = ""
            if phase == "connect" and self.tls != "implicit":
                hint = (
                    "; if this port expects TLS from the first byte (implicit TLS, as 465 "
                    "usually does), use smtps:// (tls=implicit)"
                )
            elif phase == "connect":
                hint = (
                    "; if this port speaks plain SMTP first (STARTTLS, as 587 usually does), "
                    "use smtp://"
                )
            what = "connecting or waiting for the greeting" if phase == "connect" else f"in {where}"
            return self._error(TransientError, f"timed out {what}{hint}")
        ssl_error = _ssl_cause(exc)
        if ssl_error is not None:
            return self._tls_error(ssl_error)
        if isinstance(exc, (aiosmtplib.SMTPConnectError, OSError)) and phase == "connect":
            return self._error(TransientError, f"cannot connect: {exc}")
        if isinstance(exc, (aiosmtplib.SMTPException, OSError, EOFError)):
            return self._error(TransientError, f"connection lost during {where}: {exc}")
        return self._error(
            TransientError,
            f"the relay broke the protocol during {where}: {type(exc).__name__}: {exc}",
        )

    def _tls_error(self, cause: ssl.SSLError) -> MailError:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return self._error(
                RelayError,
                f"TLS certificate verification failed: {cause.verify_message}; "
                "pass ca_file= to trust a private CA",
            )
        reason = cause.reason or str(cause)
        hint = ""
        if self.tls == "implicit":
            hint = "; the relay may speak plain SMTP on this port: use smtp:// (STARTTLS)"
        return self._error(RelayError, f"TLS handshake failed: {reason}{hint}")

    async def _handshake(
        self, smtp: aiosmtplib.SMTP, budget: float | None = None, token: AccessToken | None = None
    ) -> None:
        """Connect, EHLO, STARTTLS, EHLO and AUTH on *smtp*, within *budget* seconds if
        given; every failure is one of our errors (``mailsdk check`` uses this too). *token*:
        the access token to use instead of the cached one (after a refusal)."""
        step = _Step()
        step.token = token
        failure: MailError | None = None
        try:
            await asyncio.wait_for(self._handshake_steps(smtp, step), budget)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # every failure of the handshake becomes one of ours
            failure = self._handshake_error(exc, step, deadline=budget is not None)
        if failure is not None:
            # Raised outside the except block, so no aiosmtplib frame (whose locals hold the
            # password or token during AUTH) stays reachable from the error.
            raise failure

    async def _handshake_steps(self, smtp: aiosmtplib.SMTP, step: _Step) -> None:
        await smtp.connect()
        step.phase = "ehlo"
        await self._ehlo(smtp)
        if self.tls == "starttls":
            if not smtp.supports_extension("starttls"):
                self._fail(
                    RelayError,
                    "relay does not offer STARTTLS; nothing was sent. Use tls=none only for a "
                    "trusted local relay",
                )
            step.phase = "starttls"
            await smtp.starttls(tls_context=self._tls_context)
            step.phase = "ehlo_tls"
            await self._ehlo(smtp)
        step.phase = "auth"
        await self._authenticate(smtp, step)

    async def _ehlo(self, smtp: aiosmtplib.SMTP) -> None:
        try:
            await smtp.ehlo()
        except aiosmtplib.SMTPHeloError as exc:
            if exc.code < 0:
                raise
            await smtp.helo()

    async def _authenticate(self, smtp: aiosmtplib.SMTP, step: _Step) -> None:
        if self._password is None and self._oauth_token is None and self._tokens is None:
            if self.auth == "xoauth2":
                self._fail(
                    ConfigurationError,
                    "auth=xoauth2 needs a token: pass token_provider= to the sender or the "
                    "transport, or name one in the URL (oauth=microsoft or oauth=google)",
                )
            return
        assert self.username is not None
        offered = [m.lower() for m in smtp.server_auth_methods]
        if not smtp.supports_extension("auth"):
            self._fail(RelayError, "relay does not offer AUTH; check the port and TLS mode")
        mechanism = self.auth
        if mechanism is None:
            if self._oauth_token is not None or self._tokens is not None:
                mechanism = "xoauth2"
            elif "plain" in offered or not offered:
                mechanism = "plain"
            else:
                mechanism = "login"
        if offered and mechanism not in offered:
            self._fail(
                RelayError,
                f"relay does not offer AUTH {mechanism.upper()} (offers {', '.join(offered)})",
            )
        step.mechanism = mechanism.upper()
        # The secret is passed straight through, never bound to a local name of ours, so no
        # frame of this module holds it.
        if mechanism == "xoauth2" and self._tokens is not None:
            # Our own exchange: it reads the error challenge, and a refusal comes back as
            # XOAuth2Refused so that _open can try once more with a fresh token.
            token = step.token or await _bounded_token(self._tokens, smtp.timeout)
            await xoauth2_exchange(smtp, self.username, token, relay=self.name, host=self.host)
        elif mechanism == "xoauth2":
            await smtp.auth_xoauth2(self.username, await self._current_token())
        elif mechanism == "login":
            assert self._password is not None
            await smtp.auth_login(self.username, self._password.get_secret_value())
        else:
            assert self._password is not None
            await smtp.auth_plain(self.username, self._password.get_secret_value())

    async def _current_token(self) -> str:
        source = self._oauth_token
        if isinstance(source, SecretStr):
            return source.get_secret_value()
        assert source is not None
        value = source()
        if inspect.isawaitable(value):
            value = await value
        return str(value)

    async def probe(self) -> SMTPProbeReport:
        """Open one session as a send would (greeting, EHLO, STARTTLS, AUTH), send nothing,
        QUIT, and report what the relay showed; a failed step is the report's ``error``."""
        hostname = self.local_hostname or _default_local_hostname()
        return await run_probe(self, self._handshake, self._tls_context, hostname)

    # -- sending -------------------------------------------------------------------------

    async def send(self, outgoing: OutgoingMessage, *, deadline: float | None = None) -> SendResult:
        """Send one message; some recipients refused is a result, all refused an error.

        Every wait (a pool slot, connecting, each reply) ends by *deadline*, a
        ``time.monotonic()`` value; one already passed raises TransientError before any I/O.
        """
        _refuse_provider_features(outgoing.message, self.name, self._noted)
        size = outgoing.size  # render before taking a connection: bad input costs no I/O
        if outgoing.message.require_tls:
            self._check_require_tls()
        start = time.perf_counter()
        slots = self._pool_slots()
        budget = _budget(deadline)
        if not slots.locked() and (budget is None or budget > 0):
            # A free slot is taken without waiting: wait_for's task and timer would only
            # cost CPU (with no time left, wait_for below times out as it always did).
            await slots.acquire()
        else:
            try:
                # Waiting for a free connection counts against the send's deadline too.
                await asyncio.wait_for(slots.acquire(), budget)
            except asyncio.TimeoutError:
                self._fail(TransientError, "the send's deadline passed waiting for a connection")
        try:
            timeout = time_left(deadline, self.timeout)
            if timeout <= 0:
                self._fail(TransientError, "the send's deadline passed before this relay")
            conn, reused = await self._checkout(timeout, deadline)
            conn.timeout = timeout
            try:
                try:
                    outcome = await self._transaction(conn, outgoing, size)
                except _StaleConnection:
                    # A pooled connection that died while idle is replaced without counting
                    # an attempt: nothing reached the relay.
                    if not reused:
                        raise
                    await self._discard(conn)
                    conn = await self._open_for(timeout, deadline)
                    outcome = await self._transaction(conn, outgoing, size)
            except _StaleConnection as stale:
                await self._discard(conn)
                if stale.reply is not None:
                    self._fail_code(stale.reply, "mail", "MAIL FROM refused")
                self._fail(TransientError, f"connection lost before MAIL FROM: {stale}")
            except (PermanentError, MessageError):
                # A refusal the relay answered (or one we made before MAIL FROM) leaves the
                # dialogue in step, so the connection stays usable.
                self._checkin(conn)
                raise
            except BaseException:
                await self._discard(conn)
                raise
            conn.sent += 1
            self._checkin(conn)
        finally:
            slots.release()
        code, text = outcome.reply or (250, "")
        enhanced, server_text = split_enhanced_code(text)
        match = _QUEUE_ID.search(server_text)
        duration = time.perf_counter() - start
        log.info(
            "delivered %s via %s in %.0f ms (%d accepted, %d refused)",
            outgoing.message_id,
            self.name,
            duration * 1000,
            len(outcome.accepted),
            len(outcome.refused),
        )
        return SendResult(
            message_id=outgoing.message_id,
            relay=self.name,
            accepted=outcome.accepted,
            refused=outcome.refused,
            provider_id=match.group(1) if match else None,
            attempts=[
                Attempt(
                    self.name,
                    "delivered",
                    code=code,
                    enhanced_code=enhanced,
                    text=server_text,
                    duration=duration,
                )
            ],
        )

    def _fail_code(self, reply: Reply, phase: SMTPPhase, text: str) -> NoReturn:
        self._fail(classify_smtp_reply(reply.code, phase), text, code=reply.code, reply=reply.text)

    def _mail_options(
        self, conn: _Connection, outgoing: OutgoingMessage, size: int, dsn: DSN | None
    ) -> str:
        options: list[str] = []
        if conn.offers("size"):
            limit = int(conn.extensions.get("size") or 0)
            if limit and size > limit:
                self._fail(
                    PermanentError,
                    f"message is {size} bytes; the relay accepts at most {limit}",
                    code=552,
                )
            options.append(f"SIZE={size}")
        if outgoing.envelope.smtputf8:
            if not conn.offers("smtputf8"):
                raise MessageError(
                    f"an address has a non-ASCII local part, which needs SMTPUTF8, and relay "
                    f"{self.name} does not offer it",
                    relay=self.name,
                )
            options.append("SMTPUTF8")
        if conn.offers("8bitmime") and outgoing.eight_bit:
            options.append("BODY=8BITMIME")
        if dsn is not None:
            options.extend(dsn.mail_parameters())
        if outgoing.message.require_tls:
            if not conn.offers("requiretls"):
                raise MessageError(
                    f"the message requires REQUIRETLS (RFC 8689) and relay {self.name} does "
                    "not offer it",
                    relay=self.name,
                )
            options.append("REQUIRETLS")
        return "".join(f" {o}" for o in options)

    def _dsn_for(self, conn: _Connection, outgoing: OutgoingMessage) -> DSN | None:
        """The message's DSN request when this relay offers DSN (RFC 3461 section 3), else
        None; a required request on a relay without DSN is refused (the next relay may
        offer it)."""
        dsn = outgoing.message.dsn
        if dsn is None or conn.offers("dsn"):
            return dsn
        if dsn.required:
            raise MessageError(
                f"the message requires DSN (RFC 3461) and relay {self.name} does not offer it",
                relay=self.name,
            )
        if "dsn" not in self._noted:
            self._noted.add("dsn")
            log.warning(
                "relay %s does not offer DSN: %s goes without NOTIFY/RET/ENVID/ORCPT"
                " (as will later messages there; said once per relay)",
                self.name,
                outgoing.message_id,
            )
        return None

    def _check_require_tls(self) -> None:
        """REQUIRETLS is only sent over TLS whose certificate is verified (RFC 8689 section 2,
        section 4.3): refuse, before connecting, a relay that cannot give that."""
        context = self._tls_context
        if self.tls == "none" or context is None:
            raise MessageError(
                f"the message requires REQUIRETLS (RFC 8689), which needs TLS, and relay "
                f"{self.name} is set to tls=none",
                relay=self.name,
            )
        if context.verify_mode != ssl.CERT_REQUIRED or not context.check_hostname:
            raise MessageError(
                f"the message requires REQUIRETLS (RFC 8689), which needs a verified "
                f"certificate, and relay {self.name}'s TLS context does not verify one",
                relay=self.name,
            )

    async def _read(self, conn: _Connection, phase: str) -> Reply:
        try:
            return await conn.wire.read(conn.timeout)
        except (WireLost, WireTimeout) as exc:
            conn.wire.close()
            self._fail(TransientError, f"connection lost or timed out at {phase}: {exc}")

    async def _transaction(
        self, conn: _Connection, outgoing: OutgoingMessage, size: int
    ) -> _Outcome:
        """MAIL, RCPTs and DATA (in one write when the relay offers PIPELINING), then the
        message; recipients deferred with 452, or past the limit, go in further transactions.

        When a later transaction fails after an earlier one delivered, the result says so:
        the delivered recipients are accepted, the others refused with the failure's code
        (a 4xx defers them), so that nobody is sent the message twice.
        """
        outcome = _Outcome()
        pending = list(outgoing.envelope.rcpt_to)
        try:
            await self._transactions(conn, outgoing, size, outcome, pending)
        except MailError as exc:
            if not outcome.accepted or isinstance(exc, (DeliveryUnknown, MessageError)):
                raise
            # Refused for good only if the relay said so for this message (5xx to DATA or
            # the dot); otherwise deferred (4xx): retried, then tried on the next relay.
            code = exc.code if isinstance(exc, PermanentError) and exc.code else None
            code = code or (exc.code if exc.code and 400 <= exc.code < 500 else 451)
            for rcpt in pending:
                if rcpt not in outcome.refused and rcpt not in outcome.accepted:
                    outcome.refused[rcpt] = refusal(rcpt, code, exc.message)
            return outcome
        if not outcome.accepted:
            raise RecipientsRefused(outcome.refused, relay=self.name)
        return outcome

    async def _transactions(
        self,
        conn: _Connection,
        outgoing: OutgoingMessage,
        size: int,
        outcome: _Outcome,
        pending: list[str],
    ) -> None:
        """Run transactions until *pending* (updated in place) is empty."""
        env = outgoing.envelope
        encoding = "utf-8" if env.smtputf8 else "ascii"
        dsn = self._dsn_for(conn, outgoing)
        mail_line = f"MAIL FROM:<{env.mail_from}>{self._mail_options(conn, outgoing, size, dsn)}"
        first = True
        while pending:
            # No more recipients per transaction than the relay takes (learned from its
            # first 452) or max_recipients: recipients past a relay's limit count as errors
            # at Postfix, which drops the session after 20 of them.
            size_of_chunk = self._rcpt_limit or self.max_recipients
            chunk, rest = pending[:size_of_chunk], pending[size_of_chunk:]
            commands = [mail_line, *[_rcpt_line(r, dsn) for r in chunk], "DATA"]
            lines: list[bytes] = []
            if conn.pipelining:
                # The whole batch as one string, encoded once.
                payload = ("\r\n".join(commands) + "\r\n").encode(encoding)
            else:
                lines = [c.encode(encoding) + b"\r\n" for c in commands]
                payload = lines[0]
            try:
                conn.wire.write(payload)
                mail = await conn.wire.read(conn.timeout)
            except (WireLost, WireTimeout) as exc:
                if first:
                    raise _StaleConnection(str(exc)) from None
                conn.wire.close()
                self._fail(TransientError, f"connection lost at MAIL FROM: {exc}")
            if mail.code == 421 and first:
                raise _StaleConnection(mail.text, mail)
            first = False
            replies: list[Reply] = []
            data: Reply | None = None
            if conn.pipelining:
                # Replies to a pipelined batch mostly arrive together: those already here
                # are taken at once, without a wait.
                while len(replies) < len(chunk):
                    got = conn.wire.take(len(chunk) - len(replies))
                    for reply in got or [await self._read(conn, "RCPT TO")]:
                        replies.append(reply)
                        if reply.code == 452:
                            # Learned as it comes: a relay may drop the session after it.
                            self._learn_limit(replies)
                data = await self._read(conn, "DATA")
            elif mail.code == 250:
                for line in lines[1:-1]:
                    conn.wire.write(line)
                    replies.append(await self._read(conn, "RCPT TO"))
                    if replies[-1].code == 421 or self._learn_limit(replies):
                        break  # the rest wait for the next transaction
            if mail.code != 250:
                await self._abandon(conn, data)
                self._fail_code(mail, "mail", "MAIL FROM refused")
            batch, later = self._sort_recipients(chunk, replies, outcome)
            # Until its message is sent, this transaction's recipients are still pending.
            pending[:] = batch + later + rest
            if not batch:
                await self._abandon(conn, data)
                continue  # the next chunk may fare better
            if data is None:
                conn.wire.write(b"DATA\r\n")
                data = await self._read(conn, "DATA")
            if data.code != 354:
                await self._abandon(conn, data)
                self._fail_code(data, "data", "DATA refused")
            outcome.reply = await self._send_body(conn, outgoing, size)
            outcome.accepted.extend(batch)
            del pending[: len(batch)]

    def _learn_limit(self, replies: list[Reply]) -> bool:
        """True when the last reply is a 452 after some recipients were accepted: the relay's
        limit per transaction (RFC 5321 4.5.3.1.10), kept for every later transaction."""
        if replies[-1].code != 452:
            return False
        accepted = sum(1 for reply in replies if reply.code in (250, 251))
        if not accepted:
            return False
        if self._rcpt_limit is None or accepted < self._rcpt_limit:
            log.info("relay %s takes %d recipients per transaction", self.name, accepted)
            self._rcpt_limit = accepted
        return True

    def _sort_recipients(
        self, rcpts: list[str], replies: list[Reply], outcome: _Outcome
    ) -> tuple[list[str], list[str]]:
        """Accepted in this transaction, and those left for the next (452 after some were
        accepted: "too many recipients", RFC 5321 section 4.5.3.1.10)."""
        if len(replies) == len(rcpts) and all(reply.code == 250 for reply in replies):
            return list(rcpts), []  # every one accepted: the common case, in one pass
        accepted = [r for r, reply in zip(rcpts, replies, strict=False) if reply.code in (250, 251)]
        later: list[str] = []
        for rcpt, reply in zip(rcpts, replies, strict=False):
            if reply.code in (250, 251):
                continue
            if reply.code == 421:
                self._fail_code(reply, "rcpt", "relay closing at RCPT TO")
            if reply.code == 452 and accepted:
                later.append(rcpt)
                continue
            outcome.refused[rcpt] = refusal(rcpt, reply.code, reply.text)
            log.warning(
                "recipient %s refused by %s: %s %s", rcpt, self.name, reply.code, reply.text
            )
        # Without PIPELINING the loop stops at a 421; anything unanswered is left for later.
        later.extend(rcpts[len(replies) :])
        return accepted, later

    async def _abandon(self, conn: _Connection, data: Reply | None) -> None:
        """End a transaction that will not carry the message, leaving the session usable."""
        try:
            if data is not None and data.code == 354:
                # The relay started DATA anyway: an empty message ends it (RFC 2920 3.1).
                conn.wire.write(b".\r\n")
                await conn.wire.read(conn.timeout)
            reply = await conn.wire.command(b"RSET", conn.timeout)
            if reply.code != 250:
                conn.wire.close()
        except (WireLost, WireTimeout):
            conn.wire.close()

    async def _send_body(
        self, conn: _Connection, outgoing: OutgoingMessage, size: int
    ) -> tuple[int, str]:
        try:
            if size < _ONE_WRITE:
                raw = outgoing.raw
                end = b".\r\n" if raw.endswith(b"\r\n") else b"\r\n.\r\n"
                body = _dot_stuffed(raw) if outgoing.needs_dot_stuffing else raw
                if outgoing.on_handover is None:
                    conn.wire.write(body + end)  # one system call
                else:
                    conn.wire.write(body)
                    await outgoing.handing_over()
                    conn.wire.write(end)
            else:
                # Streamed: a large attachment is encoded slice by slice as the relay takes it.
                stuff = outgoing.needs_dot_stuffing
                for chunk in outgoing.chunks():
                    chunk = _dot_stuffed(chunk) if stuff else chunk
                    await conn.wire.write_large(chunk, conn.timeout)
                await outgoing.handing_over()
                conn.wire.write(b".\r\n")
        except (WireLost, WireTimeout) as exc:
            conn.wire.close()
            self._fail(TransientError, f"connection lost while sending the message: {exc}")
        except BaseException:
            # A streamed attachment that can no longer be read (MessageError) leaves the
            # relay mid-DATA: drop the connection so no partial message is ever completed.
            conn.wire.close()
            raise
        # A connection lost *now*, after the final dot and before the reply, may have
        # delivered the message: that is DeliveryUnknown, unless the relay cannot have read
        # the final dot (it reset the connection with our bytes unread, or they never left
        # this process), in which case nothing was delivered.
        try:
            reply = await conn.wire.read(self.data_timeout)
        except WireLost as exc:
            conn.wire.close()
            if exc.unread:
                self._fail(
                    TransientError,
                    f"the relay closed the connection before reading the end of the message "
                    f"({exc}); it was not delivered",
                )
            self._fail(
                DeliveryUnknown,
                f"connection lost after the message was sent and before the relay replied "
                f"({exc}); it may have been delivered",
            )
        except WireTimeout as exc:
            conn.wire.close()
            self._fail(
                DeliveryUnknown,
                f"no reply after the message was sent ({exc}); it may have been delivered",
            )
        if reply.code != 250:
            self._fail_code(reply, "data_end", "message refused after DATA")
        return reply.code, reply.text


async def _bounded_token(tokens: CachedTokenProvider, timeout: float | None) -> AccessToken:
    """A token within the connection's timeout (the shared fetch itself goes on)."""
    try:
        return await asyncio.wait_for(tokens.token(), timeout)
    except asyncio.TimeoutError:
        failure = TransientError(f"no access token within {timeout} s")
    raise failure


def _rcpt_line(rcpt: str, dsn: DSN | None) -> str:
    """``RCPT TO:<rcpt>``, with the DSN's ``NOTIFY`` and ``ORCPT`` when there is one."""
    if dsn is None:
        return f"RCPT TO:<{rcpt}>"
    return " ".join([f"RCPT TO:<{rcpt}>", *dsn.rcpt_parameters(rcpt)])


def _dot_stuffed(data: bytes) -> bytes:
    """RFC 5321 4.5.2 transparency for *data*, which starts at a line start. Most messages
    have no line starting with a dot, and the search is cheaper than the substitution."""
    if data.startswith(b".") or b"\n." in data:
        return _DOT_AT_LINE_START.sub(b"..", data)
    return data


class _StaleConnection(Exception):
    """A connection was found dead (or closing, 421) at MAIL FROM: nothing reached the relay.

    On a pooled connection that is replaced without counting an attempt; on a fresh one the
    ``reply`` (if any) is reported."""

    def __init__(self, text: str, reply: Reply | None = None) -> None:
        super().__init__(text)
        self.reply = reply


_HandshakePhase = Literal["connect", "ehlo", "starttls", "ehlo_tls", "auth"]

_PHASE_TEXT: dict[_HandshakePhase, str] = {
    "connect": "connect and greeting",
    "ehlo": "EHLO",
    "starttls": "STARTTLS",
    "ehlo_tls": "EHLO after STARTTLS",
    "auth": "AUTH",
}


_SMTP_PHASE: dict[_HandshakePhase, SMTPPhase] = {
    "connect": "greeting",
    "ehlo": "ehlo",
    "starttls": "starttls",
    "ehlo_tls": "ehlo",
    "auth": "auth",
}


@dataclass
class _Step:
    """Where the handshake is, so that a failure can say (and be classified by) its phase."""

    phase: _HandshakePhase = "connect"
    mechanism: str = ""
    token: AccessToken | None = None


class _Cause(Exception):
    """The type and text of a failure from below our boundary, without its frames."""


def _ssl_cause(exc: BaseException) -> ssl.SSLError | None:
    cause: BaseException | None = exc
    seen = 0
    while cause is not None and not isinstance(cause, ssl.SSLError) and seen < 10:
        cause = cause.__cause__ or cause.__context__
        seen += 1
    return cause if isinstance(cause, ssl.SSLError) else None


def _budget(deadline: float | None) -> float | None:
    """Seconds left before the send's deadline, or None without one."""
    return None if deadline is None else time_left(deadline, math.inf)


def _loop_deadline(deadline: float | None) -> float | None:
    """The send's deadline on the running loop's clock."""
    left = _budget(deadline)
    return None if left is None else asyncio.get_running_loop().time() + left


def _refuse_provider_features(message: Message, relay: str, noted: set[str]) -> None:
    """Refuse, before any I/O, what a provider option asks and SMTP cannot do.

    An SMTP relay does not track: ``track_opens=False`` and ``track_clicks=False`` hold as
    they are, True is refused. No provider options are read over SMTP, so an ``smtp`` or
    ``smtps`` entry is refused rather than ignored; other providers' entries are theirs.
    Tags and metadata have no SMTP field and are not sent (they label the message for
    providers' events; an SMTP relay sends none). Refusing them would break failing over from
    a provider to one's own relay, so the relay sends without them and says so in the log,
    once per relay (*noted*).
    """
    if (message.tags or message.metadata) and "tags" not in noted:
        noted.add("tags")
        log.info("%s: tags and metadata have no SMTP field; messages are sent without them", relay)
    if message.track_opens or message.track_clicks:
        raise MessageError(
            f"{relay} cannot send open or click tracking (SMTP does not track); nothing was sent",
            relay=relay,
        )
    for scheme in ("smtp", "smtps"):
        if message.provider_options.get(scheme):
            raise MessageError(
                f"{relay} takes no provider_options[{scheme!r}]; nothing was sent", relay=relay
            )
