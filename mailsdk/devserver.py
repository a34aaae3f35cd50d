"""A local capture relay on loopback: the embedded default behind ``mailsdk demo`` and tests.

It is a real SMTP server (aiosmtpd) with STARTTLS or implicit TLS from a throw-away certificate
authority made on the spot (trustme), optional AUTH (PLAIN, LOGIN, XOAUTH2), SMTPUTF8, and a
SIZE limit. Every message it accepts is kept in memory and, optionally, written as an .eml
file. Needs the ``devserver`` extra: ``pip install 'mailsdk[devserver]'``.
"""

from __future__ import annotations

import base64
import binascii
import errno
import json
import logging
import socket
import ssl
import tempfile
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

from mailsdk.errors import MailError

__all__ = ["LocalRelay", "ReceivedMessage"]

try:
    import trustme
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword
except ImportError as _missing:  # pragma: no cover - exercised only without the extra
    _IMPORT_ERROR: ImportError | None = _missing
else:
    _IMPORT_ERROR = None


# aiosmtpd itself still sets the deprecated attribute after every AUTH, and says so through
# both the warnings module and its "mail.log" logger; that is noise here.
warnings.filterwarnings("ignore", message="Session.login_data is deprecated")


class _DropLoginDataNotice(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "login_data is deprecated" not in record.getMessage()


logging.getLogger("mail.log").addFilter(_DropLoginDataNotice())
# With implicit TLS the whole session is encrypted, which aiosmtpd's check does not see.
warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")


@dataclass(frozen=True)
class ReceivedMessage:
    """One message the relay accepted: the envelope as given and the bytes after DATA."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    peer: tuple[str, int]
    login: str | None
    mail_options: list[str]


_PORT_TRIES = 5


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@dataclass
class _Handler:
    relay: LocalRelay
    sessions: set[tuple[str, int]] = field(default_factory=set)

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, mail_options: list[str]
    ) -> str:
        self.sessions.add(session.peer)
        reply = self.relay.mail_reply
        if reply is not None:
            return reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        self.relay.rcpt_commands += 1
        reply = self.relay.rcpt_replies.get(address.lower())
        if reply is not None:
            return reply
        limit = self.relay.max_recipients
        if limit is not None and len(envelope.rcpt_tos) >= limit:
            return "452 4.5.3 Error: too many recipients"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        data = envelope.original_content or envelope.content
        assert isinstance(data, bytes)
        auth = session.auth_data
        login = auth.login.decode() if isinstance(auth, LoginPassword) else None
        received = ReceivedMessage(
            mail_from=envelope.mail_from,
            rcpt_tos=list(envelope.rcpt_tos),
            data=data,
            peer=session.peer,
            login=login,
            mail_options=list(envelope.mail_options),
        )
        self.relay._store(received)
        if self.relay.drop_after_data:
            # Take the message, then vanish before replying: the client cannot know whether
            # it was delivered.
            server.transport.close()
            return "250 2.0.0 OK (never seen)"
        if self.relay.data_reply is not None:
            return self.relay.data_reply
        return f"250 2.0.0 OK queued as {self.relay.received:06d}"

    async def auth_XOAUTH2(self, server: Any, args: list[str]) -> Any:
        """XOAUTH2 as Google and Microsoft answer it: a bad token gets a 334 carrying a
        base64 JSON error, and after the client's empty line, 535."""
        user, token = _xoauth2_fields(args[1]) if len(args) >= 2 else ("", "")
        if user and self.relay._check(user, token):
            return AuthResult(success=True, auth_data=LoginPassword(user.encode(), b""))
        error = {"status": "401", "schemes": "Bearer", "scope": "https://mail.google.com/"}
        await server.challenge_auth(json.dumps(error))
        # handled=False: aiosmtpd sends the 535 (its default for success=False is to send
        # nothing, which leaves the client waiting out its timeout).
        return AuthResult(success=False, handled=False)


def _xoauth2_fields(blob: str) -> tuple[str, str]:
    """The user and bearer token of an XOAUTH2 initial response, or empty strings."""
    try:
        decoded = base64.b64decode(blob, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return "", ""
    fields = dict(part.split("=", 1) for part in decoded.split("\x01") if "=" in part)
    return fields.get("user", ""), fields.get("auth", "").removeprefix("Bearer ")


class LocalRelay:
    """An SMTP relay on loopback that keeps what it receives.

    Args:
        tls: ``"starttls"`` (offered and required before MAIL), ``"implicit"`` (TLS from the
            first byte) or ``"none"`` (no TLS offered).
        users: logins and passwords (or XOAUTH2 tokens) it accepts; None accepts any.
        require_auth: refuse MAIL until the client has authenticated.
        maildir: write each accepted message there as ``<n>.eml``.
        size_limit: advertised SIZE; larger messages are refused.
        smtputf8: advertise SMTPUTF8.
        on_message: called (in the relay's thread) with each accepted message.
        keep_messages: keep each accepted message in :attr:`messages` (needed by
            :meth:`wait_for`); a long-running capture server (``mailsdk devserver``) turns it
            off so its memory does not grow with every message.

    ``rcpt_replies`` maps a lower-cased address to the reply RCPT gets instead of 250,
    ``mail_reply`` / ``data_reply`` override the replies to MAIL and to the final dot, and
    ``drop_after_data`` closes the connection after the final dot without replying, and
    ``max_recipients`` answers 452 to recipients past that many in one transaction: tests use
    them to script refusals and losses.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: Literal["starttls", "implicit", "none"] = "starttls",
        users: dict[str, str] | None = None,
        require_auth: bool = False,
        maildir: str | Path | None = None,
        size_limit: int = 33_554_432,
        smtputf8: bool = True,
        on_message: Callable[[ReceivedMessage], None] | None = None,
        keep_messages: bool = True,
    ) -> None:
        if _IMPORT_ERROR is not None:
            raise MailError(
                "the local relay needs the devserver extra: pip install 'mailsdk[devserver]'"
            ) from _IMPORT_ERROR
        self.host = host
        self.port = port or _free_port(host)
        self._port_chosen = not port  # ours to change if another process takes it first
        self.tls = tls
        self.users = users
        self.require_auth = require_auth
        self.maildir = Path(maildir) if maildir else None
        self.size_limit = size_limit
        self.smtputf8 = smtputf8
        self.on_message = on_message
        self.messages: list[ReceivedMessage] = []
        self.keep_messages = keep_messages
        self.received = 0
        """How many messages have been accepted (kept in :attr:`messages` or not)."""
        self.rcpt_replies: dict[str, str] = {}
        self.mail_reply: str | None = None
        self.data_reply: str | None = None
        self.drop_after_data = False
        self.max_recipients: int | None = None
        self.rcpt_commands = 0
        """How many RCPT commands it has answered."""
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._handler = _Handler(self)
        self._tmp = tempfile.TemporaryDirectory(prefix="mailsdk-relay-")
        ca = trustme.CA()
        cert = ca.issue_cert("localhost", "127.0.0.1", "::1")
        self.ca_file = str(Path(self._tmp.name) / "ca.pem")
        ca.cert_pem.write_to_path(self.ca_file)
        self._server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(self._server_context)
        self._controller: Any = None

    @property
    def sessions(self) -> int:
        """How many distinct connections have started a mail transaction."""
        return len(self._handler.sessions)

    def url(self, username: str | None = None, password: str | None = None) -> str:
        """A mailsdk URL for this relay that trusts its CA."""
        scheme = "smtps" if self.tls == "implicit" else "smtp"
        cred = (
            f"{quote(username, safe='')}:{quote(password, safe='')}@"
            if username and password
            else ""
        )
        query = "tls=none" if self.tls == "none" else f"ca_file={self.ca_file}"
        return f"{scheme}://{cred}{self.host}:{self.port}?{query}"

    def _check(self, login: str, secret: str) -> bool:
        if self.users is None:
            return True
        return self.users.get(login) == secret

    def _authenticator(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> Any:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        ok = self._check(auth_data.login.decode(), auth_data.password.decode())
        return AuthResult(success=ok, handled=False, auth_data=auth_data)

    def _store(self, received: ReceivedMessage) -> None:
        with self._arrived:
            self.received += 1
            if self.keep_messages:
                self.messages.append(received)
            if self.maildir is not None:
                self.maildir.mkdir(parents=True, exist_ok=True)
                (self.maildir / f"{self.received:06d}.eml").write_bytes(received.data)
            self._arrived.notify_all()
        if self.on_message is not None:
            self.on_message(received)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[ReceivedMessage]:
        """Block until at least *count* messages have arrived; return them all."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len(self.messages) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{len(self.messages)} of {count} messages arrived")
                self._arrived.wait(left)
            return list(self.messages)

    def start(self) -> LocalRelay:
        """Start listening (on a thread of its own)."""
        for _ in range(_PORT_TRIES - 1):
            try:
                return self._start_on(self.port)
            except OSError as exc:
                # The free port was found before it is bound: another process may have
                # taken it in between. A port we chose is replaced; a given one is not.
                if exc.errno != errno.EADDRINUSE or not self._port_chosen:
                    raise
                self.port = _free_port(self.host)
        return self._start_on(self.port)

    def _start_on(self, port: int) -> LocalRelay:
        controller = Controller(
            self._handler,
            hostname=self.host,
            port=port,
            ssl_context=self._server_context if self.tls == "implicit" else None,
            data_size_limit=self.size_limit,
            enable_SMTPUTF8=self.smtputf8,
            decode_data=False,
            tls_context=self._server_context if self.tls == "starttls" else None,
            require_starttls=self.tls == "starttls",
            authenticator=self._authenticator,
            auth_required=self.require_auth,
            # With implicit TLS aiosmtpd does not know the socket is encrypted (it only tracks
            # STARTTLS), so requiring TLS for AUTH would hide AUTH altogether.
            auth_require_tls=self.tls == "starttls",
            ident="mailsdk-local-relay",
        )
        controller.start()
        self._controller = controller
        return self

    def stop(self) -> None:
        """Stop listening and remove the generated certificate files."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
        self._tmp.cleanup()

    def __enter__(self) -> LocalRelay:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
