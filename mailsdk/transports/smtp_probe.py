"""What one SMTP session with a relay shows: the report of :meth:`SMTPTransport.probe`.

The probe drives the transport's own handshake (TLS policy, AUTH choice, error hints), so a
passing probe means a send would get as far as ``MAIL FROM``. Everything the relay said is
captured while it is said: after ``QUIT`` the client forgets the session.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from types import MappingProxyType
from typing import Any, Protocol

import aiosmtplib

from mailsdk.errors import MailError, TransientError

__all__ = ["ProbeStep", "SMTPProbeReport", "TLSCertificate", "TLSSession"]

_RDN_SHORT = {
    "commonName": "CN",
    "organizationName": "O",
    "organizationalUnitName": "OU",
    "countryName": "C",
    "localityName": "L",
    "stateOrProvinceName": "ST",
}


def _distinguished_name(name: Any) -> str:
    # getpeercert() gives ((("commonName", "x"),), (("organizationName", "y"),), ...)
    parts = [f"{_RDN_SHORT.get(k, k)}={v}" for rdn in name or () for (k, v) in rdn]
    return ", ".join(parts) or "(empty)"


@dataclass(frozen=True)
class TLSCertificate:
    """The relay's certificate, as far as verification exposes it."""

    subject: str
    """Distinguished name, e.g. ``"O=Example, CN=mail.example.com"``."""
    issuer: str
    not_after: datetime | None
    """When the certificate expires (UTC)."""


@dataclass(frozen=True)
class TLSSession:
    """The TLS layer of a probed session."""

    version: str | None
    """``"TLSv1.3"`` and the like."""
    cipher: str | None
    bits: int | None
    certificate: TLSCertificate | None
    """``None`` when the certificate was not verified (Python then does not expose it)."""

    @classmethod
    def from_ssl_object(cls, ssl_object: ssl.SSLObject) -> TLSSession:
        """Read version, cipher and the verified peer certificate off a live connection."""
        cipher = ssl_object.cipher()
        cert = ssl_object.getpeercert()
        certificate = None
        if cert:
            not_after = cert.get("notAfter")
            certificate = TLSCertificate(
                subject=_distinguished_name(cert.get("subject")),
                issuer=_distinguished_name(cert.get("issuer")),
                not_after=(
                    datetime.fromtimestamp(ssl.cert_time_to_seconds(not_after), timezone.utc)
                    if isinstance(not_after, str)
                    else None
                ),
            )
        return cls(
            version=ssl_object.version(),
            cipher=cipher[0] if cipher else None,
            bits=cipher[2] if cipher else None,
            certificate=certificate,
        )


@dataclass(frozen=True)
class ProbeStep:
    """One step of the session and how long the relay took for it."""

    name: str
    """``connect``, ``ehlo``, ``starttls``, ``ehlo-tls`` or ``auth``."""
    seconds: float


@dataclass(frozen=True)
class SMTPProbeReport:
    """Everything one probed session showed. Nothing was sent.

    ``error`` is the error a send would have raised at the step where the session stopped
    (``None`` when every step passed).
    """

    relay: str
    greeting: str | None
    """The greeting line, code first: ``"220 mail.example.com ESMTP"``."""
    extensions: Mapping[str, str]
    """EHLO extensions before TLS (with implicit TLS: inside it), lower-case names."""
    tls: TLSSession | None
    extensions_after_tls: Mapping[str, str] | None
    """EHLO extensions after STARTTLS; ``None`` without STARTTLS."""
    auth_mechanisms: tuple[str, ...]
    """AUTH mechanisms offered in the last EHLO, upper-case."""
    username: str | None
    auth_used: str | None
    """The mechanism the relay accepted, ``None`` when AUTH was not tried or failed."""
    steps: tuple[ProbeStep, ...]
    error: MailError | None = None

    @property
    def ok(self) -> bool:
        """True when the session got as far as a send would need."""
        return self.error is None

    @property
    def timings(self) -> dict[str, float]:
        """Seconds per step name (a repeated step is summed)."""
        out: dict[str, float] = {}
        for step in self.steps:
            out[step.name] = out.get(step.name, 0.0) + step.seconds
        return out


def _auth_mechanisms(extensions: Mapping[str, str]) -> tuple[str, ...]:
    return tuple(m.upper() for m in extensions.get("auth", "").split())


@dataclass
class _Notes:
    greeting: str | None = None
    extensions: dict[str, str] = field(default_factory=dict)
    tls: TLSSession | None = None
    extensions_after_tls: dict[str, str] | None = None
    started_tls: bool = False
    auth_used: str | None = None
    steps: list[ProbeStep] = field(default_factory=list)


class _ProbingSMTP(aiosmtplib.SMTP):
    """aiosmtplib's client, noting what the session shows while SMTPTransport drives it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.notes = _Notes()

    def _note_tls(self) -> None:
        ssl_object = self.get_transport_info("ssl_object")
        if isinstance(ssl_object, (ssl.SSLObject, ssl.SSLSocket)):
            self.notes.tls = TLSSession.from_ssl_object(ssl_object)  # type: ignore[arg-type]

    async def _timed(self, name: str, call: Awaitable[aiosmtplib.SMTPResponse]) -> Any:
        started = time.perf_counter()
        try:
            return await call
        finally:
            self.notes.steps.append(ProbeStep(name, time.perf_counter() - started))

    async def connect(self, **kwargs: Any) -> aiosmtplib.SMTPResponse:
        response: aiosmtplib.SMTPResponse = await self._timed("connect", super().connect(**kwargs))
        self.notes.greeting = f"{response.code} {response.message}"
        if self.use_tls:
            self._note_tls()
        return response

    async def ehlo(self, **kwargs: Any) -> aiosmtplib.SMTPResponse:
        name = "ehlo-tls" if self.notes.started_tls else "ehlo"
        response: aiosmtplib.SMTPResponse = await self._timed(name, super().ehlo(**kwargs))
        extensions = dict(self.esmtp_extensions)
        if self.notes.started_tls:
            self.notes.extensions_after_tls = extensions
        else:
            self.notes.extensions = extensions
        return response

    async def starttls(self, **kwargs: Any) -> aiosmtplib.SMTPResponse:
        response: aiosmtplib.SMTPResponse = await self._timed(
            "starttls", super().starttls(**kwargs)
        )
        self.notes.started_tls = True
        self._note_tls()
        return response

    async def _auth(self, mechanism: str, call: Awaitable[aiosmtplib.SMTPResponse]) -> Any:
        response = await self._timed("auth", call)
        self.notes.auth_used = mechanism
        return response

    async def auth_plain(self, *args: Any, **kwargs: Any) -> aiosmtplib.SMTPResponse:
        return await self._auth("PLAIN", super().auth_plain(*args, **kwargs))  # type: ignore[no-any-return]

    async def auth_login(self, *args: Any, **kwargs: Any) -> aiosmtplib.SMTPResponse:
        return await self._auth("LOGIN", super().auth_login(*args, **kwargs))  # type: ignore[no-any-return]

    async def auth_xoauth2(self, *args: Any, **kwargs: Any) -> aiosmtplib.SMTPResponse:
        return await self._auth("XOAUTH2", super().auth_xoauth2(*args, **kwargs))  # type: ignore[no-any-return]

    def note_auth(self, mechanism: str) -> None:
        """Called by exchanges that do not go through aiosmtplib's auth_* (XOAUTH2 with a
        token provider, which reads the server's error challenge)."""
        self.notes.auth_used = mechanism


class ProbeTarget(Protocol):
    """What the probe needs of :class:`~mailsdk.SMTPTransport` (kept apart so that this
    module does not import the transport that imports it)."""

    @property
    def host(self) -> str: ...

    @property
    def port(self) -> int: ...

    @property
    def tls(self) -> str: ...

    @property
    def timeout(self) -> float: ...

    @property
    def name(self) -> str: ...

    @property
    def username(self) -> str | None: ...


async def run_probe(
    transport: ProbeTarget,
    handshake: Callable[[aiosmtplib.SMTP], Awaitable[None]],
    tls_context: ssl.SSLContext | None,
    local_hostname: str,
) -> SMTPProbeReport:
    """Open one session with *transport*'s settings, run *handshake* on it, QUIT, report.

    Called by :meth:`SMTPTransport.probe`, which passes its own handshake.
    """
    implicit = transport.tls == "implicit"
    smtp = _ProbingSMTP(
        hostname=transport.host,
        port=transport.port,
        use_tls=implicit,
        start_tls=False,
        tls_context=tls_context if implicit else None,
        timeout=transport.timeout,
        local_hostname=local_hostname,
    )
    error: MailError | None = None
    try:
        await handshake(smtp)
    except MailError as exc:
        error = exc
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        error = TransientError(
            f"the relay broke off the session: {type(exc).__name__}", relay=transport.name
        )
    finally:
        if smtp.is_connected:
            try:
                await smtp.quit()
            except Exception:  # the report is complete; a rude goodbye changes nothing
                smtp.close()
    notes = smtp.notes
    last = (
        notes.extensions_after_tls if notes.extensions_after_tls is not None else notes.extensions
    )
    return SMTPProbeReport(
        relay=transport.name,
        greeting=notes.greeting,
        extensions=MappingProxyType(notes.extensions),
        tls=notes.tls,
        extensions_after_tls=(
            None
            if notes.extensions_after_tls is None
            else MappingProxyType(notes.extensions_after_tls)
        ),
        auth_mechanisms=_auth_mechanisms(last),
        username=transport.username,
        auth_used=notes.auth_used if error is None else None,
        steps=tuple(notes.steps),
        error=error,
    )
