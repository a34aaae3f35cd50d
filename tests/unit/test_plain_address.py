"""The plain-address fast path answers exactly as email-validator does, or not at all.

``is_plain_address`` lets ``Address`` skip email-validator for a plain ASCII address; it is
only correct if email-validator, called with mailsdk's options, accepts every address it
takes and normalizes each one to itself (both the normalized and the ASCII form). Addresses
are drawn near the edges of that subset: every atext character and some that are not,
upper case, dots and hyphens in odd places, "--" and "xn--" labels, special-use and local
domains, role names email-validator lower-cases, and lengths around 64, 63, 253 and 254.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from mailsdk import Address, MessageError
from mailsdk._plain_address import is_plain_address
from mailsdk.message import _email_validator_answer, _validated_email, check_header_text

_ask_email_validator = _email_validator_answer.__wrapped__

ATEXT = "abcxyzABCXYZ0189_!#$%&'*+-/=?^`{|}~"
ODD = '."\\ @()<>[]:;,é\x00\r\n\t\u2028'
LOCAL_CHARS = st.sampled_from(ATEXT + ".") | st.sampled_from(ODD)
LABEL_CHARS = st.sampled_from("abcmxyz0189-") | st.sampled_from("ABZ_.é\u00df\u3002 ")
TLDS = [
    "com",
    "test",
    "arpa",
    "invalid",
    "local",
    "localhost",
    "onion",
    "localdomain",
    "x1",
    "1",
    "c0m",
    "museum",
    "COM",
    "xn--p1ai",
    "ab--c",
]


def _long(n: int) -> st.SearchStrategy[str]:
    return st.text(st.sampled_from("ab9"), min_size=n - 2, max_size=n + 2)


locals_ = (
    st.text(LOCAL_CHARS, min_size=0, max_size=12)
    | st.sampled_from(["info", "Support", "POSTMASTER", "www", "abuse", "webmaster", "a.b"])
    | _long(64)
)
labels = (
    st.text(LABEL_CHARS, min_size=0, max_size=8)
    | _long(63)
    | st.sampled_from(["xn--nxasmq6b", "ab--cd", "a-b", "-a", "a-", "localhost", "example", "mail"])
)
domains = st.builds(
    lambda parts, tld: ".".join([*parts, tld] if tld is not None else parts),
    st.lists(labels, min_size=0, max_size=5),
    st.sampled_from(TLDS) | st.none() | labels,
)
addresses = st.builds(lambda local, domain: f"{local}@{domain}", locals_, domains) | st.text(
    max_size=30
)
# Mostly inside the subset, so its accepting side is exercised as hard as its refusals.
near_plain = st.builds(
    lambda local, parts, tld: f"{local}@{'.'.join([*parts, tld])}",
    st.text(st.sampled_from(ATEXT + "."), min_size=1, max_size=66),
    st.lists(st.text(st.sampled_from("abz09-"), min_size=1, max_size=64), min_size=1, max_size=4),
    st.sampled_from(TLDS) | st.text(st.sampled_from("abz09-"), min_size=1, max_size=5),
)


def _email_validator_says(email: str) -> tuple[str, str | None] | None:
    try:
        return _ask_email_validator(email)  # type: ignore[no-any-return]
    except MessageError:
        return None


@settings(max_examples=3000, suppress_health_check=[HealthCheck.too_slow])
@given(addresses | near_plain)
@example("user1-2@example.com")
@example("a@b.co")
@example("x@localhost.localdomain")
@example("x@mail.localhost")
@example("info@example.com")
@example("a" * 64 + "@example.com")
@example("a" * 65 + "@example.com")
@example("a@" + "b" * 63 + ".com")
@example("a@" + "b" * 64 + ".com")
@example("a@" + ".".join(["b" * 63] * 3) + "." + "c" * 60)
@example("ab@" + ".".join(["b" * 63] * 3) + "." + "c" * 60)
@example("a@x1.c9")
@example("a@example.com\n")
def test_a_plain_address_is_what_email_validator_returns_unchanged(email: str) -> None:
    if is_plain_address(email):
        assert _email_validator_says(email) == (email, email)


@settings(max_examples=1000)
@given(addresses)
@example("Alice@Example.COM")
@example("user@xn--nxasmq6b.com")
def test_validation_answers_as_email_validator_does_for_every_address(email: str) -> None:
    expected = _email_validator_says(email)
    if expected is None:
        with pytest.raises(MessageError):
            _validated_email(email)
    else:
        assert _validated_email(email) == expected


def test_the_fast_path_takes_the_addresses_a_merge_sends_to() -> None:
    # Not a speed test: it pins that the common shapes do take the fast path at all.
    for email in ["user1-2@example.com", "first.last+tag@mail.example.co.uk", "x@test"]:
        assert is_plain_address(email) == (email != "x@test")
        assert Address(email=email).email == email


def _state(address: Address) -> tuple[object, ...]:
    return (
        type(address),
        address.name,
        address.email,
        address.ascii_email,
        getattr(address, "_checked", None),
    )


@settings(max_examples=1000)
@given(addresses | near_plain, st.sampled_from(["", " ", "\t"]))
@example("user1-2@example.com", "")
@example("=?utf-8?q?=0D=0A?=@example.com", "")
@example("a=?b@example.com", " ")
@example("a@example.com\n", "")
def test_parse_of_a_bare_address_builds_what_the_constructor_builds(email: str, pad: str) -> None:
    # Address.parse builds a bare plain address without the dataclass __init__: the result,
    # its re-check mark included, must be what Address("", email) gives, or the same error.
    raw = pad + email + pad
    try:
        # What parse did for a bare address before the shortcut: check, strip, construct.
        check_header_text(raw, "address")
        expected = _state(Address("", raw.strip()))
    except MessageError:
        with pytest.raises(MessageError):
            Address.parse(raw)
        return
    parsed = Address.parse(raw)
    assert _state(parsed) == expected
    assert parsed == Address("", email.strip())
    checked = getattr(parsed, "_checked", None)
    if checked is not None:
        # The re-check skips only an Address whose fields are still the checked objects.
        assert checked[1] is parsed.email
