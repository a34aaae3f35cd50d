"""Building transports from URLs: the one place a scheme's record becomes a transport.

``smtp://user:pass@host:587``, ``smtps://host:465``, ``memory://``, ``file:///var/mail/out``,
``console://``, provider schemes such as ``sendgrid://KEY@default``. A list of URLs, or one
string with commas between URLs, is a failover list. Errors name the bad part of a URL and
never echo its secret.

The URL itself is data (:mod:`mailsdk.url`: the scheme records, the parser, display names);
secrets a URL leaves out are found by :mod:`mailsdk.credentials`. This module joins the two
and is re-exported from both sides' old home: ``from mailsdk.config import parse_url`` keeps
working. Layering, with no cycle: ``errors`` <- ``url`` <- ``credentials`` <- ``config``.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from pydantic import SecretStr

from mailsdk.credentials import lookup_secrets, with_secret
from mailsdk.errors import ConfigurationError
from mailsdk.url import (
    Scheme,
    SecretKind,
    TransportFactory,
    TransportURL,
    UserPart,
    describe_validation_error,
    needs_secret,
    parse_url,
    redact_url,
    register_scheme,
    registered_schemes,
    relay_name,
    scheme_record,
    secret_kind,
    shown_user,
    split_urls,
)

if TYPE_CHECKING:
    from mailsdk.transports.base import Transport

__all__ = [
    "ConfigurationError",
    "Scheme",
    "SecretKind",
    "TransportFactory",
    "TransportURL",
    "UserPart",
    "build_transport",
    "build_transports",
    "describe_validation_error",
    "needs_secret",
    "parse_url",
    "redact_url",
    "register_scheme",
    "registered_schemes",
    "relay_name",
    "scheme_record",
    "secret_kind",
    "shown_user",
    "split_urls",
    "transport_from_url",
    "transports_from_urls",
]


def _known(scheme: str) -> Scheme:
    record = scheme_record(scheme)
    if record is None:
        raise ConfigurationError(
            f"unknown scheme {scheme!r}; known: {', '.join(registered_schemes())}"
        )
    return record


def _factory(record: Scheme) -> TransportFactory:
    if not isinstance(record.target, str):
        return record.target
    module_name, _, attr = record.target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        if record.extra is None:
            raise
        raise ConfigurationError(
            f"{record.name}:// needs an optional dependency ({exc.name}): "
            f"pip install 'mailsdk[{record.extra}]'"
        ) from None
    factory: TransportFactory = getattr(module, attr).from_url
    return factory


def build_transport(url: TransportURL) -> Transport:
    """The transport *url* describes, as it stands: nothing is looked up.

    The one function that turns a URL into a transport; a URL that still lacks its secret
    (see :func:`needs_secret`) reaches the transport as it is, which refuses it.
    """
    if "rate" in url.query:  # ?rate=20/s: a per-relay limit around the relay's transport
        from mailsdk.ratelimit import RateLimitedTransport

        query = {k: v for k, v in url.query.items() if k != "rate"}
        return RateLimitedTransport(build_transport(replace(url, query=query)), url.query["rate"])
    return _factory(_known(url.scheme))(url)


def transport_from_url(
    url: str | TransportURL,
    *,
    environ: Mapping[str, str] | None = None,
    fallback: SecretStr | None = None,
) -> Transport:
    """Build the transport a URL describes.

    A URL that leaves out its secret (:func:`needs_secret`) gets it from the environment
    variable named after the URL, else *fallback*, else keyring (see
    :mod:`mailsdk.credentials`); *environ* replaces ``os.environ`` for that look-up.
    """
    parsed = url if isinstance(url, TransportURL) else parse_url(url)
    record = _known(parsed.scheme)  # an unknown scheme is reported before any look-up
    if needs_secret(parsed):
        parsed = with_secret(parsed, record, environ=environ, fallback=fallback)
    return build_transport(parsed)


def build_transports(
    urls: Sequence[TransportURL],
    *,
    environ: Mapping[str, str] | None = None,
    password: SecretStr | None = None,
) -> list[Transport]:
    """One transport per parsed URL, secrets found by the one lookup order.

    Every scheme is checked before any secret is looked up, so a typo is reported first;
    *password* (``MAILSDK_PASSWORD``) serves only when exactly one URL lacks its secret
    (see :func:`mailsdk.credentials.lookup_secrets`).
    """
    if not urls:
        raise ConfigurationError("no transport URL given")
    for url in urls:
        _known(url.scheme)
    found = lookup_secrets(urls, environ=environ, password=password)
    return [build_transport(url) for url, _ in found]


def transports_from_urls(
    urls: str | Sequence[str], *, environ: Mapping[str, str] | None = None
) -> list[Transport]:
    """Build one transport per URL (see :func:`split_urls` and :func:`build_transports`)."""
    return build_transports([parse_url(u) for u in split_urls(urls)], environ=environ)
