"""A Message survives JSON exactly: what the outbox stores and what a task carries.

``Message.model_dump_json()`` then ``Message.model_validate_json()`` must give back an equal
message that renders to the same bytes (given a fixed Message-ID and Date), for any shape of
message the model accepts: binary attachments, inline images with content ids, internationalised
addresses, custom headers, tags and metadata.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from mailsdk import Address, Attachment, Message, MessageError

MESSAGE_ID = "<fixed.1@example.com>"
DATE = "Fri, 04 Dec 2026 03:00:00 +0000"
FIXED = {"Message-ID": MESSAGE_ID, "Date": DATE}


@pytest.fixture(autouse=True)
def _no_default_sender(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MAILSDK_FROM", raising=False)


def roundtrip(message: Message) -> Message:
    return Message.model_validate_json(message.model_dump_json())


def assert_same(message: Message) -> None:
    """The rebuilt message is equal, dumps identically and renders byte for byte the same."""
    dumped = message.model_dump_json()
    again = Message.model_validate_json(dumped)
    assert again.model_dump() == message.model_dump()
    assert again.model_dump_json() == dumped
    assert again.as_bytes() == message.as_bytes()
    for before, after in zip(message.attachments, again.attachments, strict=True):
        assert after.content == before.content
        assert (after.filename, after.content_type, after.inline, after.cid) == (
            before.filename,
            before.content_type,
            before.inline,
            before.cid,
        )


# Header text: anything printable the model accepts (it refuses controls and line breaks).
header_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), max_size=40
)
local_parts = st.sampled_from(["a", "bob.smith", "x+tag", "o'neil", "ünïcode", "用户"])
domains = st.sampled_from(["example.com", "exämple.com", "mail.example.org", "localhost"])
emails = st.builds(lambda local, domain: f"{local}@{domain}", local_parts, domains)


def _address(name: str, email: str) -> Address | None:
    try:
        return Address(name, email)
    except MessageError:  # e.g. a name that happens to hold an encoded line break
        return None


addresses = st.builds(_address, header_text, emails).filter(lambda a: a is not None)
address_lists = st.lists(addresses, max_size=3)
content_types = st.sampled_from(
    ["", "application/pdf", "image/png", "text/plain", "text/csv", "application/octet-stream"]
)
filenames = st.sampled_from(
    ["report.pdf", "logo.png", "data.csv", "notes.txt", "résumé.docx", "a b.bin", "noext"]
)
cids = st.none() | st.sampled_from(["logo@example.com", "img1", "part.7@x"])
attachments = st.builds(
    lambda filename, content, ctype, inline, cid: Attachment(
        filename=filename, content=content, content_type=ctype, inline=inline, cid=cid
    ),
    filenames,
    st.binary(max_size=300),
    content_types,
    st.booleans(),
    cids,
)
header_names = st.sampled_from(["X-Campaign", "X-Priority", "List-Unsubscribe", "Keywords"])


def build(**fields: Any) -> Message | None:
    try:
        return Message(**fields)
    except MessageError:
        return None


messages = st.builds(
    build,
    from_=addresses,
    to=address_lists,
    cc=address_lists,
    bcc=address_lists,
    reply_to=address_lists,
    subject=header_text,
    text=st.none() | st.text(max_size=200),
    html=st.none() | st.text(max_size=200).map(lambda t: f"<p>{t}</p>"),
    attachments=st.lists(attachments, max_size=3),
    headers=st.dictionaries(header_names, header_text, max_size=2).map(
        lambda extra: {**extra, **FIXED}
    ),
    tags=st.lists(header_text, max_size=2),
    metadata=st.dictionaries(st.sampled_from(["user", "order"]), header_text, max_size=2),
    envelope_from=st.none() | addresses,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(messages)
@example(
    Message(
        from_="Ünï Cödé <sender@exämple.com>",
        to=['"Last, First" <first@example.com>'],
        subject="=?utf-8?q?not_an_encoded_word_after_all?=",
        text="line\r\n.\r\nwith a lone dot",
        attachments=[Attachment(filename="zero.bin", content=b"")],
        headers=FIXED,
    )
)
@example(
    Message(
        from_="sender@example.com",
        to=["用户@example.com"],
        html='<img src="cid:logo@example.com">',
        attachments=[
            Attachment(
                filename="logo.png",
                content=b"\x89PNG\r\n\x1a\n\x00",
                inline=True,
                cid="<logo@example.com>",
            ),
            Attachment(filename="raw.bin", content=bytes(range(256))),
        ],
        headers=FIXED,
    )
)
def test_any_message_round_trips_through_json_exactly(message: Message | None) -> None:
    assume(message is not None)
    assert message is not None
    assert_same(message)


def test_binary_attachment_content_is_base64_in_the_json() -> None:
    message = Message(
        from_="a@example.com",
        to=["b@example.com"],
        attachments=[Attachment(filename="x.bin", content=b"\xff\xfe\x00")],
        headers=FIXED,
    )
    data = json.loads(message.model_dump_json())
    assert data["attachments"][0]["content"] == "__4A"
    assert roundtrip(message).attachments[0].content == b"\xff\xfe\x00"


def test_generated_inline_content_id_is_kept() -> None:
    # The content id is generated once, at construction; the JSON must carry it, or the
    # rebuilt HTML's cid: reference would point at nothing.
    message = Message(
        from_="a@example.com",
        to=["b@example.com"],
        attachments=[Attachment(filename="i.png", content=b"png", inline=True)],
        headers=FIXED,
    )
    cid = message.attachments[0].cid
    assert cid
    assert roundtrip(message).attachments[0].cid == cid


def test_default_sender_is_frozen_into_the_json(monkeypatch: pytest.MonkeyPatch) -> None:
    # MAILSDK_FROM is read where the message is built, not where it is sent.
    monkeypatch.setenv("MAILSDK_FROM", "Here <here@example.com>")
    message = Message(to=["b@example.com"], headers=FIXED)
    monkeypatch.setenv("MAILSDK_FROM", "there@example.com")
    assert roundtrip(message).sender == Address("Here", "here@example.com")


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.update(to=["not an address"]),
        lambda d: d.update(subject="a\r\nBcc: x@example.com"),
        lambda d: d["attachments"].append({"filename": "x", "content": "%%%"}),
        lambda d: d.update(headers={"Bcc": "x@example.com"}),
        lambda d: d.update(surprise=1),
    ],
    ids=["address", "header-injection", "bad-base64", "structural-header", "unknown-field"],
)
def test_tampered_json_is_refused_with_message_error(mutate: Any) -> None:
    data = json.loads(
        Message(from_="a@example.com", to=["b@example.com"], headers=FIXED).model_dump_json()
    )
    mutate(data)
    with pytest.raises(MessageError):
        Message.model_validate_json(json.dumps(data))


def test_malformed_json_is_refused_with_message_error() -> None:
    with pytest.raises(MessageError):
        Message.model_validate_json("{not json")
