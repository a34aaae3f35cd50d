"""Secrets kept out of URLs: found in the environment or the system keyring, never printed.

A URL may leave out its secret: ``smtp://reports@mail.example.com:587`` (an SMTP login
without its password), ``sendgrid://default`` (no API key), ``mailjet://API_KEY@default``
(no secret key), ``ses://ACCESS_KEY_ID@eu-west-1`` (no secret access key). When a transport is
built from such a URL, the secret is looked up, first match wins:

1. the environment variable named after the URL, :func:`env_var_name`:
   ``MAILSDK_PASSWORD_SMTP_MAIL_EXAMPLE_COM_587``, ``MAILSDK_PASSWORD_SENDGRID_DEFAULT``;
2. ``MAILSDK_PASSWORD``, only through :meth:`mailsdk.Sender.from_env` and the ``mailsdk``
   command, and only when a single relay of the configuration lacks its secret (one shared
   variable must never hand one relay's password to another);
3. keyring, under service ``mailsdk:<scheme>://<host>:<port>`` (:func:`service_name`; the
   host lower-cased, the port made explicit, user and options left out) and user name the
   URL's user (the SMTP login, the Mailjet API key, the AWS access key id) or ``api-key``
   for schemes whose URL holds only an API key.

:func:`lookup_secrets` is the one place that applies this order; ``Sender.from_env``, the
``mailsdk`` command (``send``, ``check``, ``credentials check``) and the framework settings
all go through it. Which scheme takes which secret is read from the scheme's record
(:class:`mailsdk.url.Scheme`), never from a scheme name. Whatever is shown about a URL
(errors, keyring entries, command output) hides a user part that names a key, by
:func:`mailsdk.url.shown_user`.

``mailsdk credentials set URL`` stores a secret under that name. Where no keyring backend is
usable (a headless server, CI), the look-up raises :class:`CredentialError` naming the
environment variable to set instead; an exception from inside keyring never escapes.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TypeVar

from pydantic import SecretStr

from mailsdk.errors import ConfigurationError, CredentialError
from mailsdk.url import Scheme, TransportURL, needs_secret, parse_url, shown_user

__all__ = [
    "API_KEY_USER",
    "ENV_PASSWORD",
    "SERVICE_PREFIX",
    "ConfigurationError",
    "CredentialError",
    "KeyringEntry",
    "SecretSource",
    "delete_secret",
    "env_var_name",
    "find_secret",
    "keyring_entry",
    "lookup_secrets",
    "service_name",
    "store_secret",
    "with_secret",
]

T = TypeVar("T")

SERVICE_PREFIX = "mailsdk:"
"""Every keyring service name mailsdk uses starts with this."""
API_KEY_USER = "api-key"
"""The keyring user name for schemes whose URL carries only an API key."""
ENV_PASSWORD = "MAILSDK_PASSWORD"  # noqa: S105 - a variable name, not a password
"""The one-relay fallback variable; per-URL variables add ``_<SCHEME>_<HOST>_<PORT>``."""

_NOT_ALNUM = re.compile(r"[^A-Z0-9]+")
_ADVICE_BACKEND = (
    "or choose a working keyring backend: `pip install keyrings.alt` and set "
    "PYTHON_KEYRING_BACKEND=keyrings.alt.file.PlaintextKeyring (that backend stores secrets "
    "unencrypted, in a file readable by your user)"
)


@dataclass(frozen=True)
class KeyringEntry:
    """Where keyring keeps one URL's secret: a service name and a user name.

    ``username`` may be a key's name (a Mailjet API key, an AWS access key id): it is used for
    keyring, never shown. :meth:`describe` and the repr show it as :func:`shown_user` says.
    """

    service: str
    username: str
    shown: str = field(default="***", compare=False)
    """The user name as it may be shown."""

    def describe(self) -> str:
        """``service 'mailsdk:smtp://host:587', user 'reports'``, safe for any output."""
        return f"service {self.service!r}, user {self.shown!r}"

    def __repr__(self) -> str:
        return f"KeyringEntry(service={self.service!r}, username={self.shown!r})"


@dataclass(frozen=True)
class SecretSource:
    """Where a secret was found (for ``mailsdk credentials check``); never the secret."""

    kind: str
    """``"url"``, ``"environment"`` or ``"keyring"``."""
    detail: str
    """The variable's name, or the keyring service and user (a key's name shown as ``***``)."""


def _as_url(url: str | TransportURL) -> TransportURL:
    return url if isinstance(url, TransportURL) else parse_url(url)


def service_name(url: str | TransportURL) -> str:
    """The keyring service for *url*: ``mailsdk:smtp://mail.example.com:587``,
    ``mailsdk:sendgrid://default``. User, options and secret are not part of it.

    ``smtp://host`` and ``smtp://host:587`` are the same relay: the scheme record's default
    port is made explicit, so they share one entry."""
    parsed = _as_url(url)
    host = parsed.host.lower()
    if ":" in host:
        host = f"[{host}]"
    port = parsed.effective_port()
    return f"{SERVICE_PREFIX}{parsed.scheme}://{host}" + (f":{port}" if port else "")


def env_var_name(url: str | TransportURL) -> str:
    """The environment variable holding *url*'s secret:
    ``MAILSDK_PASSWORD_SMTP_MAIL_EXAMPLE_COM_587`` (scheme, host and port, upper-cased, every
    run of other characters made one ``_``)."""
    parsed = _as_url(url)
    port = parsed.effective_port()
    raw = f"{parsed.scheme}_{parsed.host}" + (f"_{port}" if port else "")
    return f"{ENV_PASSWORD}_" + _NOT_ALNUM.sub("_", raw.upper()).strip("_")


def keyring_entry(url: str | TransportURL, scheme: Scheme | None = None) -> KeyringEntry:
    """The keyring service and user name for *url*'s secret; *scheme* is its record
    (default: the registered one).

    Raises CredentialError when the scheme takes no secret, or when the URL lacks the user
    name its secret belongs to (``smtp://host:587``: which login?).
    """
    parsed = _as_url(url)
    record = scheme or parsed.record
    if record.credential is None:
        raise CredentialError(f"{parsed.display()}: {parsed.scheme}:// URLs take no secret")
    where = parsed.host or "default"
    if record.credential == "key":
        if parsed.username or parsed.password is not None:
            raise CredentialError(
                f"{parsed.scheme}:// URL carries its API key in the user part; "
                f"write {parsed.scheme}://{where} to keep it in keyring"
            )
        return KeyringEntry(service_name(parsed), API_KEY_USER, API_KEY_USER)
    if not parsed.username:
        raise CredentialError(
            f"{parsed.display()}: name the user the secret belongs to, "
            f"as in {parsed.scheme}://{record.user_label}@{where}"
        )
    shown = shown_user(record, parsed.username) or "***"
    return KeyringEntry(service_name(parsed), parsed.username, shown)


def _backend_name() -> str:
    try:
        import keyring

        backend = keyring.get_keyring()
    except Exception:
        return "unknown"
    return f"{type(backend).__module__}.{type(backend).__qualname__}"


def _keyring_call(action: str, url: TransportURL, call: Callable[[], T]) -> T:
    """Run one keyring call; turn anything it raises into a CredentialError with advice.

    Backends raise their own exception types (D-Bus errors, a locked collection, keyring's
    NoKeyringError on a headless machine), so every exception is caught. Their text is left
    out: a backend's message is outside our control and, on a write, could quote the secret.
    """
    try:
        return call()
    except Exception as exc:
        reason = type(exc).__name__
        headless = reason in ("NoKeyringError", "InitError")
        what = "no usable keyring backend" if headless else "the keyring backend failed"
        raise CredentialError(
            f"cannot {action} the secret for {url.display()}: {what} "
            f"({reason} from {_backend_name()}). Set the environment variable "
            f"{env_var_name(url)} instead (or {ENV_PASSWORD} when this is the only relay "
            f"lacking a secret), put the secret in the URL, {_ADVICE_BACKEND}"
        ) from None


def _keyring_secret(url: TransportURL, entry: KeyringEntry) -> SecretStr | None:
    import keyring  # imported here: keyring loads its backends on first use

    value = _keyring_call("read", url, lambda: keyring.get_password(entry.service, entry.username))
    return SecretStr(value) if value else None


def find_secret(
    url: str | TransportURL,
    scheme: Scheme | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    fallback: SecretStr | None = None,
) -> tuple[SecretStr, SecretSource] | None:
    """The secret for *url* and where it was found, or None when there is none.

    Looks in the URL, the URL's environment variable, *fallback* (the caller's
    ``MAILSDK_PASSWORD``, when it applies) and keyring, in that order; *scheme* is the URL's
    record (default: the registered one). Raises CredentialError when keyring is asked and no
    backend is usable.
    """
    parsed = _as_url(url)
    if parsed.password is not None:
        return parsed.password, SecretSource("url", parsed.display())
    env = os.environ if environ is None else environ
    name = env_var_name(parsed)
    value = env.get(name, "")
    if value:
        return SecretStr(value), SecretSource("environment", name)
    if fallback is not None and fallback.get_secret_value():
        return fallback, SecretSource("environment", ENV_PASSWORD)
    entry = keyring_entry(parsed, scheme)
    secret = _keyring_secret(parsed, entry)
    if secret is None:
        return None
    return secret, SecretSource("keyring", entry.describe())


def _missing(url: TransportURL, scheme: Scheme | None) -> CredentialError:
    entry = keyring_entry(url, scheme)
    return CredentialError(
        f"no secret for {url.display()}: store it with "
        f"`mailsdk credentials set '{url.display()}'` (keyring {entry.describe()}), set the "
        f"environment variable {env_var_name(url)}, or put it in the URL"
    )


def with_secret(
    url: TransportURL,
    scheme: Scheme | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    fallback: SecretStr | None = None,
) -> TransportURL:
    """*url* with its secret filled in (see :func:`find_secret`); unchanged when it needs
    none. Raises CredentialError, saying where to put the secret, when none is found."""
    if not needs_secret(url):
        return url
    found = find_secret(url, scheme, environ=environ, fallback=fallback)
    if found is None:
        raise _missing(url, scheme)
    # Both kinds go to the password slot: every transport reads a key there too
    # (sendgrid://:KEY@default), and the user part keeps the login it names.
    return replace(url, password=found[0])


def lookup_secrets(
    urls: Sequence[TransportURL],
    *,
    environ: Mapping[str, str] | None = None,
    password: SecretStr | None = None,
    missing_ok: bool = False,
) -> list[tuple[TransportURL, SecretSource | None]]:
    """The one lookup order: each URL with its secret filled in, and where it was found.

    *password* is ``MAILSDK_PASSWORD``: it serves only when exactly one URL lacks its secret
    (one shared variable must never hand one relay's password to another). A URL needing no
    secret comes back unchanged with None. Raises CredentialError for a URL whose secret is
    found nowhere, unless *missing_ok* (then it comes back unchanged with None).
    """
    lacking = [u for u in urls if needs_secret(u)]
    fallback = password if len(lacking) == 1 else None
    out: list[tuple[TransportURL, SecretSource | None]] = []
    for url in urls:
        if not needs_secret(url):
            source = SecretSource("url", url.display()) if url.password is not None else None
            out.append((url, source))
            continue
        found = find_secret(url, url.record, environ=environ, fallback=fallback)
        if found is None:
            if not missing_ok:
                raise _missing(url, url.record)
            out.append((url, None))
            continue
        out.append((replace(url, password=found[0]), found[1]))
    return out


def store_secret(url: str | TransportURL, secret: str | SecretStr) -> KeyringEntry:
    """Store *secret* in keyring for *url* (which must not carry one); return the entry."""
    parsed = _as_url(url)
    if parsed.password is not None:
        raise CredentialError(
            f"{parsed.display()}: the URL already carries a secret; give the URL without it"
        )
    value = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
    if not value:
        raise CredentialError(f"{parsed.display()}: the secret is empty")
    entry = keyring_entry(parsed)
    import keyring

    _keyring_call(
        "store", parsed, lambda: keyring.set_password(entry.service, entry.username, value)
    )
    return entry


def delete_secret(url: str | TransportURL) -> bool:
    """Remove *url*'s secret from keyring. False when there was none."""
    parsed = _as_url(url)
    entry = keyring_entry(parsed)
    import keyring
    from keyring.errors import PasswordDeleteError

    def delete() -> bool:
        try:
            keyring.delete_password(entry.service, entry.username)
        except PasswordDeleteError:
            return False
        return True

    return _keyring_call("delete", parsed, delete)
