"""List-Unsubscribe (RFC 2369) and one-click List-Unsubscribe-Post (RFC 8058) on Message."""

from __future__ import annotations

import email
import email.policy

import pytest

from mailsdk import Message, MessageError, OutgoingMessage
from mailsdk.mime import render_reference
from tests.messages import message_factory

FIXED = {"Date": "Fri, 04 Dec 2026 05:00:00 +0000", "Message-ID": "<lu@example.com>"}


message = message_factory(
    FIXED, from_="news@example.com", to=["alice@example.org"], subject="News", text="hi"
)


def headers_of(raw: bytes) -> email.message.EmailMessage:
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(parsed, email.message.EmailMessage)
    return parsed


def test_both_headers_render_as_rfc_8058_shows_them() -> None:
    msg = message(
        list_unsubscribe=["https://example.com/u/8f2a", "mailto:unsub@example.com"],
        list_unsubscribe_post=True,
    )
    raw = msg.as_bytes()
    assert (
        b"\r\nList-Unsubscribe: <https://example.com/u/8f2a>, <mailto:unsub@example.com>\r\n" in raw
    )
    assert b"\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n" in raw


def test_a_single_url_string_is_accepted_and_post_is_optional() -> None:
    raw = message(list_unsubscribe="mailto:unsub@example.com").as_bytes()
    assert b"List-Unsubscribe: <mailto:unsub@example.com>\r\n" in raw
    assert b"List-Unsubscribe-Post" not in raw


def test_long_urls_fold_between_urls_and_both_renderers_agree() -> None:
    urls = [f"https://example.com/unsubscribe/{'a' * 70}?list=news", "mailto:u@example.com"]
    msg = message(list_unsubscribe=urls, list_unsubscribe_post=True)
    fast = OutgoingMessage(msg).raw
    assert fast == render_reference(OutgoingMessage(msg))
    field = fast.split(b"List-Unsubscribe: ")[1].split(b"\r\nList-Unsubscribe-Post")[0]
    assert field.split(b"\r\n ") == [f"<{urls[0]}>,".encode(), f"<{urls[1]}>".encode()]
    assert headers_of(fast)["List-Unsubscribe"] == f"<{urls[0]}>, <{urls[1]}>"


def test_an_smtputf8_message_carries_them_too() -> None:
    msg = message(to=["jörg@bücher.example"], list_unsubscribe=["https://example.com/u/1"])
    raw = msg.as_bytes()  # rendered by the stdlib reference path
    assert headers_of(raw)["List-Unsubscribe"] == "<https://example.com/u/1>"


def test_one_click_needs_an_https_url() -> None:
    with pytest.raises(MessageError, match="needs an https:// URL"):
        message(list_unsubscribe=["mailto:unsub@example.com"], list_unsubscribe_post=True)
    with pytest.raises(MessageError, match="needs an https:// URL"):
        message(list_unsubscribe_post=True)


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/u/1",  # not https
        "ftp://example.com/u",
        "javascript:alert(1)",
        "https://example.com/u/1\r\nBcc: victim@example.net",
        "https://example.com/u/1\nX: y",
        "https://example.com/u 1",
        "https://example.com/u/1>, <https://evil.example/",
        "https://example.com/u,1",
        "https://",
        "https://exämple.com/u",  # IRIs: percent-encode or use the A-label
        "mailto:",
        "https://example.com/" + "a" * 1000,
        "",
    ],
)
def test_bad_urls_are_refused_at_construction(url: str) -> None:
    with pytest.raises(MessageError):
        message(list_unsubscribe=[url])


def test_it_cannot_also_be_given_as_a_custom_header() -> None:
    with pytest.raises(MessageError, match="give it once"):
        message(
            list_unsubscribe=["https://example.com/u/1"],
            headers={**FIXED, "List-Unsubscribe": "<https://example.com/u/2>"},
        )


def test_json_round_trip_keeps_them() -> None:
    msg = message(list_unsubscribe=["https://example.com/u/1"], list_unsubscribe_post=True)
    again = Message.model_validate_json(msg.model_dump_json())
    assert again.as_bytes() == msg.as_bytes()
