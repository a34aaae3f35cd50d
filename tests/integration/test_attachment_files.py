"""A file attached by path goes to a real relay streamed from disk, or not at all."""

from __future__ import annotations

import email
from email import policy
from pathlib import Path

import pytest

from mailsdk import Attachment, Message, MessageError, Sender
from mailsdk._fastmime import STREAM_ABOVE
from mailsdk.devserver import LocalRelay
from tests.conftest import PASSWORD, USER


def with_file(path: Path) -> Message:
    return Message(
        from_="app@example.com",
        to="alice@example.com",
        subject="file",
        text="attached",
        attachments=[Attachment.from_path(path)],
    )


def test_a_large_file_reaches_the_relay_intact(relay: LocalRelay, tmp_path: Path) -> None:
    path = tmp_path / "archive.bin"
    content = bytes(range(256)) * (2 * STREAM_ABOVE // 256 + 3)
    path.write_bytes(content)
    with Sender(relay.url(USER, PASSWORD)) as sender:
        sender.send(with_file(path))
    parsed = email.message_from_bytes(relay.messages[0].data, policy=policy.default)
    attachment = next(parsed.iter_attachments())
    assert attachment.get_filename() == "archive.bin"
    assert attachment.get_content() == content


def test_a_file_cut_short_before_sending_is_never_delivered_in_part(
    relay: LocalRelay, tmp_path: Path
) -> None:
    path = tmp_path / "archive.bin"
    path.write_bytes(b"x" * (2 * STREAM_ABOVE))
    message = with_file(path)
    path.write_bytes(b"x" * STREAM_ABOVE)  # changed after it was attached
    with Sender(relay.url(USER, PASSWORD)) as sender:
        with pytest.raises(MessageError, match="changed size"):
            sender.send(message)
        path.write_bytes(b"x" * (2 * STREAM_ABOVE))
        sender.send(message)  # the sender (and its pool) still works
    assert len(relay.messages) == 1
    assert len(relay.messages[0].data) > 2 * STREAM_ABOVE
