"""Transport URLs as data: one record per scheme, and a parser that walks a URL once.

A :class:`Scheme` says everything mailsdk knows about one URL scheme: the transport class it
builds, its default port, what its user part means, where its secret sits, whether it is a
network scheme and which pip extra it needs. Every built-in scheme is registered below, in
one table; :func:`register_scheme` adds more.

:func:`parse_url` is pure (it never looks anything up) and reads the URL once, with our own
splitter rather than :mod:`urllib.parse`: the user part ends at the **last** ``@`` before the
host, so a password may hold ``/``, ``?``, ``#``, ``:`` or ``@`` unencoded
(``smtp://alice:2024/Summer-Secret@mail.example.com`` is user ``alice`` on
``mail.example.com``, never host ``alice`` port 2024). Where a URL cannot be read without
guessing, the error says what to percent-encode. No error quotes any part of a user part,
a password or a secret option, whatever characters they hold.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass as plain_dataclass
from dataclasses import field
from typing import TYPE_CHECKING, Literal
from urllib.parse import quote, unquote, unquote_plus

from pydantic import SecretStr, ValidationError, field_validator
from pydantic.dataclasses import dataclass

from mailsdk.errors import ConfigurationError

if TYPE_CHECKING:
    from mailsdk.transports.base import Transport

__all__ = [
    "OAUTH_URL_OPTIONS",
    "Scheme",
    "SecretKind",
    "TransportURL",
    "UserPart",
    "describe_validation_error",
    "needs_secret",
    "oauth_kind",
    "oauth_needs_secret",
    "parse_url",
    "redact_url",
    "register_scheme",
    "registered_schemes",
    "relay_name",
    "scheme_record",
    "secret_kind",
    "shown_user",
    "split_urls",
    "wants_oauth",
]

TransportFactory = Callable[["TransportURL"], "Transport"]

SecretKind = Literal["password", "key"]
"""Where a scheme's secret goes when its URL leaves it out.

``"password"``: the URL names a user (an SMTP login, a Mailjet API key, an AWS access key id)
and the secret is that user's password. ``"key"``: the URL names neither, and the secret is
an API key (``sendgrid://default``)."""

UserPart = Literal["login", "key_id", "key", "none"]
"""What the user part of a scheme's URL holds.

``"login"``: a login name, shown in display names (``smtp://reports@host``). ``"key_id"``: the
name of a key pair (a Mailjet API key, an AWS access key id), never shown. ``"key"``: the
secret API key itself (``sendgrid://KEY@default``), kept as the URL's password. ``"none"``:
the scheme takes no user part."""

PortRule = Callable[[Mapping[str, str]], int]
"""A default port that depends on the URL's options (SMTP: 587, 465 with implicit TLS)."""


@plain_dataclass(frozen=True)
class Scheme:
    """Everything mailsdk knows about one URL scheme (see :func:`register_scheme`)."""

    name: str
    """The scheme, lower case: ``smtp``, ``sendgrid``."""
    target: str | TransportFactory
    """``"package.module:Class"`` (its ``from_url`` builds the transport; imported only when a
    URL uses the scheme, so optional dependencies stay optional) or a factory callable."""
    default_port: int | PortRule | None = None
    """The port a URL without one uses (part of the keyring and environment names)."""
    user: UserPart = "login"
    """What the user part holds (see :data:`UserPart`)."""
    credential: SecretKind | None = None
    """Where the secret goes when the URL leaves it out (see :data:`SecretKind`); None: the
    scheme takes no secret, and nothing is looked up."""
    user_label: str = "USER"
    """How advice names the user part: ``USER``, ``API_KEY``, ``ACCESS_KEY_ID``."""
    network: bool = False
    """A network transport: ``MAILSDK_TIMEOUT`` applies, and the URL takes no path."""
    secret_options: tuple[str, ...] = ()
    """Query options whose values are secrets: never shown, never quoted in an error."""
    extra: str | None = None
    """The pip extra the transport needs (``pip install 'mailsdk[ses]'``), if any."""

    def port(self, options: Mapping[str, str]) -> int | None:
        """The default port for a URL with these query *options*."""
        if callable(self.default_port):
            return self.default_port(options)
        return self.default_port

    @property
    def shows_user(self) -> bool:
        """True when the user part may be shown (a login); False for keys and key ids."""
        return self.user == "login"


def _smtp_port(options: Mapping[str, str]) -> int:
    return {"implicit": 465, "none": 25}.get(options.get("tls") or "starttls", 587)


def _provider(name: str, module: str, cls: str, **more: object) -> Scheme:
    values: dict[str, object] = {"user": "key", "credential": "key", "user_label": "API_KEY"}
    values.update(more)
    return Scheme(
        name,
        f"mailsdk.transports.http.{module}:{cls}",
        network=True,
        **values,  # type: ignore[arg-type]
    )


_BUILT_IN: tuple[Scheme, ...] = (
    Scheme(
        "smtp",
        "mailsdk.transports.smtp:SMTPTransport",
        default_port=_smtp_port,
        credential="password",
        network=True,
    ),
    Scheme(
        "smtps",
        "mailsdk.transports.smtp:SMTPTransport",
        default_port=465,
        credential="password",
        network=True,
    ),
    Scheme("memory", "mailsdk.transports.memory:MemoryTransport", user="none"),
    Scheme("file", "mailsdk.transports.file:FileTransport", user="none"),
    Scheme("console", "mailsdk.transports.console:ConsoleTransport", user="none"),
    _provider("sendgrid", "sendgrid", "SendGridTransport"),
    _provider("mailgun", "mailgun", "MailgunTransport"),
    _provider("postmark", "postmark", "PostmarkTransport"),
    # ses://ACCESS_KEY_ID:SECRET@region; ses://region uses botocore's credential chain.
    _provider(
        "ses",
        "ses",
        "SESTransport",
        user="key_id",
        credential="password",
        user_label="ACCESS_KEY_ID",
        extra="ses",
    ),
    _provider("resend", "resend", "ResendTransport"),
    _provider("brevo", "brevo", "BrevoTransport"),
    _provider("sparkpost", "sparkpost", "SparkPostTransport"),
    # mailjet://API_KEY:SECRET_KEY@default: the API key names the pair, the secret key is secret.
    _provider("mailjet", "mailjet", "MailjetTransport", user="key_id", credential="password"),
    _provider("mailtrap", "mailtrap", "MailtrapTransport"),
    _provider("mailersend", "mailersend", "MailerSendTransport"),
    # graph://MAILBOX?tenant_id=...&client_id=...: the secret is the Entra client secret.
    _provider("graph", "graph", "GraphTransport", user="none", extra="microsoft"),
    # gmail://me?client_id=...: the secret is the Google refresh token; a desktop client's
    # client_secret may sit in the query.
    _provider(
        "gmail",
        "gmail",
        "GmailTransport",
        user="none",
        extra="google",
        secret_options=("client_secret",),
    ),
)

_SCHEMES: dict[str, Scheme] = {record.name: record for record in _BUILT_IN}

# What a URL of an unregistered scheme is read as: nothing in its user part is shown.
_UNKNOWN = Scheme("unknown", "", user="key_id")

_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*$")
_URL_START = re.compile(r",\s*(?=[A-Za-z][A-Za-z0-9+.-]*://)")
# Nothing that could end a line or a word in a protocol command (EHLO, AUTH) or a log line.
_CONTROL_OR_SPACE = re.compile(r"[\x00-\x20\x7f\x85\u2028\u2029]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")
_PORT = re.compile(r"^[0-9]{1,5}$")
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def register_scheme(
    scheme: str | Scheme,
    factory: str | TransportFactory | None = None,
    *,
    secret: SecretKind | None = None,
) -> Scheme:
    """Register a URL scheme; return its record.

    Give a :class:`Scheme` record, or (the short form) a scheme name with ``"package.module:
    Class"`` (uses ``Class.from_url``) or a callable taking a :class:`TransportURL`, and
    ``secret``: where the scheme's secret goes when a URL leaves it out, so that it is looked
    up in the environment or keyring (see :data:`SecretKind`); None: never looked up. The
    short form's user part is a login with ``credential="password"``, the key itself with
    ``secret="key"``.
    """
    if isinstance(scheme, Scheme):
        record = scheme
    else:
        if factory is None:
            raise ConfigurationError(f"register_scheme({scheme!r}): give the transport factory")
        if secret not in (None, "password", "key"):
            raise ConfigurationError(f'secret must be "password", "key" or None, not {secret!r}')
        user: UserPart = "key" if secret == "key" else "login"  # noqa: S105 - a kind, no secret
        record = Scheme(scheme, factory, user=user, credential=secret)
    if not _SCHEME.match(record.name):
        raise ConfigurationError(f"invalid scheme {record.name!r}")
    if record.credential not in (None, "password", "key"):
        raise ConfigurationError(
            f'secret must be "password", "key" or None, not {record.credential!r}'
        )
    _SCHEMES[record.name] = record
    return record


def scheme_record(scheme: str) -> Scheme | None:
    """The registered record of *scheme*, or None."""
    return _SCHEMES.get(scheme)


def registered_schemes() -> list[str]:
    """Every scheme a URL may use."""
    return sorted(_SCHEMES)


def secret_kind(scheme: str) -> SecretKind | None:
    """Where *scheme*'s secret goes (see :data:`SecretKind`), or None if it takes none."""
    record = _SCHEMES.get(scheme)
    return record.credential if record else None


def shown_user(record: Scheme | None, username: str | None) -> str | None:
    """How a user part may be shown: the login itself, ``***`` for a key or key id, or None.

    The one redaction rule: display names, reprs, keyring advice and command output all ask it.
    """
    if not username:
        return None
    return username if record is not None and record.shows_user else "***"


def relay_name(
    scheme: str, host: str = "", port: int | None = None, *, user: str | None = None, path: str = ""
) -> str:
    """A relay's display name, ``scheme://[user@]host[:port][path]``: the one place it is made.

    *user* is shown as given (pass :func:`shown_user`'s answer); it never holds a secret.
    """
    shown = f"{quote(user, safe='*')}@" if user else ""
    host_part = f"[{host}]" if ":" in host else host
    # graph://reports%40contoso.com: a mailbox in the host part keeps its @ encoded, so the
    # shown name parses back to the same parts.
    host_part = host_part.replace("@", "%40")
    port_part = f":{port}" if port is not None else ""
    return f"{scheme}://{shown}{host_part}{port_part}{path}"


@dataclass(frozen=True)
class TransportURL:
    """A parsed transport URL. ``password`` is a SecretStr: it never shows in a repr.

    A pydantic dataclass: every construction, ``dataclasses.replace`` included, validates the
    parts (scheme syntax, port range, no white space or control characters in the host or
    user name), so a transport never receives a URL that could not have been parsed. Its
    repr and :meth:`display` hide the user part of provider URLs, which names a key, and the
    values of secret options. ``defaults`` holds options that apply when the query sets none
    (``MAILSDK_TIMEOUT``): they are read like query options but are not part of the URL.
    """

    scheme: str
    host: str = ""
    port: int | None = None
    username: str | None = None
    password: SecretStr | None = field(default=None, repr=False)
    path: str = ""
    query: dict[str, str] = field(default_factory=dict)
    defaults: dict[str, str] = field(default_factory=dict)

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

    @field_validator("query", "defaults")
    @classmethod
    def _check_query(cls, value: dict[str, str]) -> dict[str, str]:
        for key, text in value.items():
            if _CONTROL.search(key) or _CONTROL.search(text):
                # The option's name is not quoted: after a secret holding '&' it is a piece of it.
                raise ValueError("an option contains a control character")
        return value

    @property
    def record(self) -> Scheme:
        """The scheme's record (an unregistered scheme gets one that shows no user part)."""
        return _SCHEMES.get(self.scheme, _UNKNOWN)

    def effective_port(self) -> int | None:
        """The port, or the scheme's default for it (``smtp://host`` is port 587)."""
        return self.port if self.port is not None else self.record.port(self.query)

    def display(self) -> str:
        """The URL without its secret and without query options: safe for logs and errors.

        For schemes whose user part names a key (Mailjet's API key, an AWS access key id) the
        user part is shown as ``***``; see :func:`shown_user`.
        """
        user = shown_user(self.record, self.username)
        return relay_name(self.scheme, self.host, self.port, user=user, path=self.path)

    def __str__(self) -> str:
        return self.display()

    def __repr__(self) -> str:
        user = shown_user(self.record, self.username)
        query = repr(self.query)
        if any(self._is_secret(k) for k in self.query):
            # A '&' inside the secret makes pieces of it look like options: none is shown.
            query = f"<{len(self.query)} options, not shown: one is secret>"
        return (
            f"TransportURL(scheme={self.scheme!r}, host={self.host!r}, port={self.port!r}, "
            f"username={user!r}, path={self.path!r}, query={query})"
        )

    def _is_secret(self, name: str) -> bool:
        return name in self.record.secret_options

    def _quotable(self, name: str, value: str) -> str:
        # After a secret option, a '&' inside the secret starts what looks like an option:
        # when the URL holds one, no option value is quoted.
        if self._is_secret(name) or any(self._is_secret(k) for k in self.query):
            return f"option {name}"
        return f"option {name}={value!r}"

    def option(self, name: str, default: str | None = None) -> str | None:
        """A query option's value, else its value in ``defaults``, else *default*."""
        return self.query.get(name, self.defaults.get(name, default))

    def flag(self, name: str, default: bool = False) -> bool:
        """A boolean query option (true/false, yes/no, on/off, 1/0)."""
        value = self.option(name)
        if value is None:
            return default
        lowered = value.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ConfigurationError(
            f"{self.display()}: {self._quotable(name, value)} is not a boolean"
        )

    def number(self, name: str, default: float) -> float:
        """A positive numeric query option."""
        value = self.option(name)
        if value is None:
            return default
        try:
            number = float(value)
        except ValueError:
            number = -1.0
        if not number > 0 or number == float("inf"):
            raise ConfigurationError(
                f"{self.display()}: {self._quotable(name, value)} is not a positive number"
            )
        return number

    def check_options(self, allowed: Sequence[str]) -> None:
        """Raise ConfigurationError naming any query option not in *allowed*."""
        unknown = sorted(set(self.query) - set(allowed))
        if not unknown:
            return
        known = ", ".join(sorted(allowed)) or "none"
        if any(self._is_secret(k) for k in self.query):
            raise ConfigurationError(
                f"{self.display()}: unknown option(s) (not named: the URL holds a secret "
                f"option, and a '&' in a secret must be written %26); known: {known}"
            )
        names = ", ".join(n if _NAME.match(n) else "(a name that is not shown)" for n in unknown)
        raise ConfigurationError(f"{self.display()}: unknown option(s) {names}; known: {known}")


_SCHEME_PREFIX = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:/*")


def redact_url(url: str) -> str:
    """*url* with everything between its scheme and its last ``@`` replaced by ``***``.

    For text that could not be parsed as a URL, where the parts are unknown: it may hide
    more than the user and password (an ``@`` in an option), never less, and it works
    without ``//`` too (``alice:pw@host``). Text without ``@`` is shown only when it is a
    plain name; otherwise it may be a password alone, and nothing of it is shown.
    """
    match = _SCHEME_PREFIX.match(url)
    prefix = match.group() if match else ""
    if "@" in url:
        return f"{prefix}***@{url.rpartition('@')[2]}"
    return url if _NAME.match(url) else f"{prefix}***"


def _fail(url: str, reason: str) -> ConfigurationError:
    return ConfigurationError(f"{_safe_start(url)}: {reason}")


def _safe_start(url: str) -> str:
    """How an error names a URL it could not read: its scheme, never more."""
    scheme, sep, _ = url.partition("://")
    if sep and _SCHEME.match(scheme.lower()):
        return f"{scheme.lower()}:// URL"
    return "transport URL"


_ENCODE_ADVICE = (
    "percent-encode '/' in the password as %2F, '?' as %3F, '#' as %23, '@' as %40 "
    "(and '@' in an option value as %40)"
)


def parse_url(url: str) -> TransportURL:
    """Parse one transport URL; raise ConfigurationError naming the bad part, never a secret.

    ``scheme://[user[:password]@]host[:port][/path][?option=value&...]``. The user part ends at
    the last ``@``; the password starts at the first ``:`` in it. Everything is
    percent-decoded once. There is no fragment: a ``#`` is data.
    """
    text = url.strip()
    scheme_text, sep, rest = text.partition("://")
    if not sep:
        raise ConfigurationError(f"{redact_url(text)!r} is not a URL (expected scheme://...)")
    scheme = scheme_text.lower()
    if not _SCHEME.match(scheme):
        shown = repr(scheme) if _NAME.match(scheme) else "(not shown)"
        raise ConfigurationError(
            f"invalid scheme {shown}: a transport URL starts with a scheme such as smtp://"
        )
    record = _SCHEMES.get(scheme, _UNKNOWN)
    userinfo: str | None = None
    tail = rest
    if not rest.startswith("/"):
        at = rest.rfind("@")
        if at >= 0:
            userinfo, tail = rest[:at], rest[at + 1 :]
    location, _, query_text = tail.partition("?")
    hostport, slash, path = location.partition("/")
    path = f"{slash}{path}"
    query = _parse_query(text, query_text)
    username, password = _parse_userinfo(text, record, userinfo, query)
    host, port = _parse_hostport(text, hostport)
    if path and record.network:
        # A password holding '/' with no '@' after it lands here: nothing of it is quoted.
        raise _fail(
            text, f"{scheme}:// URLs take no path; if the password holds '/', {_ENCODE_ADVICE}"
        )
    try:
        return TransportURL(
            scheme=scheme,
            host=host,
            port=port,
            username=username,
            password=password,
            path=unquote(path),
            query=query,
        )
    except ValidationError as exc:
        raise _fail(text, describe_validation_error(exc)) from None


def _parse_query(url: str, text: str) -> dict[str, str]:
    query: dict[str, str] = {}
    for piece in text.split("&"):
        if not piece:
            continue
        key, _, value = piece.partition("=")
        key, value = unquote_plus(key), unquote_plus(value)
        if key in query:
            name = repr(key) if _NAME.match(key) else "(a name that is not shown)"
            raise _fail(url, f"option {name} given twice")
        query[key] = value
    return query


def _parse_userinfo(
    url: str, record: Scheme, userinfo: str | None, query: Mapping[str, str]
) -> tuple[str | None, SecretStr | None]:
    if userinfo is None:
        return None, None
    for option in record.secret_options:
        # An '@' inside a secret option's value moved the split into the query.
        if f"?{option}=" in userinfo or f"&{option}=" in userinfo:
            raise _fail(url, f"cannot tell the user part from the options: {_ENCODE_ADVICE}")
    if record.user == "none":
        raise _fail(url, f"{record.name}:// URLs take no user name or password")
    raw_user, colon, raw_password = userinfo.partition(":")
    if record.shows_user and any(c in raw_user for c in "/?#"):
        # A login holds none of these: most likely an option value held an '@'.
        raise _fail(url, f"cannot tell the user part from the host and options: {_ENCODE_ADVICE}")
    user = unquote(raw_user)
    password = SecretStr(unquote(raw_password)) if colon else None
    if record.user == "key":
        # sendgrid://KEY@default, or sendgrid://:KEY@default: the key is the secret.
        key = password if password is not None and password.get_secret_value() else None
        return None, key or (SecretStr(user) if user else password)
    return (user or None), password


def _parse_hostport(url: str, hostport: str) -> tuple[str, int | None]:
    port_text = ""
    if hostport.startswith("["):
        host, bracket, after = hostport[1:].partition("]")
        if not bracket or (after and not after.startswith(":")):
            raise _fail(url, "an IPv6 address must be written [address] or [address]:port")
        port_text = after[1:]
        has_port = bool(after)
    else:
        host, colon, port_text = hostport.partition(":")
        has_port = bool(colon)
    port: int | None = None
    if has_port:
        if not _PORT.match(port_text) or not 1 <= int(port_text) <= 65535:
            # Not quoted: with a password and no '@', the "port" is the start of the password.
            raise _fail(
                url,
                "port: must be a number between 1 and 65535; if a password holds ':' and "
                f"no '@' follows, the host is missing, or {_ENCODE_ADVICE}",
            )
        port = int(port_text)
    return unquote(host).lower(), port


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
    """One URL, a comma-separated string of URLs, or a list of either -> a flat list.

    A comma starts a new URL only before ``scheme://``, so a password may hold commas; before
    an unregistered scheme only when the URL so far has its ``@`` (else the comma is most
    likely inside a password); never inside the value of a secret option. A password that
    holds a comma followed by a registered ``scheme://`` must be percent-encoded (``%2C``).
    """
    items = [urls] if isinstance(urls, str) else list(urls)
    out: list[str] = []
    for item in items:
        start = 0
        for match in _URL_START.finditer(item):
            before = item[start : match.start()]
            scheme = item[match.end() :].partition("://")[0].lower()
            if scheme not in _SCHEMES and "@" not in before.partition("://")[2]:
                continue  # "smtp://u:pa, x://y@host": a password holding ", x://"
            if _in_secret_option(before):
                continue  # "vault://h?token=a, smtp://b": the secret holds ", smtp://"
            out.append(before.strip())
            start = match.end()
        out.append(item[start:].strip())
    return [u for u in out if u]


def _in_secret_option(text: str) -> bool:
    """True when *text* ends inside the value of a secret query option."""
    scheme, sep, rest = text.partition("://")
    record = _SCHEMES.get(scheme.lower())
    if not sep or record is None or not record.secret_options or "?" not in rest:
        return False
    last = re.split(r"[?&]", rest)[-1]
    return last.partition("=")[0] in record.secret_options


# How a URL names its token provider: pure rules on the URL, kept here (not in mailsdk.auth)
# so that needs_secret reads them without the URL layer importing the auth package.
OAUTH_URL_OPTIONS = (
    "oauth",
    "tenant_id",
    "client_id",
    "client_secret",
    "certificate_file",
    "authority",
    "key_file",
    "subject",
    "token_uri",
    "scope",
    "token_ca_file",
    "delegated",
)
"""URL options that configure a token provider (accepted by smtp://, graph://, gmail://)."""

_OAUTH_DEFAULT_KIND = {"graph": "microsoft", "gmail": "google"}


def oauth_kind(url: TransportURL) -> str | None:
    """The token provider *url* names (``"microsoft"`` or ``"google"``), or None."""
    named = any(name in url.query for name in OAUTH_URL_OPTIONS)
    kind = url.option("oauth") or (_OAUTH_DEFAULT_KIND.get(url.scheme) if named else None)
    if kind is not None and kind not in ("microsoft", "google"):
        raise ConfigurationError(f"{url.display()}: oauth={kind!r}; use microsoft or google")
    fixed = _OAUTH_DEFAULT_KIND.get(url.scheme)
    if kind is not None and fixed is not None and kind != fixed:
        raise ConfigurationError(f"{url.display()}: {url.scheme}:// needs oauth={fixed}")
    return kind


def wants_oauth(url: TransportURL) -> bool:
    """True when *url* authenticates with OAuth tokens (XOAUTH2, Graph or Gmail)."""
    if url.scheme in ("graph", "gmail"):
        return True
    return url.option("auth") == "xoauth2" or any(name in url.query for name in OAUTH_URL_OPTIONS)


def oauth_needs_secret(url: TransportURL) -> bool:
    """Whether an OAuth *url* needs a secret looked up for its password slot.

    A provider configured from files (``certificate_file=``, ``key_file=``) needs none, nor
    does a URL naming no provider (its tokens come from the sender's ``token_provider``).
    """
    kind = oauth_kind(url)
    # Incomplete ids need no look-up: building the provider then says what is missing.
    if kind == "microsoft":
        ids = url.option("tenant_id") and url.option("client_id")
        return bool(ids) and url.option("certificate_file") is None
    if kind == "google":
        return url.option("key_file") is None and bool(url.option("client_id"))
    return False


def needs_secret(url: TransportURL) -> bool:
    """True when *url* leaves out a secret its scheme needs (``smtp://user@host``: a login
    without a password; ``sendgrid://default``: no API key). Pure: nothing is looked up."""
    kind = url.record.credential
    if kind is None or url.password is not None:
        return False
    # An OAuth URL (auth=xoauth2, graph://, gmail://) needs its provider's one secret (a
    # client secret or refresh token), or none when a certificate or key file stands in.
    if wants_oauth(url):
        return oauth_needs_secret(url)
    if kind == "password":
        return bool(url.username)
    return not url.username
