"""Helpers every provider parser shares: header lookup, JSON, credentials, time, ids."""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, get_args

from mailsdk.webhooks._event import (
    METADATA_KEY,
    BounceType,
    DeliveryEvent,
    EventKind,
    WebhookPayloadError,
    WebhookSignatureError,
)

log = logging.getLogger("mailsdk.webhooks")

Clock = Callable[[], datetime]


class SecretTypeError(TypeError):
    """The *secret* given to a parser is missing or unusable (a configuration mistake)."""


def utcnow() -> datetime:
    """The default clock of the parsers (tests inject their own)."""
    return datetime.now(timezone.utc)


def header(headers: Mapping[str, str], name: str) -> str | None:
    """The value of header *name*, whatever the case of the mapping's keys."""
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return value
    return None


def load_json(body: bytes) -> Any:
    """*body* parsed as JSON, or a WebhookPayloadError saying why not."""
    if not isinstance(body, (bytes, bytearray, memoryview)):
        raise WebhookPayloadError(f"body must be bytes, not {type(body).__name__}")
    try:
        return json.loads(bytes(body).decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise WebhookPayloadError(f"body is not JSON: {exc}") from None


def as_object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise WebhookPayloadError(f"{what} must be a JSON object, not {type(value).__name__}")
    return value


def as_objects(value: Any, what: str) -> list[dict[str, Any]]:
    """A JSON object or an array of objects, as a list of objects."""
    items = value if isinstance(value, list) else [value]
    return [as_object(item, what) for item in items]


def text(value: Any) -> str | None:
    """A scalar field as text (providers send ids as numbers or strings); None otherwise."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (str, int)):
        return str(value) or None
    if isinstance(value, float) and math.isfinite(value):
        return str(int(value)) if value.is_integer() else str(value)
    return None


def from_epoch(value: Any, *, millis: bool = False) -> datetime:
    """A Unix time (seconds, or ms) given as a number or a numeric string, as aware UTC."""
    try:
        seconds = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        raise WebhookPayloadError(f"not a Unix timestamp: {value!r:.40}") from None
    if millis:
        seconds /= 1000
    try:
        return datetime.fromtimestamp(seconds, timezone.utc)
    except (ValueError, OverflowError, OSError):
        raise WebhookPayloadError(f"not a Unix timestamp: {value!r:.40}") from None


def from_iso(value: Any) -> datetime:
    """An ISO 8601 time (``Z`` or an offset; a naive one is taken as UTC), as aware UTC."""
    if not isinstance(value, str):
        raise WebhookPayloadError(f"not a timestamp: {value!r:.40}")
    raw = value.strip()
    if raw.endswith(("Z", "z")):
        raw = raw[:-1] + "+00:00"
    # Python 3.10's fromisoformat takes 0, 3 or 6 fraction digits only; providers send 1-9.
    head, dot, rest = raw.partition(".")
    if dot:
        digits = len(rest) - len(rest.lstrip("0123456789"))
        fraction = (rest[:digits] + "000000")[:6]
        raw = f"{head}.{fraction}{rest[digits:]}"
    try:
        stamp = datetime.fromisoformat(raw.replace(" ", "T", 1))
    except ValueError:
        raise WebhookPayloadError(f"not a timestamp: {value!r:.40}") from None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=timezone.utc)
    try:
        return stamp.astimezone(timezone.utc)
    except (ValueError, OverflowError):
        raise WebhookPayloadError(f"not a timestamp: {value!r:.40}") from None


def check_fresh(signed_at: datetime, tolerance: timedelta | None, now: Clock) -> None:
    """Refuse a signed timestamp older (or further in the future) than *tolerance*."""
    if tolerance is None:
        return
    skew = abs(now() - signed_at)
    if skew > tolerance:
        raise WebhookSignatureError(
            f"signed timestamp {signed_at.isoformat()} is outside the {tolerance} tolerance"
        )


def as_tolerance(value: float | timedelta | None, default: timedelta | None) -> timedelta | None:
    if value is None:
        return default
    if isinstance(value, timedelta):
        return value
    return timedelta(seconds=float(value))


def secret_bytes(secret: Any, what: str) -> bytes:
    """A secret given as str, bytes or a pydantic SecretStr, as bytes (never logged)."""
    getter = getattr(secret, "get_secret_value", None)
    if callable(getter):
        secret = getter()
    if isinstance(secret, str):
        secret = secret.encode("utf-8")
    if not isinstance(secret, (bytes, bytearray)) or not secret:
        raise SecretTypeError(f"{what} is required (str or bytes)")
    return bytes(secret)


def check_hmac_hex(expected_key: bytes, message: bytes, given: str | None) -> None:
    """Constant-time check of a hex HMAC-SHA256 *given* over *message*."""
    if not given:
        raise WebhookSignatureError("signature missing")
    digest = hmac.new(expected_key, message, "sha256").hexdigest()
    if not hmac.compare_digest(digest.encode(), given.strip().lower().encode("ascii", "replace")):
        raise WebhookSignatureError("signature does not match")


def check_basic_auth(headers: Mapping[str, str], secret: Any) -> None:
    """Require the HTTP Basic credentials *secret* (``"user:password"`` or a (user, password)
    pair), compared in constant time, for providers that do not sign their webhooks."""
    if isinstance(secret, tuple) and len(secret) == 2:
        expected = f"{secret[0]}:{secret[1]}".encode()
    else:
        expected = secret_bytes(secret, "basic-auth credentials ('user:password')")
        if b":" not in expected:
            raise SecretTypeError("basic-auth credentials must look like 'user:password'")
    value = header(headers, "Authorization") or ""
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "basic" or not token:
        raise WebhookSignatureError("basic-auth credentials missing")
    try:
        given = base64.b64decode(token.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise WebhookSignatureError("basic-auth credentials malformed") from None
    if not hmac.compare_digest(given, expected):
        raise WebhookSignatureError("basic-auth credentials do not match")


def angle(message_id: Any) -> str | None:
    """A Message-ID in the ``<...>`` form SendResult uses (providers often drop the brackets)."""
    value = text(message_id)
    if not value:
        return None
    value = value.strip()
    if not value:
        return None
    return value if value.startswith("<") else f"<{value}>"


def from_metadata(metadata: Any) -> str | None:
    """Our Message-ID from provider metadata, when mailsdk sent it there.

    Where tag values take only ``A-Z a-z 0-9 _ -`` (SES, Resend) mailsdk sends the id in
    unpadded base64url; a Message-ID always holds ``@``, which base64url never does.
    """
    if not isinstance(metadata, dict):
        return None
    value = text(metadata.get(METADATA_KEY))
    if value is None or "@" in value:
        return angle(value)
    return angle(_decoded_id(value))


def _decoded_id(value: str) -> str | None:
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        decoded = raw.decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    # Only what mailsdk encoded: a Message-ID, one line of printable text holding "@".
    if "@" not in decoded or not decoded.isprintable():
        return None
    return decoded


def unknown(provider: str, kind: str | None) -> None:
    log.info("%s webhook: unknown event type %r kept as kind='other'", provider, kind)


def sub(obj: Mapping[str, Any], key: str) -> dict[str, Any]:
    """The object at *obj[key]*, or an empty one when it is absent or not an object."""
    value = obj.get(key)
    return value if isinstance(value, dict) else {}


Kind = tuple[EventKind, BounceType | None]
"""What an event type means: its kind and, for a bounce already known hard or soft, which."""


def kinds(table: str) -> dict[str, Kind]:
    """A provider's event-type table, kind by kind: ``"delivered: sent; opened: open, amp_open"``.

    ``hard`` and ``soft`` name bounces known to be hard or soft; ``bounced`` the ones the
    parser sorts out from the event's other fields. An unknown kind is a ValueError (at import).
    """
    meanings: dict[str, Kind] = {kind: (kind, None) for kind in get_args(EventKind)}
    meanings.update(hard=("bounced", "hard"), soft=("bounced", "soft"))
    found: dict[str, Kind] = {}
    for entry in table.split(";"):
        kind, _, names = entry.partition(":")
        if kind.strip() not in meanings:
            raise ValueError(f"unknown event kind {kind.strip()!r}")
        found.update(dict.fromkeys((n.strip() for n in names.split(",")), meanings[kind.strip()]))
    return found


@dataclass(frozen=True, slots=True)
class Proof:
    """What verifying a request established: when it was signed (checked against the
    tolerance) and an id for the delivery that is not in the body."""

    signed_at: datetime | None = None
    delivery_id: str | None = None


Verify = Callable[[bytes, Mapping[str, str], Any], Proof]
"""Proves a request is the provider's (body, headers, secret), or raises WebhookSignatureError."""


@dataclass(frozen=True, slots=True)
class Webhook:
    """One provider's webhooks, declared: how a request is proven, how its body is read.

    :meth:`parse` is the one driver: verify, check the signed time, load the body, read it.
    """

    provider: str
    verify: Verify
    read: Reader
    kinds: Mapping[str, Kind] = field(default_factory=dict)
    tolerance: timedelta | None = None
    load: Callable[[bytes], Any] = load_json

    def parse(
        self,
        body: bytes,
        headers: Mapping[str, str],
        *,
        secret: Any,
        tolerance: timedelta | None,
        now: Clock,
        **options: Any,
    ) -> list[DeliveryEvent]:
        """Verify and parse one webhook POST of this provider."""
        if options:
            raise TypeError(f"{self.provider} webhooks take no {', '.join(options)}")
        proof = self.verify(body, headers, secret)
        if proof.signed_at is not None:
            check_fresh(proof.signed_at, tolerance, now)
        return self.read(self, self.load(body), proof)

    def kind(self, name: str | None) -> Kind:
        """What event type *name* means; an unknown one is logged and kept as ``other``."""
        found = self.kinds.get(name or "")
        if found is None:
            unknown(self.provider, name)
            return "other", None
        return found

    def event(self, raw: dict[str, Any], kind: Kind, at: datetime, **fields: Any) -> DeliveryEvent:
        """A DeliveryEvent of this provider from *raw* (the other fields as keywords)."""
        return DeliveryEvent(
            kind=kind[0],
            bounce_type=kind[1],
            provider=self.provider,
            timestamp=at,
            raw=raw,
            **fields,
        )


@dataclass(frozen=True, slots=True)
class Custom:
    """A provider whose parser does not fit :class:`Webhook` (it takes options of its own)."""

    parse: Callable[..., list[DeliveryEvent]]
    tolerance: timedelta | None = None


def basic_auth(body: bytes, headers: Mapping[str, str], secret: Any) -> Proof:
    """The proof of providers that do not sign: HTTP Basic credentials (see check_basic_auth)."""
    check_basic_auth(headers, secret)
    return Proof()


def hmac_of_body(what: str, *header_names: str) -> Verify:
    """A hex HMAC-SHA256 of the raw body with *what* (the signing secret), found in the first
    of *header_names* present. Nothing signed carries a time."""

    def verify(body: bytes, headers: Mapping[str, str], secret: Any) -> Proof:
        key = secret_bytes(secret, what)
        given = next((v for v in (header(headers, n) for n in header_names) if v), None)
        check_hmac_hex(key, bytes(body), given)
        return Proof()

    return verify


Reader = Callable[["Webhook", Any, Proof], list[DeliveryEvent]]
"""Reads a verified, loaded body into events."""


def one_or_many(what: str, event: Callable[[Webhook, dict[str, Any]], DeliveryEvent]) -> Reader:
    """A reader for a body that is one event object (*what*) or an array of them."""

    def read(hook: Webhook, payload: Any, proof: Proof) -> list[DeliveryEvent]:
        return [event(hook, raw) for raw in as_objects(payload, what)]

    return read


def signed_time(value: Any, what: str) -> datetime:
    """A signed Unix time; one that is not is a WebhookSignatureError naming *what*."""
    try:
        return from_epoch(value)
    except WebhookPayloadError:
        raise WebhookSignatureError(f"{what} is not a Unix time") from None
