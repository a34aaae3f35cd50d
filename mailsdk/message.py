"""Message, Address and Attachment: the validated description of one email.

Everything a header will carry is checked here, before rendering, because the stdlib's own
generator has let CR/LF through more than once (CVE-2024-6923, CVE-2026-1299). Addresses are
checked with email-validator (IDN domains and UTF-8 local parts allowed); the SMTP envelope is
built from these validated values, never from re-parsed headers.
"""

from __future__ import annotations

import codecs
import functools
import json
import mimetypes
import os
import re
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from email.charset import Charset as EmailCharset
from email.header import decode_header
from email.message import Message as _Compat32Message
from email.utils import collapse_rfc2231_value, parsedate_to_datetime
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import email_validator
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    ValidationInfo,
    field_serializer,
    field_validator,
    model_validator,
)
from typing_extensions import Self

from mailsdk._calendar_model import Calendar, recheck_calendar
from mailsdk._plain_address import is_plain_address
from mailsdk._validation import as_message_error
from mailsdk.defaults import resolve_default_sender
from mailsdk.dsn import DSN
from mailsdk.errors import MessageError

__all__ = ["Address", "Attachment", "Envelope", "Message"]

# CR, LF, NUL, every other C0 control but TAB, DEL, and the Unicode line breaks that
# str.splitlines() honours (VT, FF, FS, GS, RS, NEL, LS, PS): any of them in a header can
# end the header line in some reader.
_UNSAFE_HEADER_CHARS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f\x85\u2028\u2029]")
# The shape of an RFC 2047 encoded word, loosely matched as lenient readers match it.
# Readers (the stdlib's included) accept white space inside the encoded text, so must we.
# Matched at every "=?" (a lookahead, so matches overlap): a reader that skips a malformed
# word starting earlier still decodes one that starts inside it.
_ENCODED_WORD = re.compile(r"(?=(=\?[^?]*\?[^?]*\?.*?\?=))", re.DOTALL)
_HEADER_NAME = re.compile(r"^[!-9;-~]{1,76}$")
# RFC 5322 msg-id: dot-atom-text "@" (dot-atom-text / no-fold-literal), ASCII only.
_MESSAGE_ID = re.compile(
    r"^<[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@(?:[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+|\[[!-Z^-~]*\])>$"
)
_CONTENT_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*$")
_CONTENT_ID = re.compile(r"^[!-;=?-~]+$")  # printable ASCII without '<', '>' or spaces
_TOKEN_CHARSET = re.compile(r"^[A-Za-z0-9!#$%&'+^_`{}~.-]{1,40}$")
_METADATA_KEY = re.compile(r"^[!-~]{1,128}$")  # printable ASCII, no spaces: a JSON or form key
_PROVIDER_NAME = re.compile(r"^[a-z][a-z0-9+.-]{0,31}$")  # a transport URL scheme

METADATA_MESSAGE_ID = "mailsdk_message_id"
"""The metadata key under which provider transports send our Message-ID, so that webhook
events map back to it (:mod:`mailsdk.webhooks`); a message may not set it itself."""

# Headers the model builds itself from its own fields, so they cannot be set through `headers`
# (a custom "Bcc" must never add a recipient, a custom Content-Type must not break the tree).
_STRUCTURAL_HEADERS = frozenset(
    {
        "from",
        "to",
        "cc",
        "bcc",
        "reply-to",
        "subject",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
        "content-disposition",
        "content-id",
        "return-path",
        "resent-bcc",
    }
)

# email-validator refuses special-use domains; a local relay legitimately takes mail for
# root@localhost, so these names are allowed with the local part still validated.
_LOCAL_DOMAINS = frozenset({"localhost", "localhost.localdomain"})


def check_header_text(value: str, what: str) -> str:
    """Return *value* unchanged if it is safe inside one header line, else raise MessageError.

    Refuses CR, LF, NUL, other control characters, Unicode line breaks, and RFC 2047 encoded
    words that decode to any of those.
    """
    bad = _UNSAFE_HEADER_CHARS.search(value)
    if bad:
        raise MessageError(f"{what} contains a forbidden character {bad.group()!r}")
    if "=?" in value:
        # Each token shaped like an encoded word is decoded on its own: readers differ in
        # which malformed neighbours they tolerate, so a broken word next to a good one must
        # not hide a CR or LF from this check while some reader still decodes it.
        for token in _ENCODED_WORD.findall(value):
            try:
                parts = decode_header(token)
            except Exception:
                raise MessageError(f"{what} has a malformed encoded word") from None
            for chunk, charset in parts:
                text = chunk if isinstance(chunk, str) else _decode_word(chunk, charset)
                if _UNSAFE_HEADER_CHARS.search(text):
                    raise MessageError(f"{what} has an encoded word that decodes to a line break")
    return value


def _validated_email(email: str) -> tuple[str, str | None]:
    """(normalized form, IDNA form or None) for *email*; raises MessageError.

    A plain ASCII address (see :mod:`mailsdk._plain_address`) is its own normalized and
    ASCII form, as email-validator would say; any other goes to email-validator, cached.
    """
    if is_plain_address(email):
        return email, email
    return _email_validator_answer(email)


@lru_cache(maxsize=4096)
def _email_validator_answer(email: str) -> tuple[str, str | None]:
    """email-validator's answer for *email*, as :func:`_validated_email` returns it.

    Cached: the same sender, and often the same recipients, recur across a mail-merge, and
    email-validator's IDNA checks cost a tenth of a millisecond per address.
    """
    local, at, domain = email.rpartition("@")
    probe = email
    if at and domain.lower() in _LOCAL_DOMAINS:
        probe = f"{local}@example.com"
    try:
        valid = email_validator.validate_email(
            probe,
            check_deliverability=False,
            allow_smtputf8=True,
            allow_domain_literal=True,
            test_environment=True,
        )
    except email_validator.EmailNotValidError as exc:
        raise MessageError(f"invalid address {email!r}: {exc}") from None
    if probe is email:
        return valid.normalized, valid.ascii_email
    normalized = f"{valid.local_part}@{domain.lower()}"
    return normalized, normalized if valid.ascii_email is not None else None


def _checked_headers(value: Mapping[str, str]) -> dict[str, str]:
    seen: set[str] = set()
    for name, text in value.items():
        if not _HEADER_NAME.match(name):
            raise MessageError(f"invalid header name {name!r}")
        lowered = name.lower()
        if lowered in _STRUCTURAL_HEADERS:
            raise MessageError(
                f"header {name!r} is built from the message's own fields; set it there"
            )
        if lowered in seen:
            raise MessageError(f"header {name!r} is given twice")
        seen.add(lowered)
        check_header_text(text, f"header {name}")
        if lowered == "message-id" and not _MESSAGE_ID.match(text.strip()):
            raise MessageError(f"Message-ID {text!r} is not of the form <left@right>")
        if lowered == "date":
            try:
                parsedate_to_datetime(text)
            except (TypeError, ValueError):
                raise MessageError(f"Date header {text!r} is not an RFC 5322 date") from None
            if not text.isascii() or len(text.strip()) > 64 or text != text.strip():
                raise MessageError(
                    f"Date header {text!r}: give a plain RFC 5322 date (ASCII, no comment)"
                )
    return dict(value)


# A URL in List-Unsubscribe: no white space, no angle brackets or commas (RFC 2369 puts each
# in <> and separates them with commas), ASCII only (RFC 3986; percent-encode the rest).
_UNSUBSCRIBE_URL = re.compile(r"^(?:https://[^/?#@\s<>,]+(?:[/?#][!-~]*)?|mailto:[!-~]+)$", re.I)
_MAX_URL = 900  # one URL per folded line, under RFC 5322's 998 octets


def _unsubscribe_url(url: Any) -> str:
    if not isinstance(url, str):
        raise MessageError("list_unsubscribe takes URLs as strings")
    check_header_text(url, "list_unsubscribe URL")
    if not url.isascii() or not _UNSUBSCRIBE_URL.match(url) or any(c in url for c in "<>, "):
        raise MessageError(
            f"list_unsubscribe URL {url!r} must be https://... or mailto:..., in ASCII, "
            "without spaces, commas or angle brackets"
        )
    if len(url) > _MAX_URL:
        raise MessageError(f"list_unsubscribe URL is {len(url)} characters; at most {_MAX_URL}")
    return url


def _fold_urls(urls: Sequence[str]) -> str:
    lines: list[str] = []
    line = "List-Unsubscribe:"
    for i, url in enumerate(urls):
        piece = f"<{url}>" + ("," if i < len(urls) - 1 else "")
        if line != "List-Unsubscribe:" and len(line) + 1 + len(piece) > 78:
            lines.append(line)
            line = ""
        line += " " + piece
    lines.append(line)
    return "\r\n".join(lines).removeprefix("List-Unsubscribe: ")


def _check_unsubscribe(message: Message) -> None:
    own = {name.lower() for name in message.headers}
    if message.list_unsubscribe and own & {"list-unsubscribe", "list-unsubscribe-post"}:
        raise MessageError(
            "List-Unsubscribe is given both in headers and as list_unsubscribe; give it once"
        )
    if message.list_unsubscribe_post and not any(
        url.lower().startswith("https://") for url in message.list_unsubscribe
    ):
        raise MessageError(
            "list_unsubscribe_post=True needs an https:// URL in list_unsubscribe (RFC 8058: "
            "one-click unsubscribe is an HTTPS POST)"
        )


def _decode_word(chunk: bytes, charset: str | None) -> str:
    # Readers decode an unknown charset (or one with an RFC 2231 language tag) somehow; latin-1
    # maps every byte, so a CR or LF hidden behind any charset is still seen.
    try:
        return chunk.decode(charset or "ascii", errors="replace")
    except LookupError:
        return chunk.decode("latin-1")


def _unquote_display_name(name: str) -> str:
    if len(name) >= 2 and name[0] == name[-1] == '"':
        return re.sub(r"\\(.)", r"\1", name[1:-1])
    return name


class _CheckedMark:
    """Holds the field values an :class:`Address` had when it was last checked in full.

    A slot of a base class, not a dataclass field, so it never reaches ``model_dump``,
    equality, ``dataclasses.fields`` or a pickle (a copy made that way is checked in full).
    """

    __slots__ = ("_checked",)


@dataclass(frozen=True, slots=True)
class Address(_CheckedMark):
    """One mailbox: an optional display name and a validated email address.

    ``Address("Alice", "alice@example.com")``, ``Address(email="bob@example.com")`` or
    ``Address.parse("Alice <alice@example.com>")``. The address is checked with
    email-validator; internationalised domains and UTF-8 local parts are allowed.
    """

    name: str = ""
    email: str = ""
    ascii_email: str | None = field(default=None, init=False, repr=False, compare=False)
    """The address with its domain in IDNA (punycode) form; None when the local part is not
    ASCII, so that only SMTPUTF8 can carry it."""

    def __post_init__(self) -> None:
        name = self.name
        # The empty name (a bare address, as most recipients of a merge are) is a plain str
        # with nothing to check or strip: skipped, as it costs a few calls per recipient.
        if name.__class__ is not str or name:
            check_header_text(name, "display name")
            # Surrounding white space is not part of a display name; readers drop it too.
            name = name.strip()
            if name != self.name:
                check_header_text(name, "display name")  # what the re-check will look at
            object.__setattr__(self, "name", name)
        check_header_text(self.email, "address")
        if not self.email:
            raise MessageError("an address needs an email")
        normalized, ascii_form = _validated_email(self.email)
        if normalized == self.email and type(self) is Address:
            # What the render-time re-check would ask is answered: the name and the address
            # passed check_header_text, and validating the address again gives this same
            # answer (the address is its own normalized form). Recording the exact objects
            # lets the re-check skip an Address nothing has replaced a field of since.
            object.__setattr__(self, "_checked", (name, normalized, ascii_form))
        object.__setattr__(self, "email", normalized)
        object.__setattr__(self, "ascii_email", ascii_form)

    @classmethod
    def parse(cls, value: str) -> Address:
        """Parse ``"Name <addr>"``, ``'"Last, First" <addr>'`` or a bare ``"addr"``."""
        check_header_text(value, "address")
        value = value.strip()
        # A bare plain address (most recipients of a merge) skips the dataclass __init__.
        if (
            cls is Address
            and value.__class__ is str
            and "=?" not in value
            and is_plain_address(value)
        ):
            return _plain_address(value)
        if value.endswith(">") and "<" in value:
            cut = value.rindex("<")
            raw_name = value[:cut].strip()
            quoted = len(raw_name) >= 2 and raw_name[0] == raw_name[-1] == '"'
            if not quoted and re.search(r'[,;<>@:"]', raw_name):
                # "Bob <b@x>, Carol <c@x>" must not quietly become one recipient.
                raise MessageError(
                    f"{value!r} is not one address: give a list, or quote the display name"
                )
            return cls(_unquote_display_name(raw_name), value[cut + 1 : -1].strip())
        return cls("", value)

    @property
    def needs_smtputf8(self) -> bool:
        """True when the local part is not ASCII, so only an SMTPUTF8 relay can carry it."""
        return self.ascii_email is None

    @property
    def envelope(self) -> str:
        """The form used in MAIL FROM / RCPT TO: IDNA domain when that suffices."""
        return self.ascii_email or self.email

    def __str__(self) -> str:
        if not self.name:
            return self.email
        needs_quotes = re.search(r'[()<>\[\]:;@\\,."]', self.name)
        if needs_quotes:
            escaped = self.name.replace("\\", "\\\\").replace('"', '\\"')
            return f'"{escaped}" <{self.email}>'
        return f"{self.name} <{self.email}>"


def _plain_address(email: str) -> Address:
    """``Address("", email)`` for a checked, stripped plain address (see ``Address.parse``).

    What ``__post_init__`` would do, without the dataclass ``__init__``: *email* passed
    check_header_text, the empty name has nothing to check, and a plain address is its own
    normalized and ASCII form. Recording ``_checked`` as ``__post_init__`` does lets the
    render-time re-check skip it the same way. The slots are written through their
    descriptors: this runs once per recipient of every message.
    """
    address = _new_object(Address)
    _set_name(address, "")
    _set_email(address, email)
    _set_ascii_email(address, email)
    _set_checked(address, ("", email, email))
    return address


_new_object = object.__new__
_set_name = Address.__dict__["name"].__set__
_set_email = Address.__dict__["email"].__set__
_set_ascii_email = Address.__dict__["ascii_email"].__set__
_set_checked = _CheckedMark.__dict__["_checked"].__set__


def _is_name_pair(value: Any) -> bool:
    """True for ``(name, address)``: two items, the first a name (no "@", so not an
    address itself)."""
    return (
        isinstance(value, tuple)
        and len(value) == 2
        and (value[0] is None or (isinstance(value[0], str) and "@" not in value[0]))
    )


def _to_address(value: Any) -> Any:
    if isinstance(value, Address):
        return value
    if isinstance(value, str):
        return Address.parse(value)
    if _is_name_pair(value):
        return Address(str(value[0] or ""), str(value[1]))
    if isinstance(value, tuple):
        # ("a@x", "b@x") is not a name and an address: never read it as one.
        raise MessageError(
            f"{value!r} is not a (name, address) pair (its first item must be a name "
            "without '@'); give one address here, or a list where several are allowed"
        )
    if isinstance(value, Mapping):
        return Address(str(value.get("name") or ""), str(value.get("email") or ""))
    raise MessageError(f"expected an address string or Address, got {type(value).__name__}")


def _to_address_list(value: Any) -> Any:
    if value is None:
        return []
    # A tuple is a sequence of addresses, like a list, unless it is one (name, address)
    # pair: to=("a@x", "b@x") is two recipients, to=("Bob", "b@x") is Bob.
    if isinstance(value, (str, Address, Mapping)) or _is_name_pair(value):
        value = [value]
    if not isinstance(value, Iterable):
        raise MessageError(f"expected a list of addresses, got {type(value).__name__}")
    # A bare plain address (every recipient of most merges) is made here at once: a plain
    # address holds no white space, control character or line break, so Address.parse's
    # header check and strip could not change or refuse it.
    return [
        _plain_address(v)
        if v.__class__ is str and "=?" not in v and is_plain_address(v)
        else _to_address(v)
        for v in value
    ]


AddressInput = str | Address | tuple[str, str] | Mapping[str, str]
"""An address as ``"Name <addr>"``, an :class:`Address`, ``(name, addr)`` or a dict."""
AddressesInput = AddressInput | Sequence[AddressInput] | None
"""One address or a list (or tuple) of them. A tuple is a sequence of addresses unless it is
one ``(name, addr)`` pair, whose name has no "@": ``to=("a@x", "b@x")`` is two recipients,
``to=("Bob", "b@x")`` is Bob."""

AddressField = Annotated[Address, BeforeValidator(_to_address)]
AddressList = Annotated[list[Address], BeforeValidator(_to_address_list)]


@dataclass(frozen=True, slots=True)
class Envelope:
    """The SMTP envelope: who the message is from and every recipient (Bcc included)."""

    mail_from: str
    rcpt_to: tuple[str, ...]
    smtputf8: bool


class _Model(BaseModel):
    """Base for the public models: validation failures surface as MessageError."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        validate_by_name=True,
        validate_by_alias=True,
        arbitrary_types_allowed=True,
    )

    def __init__(self, /, **data: Any) -> None:
        with as_message_error(type(self).__name__):
            super().__init__(**data)

    @classmethod
    def model_validate(cls, obj: Any, **options: Any) -> Self:
        """Validate a dict (``"from"`` is accepted for ``from_``); raise MessageError.

        *options* are pydantic's own (``strict``, ``context``, ``from_attributes`` ...)."""
        with as_message_error(cls.__name__):
            return super().model_validate(obj, **options)

    @classmethod
    def model_validate_json(cls, json_data: str | bytes | bytearray, **options: Any) -> Self:
        """Rebuild a model from :meth:`model_dump_json` output; raise MessageError.

        *options* are pydantic's own (``strict``, ``context`` ...)."""
        # Our custom __init__ makes pydantic validate nested models in Python mode even for
        # JSON input, so validators learn that the input is JSON from this flag instead.
        token = _VALIDATING_JSON.set(True)
        try:
            with as_message_error(cls.__name__):
                return super().model_validate_json(json_data, **options)
        finally:
            _VALIDATING_JSON.reset(token)


_VALIDATING_JSON: ContextVar[bool] = ContextVar("mailsdk_validating_json", default=False)


def _read_file_object(value: Any) -> bytes:
    """The rest of a binary file object's content (text files are refused: no guessing of
    their encoding)."""
    data = value.read()
    if isinstance(data, str):
        raise MessageError("attachment content: open the file in binary mode ('rb')")
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise MessageError(f"attachment content: read() gave {type(data).__name__}, not bytes")
    return bytes(data)


def _split_content_type(value: str) -> tuple[str, str | None]:
    """``type/subtype`` and the charset of a content type such as ``text/plain; charset=x``."""
    check_header_text(value, "attachment content type")
    main, _, rest = value.partition(";")
    charset = None
    if rest.strip():
        probe = _Compat32Message()
        probe["Content-Type"] = f"x/x;{rest}"
        for key, raw in (probe.get_params() or [])[1:]:
            if key.lower() != "charset":
                raise MessageError(
                    f"content type parameter {key!r} is not supported (only charset= is)"
                )
            charset = str(collapse_rfc2231_value(raw)).strip()
        if charset is None:
            raise MessageError(f"content type {value!r} has a malformed parameter")
    return main.strip().lower(), charset


def _checked_charset(charset: str) -> str:
    if not _TOKEN_CHARSET.match(charset):
        raise MessageError(f"invalid charset {charset!r}")
    try:
        codecs.lookup(charset)
    except LookupError:
        raise MessageError(f"unknown charset {charset!r}") from None
    # The MIME name of the charset ("latin-1" is Python's alias; readers know "iso-8859-1").
    return str(EmailCharset(charset.lower()).input_charset)


class Attachment(_Model):
    """A file attached to the message, or an inline image referenced by ``cid:`` in the HTML.

    ``content`` is bytes, or a binary file object that is read once when the attachment is
    made; :meth:`from_path` reads nothing up front and streams the file when the message is
    rendered. ``content_type`` is guessed from the file name when omitted and may carry a
    charset (``'text/plain; charset="utf-8"'``); a ``text/*`` attachment is labelled with
    its ``charset``, ``utf-8`` by default when its bytes are UTF-8 (text given as ``str`` is
    encoded with that charset). The file name is reduced to its base name, so a path never
    leaks into the message. In JSON (``model_dump_json``) the content travels as its bytes,
    base64 (URL-safe alphabet), never as a path (a file attached by path is read for it).
    """

    # Attachments are binary: JSON carries them as base64 so that any bytes survive.
    model_config = ConfigDict(ser_json_bytes="base64", val_json_bytes="base64")

    filename: str
    content: bytes
    content_type: str = ""
    charset: str | None = None
    """The charset of a ``text/*`` attachment (lower case); None for other types."""
    inline: bool = False
    cid: str | None = None
    # Private state, set with object.__setattr__ into the instance's __dict__ beside the
    # fields (so model_copy, pickle and deepcopy carry it, and dumps, equality and hashing,
    # which read the fields only, ignore it). These class values are the defaults. Pydantic
    # private attributes would cost a default copy per attachment made and a __getattr__
    # call per read, on every attachment of every message.
    # Rendered MIME part, keyed by disposition: a mail-merge that shares this attachment
    # encodes it once.
    _mime_cache: ClassVar[dict[tuple[Any, ...], tuple[bytes, bytes]] | None] = None
    # A file read at render time (from_path), and its size when the attachment was made.
    _path: ClassVar[Path | None] = None
    _path_size: ClassVar[int] = 0

    @model_validator(mode="before")
    @classmethod
    def _accept_files_and_text(cls, data: Any, info: ValidationInfo) -> Any:
        if not isinstance(data, dict):
            return data
        if info.mode == "json" or _VALIDATING_JSON.get():
            return data  # JSON content is base64 of the bytes, never text to encode
        data = dict(data)
        content = data.get("content")
        ctype = data.get("content_type")
        if isinstance(ctype, str) and ";" in ctype:
            data["content_type"], given = _split_content_type(ctype)
            if given is not None:
                if data.get("charset") not in (None, given):
                    raise MessageError(
                        f"charset {data['charset']!r} disagrees with content type {ctype!r}"
                    )
                data["charset"] = given
        if hasattr(content, "read") and not isinstance(content, (bytes, bytearray, str)):
            data["content"] = _read_file_object(content)
        elif isinstance(content, str):
            charset = data.get("charset") or "utf-8"
            try:
                data["content"] = content.encode(_checked_charset(charset))
            except UnicodeEncodeError as exc:
                raise MessageError(
                    f"attachment text cannot be encoded as {charset}: {exc}"
                ) from None
            data["charset"] = charset
        return data

    @field_validator("filename")
    @classmethod
    def _base_name(cls, value: str) -> str:
        return _attachment_base_name(value)

    @field_validator("cid")
    @classmethod
    def _check_cid(cls, value: str | None) -> str | None:
        return _checked_cid(value)

    @model_validator(mode="after")
    def _fill_in(self) -> Attachment:
        ctype = _checked_content_type(self.content_type, self.filename)
        object.__setattr__(self, "content_type", ctype)
        charset = self.charset
        if charset is not None:
            if not ctype.startswith("text/"):
                raise MessageError(f"a charset is given for {ctype}, which is not text/*")
            charset = _checked_charset(charset)
        elif ctype.startswith("text/") and _is_utf8(self.__dict__["content"]):
            # Bytes that are not UTF-8 are left unlabelled rather than mislabelled: give
            # charset= for them (readers then need not guess).
            charset = "utf-8"
        object.__setattr__(self, "charset", charset)
        if self.inline and self.cid is None:
            object.__setattr__(self, "cid", f"{uuid.uuid4().hex}@mailsdk")
        return self

    @classmethod
    def from_path(
        cls,
        path: str | os.PathLike[str],
        *,
        filename: str | None = None,
        content_type: str | None = None,
        charset: str | None = None,
        inline: bool = False,
        cid: str | None = None,
    ) -> Attachment:
        """An attachment named after the file's base name, read when the message is rendered.

        Nothing is read now: a large file is encoded a slice at a time while it is sent, so
        it is never held in memory whole. The file must stay in place, unchanged, until the
        message is sent; a ``text/*`` file is labelled ``charset=utf-8`` unless *charset*
        (or a charset in *content_type*) is given. Raises OSError (FileNotFoundError, ...)
        when the file cannot be opened now, and MessageError at render time when it can no
        longer be read or changed size.
        """
        p = Path(path)
        with p.open("rb") as f:  # fails now (OSError) when the file is missing or unreadable
            size = os.fstat(f.fileno()).st_size
        ctype, given = (
            _split_content_type(content_type)
            if content_type and ";" in content_type
            else (content_type or "", None)
        )
        guessed = _checked_content_type(ctype, filename or p.name)
        if guessed.startswith("text/") and charset is None and given is None:
            charset = "utf-8"  # the file is not read to check: the documented default
        attachment = cls(
            filename=filename or p.name,
            content=b"",
            content_type=ctype,
            charset=charset or given,
            inline=inline,
            cid=cid,
        )
        object.__setattr__(attachment, "_path", p)
        object.__setattr__(attachment, "_path_size", size)
        return attachment

    def __eq__(self, other: object) -> bool:
        # The fields, and for a file attachment its file (kept beside the fields, which
        # pydantic alone would compare): two files are two attachments, whatever their names.
        same = super().__eq__(other)
        if same is not True or not isinstance(other, Attachment):
            return same
        return (self._path, self._path_size) == (other._path, other._path_size)

    __hash__ = _Model.__hash__  # the fields only: equal attachments still hash alike

    def __setstate__(self, state: dict[Any, Any]) -> None:
        # A pickle from before this state moved out of pydantic's private attributes keeps
        # its file there: carried over, so it still reads its file.
        old = state.get("__pydantic_private__") or {}
        super().__setstate__({**state, "__pydantic_private__": None})
        for name in ("_path", "_path_size", "_mime_cache"):
            if name in old:
                object.__setattr__(self, name, old[name])

    @property
    def size(self) -> int:
        """The content's length in octets (for a file, its size when it was attached)."""
        return self._path_size if self._path is not None else len(self.__dict__["content"])

    def read_slices(self, slice_size: int) -> Iterator[bytes]:
        """The content in slices of exactly *slice_size* octets (the last may be shorter).

        A file attached with :meth:`from_path` is read from disk here, slice by slice;
        MessageError if it changed size or cannot be read any more.
        """
        if self._path is None:
            data = memoryview(self.__dict__["content"])
            for start in range(0, len(data), slice_size):
                yield bytes(data[start : start + slice_size])
            return
        total = 0
        try:
            with self._path.open("rb") as f:
                while True:
                    chunk = f.read(slice_size)
                    while chunk and len(chunk) < slice_size:
                        more = f.read(slice_size - len(chunk))
                        if not more:
                            break
                        chunk += more
                    if not chunk:
                        break
                    total += len(chunk)
                    if total > self._path_size:
                        break
                    yield chunk
        except OSError as exc:
            raise MessageError(
                f"attachment {self.filename!r} cannot be read: {exc.strerror}"
            ) from None
        if total != self._path_size:
            raise MessageError(
                f"attachment {self.filename!r} changed size after it was attached "
                f"({self._path_size} octets then)"
            )

    @field_serializer("content")
    def _content_for_dump(self, value: bytes) -> bytes:
        # A file attachment is serialised with its bytes, so the dump stands on its own.
        return _attachment_content(self)

    def __repr__(self) -> str:
        return (
            f"Attachment(filename={self.filename!r}, content_type={self.content_type!r}, "
            f"size={self.size}, inline={self.inline})"
        )

    __str__ = __repr__


def _attachment_content(attachment: Attachment) -> bytes:
    if attachment._path is None:
        data: bytes = attachment.__dict__["content"]
        return data
    return b"".join(attachment.read_slices(1 << 20))


# Reading ``content`` reads a file attachment's bytes from disk (each time: they are not kept).
# Set after the class is built so pydantic still sees ``content`` as an ordinary field.
Attachment.content = property(  # type: ignore[assignment]
    _attachment_content, doc="The attachment's bytes (a file attached by path is read now)."
)


def _recheck_address(address: Any, what: str) -> None:
    if type(address) is Address:
        # Strings are immutable: the same objects as when it was checked are the same values.
        mark = getattr(address, "_checked", None)
        if (
            mark is not None
            and mark[0] is address.name
            and mark[1] is address.email
            and mark[2] is address.ascii_email
        ):
            return
    if not isinstance(address, Address):
        raise MessageError(f"{what} holds {type(address).__name__}, not an Address")
    if not isinstance(address.name, str) or not isinstance(address.email, str):
        raise MessageError(f"{what}: an Address holds something other than text")
    check_header_text(address.name, f"{what} display name")
    check_header_text(address.email, f"{what} address")
    # Cached, so cheap; a changed email or IDNA form means the Address was altered in place.
    if _validated_email(address.email) != (address.email, address.ascii_email):
        raise MessageError(f"{what}: address {address.email!r} was changed after validation")


def _recheck_attachment(attachment: Any) -> None:
    if not isinstance(attachment, Attachment):
        raise MessageError(
            f"attachments holds {type(attachment).__name__}, not an Attachment value"
        )
    name = attachment.filename
    if not isinstance(name, str) or _attachment_base_name(name) != name:
        raise MessageError(f"attachment file name {name!r} is not a plain base name")
    ctype = attachment.content_type
    if not isinstance(ctype, str) or _checked_content_type(ctype, name) != ctype:
        raise MessageError(f"attachment {name!r}: invalid content type {ctype!r}")
    charset = attachment.charset
    if charset is not None and (
        not isinstance(charset, str)
        or not ctype.startswith("text/")
        or _checked_charset(charset) != charset
    ):
        raise MessageError(f"attachment {name!r}: invalid charset {charset!r}")
    cid = attachment.cid
    if cid is not None and (not isinstance(cid, str) or _checked_cid(cid) != cid):
        raise MessageError(f"attachment {name!r}: invalid content id {cid!r}")
    if attachment.inline and cid is None:
        raise MessageError(f"inline attachment {name!r} has no content id")
    if not isinstance(attachment.__dict__.get("content"), bytes):
        raise MessageError(f"attachment {name!r}: content is not bytes")


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _attachment_base_name(value: str) -> str:
    check_header_text(value, "attachment file name")
    base = re.split(r"[\\/]", value)[-1].strip()
    if base in ("", ".", ".."):
        raise MessageError(f"attachment file name {value!r} has no base name")
    if base == value:
        return base  # no path to cut (always so at the re-check before a send): checked above
    # Cutting the path off can leave an encoded word the whole name did not show (a "/"
    # inside one), which recheck() would then refuse at send time: refuse it now.
    return check_header_text(base, "attachment file name")


def _checked_cid(value: str | None) -> str | None:
    if value is None:
        return None
    check_header_text(value, "content id")
    value = value.strip().removeprefix("<").removesuffix(">")
    if not _CONTENT_ID.match(value):
        raise MessageError(f"invalid content id {value!r}")
    return value


def _checked_content_type(value: str, filename: str) -> str:
    ctype = value.strip().lower()
    if not ctype:
        ctype = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        if ctype.startswith(("message/", "multipart/")):
            # An attached .eml travels as opaque bytes: message/* may not be base64
            # encoded (RFC 2046 5.2.1), and re-encoding it would change it.
            ctype = "application/octet-stream"
    if not _CONTENT_TYPE.match(ctype):
        raise MessageError(f"invalid content type {value!r}")
    if ctype.startswith(("message/", "multipart/")):
        raise MessageError(
            f"content type {ctype} cannot be an attachment's type (it is base64 encoded); "
            "use application/octet-stream"
        )
    return ctype


def _checked_metadata(value: Mapping[str, str]) -> Mapping[str, str]:
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise MessageError("metadata must map text to text")
    for key, text in value.items():
        if not _METADATA_KEY.fullmatch(key):
            raise MessageError(
                f"metadata key {key!r:.60} must be 1-128 printable ASCII characters, no spaces"
            )
        if key.lower() == METADATA_MESSAGE_ID:  # Postmark refuses keys equal but for case
            raise MessageError(f"metadata key {key!r} is reserved: mailsdk sends the Message-ID")
        check_header_text(text, f"metadata {key}")
    return value


def _checked_provider_options(value: Any) -> Any:
    if not isinstance(value, Mapping):
        raise MessageError("provider_options must map provider names to dicts of fields")
    for provider, options in value.items():
        if not isinstance(provider, str) or not _PROVIDER_NAME.fullmatch(provider):
            raise MessageError(
                f"provider_options key {provider!r:.40} is not a provider's URL scheme "
                '(write {"sendgrid": {...}})'
            )
        if not isinstance(options, Mapping):
            raise MessageError(f"provider_options[{provider!r}] must be a dict of fields")
        try:
            # The options travel in JSON (requests, the outbox): refuse what JSON cannot hold.
            json.dumps(dict(options), allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise MessageError(f"provider_options[{provider!r}] is not JSON data: {exc}") from None
    return value


class Message(_Model):
    """One email, validated on construction.

    Addresses are ``"Name <addr>"`` strings, bare addresses or :class:`Address` values. Build
    it from keywords (``from_=``) or from a dict with :meth:`model_validate` (``"from"``).
    Any invalid part raises :class:`~mailsdk.MessageError` (also a ``ValueError``) before
    anything is sent. When ``from_`` is omitted the default sender is used (see
    :mod:`mailsdk.defaults`: a :func:`~mailsdk.default_sender` block, a framework's
    setting such as Flask's ``MAILSDK_FROM``, :func:`~mailsdk.set_default_sender`, or the
    ``MAILSDK_FROM`` environment variable).

    ``model_dump_json()`` and ``model_validate_json()`` round-trip a message exactly
    (attachments included), so that it can cross processes: with a fixed Message-ID and Date
    in ``headers`` the rebuilt message renders to the same bytes. Use that pair, not
    ``model_dump(mode="json")`` fed back to ``model_validate``, which reads attachment
    content as text.
    """

    def __init__(
        self,
        *,
        from_: AddressInput | None = None,
        to: AddressesInput = None,
        cc: AddressesInput = None,
        bcc: AddressesInput = None,
        reply_to: AddressesInput = None,
        subject: str = "",
        text: str | Literal[False] | None = None,
        html: str | None = None,
        attachments: Sequence[Attachment] | None = None,
        headers: Mapping[str, str] | None = None,
        tags: Sequence[str] | None = None,
        metadata: Mapping[str, str] | None = None,
        envelope_from: AddressInput | None = None,
        track_opens: bool | None = None,
        track_clicks: bool | None = None,
        provider_options: Mapping[str, Mapping[str, Any]] | None = None,
        **fields: Any,
    ) -> None:
        given = {
            "from_": from_,
            "to": to,
            "cc": cc,
            "bcc": bcc,
            "reply_to": reply_to,
            "text": text,
            "html": html,
            "attachments": attachments,
            "headers": headers,
            "tags": tags,
            "metadata": metadata,
            "envelope_from": envelope_from,
            "track_opens": track_opens,
            "track_clicks": track_clicks,
            "provider_options": provider_options,
        }
        data = {k: v for k, v in given.items() if v is not None}
        data["subject"] = subject
        data.update(fields)  # e.g. {"from": ...} from a dict
        super().__init__(**data)

    from_: AddressField | None = Field(default=None, alias="from")
    to: AddressList = Field(default_factory=list)
    cc: AddressList = Field(default_factory=list)
    bcc: AddressList = Field(default_factory=list)
    reply_to: AddressList = Field(default_factory=list)
    subject: str = ""
    text: str | None = None
    """The text/plain body. With ``html`` and no ``text``, one is generated from the HTML
    (:func:`mailsdk.htmltext.html_to_text`); ``text=False`` sends the HTML alone."""
    html: str | None = None
    text_from_html: bool = True
    """Generate ``text`` from ``html`` when it is not given; ``text=False`` sets this False."""
    inline_css: bool = False
    """Move the HTML's ``<style>`` rules into ``style=`` attributes, once, when the message is
    made (``pip install 'mailsdk[css]'``, css-inline): many mail readers drop ``<style>``.
    ``@media`` rules stay in a ``<style>``; ``<link>`` stylesheets are kept, never fetched."""
    attachments: list[Attachment] = Field(default_factory=list)
    headers: dict[str, str] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list)
    metadata: dict[str, str] = Field(default_factory=dict)
    envelope_from: AddressField | None = None
    """Bounce address for MAIL FROM when it differs from ``from_`` (becomes Return-Path)."""
    track_opens: StrictBool | None = None
    """Ask the provider to track opens (True), not to (False), or leave its setting (None).
    A relay that cannot honour the choice refuses the send (see Provider options)."""
    track_clicks: StrictBool | None = None
    """Ask the provider to rewrite links to track clicks (True), not to (False), or leave its
    setting (None); refused like :attr:`track_opens` where a relay cannot honour it."""
    provider_options: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """Fields merged into one provider's request, keyed by its URL scheme
    (``{"sendgrid": {"asm": {"group_id": 7}}, "postmark": {"MessageStream": "broadcast"}}``):
    each relay reads only its own entry, so one message can fail over between providers."""
    list_unsubscribe: list[str] = Field(default_factory=list)
    """``https:`` and ``mailto:`` URLs for the List-Unsubscribe header (RFC 2369)."""
    list_unsubscribe_post: bool = False
    """Add ``List-Unsubscribe-Post: List-Unsubscribe=One-Click`` (RFC 8058 one-click
    unsubscribe); needs an https URL in ``list_unsubscribe``. Gmail and Yahoo ask bulk
    senders for it, and RFC 8058 wants both headers DKIM-signed (``Sender(dkim=...)``)."""

    @field_validator("list_unsubscribe", mode="before")
    @classmethod
    def _check_list_unsubscribe(cls, value: Any) -> Any:
        urls = [value] if isinstance(value, str) else value
        if not isinstance(urls, (list, tuple)):
            raise MessageError("list_unsubscribe takes a URL or a list of URLs")
        return [_unsubscribe_url(url) for url in urls]

    def list_headers(self, *, folded: bool = True) -> dict[str, str]:
        """The List-Unsubscribe (and List-Unsubscribe-Post) values this message carries.

        With *folded* the List-Unsubscribe value is folded between URLs (CRLF SP), as both
        renderers write it, so no line passes 78 octets when the URLs allow it.
        """
        if not self.list_unsubscribe:
            return {}
        value = ", ".join(f"<{url}>" for url in self.list_unsubscribe)
        if folded:
            value = _fold_urls(self.list_unsubscribe)
        out = {"List-Unsubscribe": value}
        if self.list_unsubscribe_post:
            out["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        return out

    calendar: Calendar | None = None
    """A calendar invite: a ``text/calendar`` alternative plus an ``invite.ics`` attachment
    (see :class:`~mailsdk.Calendar`)."""

    ignore_suppressions: bool = False
    """Send even to recipients on the sender's suppression list (a transactional override)."""
    dsn: DSN | None = None
    """Delivery status notifications to ask SMTP relays for (RFC 3461 ``NOTIFY``, ``RET``,
    ``ENVID``, ``ORCPT``), where the relay offers DSN; see :class:`~mailsdk.DSN`."""
    require_tls: bool = False
    """RFC 8689 REQUIRETLS: only relays that offer it, over verified TLS, take the message,
    and it asks every later hop to deliver over verified TLS or bounce it. HTTP provider
    APIs and relays without it are refused (the next relay is tried)."""

    @field_validator("subject")
    @classmethod
    def _check_subject(cls, value: str) -> str:
        return check_header_text(value, "subject")

    @field_validator("headers")
    @classmethod
    def _check_headers(cls, value: dict[str, str]) -> dict[str, str]:
        return _checked_headers(value)

    def recheck(self) -> None:
        """Check again, cheaply, every field that reaches a header or the envelope.

        Validation runs when a Message is made, but ``model_copy(update=...)``,
        ``model_construct()`` and in-place changes to its lists and dicts skip it; an
        injected CR/LF or a header-shaped value must still never reach the wire. Called once
        per send, before rendering; raises MessageError naming the field.
        """
        if not isinstance(self.subject, str):
            raise MessageError("subject is not text")
        check_header_text(self.subject, "subject")
        for body in ("text", "html"):
            if not isinstance(getattr(self, body), (str, type(None))):
                raise MessageError(f"{body} is neither text nor None")
        if not isinstance(self.headers, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in self.headers.items()
        ):
            raise MessageError("headers must map names to text")
        _checked_headers(self.headers)
        if not isinstance(self.from_, Address):
            raise MessageError("from_ is not set to an Address")
        _recheck_address(self.from_, "from_")
        if self.envelope_from is not None:
            _recheck_address(self.envelope_from, "envelope_from")
        for field_name in ("to", "cc", "bcc", "reply_to"):
            addresses = getattr(self, field_name)
            if not isinstance(addresses, (list, tuple)):
                raise MessageError(f"{field_name} is not a list of Address values")
            for address in addresses:
                _recheck_address(address, field_name)
        if not (self.to or self.cc or self.bcc):
            raise MessageError("no recipient: set at least one of to, cc or bcc")
        if not isinstance(self.attachments, (list, tuple)):
            raise MessageError("attachments is not a list of Attachment values")
        for attachment in self.attachments:
            _recheck_attachment(attachment)
        cids = [a.cid for a in self.attachments if a.inline]
        if len(set(cids)) != len(cids):
            raise MessageError("two inline attachments share a content id")
        if self.calendar is not None:
            if not isinstance(self.calendar, Calendar):
                raise MessageError("calendar is not a Calendar value")
            recheck_calendar(self.calendar)
        if not all(isinstance(tag, str) for tag in self.tags):
            raise MessageError("tags must be text")
        for tag in self.tags:
            check_header_text(tag, "tag")
        _checked_metadata(self.metadata)
        for name in ("track_opens", "track_clicks"):
            if getattr(self, name) not in (None, True, False):
                raise MessageError(f"{name} must be True, False or None")
        _checked_provider_options(self.provider_options)
        if not isinstance(self.dsn, (DSN, type(None))) or not isinstance(self.require_tls, bool):
            raise MessageError("dsn must be a DSN or None, and require_tls a bool")

    @field_validator("tags")
    @classmethod
    def _check_tags(cls, value: list[str]) -> list[str]:
        for tag in value:
            check_header_text(tag, "tag")
        return value

    @field_validator("metadata")
    @classmethod
    def _check_metadata(cls, value: dict[str, str]) -> dict[str, str]:
        _checked_metadata(value)
        return value

    @field_validator("provider_options", mode="before")
    @classmethod
    def _check_provider_options(cls, value: Any) -> Any:
        return _checked_provider_options(value)

    @model_validator(mode="after")
    def _check_whole(self) -> Message:
        if self.from_ is None:
            default = resolve_default_sender()
            if default is None:
                raise MessageError(
                    "no sender: set from_, or a default sender (MAILSDK_FROM, "
                    "mailsdk.set_default_sender() or a framework's setting)"
                )
            try:
                object.__setattr__(self, "from_", _to_address(default))
            except MessageError as exc:
                raise MessageError(f"the default sender is not valid: {exc}") from None
        if not (self.to or self.cc or self.bcc):
            raise MessageError("no recipient: set at least one of to, cc or bcc")
        cids = [a.cid for a in self.attachments if a.inline]
        if len(set(cids)) != len(cids):
            raise MessageError("two inline attachments share a content id")
        _check_unsubscribe(self)
        if self.html is not None and (
            self.inline_css or (self.text is None and self.text_from_html)
        ):
            _derive_bodies(self)
        return self

    @model_validator(mode="before")
    @classmethod
    def _text_opt_out(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("text") is False:
            return {**data, "text": None, "text_from_html": False}
        return data

    @property
    def sender(self) -> Address:
        """The From address (``from_``, or the default sender it was given)."""
        assert self.from_ is not None  # guaranteed by validation
        return self.from_

    def recipients(self) -> list[Address]:
        """Every recipient, To, Cc and Bcc, each address once, in that order."""
        seen: set[str] = set()
        out: list[Address] = []
        for addr in (*self.to, *self.cc, *self.bcc):
            key = addr.envelope.lower()
            if key not in seen:
                seen.add(key)
                out.append(addr)
        return out

    def needs_smtputf8(self) -> bool:
        """True when some address (header or envelope) has a non-ASCII local part."""
        everyone = (self.sender, *self.to, *self.cc, *self.bcc, *self.reply_to)
        extra = (self.envelope_from,) if self.envelope_from else ()
        # ascii_email is None exactly when needs_smtputf8 (read directly: once per address
        # of every message rendered).
        return any(a.ascii_email is None for a in (*everyone, *extra))

    def envelope(self) -> Envelope:
        """The SMTP envelope, built from the validated fields (never from headers)."""
        bounce = self.envelope_from or self.sender
        return Envelope(
            mail_from=bounce.envelope,
            rcpt_to=tuple(a.envelope for a in self.recipients()),
            smtputf8=self.needs_smtputf8(),
        )

    def as_bytes(self) -> bytes:
        """Render the exact MIME that goes on the wire (CRLF line endings).

        A Message-ID and a Date are generated unless given in ``headers``; with both given,
        the output is deterministic.
        """
        if _renderer is None:  # pragma: no cover - mailsdk/__init__ imports the renderer
            raise RuntimeError("import mailsdk to render messages")
        return _renderer(self)

    def __repr__(self) -> str:
        return (
            f"Message(from_={str(self.from_)!r}, to={[str(a) for a in self.to]!r}, "
            f"subject={self.subject!r}, attachments={len(self.attachments)})"
        )


def _derive_bodies(message: Message) -> None:
    """Generate the text alternative and inline the CSS, once, as the message is made."""
    html = message.html
    assert html is not None
    if message.text is None and message.text_from_html:
        from mailsdk.htmltext import html_to_text  # only messages that need it import it

        text = html_to_text(html)
        if text:
            object.__setattr__(message, "text", text)
    # A message read back from model_dump_json() holds the inlined HTML already.
    if message.inline_css and not _VALIDATING_JSON.get():
        object.__setattr__(message, "html", _inlined_css(html))


@functools.lru_cache(maxsize=1)
def _css_inliner() -> Any:
    """One inliner for the process (its settings never change); css-inline is imported by
    the caller first, so a missing extra is reported there."""
    import css_inline

    return css_inline.CSSInliner(
        load_remote_stylesheets=False, keep_link_tags=True, keep_at_rules=True
    )


def _inlined_css(html: str) -> str:
    try:
        import css_inline
    except ImportError:
        raise MessageError(
            "inline_css=True needs the css-inline package: pip install 'mailsdk[css]'"
        ) from None
    try:
        inlined: str = _css_inliner().inline(html)
        return inlined
    except (css_inline.InlineError, ValueError) as exc:
        raise MessageError(f"inline_css: the HTML or its CSS could not be inlined: {exc}") from None


# The renderer sits above this module (mailsdk.outgoing imports the model), so the model does
# not import it: mailsdk.outgoing installs itself here when it is imported, as the package
# always does. This keeps the import graph free of cycles.
_renderer: Callable[[Message], bytes] | None = None


def install_renderer(renderer: Callable[[Message], bytes]) -> None:
    """Set what :meth:`Message.as_bytes` renders with (called by :mod:`mailsdk.outgoing`)."""
    global _renderer
    _renderer = renderer
