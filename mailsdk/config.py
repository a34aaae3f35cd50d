"""Transport URLs: parsing, the scheme registry, and building transports from URLs.

``smtp://user:pass@host:587``, ``smtps://host:465``, ``memory://``, ``file:///var/mail/out``,
``console://``, provider schemes such as ``sendgrid://KEY@default``. A list of URLs, or one
string with commas between URLs, is a failover list. Errors name the bad part of a URL and
never echo its secret.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from pydantic import SecretStr

from mailsdk.errors import MailError

if TYPE_CHECKING:
    from mailsdk.transports.base import Transport

__all__ = [
    "ConfigurationError",
    "TransportURL",
    "parse_url",
    "register_scheme",
    "split_urls",
    "transport_from_url",
    "transports_from_urls",
]


class ConfigurationError(MailError, ValueError):
    """A transport URL or option is invalid; nothing was sent."""


@dataclass(frozen=True)
class TransportURL:
    """A parsed transport URL. ``password`` is a SecretStr: it never shows in a repr."""

    scheme: str
    host: str = ""
    port: int | None = None
    username: str | None = None
    password: SecretStr | None = field(default=None, repr=False)
    path: str = ""
    query: dict[str, str] = field(default_factory=dict)

    def display(self) -> str:
        """The URL without its secret and without query options: safe for logs and errors."""
        user = f"{quote(self.username, safe='')}@" if self.username else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        port = f":{self.port}" if self.port is not None else ""
        return f"{self.scheme}://{user}{host}{port}{self.path}"

    def option(self, name: str, default: str | None = None) -> str | None:
        """A query option's value, or *default*."""
        return self.query.get(name, default)

    def flag(self, name: str, default: bool = False) -> bool:
        """A boolean query option (true/false, yes/no, on/off, 1/0)."""
        value = self.query.get(name)
        if value is None:
            return default
        lowered = value.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ConfigurationError(f"{self.display()}: option {name}={value!r} is not a boolean")

    def number(self, name: str, default: float) -> float:
        """A positive numeric query option."""
        value = self.query.get(name)
        if value is None:
            return default
        try:
            number = float(value)
        except ValueError:
            number = -1.0
        if number <= 0:
            raise ConfigurationError(
                f"{self.display()}: option {name}={value!r} is not a positive number"
            )
        return number

    def check_options(self, allowed: Sequence[str]) -> None:
        """Raise ConfigurationError naming any query option not in *allowed*."""
        unknown = sorted(set(self.query) - set(allowed))
        if unknown:
            raise ConfigurationError(
                f"{self.display()}: unknown option(s) {', '.join(unknown)}; "
                f"known: {', '.join(sorted(allowed))}"
            )


_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*$")
_URL_START = re.compile(r",\s*(?=[A-Za-z][A-Za-z0-9+.-]*://)")


def _redact(url: str) -> str:
    # For messages about URLs that could not be parsed: drop anything between "//" and "@".
    return re.sub(r"//[^/@]*@", "//***@", url)


def parse_url(url: str) -> TransportURL:
    """Parse one transport URL; raise ConfigurationError naming the bad part."""
    url = url.strip()
    if "://" not in url:
        raise ConfigurationError(f"{_redact(url)!r} is not a URL (expected scheme://...)")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ConfigurationError(f"{_redact(url)!r}: {exc}") from None
    scheme = parts.scheme.lower()
    if not _SCHEME.match(scheme):
        raise ConfigurationError(f"{_redact(url)!r}: invalid scheme {scheme!r}")
    query: dict[str, str] = {}
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key in query:
            raise ConfigurationError(f"{_redact(url)!r}: option {key!r} given twice")
        query[key] = value
    password = parts.password
    return TransportURL(
        scheme=scheme,
        host=unquote(parts.hostname or ""),
        port=port,
        username=unquote(parts.username) if parts.username else None,
        password=SecretStr(unquote(password)) if password is not None else None,
        path=unquote(parts.path),
        query=query,
    )


def split_urls(urls: str | Sequence[str]) -> list[str]:
    """One URL, a comma-separated string of URLs, or a list of either -> a flat list."""
    items = [urls] if isinstance(urls, str) else list(urls)
    out: list[str] = []
    for item in items:
        out.extend(u.strip() for u in _URL_START.split(item) if u.strip())
    return out


TransportFactory = Callable[[TransportURL], "Transport"]

# scheme -> "module:Class" (its ``from_url`` classmethod builds it) or a factory callable.
# Lazy strings keep provider modules, and their optional dependencies, out of the import path
# until a URL uses them.
_REGISTRY: dict[str, str | TransportFactory] = {
    "smtp": "mailsdk.transports.smtp:SMTPTransport",
    "smtps": "mailsdk.transports.smtp:SMTPTransport",
    "memory": "mailsdk.transports.memory:MemoryTransport",
    "file": "mailsdk.transports.file:FileTransport",
    "console": "mailsdk.transports.console:ConsoleTransport",
    "sendgrid": "mailsdk.transports.http.sendgrid:SendGridTransport",
}


def register_scheme(scheme: str, factory: str | TransportFactory) -> None:
    """Register a URL scheme: ``"package.module:Class"`` (uses ``Class.from_url``) or a
    callable taking a :class:`TransportURL`."""
    if not _SCHEME.match(scheme):
        raise ConfigurationError(f"invalid scheme {scheme!r}")
    _REGISTRY[scheme] = factory


def registered_schemes() -> list[str]:
    """Every scheme a URL may use."""
    return sorted(_REGISTRY)


def transport_from_url(url: str | TransportURL) -> Transport:
    """Build the transport a URL describes."""
    parsed = url if isinstance(url, TransportURL) else parse_url(url)
    target = _REGISTRY.get(parsed.scheme)
    if target is None:
        raise ConfigurationError(
            f"{parsed.display()}: unknown scheme {parsed.scheme!r}; "
            f"known: {', '.join(registered_schemes())}"
        )
    if isinstance(target, str):
        module_name, _, attr = target.partition(":")
        factory: TransportFactory = getattr(importlib.import_module(module_name), attr).from_url
    else:
        factory = target
    return factory(parsed)


def transports_from_urls(urls: str | Sequence[str]) -> list[Transport]:
    """Build one transport per URL (see :func:`split_urls`)."""
    flat = split_urls(urls)
    if not flat:
        raise ConfigurationError("no transport URL given")
    return [transport_from_url(u) for u in flat]
