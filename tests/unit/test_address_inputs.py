"""Address inputs that used to be misread, and display names of any length."""

from __future__ import annotations

import email
from email import policy
from email.header import decode_header, make_header
from typing import Any

import pytest

from mailsdk import Address, Message, MessageError, OutgoingMessage
from mailsdk.mime import render_reference

FIXED = {"Message-ID": "<ai.1@example.com>", "Date": "Tue, 03 Mar 2026 09:30:00 +0100"}


def make(**fields: Any) -> Message:
    base: dict[str, Any] = {"from_": "shop@example.com", "to": "alice@example.com", "text": "x"}
    return Message(**{**base, "headers": FIXED, **fields})


# -- tuples ----------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["to", "cc", "bcc", "reply_to"])
@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (("a@example.com", "b@example.com"), ["a@example.com", "b@example.com"]),
        (("a@example.com",), ["a@example.com"]),
        (("a@x.org", "b@x.org", "c@x.org"), ["a@x.org", "b@x.org", "c@x.org"]),
        (("Ann <a@x.org>", "b@x.org"), ["Ann <a@x.org>", "b@x.org"]),
        ((Address("", "a@x.org"), "b@x.org"), ["a@x.org", "b@x.org"]),
        # A (name, address) pair: the first item is a name, without "@".
        (("Bob", "bob@example.com"), ["Bob <bob@example.com>"]),
        ((None, "bob@example.com"), ["bob@example.com"]),
        ([("Bob", "bob@example.com"), "c@x.org"], ["Bob <bob@example.com>", "c@x.org"]),
    ],
)
def test_a_tuple_of_addresses_is_every_one_of_them(
    field: str, given: Any, expected: list[str]
) -> None:
    message = make(**{field: given})
    assert [str(a) for a in getattr(message, field)] == expected
    if field != "reply_to":
        assert set(OutgoingMessage(message).envelope.rcpt_to) >= {
            a.email for a in getattr(message, field)
        }


@pytest.mark.parametrize("field", ["from_", "envelope_from", "to"])
@pytest.mark.parametrize(
    "pair", [("a@example.com", "b@example.com"), ("x@y", "b@example.com"), ("a@b", "c@d", "e")]
)
def test_a_pair_whose_name_is_an_address_is_refused_not_guessed(
    field: str, pair: tuple[str, ...]
) -> None:
    given: Any = [pair] if field == "to" else pair
    with pytest.raises(MessageError, match=field):
        make(**{field: given})


# -- display names of any length -------------------------------------------------------------


def rfc2047_display_name(raw: bytes, header: str) -> str:
    """The display name as RFC 2047 decodes it (adjacent encoded words joined)."""
    head = raw.split(b"\r\n\r\n", 1)[0].decode("utf-8").replace("\r\n ", " ")
    line = next(x for x in head.split("\r\n") if x.lower().startswith(header.lower() + ":"))
    value = line.split(":", 1)[1].strip()
    phrase = value.rsplit("<", 1)[0].strip()
    if phrase.startswith('"'):
        parsed = email.message_from_string(f"To: {value}\r\n\r\n", policy=policy.default)
        return str(parsed["To"].addresses[0].display_name)
    return str(make_header(decode_header(phrase)))


NAMES = {
    "plain ascii": "Reports " * 200,
    "one long word": "n" * 3000,
    "quotes double when escaped": '"' * 600,
    "specials": "Doe, Jane; (Sales) <team> " * 60,
    "non-ascii octets": "é" * 600,
    "emoji": "🎉" * 400,
    "at the old limit": "x" * 700,
}


@pytest.mark.parametrize("utf8", [False, True], ids=["ascii", "smtputf8"])
@pytest.mark.parametrize("field", ["from_", "to", "cc", "reply_to"])
@pytest.mark.parametrize("name", list(NAMES.values()), ids=list(NAMES))
def test_a_long_display_name_renders_within_998_octets_and_reads_back(
    name: str, field: str, utf8: bool
) -> None:
    address = Address(name, "someone@example.com")
    extra: dict[str, Any] = {"bcc": ["josé@example.com"]} if utf8 else {}
    message = make(**{field: address if field == "from_" else [address]}, **extra)
    header = {"from_": "From", "to": "To", "cc": "Cc", "reply_to": "Reply-To"}[field]
    for raw in (OutgoingMessage(message).raw, render_reference(OutgoingMessage(message))):
        assert max(len(line) for line in raw.split(b"\r\n")) <= 998
        assert " ".join(rfc2047_display_name(raw, header).split()) == " ".join(name.split())
