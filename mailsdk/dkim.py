"""DKIM signing (RFC 6376, RFC 8463): one DKIM-Signature over the bytes every relay will send.

The sender signs a message once, after rendering and before the first relay, so each relay
and each retry hands over the same signed bytes. Canonicalisation is relaxed/relaxed, the
choice that survives the re-folding and white-space changes relays commonly make. The body
is hashed as it is produced (``OutgoingMessage.chunks()``), so a large streamed attachment
is signed without ever holding its encoded form.

Keys are read with ``cryptography`` (the ``dkim`` extra). Errors about keys are
ConfigurationError and never quote the key.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import SecretStr

from mailsdk.errors import ConfigurationError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

__all__ = ["DEFAULT_HEADERS", "Algorithm", "DKIMSigner", "KeySource", "ascii_domain"]

Algorithm = Literal["rsa-sha256", "ed25519-sha256"]
"""``rsa-sha256`` (RFC 6376, keys of 1024 bits or more) or ``ed25519-sha256`` (RFC 8463)."""

KeySource = bytes | str | os.PathLike[str] | SecretStr
"""PEM bytes, PEM text, a :class:`~pydantic.SecretStr` holding PEM text, or a file path."""

DEFAULT_HEADERS: tuple[str, ...] = (
    "from",
    "reply-to",
    "sender",
    "to",
    "cc",
    "subject",
    "date",
    "message-id",
    "in-reply-to",
    "references",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
    "list-id",
    "list-unsubscribe",
    "list-unsubscribe-post",
)
"""Fields signed when present: RFC 6376 section 5.4's advice plus the MIME fields and both
RFC 8058 one-click fields (which RFC 8058 section 4 requires in ``h=``)."""

MIN_RSA_BITS = 1024
"""RFC 8301 section 3.2: signers MUST use at least 1024 bits (2048 advised)."""

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?"
_DOMAIN = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*$")
_HEADER_NAME = re.compile(r"^[!-9;-~]{1,76}$")
_WSP_RUN = re.compile(rb"[ \t]+")
_TRAILING_WSP = re.compile(rb"[ \t]+\r\n")
_FOLD_AT = 78
_B64_PIECE = 64  # b= and bh= pieces: a folded line stays under 78 octets


class DKIMSigner:
    """Signs rendered messages with DKIM for ``domain`` under ``selector``.

    ``DKIMSigner(domain="example.com", selector="s2026", private_key=pem_or_path)``.
    ``private_key`` is PEM (PKCS#8 ``BEGIN PRIVATE KEY`` or traditional ``BEGIN RSA PRIVATE
    KEY``) as bytes, text or :class:`~pydantic.SecretStr`, or the path of a PEM file; an
    Ed25519 key may also be dkimpy's form (base64 of the 32-byte seed). ``algorithm`` is
    taken from the key unless given (``rsa-sha256`` or ``ed25519-sha256``); RSA keys under
    1024 bits are refused. ``headers`` names the fields signed when present (default
    :data:`DEFAULT_HEADERS`; ``From`` is always signed); each ``oversign`` field is listed
    once more than it occurs, so that nobody can add one after signing (From by default).
    ``t=`` is the signing time from ``clock`` (seconds since the epoch); ``expire_after``
    (seconds) adds ``x=``.

    Pass it to :class:`~mailsdk.Sender` as ``dkim=``; :meth:`sign` signs bytes directly and
    :meth:`dns_record` is the TXT record to publish at :attr:`record_name`.
    """

    def __init__(
        self,
        *,
        domain: str,
        selector: str,
        private_key: KeySource,
        algorithm: Algorithm | None = None,
        headers: Sequence[str] = DEFAULT_HEADERS,
        oversign: Sequence[str] = ("from",),
        expire_after: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.domain = _checked_domain(domain, "domain")
        self.selector = _checked_domain(selector, "selector")
        key, kind = _load_key(private_key)
        if algorithm is None:
            algorithm = "ed25519-sha256" if kind == "ed25519" else "rsa-sha256"
        if algorithm not in ("rsa-sha256", "ed25519-sha256"):
            raise ConfigurationError(
                f"DKIM algorithm {algorithm!r} is not rsa-sha256 or ed25519-sha256"
            )
        if algorithm.split("-")[0] != kind:
            raise ConfigurationError(
                f"the DKIM key is an {kind.upper()} key, which cannot sign {algorithm}"
            )
        self.algorithm: Algorithm = algorithm
        self._key = key
        names = [_checked_header_name(h) for h in headers]
        if "from" not in names:
            names.insert(0, "from")
        self.headers: tuple[str, ...] = tuple(dict.fromkeys(names))
        self.oversign: frozenset[str] = frozenset(_checked_header_name(h) for h in oversign)
        if expire_after is not None and expire_after <= 0:
            raise ConfigurationError("DKIM expire_after must be a positive number of seconds")
        self.expire_after = expire_after
        self.clock = clock

    @property
    def record_name(self) -> str:
        """Where the public key is published: ``<selector>._domainkey.<domain>``."""
        return f"{self.selector}._domainkey.{self.domain}"

    def dns_record(self) -> str:
        """The TXT record value holding the public key (RFC 6376 section 3.6.1).

        RSA keys are published as SubjectPublicKeyInfo (what ``openssl rsa -pubout`` writes),
        Ed25519 keys as the raw 32 bytes (RFC 8463 section 4.2). A record longer than 255
        octets goes in DNS as several strings, joined by resolvers without a separator.
        """
        from cryptography.hazmat.primitives import serialization

        public = self._key.public_key()
        if self.algorithm == "ed25519-sha256":
            raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
            return f"v=DKIM1; k=ed25519; p={base64.b64encode(raw).decode('ascii')}"
        der = public.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return f"v=DKIM1; k=rsa; p={base64.b64encode(der).decode('ascii')}"

    def sign(self, message: bytes) -> bytes:
        """*message* (CRLF line endings) with a DKIM-Signature field in front."""
        return self.signature([message]) + message

    def signature(self, chunks: Iterable[bytes]) -> bytes:
        """The ``DKIM-Signature`` field (CRLF-terminated) for the message given in *chunks*.

        Each chunk must start at a line start and end with CRLF (what
        ``OutgoingMessage.chunks()`` yields); the chunks are read once, so a large
        attachment is hashed as it is encoded.
        """
        head, body_hash = _split_and_hash(chunks)
        fields = _header_fields(head)
        signed_names: list[str] = []
        hashed = bytearray()
        for name in self.headers:
            present = [f for f in fields if f[0] == name]
            # RFC 6376 5.4.2: several instances are signed from the bottom up.
            for _, raw in reversed(present):
                signed_names.append(name)
                hashed += _relaxed_header(raw)
            if name in self.oversign:
                signed_names.append(name)  # no field left: hashes as nothing (3.5, 5.4)
        tags = [
            "v=1",
            f"a={self.algorithm}",
            "c=relaxed/relaxed",
            f"d={self.domain}",
            f"s={self.selector}",
        ]
        now = int(self.clock())
        tags.append(f"t={now}")
        if self.expire_after is not None:
            tags.append(f"x={now + self.expire_after}")
        unsigned = _fold_field(tags, signed_names, base64.b64encode(body_hash).decode("ascii"))
        hashed += _relaxed_header(unsigned).removesuffix(b"\r\n")  # RFC 6376 3.7: no CRLF
        value = base64.b64encode(self._sign(bytes(hashed))).decode("ascii")
        pieces = [value[i : i + _B64_PIECE] for i in range(0, len(value), _B64_PIECE)]
        return unsigned + "\r\n ".join(pieces).encode("ascii") + b"\r\n"

    def _sign(self, data: bytes) -> bytes:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding
        from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

        if isinstance(self._key, RSAPrivateKey):
            return self._key.sign(data, padding.PKCS1v15(), hashes.SHA256())
        # RFC 8463 section 3: Ed25519 signs the SHA-256 digest, not the data itself.
        return self._key.sign(hashlib.sha256(data).digest())

    def __repr__(self) -> str:
        return (
            f"DKIMSigner(domain={self.domain!r}, selector={self.selector!r}, "
            f"algorithm={self.algorithm!r})"
        )


def ascii_domain(value: str) -> str | None:
    """*value* as DNS looks it up: trimmed, without the root dot, lower case, in A-labels
    (IDNA); None when it is not a domain name (``mailsdk doctor`` checks its domain so too).
    Labels may hold ``_``, as DKIM selectors and ``_domainkey`` names do."""
    text = value.strip().rstrip(".")
    try:
        ascii_form = text.encode("idna").decode("ascii") if not text.isascii() else text
    except UnicodeError:
        return None
    if not _DOMAIN.match(ascii_form) or len(ascii_form) > 253:
        return None
    return ascii_form.lower()


def _checked_domain(value: str, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError(f"DKIM {what} is empty")
    # d= and s= are looked up in DNS: A-labels, the form every verifier resolves.
    name = ascii_domain(value)
    if name is None:
        raise ConfigurationError(f"DKIM {what} {value!r} is not a valid domain name")
    return name


def _checked_header_name(name: str) -> str:
    lowered = name.strip().lower()
    if not _HEADER_NAME.match(lowered):
        raise ConfigurationError(f"DKIM: {name!r} is not a header field name")
    if lowered == "dkim-signature":
        raise ConfigurationError("DKIM: a DKIM-Signature never signs itself (RFC 6376 3.5)")
    return lowered


_KEY_HELP = (
    "give an unencrypted PEM private key (PKCS#8 'BEGIN PRIVATE KEY' or 'BEGIN RSA PRIVATE "
    "KEY'), RSA of 1024 bits or more, or Ed25519"
)


def _key_bytes(source: KeySource) -> bytes:
    if isinstance(source, SecretStr):
        source = source.get_secret_value()
    if isinstance(source, bytes):
        return source
    if isinstance(source, str) and ("-----BEGIN" in source or "\n" in source):
        if "\n" not in source and "\\n" in source:
            source = source.replace("\\n", "\n")  # a one-line environment variable
        return source.encode("utf-8")
    if isinstance(source, (str, os.PathLike)):
        path = Path(source).expanduser()
        try:
            return path.read_bytes()
        except OSError as exc:
            raise ConfigurationError(
                f"cannot read the DKIM key file {str(path)!r}: {exc.strerror}"
            ) from None
    raise ConfigurationError(f"DKIM private_key must be PEM or a path, not {type(source).__name__}")


def _load_key(
    source: KeySource,
) -> tuple[RSAPrivateKey | Ed25519PrivateKey, Literal["rsa", "ed25519"]]:
    try:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
        from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
    except ImportError:  # pragma: no cover - exercised only without the extra
        raise ConfigurationError(
            "DKIM signing needs the cryptography package: pip install 'mailsdk[dkim]'"
        ) from None
    data = _key_bytes(source)
    key: object = None
    problem = "is not a PEM private key"
    if b"-----BEGIN" in data:
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except TypeError:
            problem = "is encrypted"
        except Exception:  # ValueError, UnsupportedAlgorithm: the text would not help
            problem = "could not be read"
    else:
        seed = _ed25519_seed(data)
        if seed is not None:
            key = Ed25519PrivateKey.from_private_bytes(seed)
    # Raised here, outside any except block, so no library exception (whose text or
    # traceback might show key material) is chained to ours.
    if key is None:
        raise ConfigurationError(f"the DKIM private key {problem}: {_KEY_HELP}")
    if isinstance(key, RSAPrivateKey):
        if key.key_size < MIN_RSA_BITS:
            raise ConfigurationError(
                f"the DKIM RSA key has {key.key_size} bits; DKIM needs at least {MIN_RSA_BITS} "
                "(RFC 8301), 2048 advised"
            )
        return key, "rsa"
    if isinstance(key, Ed25519PrivateKey):
        return key, "ed25519"
    kind = type(key).__name__.removeprefix("_").replace("PrivateKey", "") or "unknown"
    raise ConfigurationError(f"the DKIM private key is of type {kind}, not RSA or Ed25519")


def _ed25519_seed(data: bytes) -> bytes | None:
    """dkimpy's Ed25519 key file: base64 of the 32-byte seed."""
    try:
        seed = base64.b64decode(b"".join(data.split()), validate=True)
    except ValueError:
        return None
    return seed if len(seed) == 32 else None


def _split_and_hash(chunks: Iterable[bytes]) -> tuple[bytes, bytes]:
    """(header block, SHA-256 of the relaxed body): one pass over *chunks*.

    Relaxed body canonicalisation (RFC 6376 3.4.4): runs of WSP become one SP, WSP at line
    ends goes, empty lines at the end go. Chunks end at line ends, so each is canonicalised
    on its own; trailing empty lines are held back until a non-empty line follows them.
    """
    digest = hashlib.sha256()
    head = bytearray()
    in_head = True
    pending = 0  # empty lines seen but not yet hashed
    for chunk in chunks:
        if in_head:
            head += chunk
            end = 0 if head.startswith(b"\r\n") else head.find(b"\r\n\r\n")
            if end < 0:
                continue
            cut = end + 2 if end else 0
            chunk = bytes(head[cut + 2 :])
            del head[cut:]
            in_head = False
        if not chunk:
            continue
        text = chunk
        # The searches are memchr-fast; base64 and most text need neither rewrite.
        if b" \r\n" in text or b"\t\r\n" in text:
            text = _TRAILING_WSP.sub(b"\r\n", text)
        if b"\t" in text or b"  " in text:
            text = _WSP_RUN.sub(b" ", text)
        stripped = text.rstrip(b"\r\n")
        empty_lines = (len(text) - len(stripped)) // 2
        if not stripped:
            pending += empty_lines
            continue
        digest.update(b"\r\n" * pending + stripped + b"\r\n")
        pending = empty_lines - 1
    if in_head:
        raise ConfigurationError("DKIM: the message has no blank line between header and body")
    return bytes(head), digest.digest()


def _header_fields(head: bytes) -> list[tuple[str, bytes]]:
    """``(lowercased name, raw field with its folding)`` for each field, top to bottom."""
    fields: list[tuple[str, bytes]] = []
    for line in head.split(b"\r\n"):
        if not line:
            continue
        if line[:1] in (b" ", b"\t") and fields:
            name, raw = fields[-1]
            fields[-1] = (name, raw + b"\r\n" + line)
        else:
            name = line.split(b":", 1)[0].strip().decode("ascii", "replace").lower()
            fields.append((name, line))
    return fields


def _relaxed_header(raw: bytes) -> bytes:
    """RFC 6376 3.4.2: lowercase name, unfolded value, WSP runs as one SP, none at the ends."""
    name, _, value = raw.partition(b":")
    value = _WSP_RUN.sub(b" ", value.replace(b"\r\n", b"")).strip(b" ")
    return name.strip(b" \t").lower() + b":" + value + b"\r\n"


def _fold_field(tags: list[str], signed: list[str], body_hash: str) -> bytes:
    """``DKIM-Signature: ...; b=`` folded under 78 octets; the caller appends b='s value.

    FWS is allowed between tags, around the colons of ``h=`` and inside base64 (RFC 6376
    3.5), so those are the fold points.
    """
    tokens: list[tuple[str, str]] = [(" ", f"{tag};") for tag in tags]  # (joiner, text)
    for i, name in enumerate(signed):
        text = name + (":" if i < len(signed) - 1 else ";")
        tokens.append((" " if i == 0 else "", ("h=" if i == 0 else "") + text))
    tokens.append((" ", f"bh={body_hash};"))
    lines: list[str] = []
    line = "DKIM-Signature:"
    for joiner, text in tokens:
        if len(line) + len(joiner) + len(text) > _FOLD_AT - 2:
            lines.append(line)
            line = " " + text
        else:
            line += joiner + text
    # b= starts a line of its own, so its value's first piece fits beside it.
    lines += [line, " b="]
    return "\r\n".join(lines).encode("ascii")
