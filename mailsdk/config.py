"""Transport URLs: parsing, the scheme registry, and building transports from URLs.

``smtp://user:pass@host:587``, ``smtps://host:465``, ``memory://``, ``file:///var/mail/out``,
``console://``, provider schemes such as ``sendgrid://KEY@default``. A list of URLs, or one
string with commas between URLs, is a failover list. Errors name the bad part of a URL and
never echo its secret.

Parsing is pure: :func:`parse_url` never looks anything up. A URL that leaves out its secret
(``smtp://reports@mail.example.com:587``, ``sendgrid://default``) gets it when a transport is
built from it (:func:`transport_from_url`), from the environment or keyring; see
:mod:`mailsdk.credentials`.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import field
from typing import TYPE_CHECKING, Literal
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from pydantic import SecretStr, ValidationError, field_validator
from pydantic.dataclasses import dataclass

from mailsdk.errors import MailError

if TYPE_CHECKING:
    from mailsdk.transports.base import Transport

__all__ = [
    "ConfigurationError",
    "SecretKind",
    "TransportURL",
    "describe_validation_error",
    "needs_secret",
    "parse_url",
    "redact_url",
    "register_scheme",
    "registered_schemes",
    "secret_kind",
    "split_urls",
    "transport_from_url",
    "transports_from_urls",
]


class ConfigurationError(MailError, ValueError):
    """A transport URL or option is invalid; nothing was sent."""


_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*$")
_URL_START = re.compile(r",\s*(?=[A-Za-z][A-Za-z0-9+.-]*://)")
# Nothing that could end a line or a word in a protocol command (EHLO, AUTH) or a log line.
_CONTROL_OR_SPACE = re.compile(r"[\x00-\x20\x7f\x85\u2028\u2029]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")


@dataclass(frozen=True)
class TransportURL:
    """A parsed transport URL. ``password`` is a SecretStr: it never shows in a repr.

    A pydantic dataclass: every construction, ``dataclasses.replace`` included, validates the
    parts (scheme syntax, port range, no white space or control characters in the host or
    user name), so a transport never receives a URL that could not have been parsed. Its
    repr and :meth:`display` hide the user part of provider URLs, which holds a key.
    """

    scheme: str
    host: str = ""
    port: int | None = None
    username: str | None = None
    password: SecretStr | None = field(default=None, repr=False)
    path: str = ""
    query: dict[str, str] = field(default_factory=dict)

    @field_validator("scheme")
    @classmethod
    def _check_scheme(cls, value: str) -> str:
        if not _SCHEME.match(value):
            raise ValueError("must start with a letter and hold only a-z, 0-9, '+', '-', '.'")
        return value

    @field_validator("host")
    @classmethod
    def _check_host(cls, value: str) -> str:
        if _CONTROL_OR_SPACE.search(value):
            raise ValueError("must not contain white space or control characters")
        return value

    @field_validator("port")
    @classmethod
    def _check_port(cls, value: int | None) -> int | None:
        if value is not None and not 1 <= value <= 65535:
            raise ValueError("must be between 1 and 65535")
        return value

    @field_validator("username")
    @classmethod
    def _check_username(cls, value: str | None) -> str | None:
        if value is not None and _CONTROL.search(value):
            raise ValueError("must not contain control characters")
        return value

    @field_validator("query")
    @classmethod
    def _check_query(cls, value: dict[str, str]) -> dict[str, str]:
        for key, text in value.items():
            if _CONTROL.search(key) or _CONTROL.search(text):
                raise ValueError(f"option {key!r} contains a control character")
        return value

    def display(self) -> str:
        """The URL without its secret and without query options: safe for logs and errors.

        For schemes whose user part holds an API key (``sendgrid://KEY@default``) or an AWS
        access key id, the user part is shown as ``***``.
        """
        user = f"{quote(self.username, safe='')}@" if self.username else ""
        if user and not self._user_is_shown():
            user = "***@"
        host = f"[{self.host}]" if ":" in self.host else self.host
        # graph://reports%40contoso.com: a mailbox in the host part keeps its @ encoded, so
        # the shown URL parses back to the same parts.
        host = host.replace("@", "%40")
        port = f":{self.port}" if self.port is not None else ""
        return f"{self.scheme}://{user}{host}{port}{self.path}"

    def _user_is_shown(self) -> bool:
        # An SMTP login is no secret, but the user part of a provider URL holds an API key
        # (sendgrid://KEY@default), half a key pair (mailjet) or an AWS access key id.
        return self.scheme in ("smtp", "smtps") or self.scheme not in _SECRET_KINDS

    def __repr__(self) -> str:
        user = self.username if self.username is None or self._user_is_shown() else "***"
        # An OAuth client secret may sit in the query (Google desktop clients): never shown.
        query = {k: "***" if k == "client_secret" else v for k, v in self.query.items()}
        return (
            f"TransportURL(scheme={self.scheme!r}, host={self.host!r}, port={self.port!r}, "
            f"username={user!r}, path={self.path!r}, query={query!r})"
        )

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


_SCHEME_PREFIX = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:/*")


def redact_url(url: str) -> str:
    """*url* with everything between its scheme and its last ``@`` replaced by ``***``.

    For text that could not be parsed as a URL, where the parts are unknown: it may hide
    more than the user and password (an ``@`` in an option), never less, and it works
    without ``//`` too (``alice:pw@host``).
    """
    if "@" not in url:
        return url
    match = _SCHEME_PREFIX.match(url)
    prefix = match.group() if match else ""
    return f"{prefix}***@{url.rpartition('@')[2]}"


def parse_url(url: str) -> TransportURL:
    """Parse one transport URL; raise ConfigurationError naming the bad part."""
    url = url.strip()
    if "://" not in url:
        raise ConfigurationError(f"{redact_url(url)!r} is not a URL (expected scheme://...)")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ConfigurationError(f"{redact_url(url)!r}: {exc}") from None
    scheme = parts.scheme.lower()
    if not _SCHEME.match(scheme):
        raise ConfigurationError(f"{redact_url(url)!r}: invalid scheme {scheme!r}")
    query: dict[str, str] = {}
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key in query:
            raise ConfigurationError(f"{redact_url(url)!r}: option {key!r} given twice")
        query[key] = value
    password = parts.password
    try:
        return TransportURL(
            scheme=scheme,
            host=unquote(parts.hostname or ""),
            port=port,
            username=unquote(parts.username) if parts.username else None,
            password=SecretStr(unquote(password)) if password is not None else None,
            path=unquote(parts.path),
            query=query,
        )
    except ValidationError as exc:
        raise ConfigurationError(f"{redact_url(url)!r}: {describe_validation_error(exc)}") from None


def describe_validation_error(exc: ValidationError) -> str:
    """pydantic's errors as ``field: reason`` pairs, without the input values.

    pydantic's own text quotes each rejected input, which may be a URL with its password in
    it; only the location and the reason are kept.
    """
    parts = []
    for error in exc.errors(include_url=False, include_input=False, include_context=False):
        where = ".".join(str(p) for p in error["loc"]) or "value"
        reason = str(error["msg"]).removeprefix("Value error, ")
        parts.append(f"{where}: {reason}")
    return "; ".join(parts)


def split_urls(urls: str | Sequence[str]) -> list[str]:
    """One URL, a comma-separated string of URLs, or a list of either -> a flat list."""
    items = [urls] if isinstance(urls, str) else list(urls)
    out: list[str] = []
    for item in items:
        out.extend(u.strip() for u in _URL_START.split(item) if u.strip())
    return out


TransportFactory = Callable[[TransportURL], "Transport"]
SecretKind = Literal["password", "key"]
"""Where a scheme's secret goes when its URL leaves it out.

``"password"``: the URL names a user (an SMTP login, a Mailjet API key, an AWS access key id)
and the secret is that user's password. ``"key"``: the URL names neither, and the secret is
an API key (``sendgrid://default``)."""

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
    "mailgun": "mailsdk.transports.http.mailgun:MailgunTransport",
    "postmark": "mailsdk.transports.http.postmark:PostmarkTransport",
    "ses": "mailsdk.transports.http.ses:SESTransport",
    "resend": "mailsdk.transports.http.resend:ResendTransport",
    "brevo": "mailsdk.transports.http.brevo:BrevoTransport",
    "sparkpost": "mailsdk.transports.http.sparkpost:SparkPostTransport",
    "mailjet": "mailsdk.transports.http.mailjet:MailjetTransport",
    "mailtrap": "mailsdk.transports.http.mailtrap:MailtrapTransport",
    "mailersend": "mailsdk.transports.http.mailersend:MailerSendTransport",
    "graph": "mailsdk.transports.http.graph:GraphTransport",
    "gmail": "mailsdk.transports.http.gmail:GmailTransport",
}

# scheme -> where its secret goes (see SecretKind). Schemes not listed take no secret, and
# are not network transports (MAILSDK_TIMEOUT is applied only to the ones listed).
_SECRET_KINDS: dict[str, SecretKind] = {
    "smtp": "password",
    "smtps": "password",
    "mailjet": "password",  # mailjet://API_KEY@default: the secret key is the password
    "ses": "password",  # ses://ACCESS_KEY_ID@region; ses://region uses botocore's chain
    "sendgrid": "key",
    "mailgun": "key",
    "postmark": "key",
    "resend": "key",
    "brevo": "key",
    "sparkpost": "key",
    "mailtrap": "key",
    "mailersend": "key",
    "graph": "key",  # the Entra client secret (graph://MAILBOX?tenant_id=…&client_id=…)
    "gmail": "key",  # the Google refresh token (gmail://me?client_id=…&client_secret=…)
}


def register_scheme(
    scheme: str, factory: str | TransportFactory, *, secret: SecretKind | None = None
) -> None:
    """Register a URL scheme: ``"package.module:Class"`` (uses ``Class.from_url``) or a
    callable taking a :class:`TransportURL`.

    ``secret`` says where the scheme's secret goes when a URL leaves it out, so that it is
    looked up in the environment or keyring (see :data:`SecretKind`); None: never looked up.
    """
    if not _SCHEME.match(scheme):
        raise ConfigurationError(f"invalid scheme {scheme!r}")
    if secret not in (None, "password", "key"):
        raise ConfigurationError(f'secret must be "password", "key" or None, not {secret!r}')
    _REGISTRY[scheme] = factory
    if secret is None:
        _SECRET_KINDS.pop(scheme, None)
    else:
        _SECRET_KINDS[scheme] = secret


def secret_kind(scheme: str) -> SecretKind | None:
    """Where *scheme*'s secret goes (see :data:`SecretKind`), or None if it takes none."""
    return _SECRET_KINDS.get(scheme)


def needs_secret(url: TransportURL) -> bool:
    """True when *url* leaves out a secret its scheme needs (``smtp://user@host``: a login
    without a password; ``sendgrid://default``: no API key). Pure: nothing is looked up."""
    kind = _SECRET_KINDS.get(url.scheme)
    if kind is None or url.password is not None:
        return False
    from mailsdk.auth._config import oauth_needs_secret, wants_oauth

    if wants_oauth(url):
        return oauth_needs_secret(url)
    if kind == "password":
        return bool(url.username)
    return not url.username


def registered_schemes() -> list[str]:
    """Every scheme a URL may use."""
    return sorted(_REGISTRY)


def transport_from_url(
    url: str | TransportURL, *, environ: Mapping[str, str] | None = None
) -> Transport:
    """Build the transport a URL describes.

    A URL that leaves out its secret (:func:`needs_secret`) gets it from the environment
    variable named after the URL, else from keyring (see :mod:`mailsdk.credentials`);
    *environ* replaces ``os.environ`` for that look-up.
    """
    parsed = url if isinstance(url, TransportURL) else parse_url(url)
    target = _REGISTRY.get(parsed.scheme)
    if target is None:
        raise ConfigurationError(
            f"{parsed.display()}: unknown scheme {parsed.scheme!r}; "
            f"known: {', '.join(registered_schemes())}"
        )
    if needs_secret(parsed):
        from mailsdk.credentials import with_secret  # keyring is imported only when needed

        parsed = with_secret(parsed, environ=environ)
    if isinstance(target, str):
        module_name, _, attr = target.partition(":")
        factory: TransportFactory = getattr(importlib.import_module(module_name), attr).from_url
    else:
        factory = target
    return factory(parsed)


def transports_from_urls(
    urls: str | Sequence[str], *, environ: Mapping[str, str] | None = None
) -> list[Transport]:
    """Build one transport per URL (see :func:`split_urls` and :func:`transport_from_url`)."""
    flat = split_urls(urls)
    if not flat:
        raise ConfigurationError("no transport URL given")
    return [transport_from_url(u, environ=environ) for u in flat]
