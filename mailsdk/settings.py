"""Configuration from the environment, a ``.env`` file and ``mailsdk.toml``: MailSettings.

Scripts and services configure mail once, outside the code::

    MAILSDK_URL="smtp://reports@mail.example.com:587, sendgrid://default"
    MAILSDK_FROM="Reports <reports@example.com>"

and call :meth:`mailsdk.Sender.from_env`. Each value is looked for, first match wins, in:
keywords given in code, the process environment, the ``.env`` file, then the TOML file
(``MAILSDK_CONFIG``, else ``./mailsdk.toml``, else ``[tool.mailsdk]`` in ``./pyproject.toml``).
The TOML file may name relays (``[relays]``) that ``MAILSDK_URL`` and ``--url`` refer to by
name. Secrets stay out of all of these: see :mod:`mailsdk.credentials`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field, PrivateAttr, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from mailsdk.config import build_transports
from mailsdk.credentials import ENV_PASSWORD, SecretSource, lookup_secrets
from mailsdk.defaults import set_default_sender
from mailsdk.errors import ConfigurationError
from mailsdk.message import Address
from mailsdk.options import Strategy
from mailsdk.retry import RetryPolicy
from mailsdk.url import (
    TransportURL,
    describe_validation_error,
    parse_url,
    redact_url,
    split_urls,
)

if TYPE_CHECKING:
    from mailsdk.dkim import DKIMSigner
    from mailsdk.suppressions import Suppressions
    from mailsdk.transports.base import Transport

__all__ = ["CONFIG_FILE_NAME", "MailSettings", "read_toml"]

CONFIG_FILE_NAME = "mailsdk.toml"
"""The configuration file looked for in the current directory."""


# What load() asked for, read by settings_customise_sources (which pydantic-settings calls
# without the constructor's arguments). "auto": look in the current directory.
_config_file: ContextVar[Path | Literal["auto"] | None] = ContextVar(
    "mailsdk_config_file", default="auto"
)

_RETRY_KEYS = ("attempts", "backoff", "max_backoff", "jitter", "deadline", "max_retry_after")
_FILE_KEYS = (
    "url",
    "from",
    "strategy",
    "timeout",
    "cooldown",
    "retry",
    "relays",
    "dkim",
    "routes",
    "allowed_recipients",
    "redirect_to",
    "suppressions_db",
)
ENV_ROUTE = "MAILSDK_ROUTE"
"""``MAILSDK_ROUTE_<NAME>``: the relays (URLs or relay names) of the route ``<name>``."""
_DKIM_KEYS = ("domain", "selector", "key_file", "algorithm", "skip_rerendering")
DKIM_KEYRING_SERVICE = "mailsdk:dkim"
"""keyring service of DKIM private keys; the user name is ``<selector>._domainkey.<domain>``."""


def _find_config_file() -> tuple[Path, tuple[str, ...]] | None:
    """The TOML file to read and the table inside it, or None."""
    chosen = _config_file.get()
    if chosen is None:
        return None
    if chosen == "auto":
        named = os.environ.get("MAILSDK_CONFIG", "").strip()
        if named:
            chosen = Path(named)
        elif Path(CONFIG_FILE_NAME).is_file():
            return Path(CONFIG_FILE_NAME), ()
        elif Path("pyproject.toml").is_file():
            return Path("pyproject.toml"), ("tool", "mailsdk")
        else:
            return None
    if not chosen.is_file():
        raise ConfigurationError(f"configuration file {str(chosen)!r} does not exist")
    table = ("tool", "mailsdk") if chosen.name == "pyproject.toml" else ()
    return chosen, table


def _flatten_file(data: Mapping[str, Any], where: str) -> dict[str, Any]:
    """TOML keys -> MailSettings fields; unknown keys are refused so a typo is not ignored."""
    unknown = sorted(set(data) - set(_FILE_KEYS))
    if unknown:
        hint = ""
        if "password" in unknown:
            hint = " (keep secrets out of files: use keyring or MAILSDK_PASSWORD)"
        raise ConfigurationError(
            f"{where}: unknown key(s) {', '.join(unknown)}{hint}; known: {', '.join(_FILE_KEYS)}"
        )
    out: dict[str, Any] = {
        k: v for k, v in data.items() if k not in ("from", "retry", "relays", "dkim", "routes")
    }
    routes = data.get("routes", {})
    if not isinstance(routes, Mapping):
        raise ConfigurationError(f"{where}: [routes] must be a table")
    if routes:
        # `bulk = "primary, sendgrid://default"` or `bulk = ["primary", "sendgrid://default"]`
        out["routes"] = {
            str(name): ", ".join(value) if isinstance(value, list) else value
            for name, value in routes.items()
        }
    dkim = data.get("dkim", {})
    if not isinstance(dkim, Mapping):
        raise ConfigurationError(f"{where}: [dkim] must be a table")
    bad_dkim = sorted(set(dkim) - set(_DKIM_KEYS))
    if bad_dkim:
        hint = " (keep the key out of files: key_file, MAILSDK_DKIM_KEY or keyring)"
        raise ConfigurationError(
            f"{where}: unknown [dkim] key(s) {', '.join(bad_dkim)}"
            f"{hint if 'key' in bad_dkim else ''}; known: {', '.join(_DKIM_KEYS)}"
        )
    out.update({f"dkim_{k}": v for k, v in dkim.items()})
    if "from" in data:
        out["from_"] = data["from"]
    retry = data.get("retry", {})
    if not isinstance(retry, Mapping):
        raise ConfigurationError(f"{where}: [retry] must be a table")
    bad = sorted(set(retry) - {*_RETRY_KEYS, "on_unknown"})
    if bad:
        raise ConfigurationError(
            f"{where}: unknown [retry] key(s) {', '.join(bad)}; "
            f"known: {', '.join((*_RETRY_KEYS, 'on_unknown'))}"
        )
    out.update({f"retry_{k}": v for k, v in retry.items()})
    relays = data.get("relays", {})
    if not isinstance(relays, Mapping):
        raise ConfigurationError(f"{where}: [relays] must be a table")
    named: dict[str, Any] = {}
    for name, value in relays.items():
        # Both `primary = "smtp://…"` and `[relays.primary] url = "smtp://…"` are accepted.
        if isinstance(value, Mapping):
            if set(value) != {"url"}:
                raise ConfigurationError(f"{where}: [relays.{name}] takes one key, url")
            value = value["url"]
        named[name] = value
    if named:
        out["relays"] = named
    return out


class _AnyTable(BaseSettings):
    model_config = SettingsConfigDict(extra="allow")


def read_toml(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A TOML file as a dict, read with pydantic-settings' reader (tomllib, or tomli on
    Python 3.10). Raises ValueError (TOMLDecodeError) naming the line of a syntax error."""
    return dict(TomlConfigSettingsSource(_AnyTable, toml_file=Path(path)).toml_data)


class _FileSource(InitSettingsSource):
    """The TOML file (read with pydantic-settings' reader), lowest in priority."""

    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        data: dict[str, Any] = {}
        found = _find_config_file()
        if found is not None:
            path, table = found
            where = f"{path}" + (f" [{'.'.join(table)}]" if table else "")
            try:
                raw: Any = read_toml(path)
            except ValueError as exc:  # tomllib.TOMLDecodeError: names the line and column
                raise ConfigurationError(f"{path}: {exc}") from None
            for key in table:
                raw = raw.get(key, {}) if isinstance(raw, Mapping) else {}
            data = _flatten_file(raw, where)
        super().__init__(settings_cls, data)


class MailSettings(BaseSettings):
    """Sending configuration: environment variables ``MAILSDK_*``, ``.env``, ``mailsdk.toml``.

    Use :meth:`load` (it turns every problem into a :class:`~mailsdk.ConfigurationError`
    that never quotes a secret), then :meth:`transports`, :meth:`retry_policy` and friends;
    :meth:`mailsdk.Sender.from_env` does all of that.
    """

    model_config = SettingsConfigDict(
        env_prefix="MAILSDK_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        validate_by_name=True,
        validate_by_alias=True,
    )

    url: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    """``MAILSDK_URL``: URLs or relay names, in failover order (commas between them). Held as
    SecretStr, since a URL may carry its password: ``vars()``, the repr and
    ``model_dump_json()`` show ``**********``; :meth:`relay_urls` reads them."""
    from_: str | None = Field(default=None, validation_alias="MAILSDK_FROM")
    """``MAILSDK_FROM``: the sender of messages that set none."""
    strategy: Strategy = "failover"
    """``MAILSDK_STRATEGY``: ``failover`` (in order) or ``round_robin`` (spread sends)."""
    timeout: float | None = Field(default=None, gt=0)
    """``MAILSDK_TIMEOUT``: seconds per network operation, for URLs that set no ``timeout=``."""
    cooldown: float = Field(default=30.0, ge=0)
    """``MAILSDK_COOLDOWN``: seconds a relay that failed is skipped."""
    retry_attempts: int | None = Field(default=None, ge=1)
    """``MAILSDK_RETRY_ATTEMPTS``: tries per relay (see :class:`~mailsdk.RetryPolicy`)."""
    retry_backoff: float | None = Field(default=None, ge=0)
    """``MAILSDK_RETRY_BACKOFF``: first delay between tries, in seconds."""
    retry_max_backoff: float | None = Field(default=None, ge=0)
    """``MAILSDK_RETRY_MAX_BACKOFF``: longest delay between tries."""
    retry_jitter: float | None = Field(default=None, ge=0)
    """``MAILSDK_RETRY_JITTER``: random seconds added to each delay."""
    retry_deadline: float | None = Field(default=None, gt=0)
    """``MAILSDK_RETRY_DEADLINE``: seconds one send may take over all relays."""
    retry_max_retry_after: float | None = Field(default=None, ge=0)
    """``MAILSDK_RETRY_MAX_RETRY_AFTER``: longest server-requested delay honoured."""
    retry_on_unknown: Literal["fail", "retry"] | None = None
    """``MAILSDK_RETRY_ON_UNKNOWN``: ``fail`` (at-most-once) or ``retry`` (at-least-once)."""
    password: SecretStr | None = None
    """``MAILSDK_PASSWORD``: the secret of the one relay whose URL leaves it out."""
    relays: dict[str, SecretStr] = Field(default_factory=dict)
    """Named relays (``[relays]`` in the TOML file): name -> URL (a SecretStr, as :attr:`url`)."""

    dkim_domain: str | None = None
    """``MAILSDK_DKIM_DOMAIN`` (``[dkim] domain``): the signing domain, ``d=``."""
    dkim_selector: str | None = None
    """``MAILSDK_DKIM_SELECTOR`` (``[dkim] selector``): the key's selector, ``s=``."""
    dkim_key_file: Path | None = None
    """``MAILSDK_DKIM_KEY_FILE`` (``[dkim] key_file``): the PEM private key file."""
    dkim_key: SecretStr | None = None
    """``MAILSDK_DKIM_KEY``: the PEM private key itself (environment or ``.env`` only; ``\\n``
    escapes allowed for the line breaks)."""
    dkim_algorithm: Literal["rsa-sha256", "ed25519-sha256"] | None = None
    """``MAILSDK_DKIM_ALGORITHM``: default, the key's own."""
    dkim_skip_rerendering: bool = False
    """``MAILSDK_DKIM_SKIP_RERENDERING``: send unsigned through relays that re-render."""

    routes: dict[str, SecretStr] = Field(default_factory=dict)
    """Named relay lists (``[routes]`` in the TOML file, ``MAILSDK_ROUTE_<NAME>`` in the
    environment): name -> URLs or relay names, comma-separated; see :meth:`route_urls`."""
    allowed_recipients: Annotated[list[str] | None, NoDecode] = None
    """``MAILSDK_ALLOWED_RECIPIENTS``: comma-separated address patterns (``*@example.com``);
    every other recipient is dropped before sending (see :mod:`mailsdk.controls`)."""
    redirect_to: str | None = None
    """``MAILSDK_REDIRECT_TO``: send every message to this address instead."""
    suppressions_db: Path | None = None
    """``MAILSDK_SUPPRESSIONS_DB``: the SQLite file of the suppression list the senders
    honour (:class:`~mailsdk.Suppressions`; it may be the outbox's file)."""

    _dotenv_path: Path | None = PrivateAttr(default=None)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Code, then the environment, then ``.env``, then the TOML file."""
        return init_settings, env_settings, dotenv_settings, _FileSource(settings_cls)

    @field_validator("url", mode="before")
    @classmethod
    def _as_list(cls, value: Any) -> Any:
        # The environment gives one string, TOML a string or a list. Items are split and
        # parsed later, in relay_urls() and transports(): a pydantic error here would quote
        # the input, and the input may carry a password.
        return [value] if isinstance(value, (str, SecretStr)) else value

    @field_validator("allowed_recipients", mode="before")
    @classmethod
    def _patterns(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
            return value or None
        return value

    @field_validator("redirect_to", mode="before")
    @classmethod
    def _redirect(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("strategy", mode="before")
    @classmethod
    def _strategy(cls, value: Any) -> Any:
        return value.strip().lower().replace("-", "_") if isinstance(value, str) else value

    @field_validator("from_")
    @classmethod
    def _sender(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        return str(Address.parse(value))  # a MessageError is a ValueError: pydantic reports it

    @classmethod
    def load(
        cls,
        *,
        config_file: str | os.PathLike[str] | Literal[False] | None = None,
        env_file: str | os.PathLike[str] | None = ".env",
        **values: Any,
    ) -> MailSettings:
        """Read the configuration; keywords (``url=``, ``from_=``, …) override everything.

        ``config_file``: a TOML file (``pyproject.toml`` is read at ``[tool.mailsdk]``);
        None looks for ``MAILSDK_CONFIG``, ``./mailsdk.toml``, then ``./pyproject.toml``;
        False reads no file. ``env_file``: the dotenv file (a missing one is fine), or None.
        Raises ConfigurationError, which never quotes a value.
        """
        chosen: Path | Literal["auto"] | None = "auto"
        if config_file is False:
            chosen = None
        elif config_file is not None:
            chosen = Path(config_file)
        token = _config_file.set(chosen)
        try:
            settings = cls(_env_file=env_file, **values)  # type: ignore[call-arg]
        except ValidationError as exc:
            raise ConfigurationError(
                f"invalid mail configuration: {describe_validation_error(exc)}"
            ) from None
        finally:
            _config_file.reset(token)
        settings._dotenv_path = Path(env_file) if env_file is not None else None
        return settings

    # -- what the settings build ---------------------------------------------------------

    def relay_urls(self) -> list[str]:
        """The URLs to send through, in order, with relay names replaced by their URLs.

        Each item of :attr:`url` is a URL, a relay name, or several of them with commas
        between (``"primary, sendgrid://default"``).
        """
        items = [piece for item in self.url for piece in self._pieces(item.get_secret_value())]
        if not self.url:
            items = list(self.relays)
        if not items:
            raise ConfigurationError(
                "no relay configured: set MAILSDK_URL (or url / [relays] in mailsdk.toml)"
            )
        return self._resolved(items)

    def route_urls(self) -> dict[str, list[str]]:
        """Each route's URLs, relay names replaced by their URLs: ``[routes]`` in the TOML
        file, overridden per name by ``MAILSDK_ROUTE_<NAME>`` (environment, then ``.env``);
        route names are lower-cased. An error names the setting that holds the route."""
        return {name: urls for name, (urls, _) in self._routes_resolved().items()}

    def _routes_resolved(self) -> dict[str, tuple[list[str], str]]:
        """Route name -> (its URLs, the setting that gave them), read once."""
        out: dict[str, tuple[list[str], str]] = {}
        for name, (value, setting) in self._route_sources().items():
            try:
                urls = self._resolved(self._pieces(value))
            except ConfigurationError as exc:
                raise ConfigurationError(f"{setting}: {exc.message}") from None
            if not urls:
                raise ConfigurationError(f"{setting}: names no relay")
            out[name] = (urls, setting)
        return out

    def _route_sources(self) -> dict[str, tuple[str, str]]:
        """Route name -> (its relays as written, the setting that gave them)."""
        given = {
            name.lower(): (
                value.get_secret_value(),
                f"route {name!r} ([routes] in mailsdk.toml, or {ENV_ROUTE}S)",
            )
            for name, value in self.routes.items()
        }
        prefix = f"{ENV_ROUTE}_"
        for key, value in self._environ().items():
            if key.upper().startswith(prefix) and len(key) > len(prefix) and value:
                given[key[len(prefix) :].lower()] = (value, key.upper())
        return given

    def _dotenv(self) -> dict[str, str]:
        """The ``.env`` file's non-empty values, names upper-cased ({} without a file)."""
        if self._dotenv_path is None or not self._dotenv_path.is_file():
            return {}
        from dotenv import dotenv_values  # python-dotenv: pydantic-settings' own reader

        return {k.upper(): v for k, v in dotenv_values(self._dotenv_path).items() if v}

    def _environ(self) -> dict[str, str]:
        """The process environment over the ``.env`` file's values."""
        return {**self._dotenv(), **{k.upper(): v for k, v in os.environ.items()}}

    def _resolved(self, items: list[str]) -> list[str]:
        """*items* (URLs and relay names) as URLs."""
        out: list[str] = []
        for item in items:
            if "://" in item:
                out.append(item)
            elif item in self.relays:
                out.extend(split_urls(self.relays[item].get_secret_value()))
            else:
                known = ", ".join(self.relays) or "none configured"
                # Not a name we know: perhaps a URL missing its scheme, with a password.
                raise ConfigurationError(
                    f"{redact_url(item)!r} is neither a URL nor a relay name (relays: {known})"
                )
        return out

    def _pieces(self, item: str) -> list[str]:
        """Split one item into URLs and relay names.

        A comma starts a new URL only before ``scheme://`` (a password may hold commas), so a
        relay name after a URL is split off only when it is a configured relay's name.
        """
        out: list[str] = []
        for piece in split_urls(item):
            if "://" not in piece:
                out.extend(_names(piece))
                continue
            tail: list[str] = []
            while "," in piece:
                head, _, last = piece.rpartition(",")
                if last.strip() not in self.relays:
                    break
                tail.insert(0, last.strip())
                piece = head.strip()
            out.append(piece)
            out.extend(tail)
        return out

    def parsed_urls(self, urls: list[str] | None = None) -> list[TransportURL]:
        """:meth:`relay_urls` (or *urls*) parsed, each URL once, with ``MAILSDK_TIMEOUT`` as
        the default ``timeout`` of network schemes (in :attr:`TransportURL.defaults`: the
        URL's own query is left as written, and a ``timeout=`` in it wins)."""
        parsed = [parse_url(u) for u in (self.relay_urls() if urls is None else urls)]
        if self.timeout is None:
            return parsed
        default = {"timeout": f"{self.timeout:g}"}
        # Only network schemes take a timeout; memory:// and friends refuse the option.
        return [
            replace(u, defaults={**u.defaults, **default}) if u.record.network else u
            for u in parsed
        ]

    def secret_environ(self) -> dict[str, str]:
        """The environment for secret look-ups: ``MAILSDK_PASSWORD_*`` from the ``.env``
        file, under the process environment."""
        env = {k: v for k, v in self._dotenv().items() if k.startswith(f"{ENV_PASSWORD}_")}
        env.update(os.environ)
        return env

    def find_secrets(
        self, urls: list[TransportURL] | None = None, *, missing_ok: bool = False
    ) -> list[tuple[TransportURL, SecretSource | None]]:
        """Each URL (default: :meth:`parsed_urls`) with its secret and where it was found, by
        the one lookup order (:func:`mailsdk.credentials.lookup_secrets`): the URL, its own
        variable (environment, then ``.env``), ``MAILSDK_PASSWORD`` when only one of *urls*
        lacks a secret, then keyring."""
        urls = self.parsed_urls() if urls is None else urls
        return lookup_secrets(
            urls, environ=self.secret_environ(), password=self.password, missing_ok=missing_ok
        )

    def transports(self) -> list[Transport]:
        """One transport per relay (:func:`mailsdk.config.build_transports`), secrets found as
        :meth:`find_secrets` says; every scheme is checked before any secret is looked up."""
        return build_transports(
            self.parsed_urls(), environ=self.secret_environ(), password=self.password
        )

    def route_transports(self) -> dict[str, list[Transport]]:
        """One list of transports per route (:meth:`route_urls`), built as
        :meth:`transports` builds the main one."""
        routes = self._routes_resolved()
        if not routes:
            return {}
        environ = self.secret_environ()
        out: dict[str, list[Transport]] = {}
        for name, (urls, setting) in routes.items():
            try:
                out[name] = build_transports(
                    self.parsed_urls(urls), environ=environ, password=self.password
                )
            except ConfigurationError as exc:
                raise ConfigurationError(f"{setting}: {exc.message}") from None
        return out

    def open_suppressions(self) -> Suppressions | None:
        """The suppression list at :attr:`suppressions_db`, opened; None when unset."""
        if self.suppressions_db is None:
            return None
        from mailsdk.suppressions import open_setting

        return open_setting(self.suppressions_db, "MAILSDK_SUPPRESSIONS_DB")

    def retry_policy(self) -> RetryPolicy | None:
        """A RetryPolicy from the ``retry_*`` values, or None when none is set (the
        senders' default applies)."""
        given: dict[str, Any] = {
            key: getattr(self, f"retry_{key}")
            for key in (*_RETRY_KEYS, "on_unknown")
            if getattr(self, f"retry_{key}") is not None
        }
        return RetryPolicy(**given) if given else None

    def dkim_signer(self) -> DKIMSigner | None:
        """The DKIMSigner the ``dkim_*`` values describe, or None when no domain is set.

        The key comes from ``MAILSDK_DKIM_KEY``, else ``MAILSDK_DKIM_KEY_FILE``, else
        keyring (service ``mailsdk:dkim``, user ``<selector>._domainkey.<domain>``).
        """
        if not self.dkim_domain and not self.dkim_selector:
            return None
        if not (self.dkim_domain and self.dkim_selector):
            raise ConfigurationError(
                "DKIM needs both MAILSDK_DKIM_DOMAIN and MAILSDK_DKIM_SELECTOR "
                "([dkim] domain and selector)"
            )
        from mailsdk.dkim import DKIMSigner, KeySource

        key: KeySource | None = self.dkim_key or self.dkim_key_file
        if key is None:
            key = _dkim_key_from_keyring(f"{self.dkim_selector}._domainkey.{self.dkim_domain}")
        return DKIMSigner(
            domain=self.dkim_domain,
            selector=self.dkim_selector,
            private_key=key,
            algorithm=self.dkim_algorithm,
        )

    def export_default_sender(self) -> None:
        """Make :attr:`from_` the process-wide default sender of :class:`~mailsdk.Message`
        (:func:`~mailsdk.set_default_sender`; the environment is left untouched)."""
        if self.from_:
            set_default_sender(self.from_)


def _dkim_key_from_keyring(user: str) -> SecretStr:
    """The DKIM key stored in keyring for *user*; CredentialError with advice otherwise."""
    from mailsdk.errors import CredentialError

    advice = (
        f"set MAILSDK_DKIM_KEY_FILE, MAILSDK_DKIM_KEY, or store the PEM in keyring: "
        f"keyring.set_password({DKIM_KEYRING_SERVICE!r}, {user!r}, pem_text)"
    )
    try:
        import keyring

        value = keyring.get_password(DKIM_KEYRING_SERVICE, user)
    except Exception as exc:  # any backend's failure: say what to do instead
        failure = f"keyring could not be read ({type(exc).__name__})"
    else:
        if value:
            return SecretStr(value)
        failure = "no DKIM key in keyring"
    raise CredentialError(f"{failure} for {user}: {advice}")


def _names(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]
