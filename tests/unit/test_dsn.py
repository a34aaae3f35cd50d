"""DSN requests (RFC 3461): validation, and the xtext forms ENVID and ORCPT travel in."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailsdk import DSN, Message, MessageError
from mailsdk.dsn import orcpt_value, xtext

_XTEXT = re.compile(r"^(?:[!-*,-<>-~]|\+[0-9A-F]{2})*$")


def _xtext_decoded(value: str) -> str:
    return re.sub(r"\+([0-9A-F]{2})", lambda m: chr(int(m.group(1), 16)), value)


@given(st.text(st.characters(min_codepoint=0, max_codepoint=127)))
def test_xtext_is_rfc3461_xtext_and_decodes_back(value: str) -> None:
    encoded = xtext(value)
    assert _XTEXT.match(encoded)
    assert _xtext_decoded(encoded) == value


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        ("plain-id.1@x", "plain-id.1@x"),
        ("a+b=c", "a+2Bb+3Dc"),
        ("two words", "two+20words"),
        ("tab\there", "tab+09here"),
    ],
)
def test_xtext_examples(value: str, encoded: str) -> None:
    assert xtext(value) == encoded


@pytest.mark.parametrize(
    ("address", "value"),
    [
        ("alice@example.com", "rfc822;alice@example.com"),
        ("bob+tag@example.com", "rfc822;bob+2Btag@example.com"),
        ("jörg@example.com", "utf-8;j\\x{F6}rg@example.com"),
        ("名@例え.jp", "utf-8;\\x{540D}@\\x{4F8B}\\x{3048}.jp"),
        ("a+ü@example.com", "utf-8;a\\x{2B}\\x{FC}@example.com"),
    ],
)
def test_orcpt_value(address: str, value: str) -> None:
    assert orcpt_value(address) == value


def test_notify_is_normalised() -> None:
    assert DSN(notify="failure, delay").notify == ("FAILURE", "DELAY")
    assert DSN(notify=["Success", "success"]).notify == ("SUCCESS",)
    assert DSN(notify=("never",)).notify == ("NEVER",)
    assert DSN(ret="hdrs").ret == "HDRS"


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"notify": ["NEVER", "FAILURE"]}, "NEVER cannot be combined"),
        ({"notify": []}, "notify is empty"),
        ({"notify": ["BOUNCE"]}, "'BOUNCE' is not SUCCESS"),
        ({"notify": 3}, "notify takes a list"),
        ({"ret": "BODY"}, "ret"),
        ({"envid": "caf\u00e9"}, "printable ASCII"),
        ({"envid": "line\r\nRCPT TO:<x@y>"}, "printable ASCII"),
        ({"envid": ""}, "printable ASCII"),
        ({"envid": "+" * 34}, "longer than 100"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_invalid_dsn_is_a_message_error(fields: dict[str, object], problem: str) -> None:
    with pytest.raises(MessageError, match="invalid DSN") as caught:
        DSN(**fields)  # type: ignore[arg-type]
    assert problem in str(caught.value)


def test_envid_limit_counts_encoded_characters() -> None:
    assert DSN(envid="x" * 100).mail_parameters() == ["ENVID=" + "x" * 100]
    assert DSN(envid="+" * 33).mail_parameters() == ["ENVID=" + "+2B" * 33]


def test_orcpt_past_500_characters_is_refused() -> None:
    with pytest.raises(MessageError, match="longer than 500"):
        DSN().rcpt_parameters("ü" * 90 + "@example.com")


def test_parameters() -> None:
    dsn = DSN(notify=["FAILURE"], ret="FULL", envid="e 1")
    assert dsn.mail_parameters() == ["RET=FULL", "ENVID=e+201"]
    assert dsn.rcpt_parameters("a@b.example") == ["NOTIFY=FAILURE", "ORCPT=rfc822;a@b.example"]
    assert DSN(orcpt=False).rcpt_parameters("a@b.example") == []
    assert DSN().mail_parameters() == []


def test_message_carries_dsn_and_require_tls_through_json() -> None:
    message = Message(
        from_="a@example.com",
        to=["b@example.com"],
        dsn={"notify": "failure", "envid": "x"},
        require_tls=True,
    )
    assert message.dsn == DSN(notify=["FAILURE"], envid="x")
    again = Message.model_validate_json(message.model_dump_json())
    assert again.dsn == message.dsn
    assert again.require_tls is True
    assert Message(from_="a@example.com", to=["b@example.com"]).dsn is None


def test_invalid_dsn_inside_a_message_names_the_field() -> None:
    with pytest.raises(MessageError, match=r"dsn: .*NEVER cannot be combined"):
        Message(from_="a@example.com", to=["b@example.com"], dsn={"notify": "never,delay"})


def test_recheck_refuses_a_dsn_swapped_in_after_validation() -> None:
    message = Message(from_="a@example.com", to=["b@example.com"])
    object.__setattr__(message, "dsn", "NOTIFY=SUCCESS\r\nRCPT TO:<x@y>")
    with pytest.raises(MessageError, match="dsn must be a DSN"):
        message.recheck()
