"""Message fields for provider options: metadata keys, tracking toggles, provider_options.

What each provider does with them is in tests/providers (contract table and per-provider
files); here: what a Message accepts, refuses, and keeps across JSON.
"""

from __future__ import annotations

from typing import Any

import pytest

from mailsdk import Message, MessageError
from mailsdk.message import METADATA_MESSAGE_ID
from mailsdk.webhooks._event import METADATA_KEY


def make(**fields: Any) -> Message:
    base: dict[str, Any] = {"from_": "a@example.com", "to": ["b@example.com"], "text": "Hi"}
    return Message(**{**base, **fields})


def test_defaults_leave_every_provider_setting_alone() -> None:
    message = make()
    assert (message.track_opens, message.track_clicks) == (None, None)
    assert message.provider_options == {}
    assert message.metadata == {}


def test_options_round_trip_through_json() -> None:
    message = make(
        metadata={"account": "42"},
        track_opens=False,
        track_clicks=True,
        provider_options={
            "sendgrid": {"asm": {"group_id": 7, "groups_to_display": [7, 8]}},
            "postmark": {"MessageStream": "broadcast"},
        },
    )
    again = Message.model_validate_json(message.model_dump_json())
    assert again == message
    assert again.provider_options["sendgrid"]["asm"]["groups_to_display"] == [7, 8]


def test_the_send_side_key_is_the_one_the_webhook_parsers_read() -> None:
    assert METADATA_MESSAGE_ID == METADATA_KEY == "mailsdk_message_id"


@pytest.mark.parametrize(
    ("fields", "complaint"),
    [
        ({"metadata": {METADATA_MESSAGE_ID: "<x@y>"}}, "reserved"),
        ({"metadata": {"Mailsdk_Message_ID": "<x@y>"}}, "reserved"),
        ({"metadata": {"": "v"}}, "1-128 printable ASCII"),
        ({"metadata": {"two words": "v"}}, "1-128 printable ASCII"),
        ({"metadata": {"clé": "v"}}, "1-128 printable ASCII"),
        ({"metadata": {"k" * 129: "v"}}, "1-128 printable ASCII"),
        ({"metadata": {"k\n": "v"}}, "1-128 printable ASCII"),
        ({"metadata": {"k": "v\r\nBcc: x"}}, "forbidden character"),
        ({"metadata": {"k": 42}}, "metadata"),
        ({"track_opens": "yes"}, "track_opens"),
        ({"track_clicks": 1}, "track_clicks"),
        ({"provider_options": {"SendGrid": {}}}, "URL scheme"),
        ({"provider_options": {"sendgrid\n": {}}}, "URL scheme"),
        ({"provider_options": {"sendgrid": "asm"}}, "dict of fields"),
        ({"provider_options": {"sendgrid": {"x": float("nan")}}}, "not JSON data"),
        ({"provider_options": {"sendgrid": {"x": b"bytes"}}}, "not JSON data"),
        ({"provider_options": ["sendgrid"]}, "provider_options"),
    ],
)
def test_bad_options_are_refused_when_the_message_is_made(
    fields: dict[str, Any], complaint: str
) -> None:
    with pytest.raises(MessageError, match=complaint):
        make(**fields)


def test_recheck_catches_options_changed_after_validation() -> None:
    message = make()
    message.metadata[METADATA_MESSAGE_ID] = "<forged@example.com>"
    with pytest.raises(MessageError, match="reserved"):
        message.recheck()
    message = make()
    message.provider_options["sendgrid"] = {"x": object()}
    with pytest.raises(MessageError, match="not JSON data"):
        message.recheck()
    forced = make().model_copy(update={"track_opens": "yes"})
    with pytest.raises(MessageError, match="track_opens"):
        forced.recheck()
