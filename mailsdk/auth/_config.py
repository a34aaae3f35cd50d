"""Token providers named in transport URLs, so OAuth needs no code.

``smtp://reports%40contoso.com@smtp.office365.com:587?oauth=microsoft&tenant_id=…&client_id=…``
``graph://reports%40contoso.com?tenant_id=…&client_id=…``
``smtp://reports%40example.com@smtp.gmail.com:587?oauth=google&key_file=/etc/mail/sa.json``
``gmail://me?client_id=…&client_secret=…`` (a delegated mailbox's refresh token)
``smtp://me%40contoso.com@smtp.office365.com:587?oauth=microsoft&delegated=true&tenant_id=…&client_id=…``

The URL names the provider and its ids; the one secret (the Entra client secret, or the
Google refresh token) sits in the URL's password slot and, like a password, is best left out
of the URL: it is then found in the environment or the keyring (:mod:`mailsdk.credentials`),
where ``mailsdk credentials oauth login`` stores refresh tokens. Certificates and service
account keys are files named by ``certificate_file=`` / ``key_file=``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Literal

from pydantic import SecretStr

from mailsdk.auth._token import TokenProvider
from mailsdk.errors import ConfigurationError
from mailsdk.url import (
    OAUTH_URL_OPTIONS,
    TransportURL,
    oauth_kind,
    oauth_needs_secret,
    wants_oauth,
)

log = logging.getLogger("mailsdk")

__all__ = ["OAUTH_URL_OPTIONS", "oauth_needs_secret", "provider_from_url", "wants_oauth"]

Endpoint = Literal["smtp", "graph", "gmail"]


def provider_from_url(url: TransportURL, endpoint: Endpoint) -> TokenProvider | None:
    """The token provider *url* names, or None when it names none."""
    kind = oauth_kind(url)
    if kind is None:
        for name in OAUTH_URL_OPTIONS:
            if name in url.query:
                raise ConfigurationError(
                    f"{url.display()}: option {name}= needs oauth=microsoft or oauth=google"
                )
        return None
    scopes = [url.option("scope") or ""] if url.option("scope") else None
    ca_file = url.option("token_ca_file")
    timeout = url.number("timeout", 30.0)
    secret = url.password
    if kind == "microsoft":
        from mailsdk.auth.microsoft import MicrosoftClientCredentials

        tenant_id, client_id = url.option("tenant_id"), url.option("client_id")
        if not tenant_id or not client_id:
            raise ConfigurationError(
                f"{url.display()}: oauth=microsoft needs tenant_id= and client_id="
            )
        if url.flag("delegated"):
            from mailsdk.auth.microsoft import MicrosoftRefreshToken

            if secret is None:
                raise ConfigurationError(
                    f"{url.display()}: delegated=true needs the refresh token: run "
                    "`mailsdk credentials oauth login microsoft`"
                )
            return MicrosoftRefreshToken(
                tenant_id,
                client_id,
                secret,
                on_rotate=_keyring_keeper(url),
                endpoint="graph" if endpoint == "graph" else "smtp",
                scopes=scopes,
                authority=url.option("authority"),
                ca_file=ca_file,
                timeout=timeout,
            )
        certificate = url.option("certificate_file")
        return MicrosoftClientCredentials(
            tenant_id,
            client_id,
            client_secret=None if certificate else secret,
            certificate_file=certificate,
            certificate_password=secret if certificate else None,
            endpoint="graph" if endpoint == "graph" else "smtp",
            scopes=scopes,
            authority=url.option("authority"),
            ca_file=ca_file,
            timeout=timeout,
        )
    from mailsdk.auth.google import GOOGLE_TOKEN_URI, GoogleRefreshToken, GoogleServiceAccount

    google_endpoint: Literal["smtp", "gmail"] = "gmail" if endpoint == "gmail" else "smtp"
    key_file = url.option("key_file")
    if key_file:
        # SMTP logs in as the URL's user, so that is whom the service account acts for.
        subject = url.option("subject") or url.username
        if subject is None and endpoint == "gmail" and url.host not in ("", "me"):
            subject = url.host
        return GoogleServiceAccount(
            key_file,
            subject=subject,
            endpoint=google_endpoint,
            scopes=scopes,
            token_uri=url.option("token_uri"),
            ca_file=ca_file,
            timeout=timeout,
        )
    client_id = url.option("client_id")
    if not client_id or secret is None:
        raise ConfigurationError(
            f"{url.display()}: oauth=google needs key_file= (a service account), or "
            "client_id= and client_secret= with the refresh token kept in the keyring "
            "(`mailsdk credentials oauth login google`) or the environment"
        )
    return GoogleRefreshToken(
        client_id,
        url.option("client_secret") or "",
        secret,
        endpoint=google_endpoint,
        scopes=scopes,
        token_uri=url.option("token_uri") or GOOGLE_TOKEN_URI,
        ca_file=ca_file,
        timeout=timeout,
    )


def _keyring_keeper(url: TransportURL) -> Callable[[SecretStr, SecretStr], None]:
    """Replace a rotated refresh token in the keyring, when the keyring held the old one.

    A token that came from the environment or the URL is left alone (we cannot write
    there); any keyring failure is logged without detail: sending goes on with the new
    token in memory.
    """
    from dataclasses import replace

    bare = replace(url, password=None)

    def keep(old: SecretStr, new: SecretStr) -> None:
        try:
            import keyring

            from mailsdk.credentials import keyring_entry

            entry = keyring_entry(bare)
            if keyring.get_password(entry.service, entry.username) == old.get_secret_value():
                keyring.set_password(entry.service, entry.username, new.get_secret_value())
        except Exception as exc:
            log.debug(
                "the rotated refresh token was not kept in the keyring (%s)", type(exc).__name__
            )

    return keep
