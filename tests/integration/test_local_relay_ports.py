"""LocalRelay and the race for a free port: helpers and test runs share one machine."""

from __future__ import annotations

import errno
import socket

import pytest

from mailsdk import Message, Sender
from mailsdk.devserver import LocalRelay


def test_a_chosen_port_taken_before_the_relay_binds_it_is_replaced() -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        relay = LocalRelay(tls=None, require_auth=False)
        relay.port = taken  # as if another process took the port it had found free
        relay.start()
        try:
            assert relay.port != taken
            with Sender(f"smtp://127.0.0.1:{relay.port}?tls=none") as sender:
                sender.send(Message(from_="a@example.com", to="b@example.com", text="x"))
            assert len(relay.messages) == 1
        finally:
            relay.stop()


def test_a_port_the_caller_named_is_never_silently_changed() -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        relay = LocalRelay(port=taken, tls=None, require_auth=False)
        with pytest.raises(OSError, match="in use") as info:
            relay.start()
        relay.stop()
        assert info.value.errno == errno.EADDRINUSE
