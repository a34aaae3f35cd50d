"""Paths that skip validation cannot put anything unchecked on the wire.

``model_copy(update=...)``, ``model_construct()``, ``object.__setattr__`` on a frozen
``Address`` and in-place edits of a message's lists and dicts all bypass the validators that
run when a ``Message`` is made. Every field that reaches a header or the envelope is checked
again when the message is rendered for sending, so each of these bypasses ends in a
``MessageError`` naming the field, before any I/O.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import pickle
from collections.abc import Callable
from typing import Any

import pytest

from mailsdk import (
    Address,
    AsyncSender,
    Attachment,
    MemoryTransport,
    Message,
    MessageError,
    OutgoingMessage,
)

EVIL = "x\r\nBcc: evil@example.net"
FIXED = {"Message-ID": "<rv.1@example.com>", "Date": "Tue, 03 Mar 2026 09:30:00 +0100"}


def good() -> Message:
    return Message(
        from_="Shop <shop@example.com>",
        to=["alice@example.com"],
        cc=["carol@example.com"],
        reply_to=["help@example.com"],
        subject="Order",
        text="hi",
        html="<img src='cid:logo@x'>",
        attachments=[
            Attachment(filename="r.txt", content=b"r"),
            Attachment(filename="l.png", content=b"p", inline=True, cid="logo@x"),
        ],
        headers=FIXED,
        tags=["t"],
        metadata={"k": "v"},
    )


def tampered_address(name: str = "Alice", email: str = "alice@example.com") -> Address:
    address = Address("Alice", "alice@example.com")
    object.__setattr__(address, "name", name)
    object.__setattr__(address, "email", email)
    return address


def tampered_ascii_form() -> Address:
    # Only the IDNA form changes: what RCPT TO carries, while the headers look right.
    address = Address("Alice", "alice@example.com")
    object.__setattr__(address, "ascii_email", "evil@example.net")
    return address


def unvalidated(email: str) -> Address:
    # An Address whose __post_init__ never ran, so it was never checked at all.
    address = object.__new__(Address)
    for name, value in (("name", ""), ("email", email), ("ascii_email", email)):
        object.__setattr__(address, name, value)
    return address


def changed_copy(address: Address, **fields: str) -> Address:
    copied = copy.copy(address)
    for name, value in fields.items():
        object.__setattr__(copied, name, value)
    return copied


def copy_attachment(**update: Any) -> Callable[[Message], Message]:
    def make(m: Message) -> Message:
        return m.model_copy(update={"attachments": [m.attachments[0].model_copy(update=update)]})

    return make


def edit(action: Callable[[Message], None]) -> Callable[[Message], Message]:
    def make(m: Message) -> Message:
        action(m)
        return m

    return make


BYPASSES: dict[str, Callable[[Message], Message]] = {
    "subject": lambda m: m.model_copy(update={"subject": "Hi" + EVIL}),
    "subject not text": lambda m: m.model_copy(update={"subject": b"bytes"}),
    "from_ as a string": lambda m: m.model_copy(update={"from_": "evil@example.net"}),
    "from_ None": lambda m: m.model_copy(update={"from_": None}),
    "from_ display name": lambda m: m.model_copy(update={"from_": tampered_address(name=EVIL)}),
    "envelope_from": lambda m: m.model_copy(
        update={"envelope_from": tampered_address(email="a@x\r\nRCPT TO:<e@x>")}
    ),
    "to as a string": lambda m: m.model_copy(update={"to": [f"a@example.com{EVIL}"]}),
    "to not a list": lambda m: m.model_copy(update={"to": "alice@example.com"}),
    "to address changed": lambda m: m.model_copy(
        update={"to": [tampered_address(email="evil@example.net>, <x@example.net")]}
    ),
    "cc display name": lambda m: m.model_copy(update={"cc": [tampered_address(name=EVIL)]}),
    "bcc address": lambda m: m.model_copy(update={"bcc": [tampered_address(email=EVIL)]}),
    "reply_to": lambda m: m.model_copy(update={"reply_to": [tampered_address(name="\x00")]}),
    "no recipient": lambda m: m.model_copy(update={"to": [], "cc": []}),
    "header value": lambda m: m.model_copy(update={"headers": {**FIXED, "X-A": EVIL}}),
    "header name": lambda m: m.model_copy(update={"headers": {**FIXED, "X-A: b\r\nBcc": "e"}}),
    "structural header": lambda m: m.model_copy(update={"headers": {**FIXED, "Bcc": "e@x.net"}}),
    "message-id": lambda m: m.model_copy(update={"headers": {"Message-ID": "<a@b>\r\nBcc: e"}}),
    "header edited in place": edit(lambda m: m.headers.__setitem__("X-B", EVIL)),
    "to appended in place": edit(lambda m: m.to.append(f"evil@example.net{EVIL}")),  # type: ignore[arg-type]
    "tag": lambda m: m.model_copy(update={"tags": [EVIL]}),
    "metadata": lambda m: m.model_copy(update={"metadata": {"k": EVIL}}),
    "metadata key": lambda m: m.model_copy(update={"metadata": {EVIL: "v"}}),
    "text not text": lambda m: m.model_copy(update={"text": 42}),
    "attachment not an Attachment": lambda m: m.model_copy(update={"attachments": [b"raw"]}),
    "attachment file name": copy_attachment(filename="r.txt" + EVIL),
    "attachment path": copy_attachment(filename="../../etc/passwd"),
    "attachment content type": copy_attachment(content_type="text/plain\r\nBcc: e@x.net"),
    "attachment multipart type": copy_attachment(content_type="multipart/mixed"),
    "attachment charset": copy_attachment(charset='utf-8"\r\nBcc: e@x.net'),
    "attachment charset on binary": copy_attachment(content_type="image/png", charset="utf-8"),
    "attachment cid": copy_attachment(inline=True, cid="a@x>\r\nBcc: <e@x.net"),
    "inline without cid": copy_attachment(inline=True, cid=None),
    "attachment content": copy_attachment(content="text, not bytes"),
    "inline cids shared": lambda m: m.model_copy(
        update={"attachments": [m.attachments[1], m.attachments[1]]}
    ),
    "model_construct": lambda m: Message.model_construct(**{**dict(m), "subject": "S" + EVIL}),
    "to IDNA form changed": lambda m: m.model_copy(update={"to": [tampered_ascii_form()]}),
    "to Address never validated": lambda m: m.model_copy(update={"to": [unvalidated(EVIL)]}),
    "to Address copied, then changed": lambda m: m.model_copy(
        update={"to": [changed_copy(m.to[0], email="a@x.net>\r\nBcc: e@x.net")]}
    ),
}


@pytest.mark.parametrize("bypass", list(BYPASSES.values()), ids=list(BYPASSES))
def test_every_header_bound_field_is_checked_again_at_render_time(
    bypass: Callable[[Message], Message],
) -> None:
    message = bypass(good())
    with pytest.raises(MessageError):
        OutgoingMessage(message)
    with pytest.raises(MessageError):
        message.as_bytes()


async def test_a_tampered_message_is_refused_before_any_io_and_the_batch_goes_on() -> None:
    transport = MemoryTransport()
    bad = good().model_copy(update={"subject": "Hi" + EVIL})
    async with AsyncSender(transport) as sender:
        with pytest.raises(MessageError, match="subject"):
            await sender.send(bad)
        results = await sender.send_many([good(), bad, good()])
    assert [type(r).__name__ for r in results] == ["SendResult", "MessageError", "SendResult"]
    assert all(b"evil@example.net" not in o.raw for o in transport.outbox)
    assert len(transport.outbox) == 2


def test_the_untouched_message_and_valid_copies_still_render() -> None:
    message = good()
    assert OutgoingMessage(message).raw
    copy = message.model_copy(update={"subject": "Another order", "to": [Address("", "b@x.org")]})
    assert b"Subject: Another order" in OutgoingMessage(copy).raw


def test_a_copied_attachment_is_rendered_with_its_own_name_and_content() -> None:
    # The encoded-part cache is shared by model_copy(); it must not serve the original.
    original = Attachment(filename="a.txt", content=b"first")
    renamed = original.model_copy(update={"filename": "b.txt"})
    refilled = original.model_copy(update={"content": b"second"})
    for att, name, content in ((original, "a.txt", b"first"), (renamed, "b.txt", b"first"),
                               (refilled, "a.txt", b"second")):  # fmt: skip
        raw = OutgoingMessage(
            Message(from_="a@example.com", to="b@example.com", attachments=[att])
        ).raw
        assert f'filename="{name}"'.encode() in raw
        assert base64.b64encode(content) in raw


def test_an_untouched_address_carries_its_check_outside_its_fields() -> None:
    # The mark that lets the re-check skip an untouched Address is no field: it is not
    # dumped, compared or listed, and a copy without it is checked in full.
    message = good()
    alice = message.to[0]
    assert [f.name for f in dataclasses.fields(Address)] == ["name", "email", "ascii_email"]
    assert "_checked" not in message.model_dump_json()
    assert message.model_dump()["to"] == [
        {"name": "", "email": "alice@example.com", "ascii_email": "alice@example.com"}
    ]
    assert alice == Address("", "alice@example.com")
    revived = pickle.loads(pickle.dumps(message))
    assert OutgoingMessage(revived).raw == OutgoingMessage(message).raw
    # Whether a pickle carries the mark or not (Python versions differ), a field changed
    # after unpickling is caught.
    object.__setattr__(revived.to[0], "email", "x@example.com\r\nBcc: e@example.net")
    with pytest.raises(MessageError):
        OutgoingMessage(revived)
    assert Message.model_validate_json(message.model_dump_json()).to == message.to


def test_an_address_with_a_changed_field_is_checked_in_full_again() -> None:
    # An equal value in a new object is checked in full and passes; a changed one fails.
    alice = Address("Alice", "alice@example.com")
    same = changed_copy(alice, email="".join(["alice", "@example.com"]))
    message = good().model_copy(update={"to": [same]})
    assert b"Alice <alice@example.com>" in OutgoingMessage(message).raw
    renamed = good().model_copy(update={"to": [changed_copy(alice, name="Bob")]})
    assert b"Bob <alice@example.com>" in OutgoingMessage(renamed).raw
    upper = good().model_copy(update={"to": [changed_copy(alice, email="Alice@Example.com")]})
    with pytest.raises(MessageError, match="changed after validation"):
        OutgoingMessage(upper)
