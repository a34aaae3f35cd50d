"""SenderOptions: everything a sender is built from, in one value.

Code (``Sender.from_options``), the environment (``Sender.from_env``), the command line and
the Django and Flask integrations all build one :class:`SenderOptions`, so a setting means
the same everywhere and is validated in one place.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal, Protocol

from mailsdk.config import ConfigurationError
from mailsdk.events import EventHandler
from mailsdk.retry import RetryPolicy
from mailsdk.transports.base import Transport

if TYPE_CHECKING:
    from mailsdk.controls import BeforeSendHook
    from mailsdk.dkim import DKIMSigner
    from mailsdk.suppressions import Suppressions

__all__ = ["FRAMEWORK_DEADLINE", "STRATEGIES", "SenderOptions", "Strategy", "check_strategy"]

Strategy = Literal["failover", "round_robin"]
"""``"failover"``: relays in order, the next one only when one fails. ``"round_robin"``:
sends spread over the relays, failing over on error."""

STRATEGIES: tuple[Strategy, ...] = ("failover", "round_robin")

TransportSpec = str | Transport | Sequence[str | Transport]
"""A URL, a comma-separated string of URLs, a Transport, or a list of URLs and Transports."""

FRAMEWORK_DEADLINE = 10.0
"""Default seconds one send may take inside a web request (Django and Flask): a hung relay
must not hold a worker for minutes. Background jobs can set a longer one."""


class SettingsSource(Protocol):
    """What :meth:`SenderOptions.from_settings` reads: :class:`~mailsdk.MailSettings`."""

    @property
    def cooldown(self) -> float: ...

    @property
    def strategy(self) -> Strategy: ...

    def transports(self) -> list[Transport]: ...

    def retry_policy(self) -> RetryPolicy | None: ...

    @property
    def dkim_skip_rerendering(self) -> bool: ...

    def dkim_signer(self) -> DKIMSigner | None: ...

    @property
    def allowed_recipients(self) -> list[str] | None: ...

    @property
    def redirect_to(self) -> str | None: ...

    def route_transports(self) -> dict[str, list[Transport]]: ...

    def open_suppressions(self) -> Suppressions | None: ...


def check_strategy(value: object) -> Strategy:
    """*value* as a :data:`Strategy`; ConfigurationError otherwise."""
    if value not in STRATEGIES:
        raise ConfigurationError(f'strategy must be "failover" or "round_robin", not {value!r}')
    return value


@dataclass(frozen=True)
class SenderOptions:
    """How to build a sender: relays, retries, cooldown, strategy, deadline and hooks.

    Args:
        relays: a URL, a comma-separated string of URLs, a Transport, or a list of them
            (a failover list, most preferred first).
        retry: the :class:`~mailsdk.RetryPolicy`; None for the default policy.
        cooldown: seconds a relay that failed is skipped by later sends.
        strategy: ``"failover"`` or ``"round_robin"``.
        deadline: seconds one send may take over every relay and retry; None keeps the
            retry policy's (120 s by default). Overrides ``retry.deadline`` when given.
        on_event: a callable receiving :mod:`mailsdk.events` (sync or async).
        dkim: a :class:`~mailsdk.DKIMSigner` signing every message once, before the first
            relay (see the Deliverability page).
        dkim_skip_rerendering: with ``dkim``, let relays that render the message again
            (JSON provider APIs) send it unsigned instead of refusing them.
        suppressions: a :class:`~mailsdk.Suppressions` list honoured by every send.
        before_send: hooks run once per send (see :mod:`mailsdk.controls`).
        allowed_recipients: glob patterns (``"*@example.com"``); other recipients are
            dropped before any I/O. None: no restriction.
        redirect_to: send every message to this address instead of its recipients.
        routes: named relay lists (``{"bulk": [...]}``) for ``send(msg, route="bulk")``.
        close_suppressions: the sender built from these options owns ``suppressions`` and
            closes it when it is closed. :meth:`from_settings` sets it when it opened the
            list itself (``MAILSDK_SUPPRESSIONS_DB``); a list passed in stays the caller's.
    """

    relays: TransportSpec
    retry: RetryPolicy | None = None
    cooldown: float = 30.0
    strategy: Strategy = "failover"
    deadline: float | None = None
    on_event: EventHandler | None = None
    dkim: DKIMSigner | None = None
    dkim_skip_rerendering: bool = False
    suppressions: Suppressions | None = None
    before_send: Sequence[BeforeSendHook] = ()
    allowed_recipients: Sequence[str] | None = None
    redirect_to: str | None = None
    routes: Mapping[str, TransportSpec] | None = None
    close_suppressions: bool = False

    def __post_init__(self) -> None:
        check_strategy(self.strategy)
        if self.retry is not None and not isinstance(self.retry, RetryPolicy):
            raise ConfigurationError(
                f"retry must be a RetryPolicy, not {type(self.retry).__name__}"
            )
        try:
            cooldown = float(self.cooldown)
            deadline = None if self.deadline is None else float(self.deadline)
        except (TypeError, ValueError):
            raise ConfigurationError("cooldown and deadline must be numbers of seconds") from None
        if cooldown < 0:
            raise ConfigurationError(f"cooldown must not be negative, not {cooldown:g}")
        if deadline is not None and deadline <= 0:
            raise ConfigurationError(f"deadline must be positive, not {deadline:g}")
        if self.on_event is not None and not callable(self.on_event):
            raise ConfigurationError("on_event must be a callable")
        object.__setattr__(self, "cooldown", cooldown)
        object.__setattr__(self, "deadline", deadline)
        from mailsdk.controls import (
            check_allowed_recipients,
            check_before_send,
            check_redirect_to,
            check_routes,
        )

        object.__setattr__(self, "before_send", check_before_send(self.before_send))
        object.__setattr__(
            self, "allowed_recipients", check_allowed_recipients(self.allowed_recipients)
        )
        object.__setattr__(self, "redirect_to", check_redirect_to(self.redirect_to))
        check_routes(self.routes)

    @classmethod
    def from_settings(cls, settings: SettingsSource, **overrides: Any) -> SenderOptions:
        """The options :class:`~mailsdk.settings.MailSettings` describe (``MAILSDK_*``,
        ``.env``, ``mailsdk.toml``); secrets are looked up now. *overrides* win."""
        values: dict[str, Any] = {
            "retry": settings.retry_policy(),
            "cooldown": settings.cooldown,
            "strategy": settings.strategy,
            "dkim": settings.dkim_signer(),
            "dkim_skip_rerendering": settings.dkim_skip_rerendering,
            "allowed_recipients": settings.allowed_recipients,
            "redirect_to": settings.redirect_to,
            **overrides,
        }
        if "relays" not in values:
            values["relays"] = settings.transports()
        if "routes" not in values:
            values["routes"] = settings.route_transports() or None
        if "suppressions" not in values:
            values["suppressions"] = settings.open_suppressions()
            values.setdefault("close_suppressions", values["suppressions"] is not None)
        return cls(**values)

    def retry_policy(self) -> RetryPolicy | None:
        """The retry policy with :attr:`deadline` applied (None: the senders' default)."""
        if self.deadline is None:
            return self.retry
        return replace(self.retry or RetryPolicy(), deadline=self.deadline)

    def keywords(self) -> dict[str, Any]:
        """The keyword arguments of :class:`~mailsdk.AsyncSender` and
        :class:`~mailsdk.Sender` besides the relays."""
        return {
            "retry": self.retry_policy(),
            "cooldown": self.cooldown,
            "strategy": self.strategy,
            "on_event": self.on_event,
            "dkim": self.dkim,
            "dkim_skip_rerendering": self.dkim_skip_rerendering,
            "suppressions": self.suppressions,
            "before_send": self.before_send,
            "allowed_recipients": self.allowed_recipients,
            "redirect_to": self.redirect_to,
            "routes": self.routes,
        }

    def with_(self, **changes: Any) -> SenderOptions:
        """A copy with *changes* applied (and validated)."""
        return replace(self, **changes)
