"""AsyncSender (the one implementation) and Sender, its sync facade on a private loop thread.

All protocol, pooling and retry logic is async. ``Sender`` runs an ``AsyncSender`` on one
event-loop thread it owns, so connection pools survive between sync calls, and sync code can
call it from anywhere: a plain script, many threads, the thread of a running asyncio loop, or a
child process after ``fork()`` (the child starts its own loop thread and its own connections).
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import logging
import os
import threading
import warnings
import weakref
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast

from mailsdk.auth._token import TokenProvider
from mailsdk.config import ConfigurationError, transports_from_urls
from mailsdk.controls import (
    BeforeSendHook,
    ControlledTransport,
    check_allowed_recipients,
    check_before_send,
    check_redirect_to,
    check_routes,
)
from mailsdk.errors import BatchInterrupted, MailError, MessageError
from mailsdk.events import EventHandler
from mailsdk.message import Message
from mailsdk.mime import HandoverHook, OutgoingMessage
from mailsdk.options import SenderOptions, Strategy, TransportSpec, check_strategy
from mailsdk.result import SendResult
from mailsdk.retry import RetryPolicy
from mailsdk.transports.base import Transport
from mailsdk.transports.failover import FailoverTransport, RoundRobinTransport

if TYPE_CHECKING:
    from mailsdk.dkim import DKIMSigner
    from mailsdk.suppressions import Suppressions

__all__ = ["AsyncSender", "Sender", "TransportSpec"]

log = logging.getLogger("mailsdk")

T = TypeVar("T")
_S = TypeVar("_S", bound="_Configurable")

# Messages larger than this are signed on a worker thread (their hashing takes milliseconds).
_SIGN_IN_THREAD_ABOVE = 1 << 20

# Set by mailsdk.testing's ``mail_outbox`` fixture: while set, every sender delivers here.
_override: list[Transport] = []


def _build_transports(spec: TransportSpec) -> list[Transport]:
    if _override:
        # Capturing (mailsdk.testing): URLs are checked, but no secret is looked up.
        _check_without_secrets(spec)
        return [_override[-1]]
    if isinstance(spec, Transport):
        return [spec]
    items: Sequence[str | Transport] = [spec] if isinstance(spec, str) else spec
    out: list[Transport] = []
    for item in items:
        if isinstance(item, Transport):
            out.append(item)
        elif isinstance(item, str):
            out.extend(transports_from_urls(item))
        else:
            raise ConfigurationError(f"expected a URL or a Transport, got {type(item).__name__}")
    if not out:
        raise ConfigurationError("no transport given")
    return out


def _check_without_secrets(spec: TransportSpec) -> None:
    from mailsdk.preflight import check_urls

    items = [spec] if isinstance(spec, (str, Transport)) else spec
    for item in items:
        if isinstance(item, str):
            check_urls(item)


def _share_tokens(provider: TokenProvider, transports: list[Transport]) -> None:
    from mailsdk.auth._cache import share_token_provider

    if not share_token_provider(provider, transports):
        raise ConfigurationError(
            "token_provider was given, but no transport takes OAuth tokens: add auth=xoauth2 "
            "to the smtp:// URL, or use graph:// or gmail://"
        )


def _combine(
    transports: list[Transport],
    *,
    retry: RetryPolicy | None,
    cooldown: float,
    strategy: Strategy,
    on_event: EventHandler | None,
) -> Transport:
    check_strategy(strategy)
    if len(transports) == 1 and isinstance(transports[0], FailoverTransport):
        return transports[0]
    kind = RoundRobinTransport if strategy == "round_robin" else FailoverTransport
    return kind(transports, retry=retry, cooldown=cooldown, on_event=on_event)


def _configured_from_env(
    env_file: str | os.PathLike[str] | None,
    config_file: str | os.PathLike[str] | Literal[False] | None,
    on_event: EventHandler | None,
) -> SenderOptions:
    """The SenderOptions MailSettings describe (shared by both from_env)."""
    if _override:  # capturing (mailsdk.testing): nothing needs to be configured
        return SenderOptions(_override[-1], on_event=on_event)
    from mailsdk.settings import MailSettings

    settings = MailSettings.load(config_file=config_file, env_file=env_file)
    options = SenderOptions.from_settings(settings, on_event=on_event)
    settings.export_default_sender()
    return options


def _as_message(message: object) -> Message:
    """*message* as a Message; anything else is a MessageError naming what it was."""
    if isinstance(message, Message):
        return message
    if not isinstance(message, Mapping):
        raise MessageError(
            f"expected a Message or a mapping of its fields, got {type(message).__name__}"
        )
    try:
        return Message.model_validate(dict(message))
    except MessageError:
        raise
    except (TypeError, ValueError) as exc:
        raise MessageError(f"invalid Message: {exc}") from None


def _unexpected(exc: Exception) -> MailError:
    """A MailError standing for an exception no layer classified (a bug, most likely), so
    that one message's surprise is reported with it and the rest of a batch goes on."""
    log.error("unexpected %s while sending", type(exc).__name__, exc_info=exc)
    error = MailError(f"unexpected {type(exc).__name__} while sending: {exc}")
    error.__cause__ = exc
    return error


# Messages Sender.send_many reads ahead of sending: small enough to bound memory, large
# enough that the pause at each chunk's end (its last few sends) costs little.
_CHUNK = 512


def _take(items: Iterator[T], count: int) -> tuple[list[T], Exception | None]:
    """Up to *count* items, and the exception reading the next one raised (if it did)."""
    taken: list[T] = []
    try:
        for item in items:
            taken.append(item)
            if len(taken) == count:
                break
    except Exception as exc:
        return taken, exc
    return taken, None


def _snapshot(messages: Iterable[T]) -> Iterable[T]:
    """A list or tuple as it is now (a batch reads its items as it goes); other iterables
    as they are, read lazily."""
    return tuple(messages) if isinstance(messages, (list, tuple)) else messages


def _interrupted(
    index: int, exc: Exception, results: Sequence[SendResult | MailError]
) -> BatchInterrupted:
    """The error a batch whose iterable raised while item *index* was read ends with."""
    return BatchInterrupted(
        f"message {index} of the batch could not be read ({type(exc).__name__}: {exc}); "
        f"what became of the {index} read before it is in .results, and no later one was read",
        results,
        index,
    )


def _leaves(transport: Transport) -> list[Transport]:
    """The relays under *transport* (failover and round-robin groups opened up)."""
    inner = getattr(transport, "transports", None)
    if isinstance(transport, FailoverTransport) and inner:
        return [leaf for t in inner for leaf in _leaves(t)]
    wrapped = getattr(transport, "transport", None)  # a wrapper (RateLimitedTransport)
    if isinstance(wrapped, Transport):
        return _leaves(wrapped)
    return [transport]


def _dkim_plan(
    transport: Transport, signer: DKIMSigner | None, skip_rerendering: bool
) -> frozenset[str]:
    """The names of the relays that carry the signature; ConfigurationError when a relay
    would send the message unsigned and the user did not allow that."""
    if signer is None:
        return frozenset()
    leaves = _leaves(transport)
    rerendering = [t.name for t in leaves if not t.carries_signature]
    if rerendering and not skip_rerendering:
        raise ConfigurationError(
            f"dkim= cannot sign what {', '.join(rerendering)} send: these APIs take the "
            "message as fields and render it again, so our DKIM signature cannot travel "
            "(let the provider sign with its own DKIM setup). Pass dkim_skip_rerendering=True "
            "to send through them unsigned"
        )
    return frozenset(t.name for t in leaves if t.carries_signature)


@dataclass(frozen=True)
class _Relays:
    """One list of relays (the main one or a route): its transports combined, and the names
    of those that carry the DKIM signature."""

    transports: list[Transport]
    transport: Transport
    signed: frozenset[str]


def _relays(
    spec: TransportSpec,
    *,
    retry: RetryPolicy | None,
    cooldown: float,
    strategy: Strategy,
    on_event: EventHandler | None,
    token_provider: TokenProvider | None,
    dkim: DKIMSigner | None,
    dkim_skip_rerendering: bool,
) -> _Relays:
    transports = _build_transports(spec)
    if token_provider is not None:
        _share_tokens(token_provider, transports)
    combined = _combine(
        transports, retry=retry, cooldown=cooldown, strategy=strategy, on_event=on_event
    )
    return _Relays(transports, combined, _dkim_plan(combined, dkim, dkim_skip_rerendering))


class _SigningTransport(Transport):
    """Signs each message once (DKIM) before the relays see it, and marks the results of the
    relays that carried the signature."""

    def __init__(self, transport: Transport, signer: DKIMSigner, signed: frozenset[str]) -> None:
        self.transport = transport
        self.name = transport.name
        self.signer = signer
        self.signed = signed

    async def send(self, outgoing: OutgoingMessage, *, deadline: float | None = None) -> SendResult:
        if self.signed:
            if outgoing.size > _SIGN_IN_THREAD_ABOVE:
                # Hashing megabytes of attachments would stall every other send on the loop.
                await asyncio.to_thread(outgoing.sign, self.signer)
            else:
                outgoing.sign(self.signer)
        result = await self.transport.send(outgoing, deadline=deadline)
        if outgoing.dkim_signed and result.relay in self.signed:
            return replace(result, dkim_signed=True)
        return result

    async def aclose(self) -> None:
        await self.transport.aclose()


class _Configurable:
    """``from_env`` and ``from_options``, shared by :class:`AsyncSender` and :class:`Sender`
    (their constructors take the same keywords)."""

    if TYPE_CHECKING:  # what the subclasses' constructors accept

        def __init__(self, transport: TransportSpec, **keywords: Any) -> None: ...

    @classmethod
    def from_env(
        cls: type[_S],
        *,
        env_file: str | os.PathLike[str] | None = ".env",
        config_file: str | os.PathLike[str] | Literal[False] | None = None,
        on_event: EventHandler | None = None,
        token_provider: TokenProvider | None = None,
    ) -> _S:
        """A sender configured by ``MAILSDK_*`` variables, a ``.env`` file or ``mailsdk.toml``.

        ``MAILSDK_URL`` (a URL, a relay name, or a comma-separated failover list),
        ``MAILSDK_FROM`` (the sender of messages that set none), ``MAILSDK_STRATEGY``,
        ``MAILSDK_TIMEOUT``, ``MAILSDK_COOLDOWN``, ``MAILSDK_RETRY_*``, ``MAILSDK_DKIM_*``,
        ``MAILSDK_SUPPRESSIONS_DB``, ``MAILSDK_ALLOWED_RECIPIENTS``, ``MAILSDK_REDIRECT_TO``
        and ``MAILSDK_ROUTE_<NAME>``; the environment overrides ``.env``, which overrides the
        TOML file. A URL without its secret gets it from
        ``MAILSDK_PASSWORD_<SCHEME>_<HOST>_<PORT>``, ``MAILSDK_PASSWORD`` (one relay) or
        keyring. See :class:`mailsdk.settings.MailSettings`; raises ConfigurationError.
        ``token_provider`` serves the relays that use OAuth tokens (as in the constructor).
        """
        return cls.from_options(
            _configured_from_env(env_file, config_file, on_event), token_provider=token_provider
        )

    @classmethod
    def from_options(
        cls: type[_S], options: SenderOptions, *, token_provider: TokenProvider | None = None
    ) -> _S:
        """A sender built from :class:`~mailsdk.SenderOptions` (``token_provider`` as in the
        constructor). With ``options.close_suppressions`` (a list :meth:`from_env` opened),
        closing the sender closes its suppression list too."""
        sender = cls(options.relays, token_provider=token_provider, **options.keywords())
        if options.close_suppressions:
            inner = sender._async if isinstance(sender, Sender) else sender
            if isinstance(inner, AsyncSender):
                inner._owned_suppressions = options.suppressions
        return sender


class AsyncSender(_Configurable):
    """Sends messages through one relay, or a failover list of them, with retries.

    ``AsyncSender("smtp://user:pass@mail.example.com:587")``; a list of URLs (or one string
    with commas) is a failover list, in order (``strategy="round_robin"`` spreads sends over
    them instead). Transient failures are retried per ``retry``; a relay that failed is
    skipped for ``cooldown`` seconds; ``on_event`` receives :mod:`mailsdk.events`.
    ``token_provider`` (a :class:`~mailsdk.auth.TokenProvider`) supplies OAuth tokens to every
    relay that uses them and has none of its own (``auth=xoauth2``, ``graph://``,
    ``gmail://``), through one cache shared by all their connections. Use it as an
    async context manager, or call :meth:`aclose` when done, so pooled connections are closed
    politely.

    ``dkim=DKIMSigner(...)`` signs each message once, after rendering and before the first
    relay, so every relay and retry carries the same signature. A relay whose API renders the
    message again (JSON providers) cannot carry it: combining it with ``dkim=`` is a
    ConfigurationError unless ``dkim_skip_rerendering=True``, and then such relays send the
    message unsigned and ``SendResult.dkim_signed`` says so.

    With ``suppressions=``, recipients on that list are refused before any I/O, and
    recipients a relay refuses as bad addresses (5.1.x) are added to it.

    Sending controls (see :mod:`mailsdk.controls`): ``before_send`` hooks run once per send
    and may change the message or raise :class:`~mailsdk.CancelSend`; ``redirect_to`` sends
    every message to one address instead; ``allowed_recipients`` (glob patterns such as
    ``"*@example.com"``) drops every other recipient before any I/O. ``routes`` names other
    relay lists (``{"bulk": [...]}``) that ``send(msg, route="bulk")`` uses instead of the
    main one; they share the retry policy, cooldown, strategy, DKIM signer and controls.
    """

    def __init__(
        self,
        transport: TransportSpec,
        *,
        retry: RetryPolicy | None = None,
        cooldown: float = 30.0,
        strategy: Strategy = "failover",
        on_event: EventHandler | None = None,
        token_provider: TokenProvider | None = None,
        dkim: DKIMSigner | None = None,
        dkim_skip_rerendering: bool = False,
        suppressions: Suppressions | None = None,
        before_send: BeforeSendHook | Sequence[BeforeSendHook] = (),
        allowed_recipients: Sequence[str] | None = None,
        redirect_to: str | None = None,
        routes: Mapping[str, TransportSpec] | None = None,
    ) -> None:
        self.suppressions = suppressions
        """Recipients on this list are refused before any I/O; 5.1.x refusals are added to it."""
        self._owned_suppressions: Suppressions | None = None  # closed by aclose (from_env)
        self.before_send = check_before_send(before_send)
        """Hooks run once per send, before rendering (see :mod:`mailsdk.controls`)."""
        self.allowed_recipients = check_allowed_recipients(allowed_recipients)
        """Lower-cased glob patterns recipients must match, or None (no restriction)."""
        self.redirect_to = check_redirect_to(redirect_to)
        """The address every message is sent to instead of its recipients (with its display
        name, if given), or None."""
        self.dkim = dkim
        build: dict[str, Any] = {
            "retry": retry,
            "cooldown": cooldown,
            "strategy": strategy,
            "on_event": on_event,
            "token_provider": token_provider,
            "dkim": dkim,
            "dkim_skip_rerendering": dkim_skip_rerendering,
        }
        main = _relays(transport, **build)
        self.transports = main.transports
        self.transport = main.transport
        self._signed_relays = main.signed
        self._routes = {
            name: _relays(spec, **build) for name, spec in (check_routes(routes) or {}).items()
        }

    @property
    def name(self) -> str:
        """The display name of the transport (no secrets)."""
        return self.transport.name

    @property
    def routes(self) -> list[str]:
        """The names of the routes given as ``routes=`` (the main relays have none)."""
        return list(self._routes)

    async def send(
        self,
        message: Message | Mapping[str, Any],
        *,
        on_handover: HandoverHook | None = None,
        route: str | None = None,
    ) -> SendResult:
        """Send one message. Returns a SendResult or raises a MailError subclass.

        ``on_handover`` (see :class:`~mailsdk.mime.HandoverHook`) runs right before each
        relay is handed the message (SMTP's final dot, the HTTP request): a durable queue
        records there that the message may have left, so that it never sends it twice.
        ``route`` names one of ``routes=`` to send through instead of the main relays (an
        unknown name is a ConfigurationError, raised before any I/O).
        """
        transport = self.delivery_transport_for(route)
        outgoing = OutgoingMessage(_as_message(message))
        outgoing.on_handover = on_handover
        return await transport.send(outgoing)

    @property
    def delivery_transport(self) -> Transport:
        """What :meth:`send` hands messages to: the main relays, behind the DKIM signer when
        ``dkim=`` is set, the suppression list when ``suppressions=`` is and the sending
        controls when any is set (and the test outbox while ``mailsdk.testing`` captures).
        Code that sends prepared :class:`~mailsdk.OutgoingMessage` values itself (the outbox
        worker) uses this, so its messages are controlled, signed and filtered too."""
        return self.delivery_transport_for(None)

    def check_route(self, route: str | None) -> None:
        """Raise ConfigurationError unless *route* is None or one of this sender's routes."""
        if route is not None and route not in self._routes:
            known = ", ".join(self._routes) or "none configured"
            raise ConfigurationError(f"unknown route {route!r} (routes: {known})")

    def delivery_transport_for(self, route: str | None) -> Transport:
        """:attr:`delivery_transport` for the relays of *route* (None: the main relays)."""
        self.check_route(route)
        if route is None:
            relays, signed = self.transport, self._signed_relays
        else:
            relays, signed = self._routes[route].transport, self._routes[route].signed
        transport = _override[-1] if _override else relays
        if self.dkim is not None:
            signed = frozenset({transport.name}) if _override else signed
            transport = _SigningTransport(transport, self.dkim, signed)
        if self.suppressions is not None:
            from mailsdk.suppressions import SuppressingTransport

            transport = SuppressingTransport(transport, self.suppressions)
        if self.before_send or self.allowed_recipients is not None or self.redirect_to:
            transport = ControlledTransport(
                transport,
                before_send=self.before_send,
                allowed_recipients=self.allowed_recipients,
                redirect_to=self.redirect_to,
            )
        return transport

    async def send_many(
        self,
        messages: Iterable[Message | Mapping[str, Any]],
        *,
        concurrency: int = 8,
        route: str | None = None,
    ) -> list[SendResult | MailError]:
        """Send many messages, at most *concurrency* at a time.

        Returns one entry per message, in order: its SendResult, or the MailError that it
        ended with (a MessageError for an item that is not a valid message, a
        :class:`~mailsdk.CancelSend` for one a ``before_send`` hook cancelled). Nothing is
        raised for a single message's failure, so one bad address does not stop a
        mail-merge, and every message sent is in the list: a caller never has to resend a
        whole batch. ``route`` as in :meth:`send`; an unknown one is raised at once.

        *messages* is read lazily, one item as a connection comes free, so a generator of
        a million messages holds only *concurrency* of them in memory (a list or tuple is
        copied first: changing it during the batch changes nothing). Should reading it
        raise, no further item is read, the sends under way finish, and
        :class:`~mailsdk.BatchInterrupted` is raised with the entries of every message read
        before and the exception as its cause. A row that may be invalid is best given as a
        mapping of Message fields: it is then checked on its own, and is its own entry. The
        iterable is read on the event loop: one that blocks (a database query) holds up
        every send under way, so read such a source with :class:`Sender`, which reads it in
        the calling thread.
        """
        self.check_route(route)  # an unknown route fails the call, not each item
        items = iter(_snapshot(messages))
        results: list[SendResult | MailError | None] = []
        failure: list[tuple[int, Exception]] = []

        async def worker() -> None:
            while not failure:
                # Taken and given its place in one step (no await between): order holds.
                index = len(results)
                try:
                    message = next(items)
                except StopIteration:
                    return
                except Exception as exc:
                    failure.append((index, exc))
                    return
                results.append(None)
                results[index] = await self._send_one(message, route)

        await asyncio.gather(*(worker() for _ in range(max(1, concurrency))))
        # Every place is filled: a worker stops only after the send it took has ended.
        done = cast("list[SendResult | MailError]", results)
        if failure:
            index, exc = failure[0]
            raise _interrupted(index, exc, done) from exc
        return done

    async def _send_one(
        self, message: Message | Mapping[str, Any], route: str | None
    ) -> SendResult | MailError:
        """One message of a batch: its result, or the error it ended with (never raised)."""
        try:
            return await self.send(message, route=route)
        except MailError as exc:
            return exc
        except Exception as exc:
            return _unexpected(exc)

    async def aclose(self) -> None:
        """Close every transport's connections (every route's too)."""
        try:
            await self.transport.aclose()
            for relays in self._routes.values():
                await relays.transport.aclose()
        finally:
            self._close_owned()

    def _close_owned(self) -> None:
        """Close the suppression list this sender opened (``from_env``); one passed in is
        the caller's to close. It opens again if the sender is used after closing."""
        if self._owned_suppressions is not None:
            self._owned_suppressions.close()

    async def __aenter__(self) -> AsyncSender:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"AsyncSender({self.name!r})"


class _LoopThread:
    """One event loop running forever on a daemon thread; the thread closes the loop when it
    stops, so nothing it owns (selector, wake-up pipe) outlives it."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, name="mailsdk-sender-loop", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_forever()
        finally:
            self.loop.close()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        if threading.current_thread() is self.thread:
            coro.close()
            raise RuntimeError(
                "Sender was called from its own event-loop thread (an on_event callback?); "
                "use AsyncSender there"
            )
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result()
        except concurrent.futures.CancelledError:
            raise MailError("the send was cancelled because the sender was closed") from None

    def shut_down(self, closer: Callable[[], Awaitable[None]]) -> None:
        """Run *closer* on the loop, then stop it, without waiting: callable from any
        thread, the loop's own included (a garbage collection may run there)."""

        async def finish() -> None:
            try:
                await asyncio.wait_for(closer(), 10)
                # Closed transports give their sockets back on the next turns of the loop.
                for _ in range(3):
                    await asyncio.sleep(0)
            except Exception:
                log.debug("closing transports failed", exc_info=True)
            finally:
                self.loop.stop()

        if not self.loop.is_closed():
            asyncio.run_coroutine_threadsafe(finish(), self.loop)

    def stop(self) -> None:
        if self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)


@dataclass
class _SenderState:
    """What a Sender owns that must be cleaned up, held apart so that its finalizer does not
    keep the Sender alive."""

    thread: _LoopThread | None = None


def _reap(state: _SenderState, async_sender: AsyncSender, name: str) -> None:
    """A Sender was garbage-collected without close(): warn, as files and sockets do, and
    close its connections and stop its thread."""
    thread, state.thread = state.thread, None
    if thread is None or thread.pid != os.getpid() or not thread.thread.is_alive():
        return
    warnings.warn(
        f"unclosed Sender({name!r}): call close() or use it as a context manager",
        ResourceWarning,
        stacklevel=2,
    )
    thread.shut_down(async_sender.aclose)


_live_senders: weakref.WeakSet[Sender] = weakref.WeakSet()


@atexit.register
def _close_live_senders() -> None:
    for sender in list(_live_senders):
        try:
            sender.close()
        except Exception:
            log.debug("closing a Sender at exit failed", exc_info=True)


class Sender(_Configurable):
    """The synchronous API: the same as :class:`AsyncSender`, for code that is not async.

    ``with Sender("smtps://user:pass@mail.example.com:465") as sender: sender.send(msg)``.
    Thread-safe; works inside the thread of a running asyncio loop and after ``fork()``.
    """

    def __init__(
        self,
        transport: TransportSpec,
        *,
        retry: RetryPolicy | None = None,
        cooldown: float = 30.0,
        strategy: Strategy = "failover",
        on_event: EventHandler | None = None,
        token_provider: TokenProvider | None = None,
        dkim: DKIMSigner | None = None,
        dkim_skip_rerendering: bool = False,
        suppressions: Suppressions | None = None,
        before_send: BeforeSendHook | Sequence[BeforeSendHook] = (),
        allowed_recipients: Sequence[str] | None = None,
        redirect_to: str | None = None,
        routes: Mapping[str, TransportSpec] | None = None,
    ) -> None:
        self._async = AsyncSender(
            transport,
            retry=retry,
            cooldown=cooldown,
            strategy=strategy,
            on_event=on_event,
            token_provider=token_provider,
            dkim=dkim,
            dkim_skip_rerendering=dkim_skip_rerendering,
            suppressions=suppressions,
            before_send=before_send,
            allowed_recipients=allowed_recipients,
            redirect_to=redirect_to,
            routes=routes,
        )
        self._lock = threading.Lock()
        self._state = _SenderState()
        finalizer = weakref.finalize(self, _reap, self._state, self._async, self._async.name)
        finalizer.atexit = False  # at exit, _close_live_senders closes it (without a warning)
        _live_senders.add(self)

    @property
    def name(self) -> str:
        """The display name of the transport (no secrets)."""
        return self._async.name

    @property
    def async_sender(self) -> AsyncSender:
        """The AsyncSender this facade drives."""
        return self._async

    def _loop(self) -> _LoopThread:
        with self._lock:
            thread = self._state.thread
            if thread is None or thread.pid != os.getpid() or not thread.thread.is_alive():
                # First use, or we are a forked child: the parent's loop thread does not
                # exist here. Transports notice the new pid and open their own connections.
                self._state.thread = thread = _LoopThread()
            return thread

    def send(
        self,
        message: Message | Mapping[str, Any],
        *,
        on_handover: HandoverHook | None = None,
        route: str | None = None,
    ) -> SendResult:
        """Send one message; see :meth:`AsyncSender.send` (``on_handover`` and async
        ``before_send`` hooks run on the sender's loop thread)."""
        msg = _as_message(message)  # validation errors surface in the caller's thread
        self._async.check_route(route)  # and so does an unknown route
        return self._loop().run(self._async.send(msg, on_handover=on_handover, route=route))

    def send_many(
        self,
        messages: Iterable[Message | Mapping[str, Any]],
        *,
        concurrency: int = 8,
        route: str | None = None,
    ) -> list[SendResult | MailError]:
        """Send many messages concurrently; see :meth:`AsyncSender.send_many`.

        *messages* is read in the calling thread (so a generator may use thread-bound
        things such as a Django database connection), a chunk at a time (512 messages, or
        32 per unit of *concurrency* when that is more): a long generator never sits in
        memory whole.
        """
        self._async.check_route(route)
        items = iter(_snapshot(messages))
        size = max(_CHUNK, concurrency * 32)
        results: list[SendResult | MailError] = []
        while True:
            chunk, failure = _take(items, size)
            if chunk:
                results += self._loop().run(
                    self._async.send_many(chunk, concurrency=concurrency, route=route)
                )
            if failure is not None:
                raise _interrupted(len(results), failure, results) from failure
            if len(chunk) < size:
                return results

    def close(self) -> None:
        """Close pooled connections and stop the loop thread. A later send starts afresh."""
        with self._lock:
            thread, self._state.thread = self._state.thread, None
        if thread is None:
            self._async._close_owned()  # never sent: no loop, but the list may be open
            return
        if thread.pid != os.getpid():
            return
        try:
            future = asyncio.run_coroutine_threadsafe(self._async.aclose(), thread.loop)
            future.result(timeout=10)
        except Exception:
            log.debug("closing transports failed", exc_info=True)
        finally:
            thread.stop()

    def __enter__(self) -> Sender:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Sender({self.name!r})"
