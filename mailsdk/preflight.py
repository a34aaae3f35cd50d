"""Configuration checks that need no secret and no network: run them before either.

A typo in a scheme or an option, or a transport whose extra is not installed, should be
reported as that, at once, and not after a keyring prompt or a failed look-up for a secret
that would never have been used. The command line runs these before building its senders
and Django's system checks run them at start-up.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import replace

from pydantic import SecretStr

from mailsdk.config import (
    ConfigurationError,
    TransportURL,
    needs_secret,
    parse_url,
    registered_schemes,
    split_urls,
    transport_from_url,
)

__all__ = ["EXTRAS", "check_url", "check_urls", "missing_extra_hint"]

EXTRAS = {
    "aiosmtpd": "devserver",
    "trustme": "devserver",
    "botocore": "ses",
    "django": "django",
    "flask": "flask",
    "dns": "doctor",
}
"""Top-level module -> the mailsdk extra that installs it."""

# A stand-in for the secret while the rest of the URL is checked; never sent anywhere.
_STAND_IN = SecretStr("stand-in-secret-for-a-configuration-check")


def missing_extra_hint(exc: ImportError) -> str:
    """One line saying which ``pip install 'mailsdk[...]'`` provides what *exc* lacks."""
    text = str(exc)
    if "pip install" in text:
        return text
    module = (exc.name or "").partition(".")[0]
    extra = EXTRAS.get(module)
    if extra is None:
        return f"a module mailsdk needs is missing ({module or text}): reinstall mailsdk"
    return (
        f"this needs the {extra} extra ({module} is not installed): pip install 'mailsdk[{extra}]'"
    )


def _unknown_scheme(url: TransportURL) -> ConfigurationError:
    known = registered_schemes()
    close = difflib.get_close_matches(url.scheme, known, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]}://?" if close else ""
    return ConfigurationError(
        f"{url.display()}: unknown scheme {url.scheme!r}{hint} (known: {', '.join(known)})"
    )


def check_url(url: str | TransportURL) -> TransportURL:
    """Check everything about *url* that needs no secret; return it parsed.

    Raises ConfigurationError for an unknown scheme (naming the closest known one), an
    option the transport does not take or a bad value, and a transport whose extra is not
    installed (naming the ``pip install`` that fixes it). Looks nothing up, connects nowhere.
    """
    parsed = url if isinstance(url, TransportURL) else parse_url(url)
    if parsed.scheme not in registered_schemes():
        raise _unknown_scheme(parsed)
    candidate = replace(parsed, password=_STAND_IN) if needs_secret(parsed) else parsed
    try:
        # Building a transport does no I/O (HTTP clients and SMTP connections open lazily).
        transport_from_url(candidate, environ={})
    except ImportError as exc:
        raise ConfigurationError(f"{parsed.display()}: {missing_extra_hint(exc)}") from None
    return parsed


def check_urls(urls: str | Sequence[str]) -> list[TransportURL]:
    """:func:`check_url` for each of *urls* (a list, or a comma-separated string)."""
    flat = split_urls(urls)
    if not flat:
        raise ConfigurationError("no transport URL given")
    return [check_url(u) for u in flat]
