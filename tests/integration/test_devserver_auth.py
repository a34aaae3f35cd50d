"""LocalRelay (``mailsdk devserver``) answers a failed AUTH at once, as real relays do."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable

import pytest

from mailsdk.devserver import LocalRelay
from tests.conftest import PASSWORD, USER


async def dialogue(relay: LocalRelay, *commands: bytes) -> list[bytes]:
    """Send each command (CRLF added) after the greeting and EHLO; return each reply's last
    line. Every read is bounded, so a relay that stays silent fails the test quickly."""
    reader, writer = await asyncio.open_connection(relay.host, relay.port)

    async def reply() -> bytes:
        while True:
            line = await asyncio.wait_for(reader.readline(), 5)
            if line[3:4] != b"-":
                return line.rstrip(b"\r\n")

    try:
        await reply()
        writer.write(b"EHLO client.test\r\n")
        await reply()
        answers = []
        for command in commands:
            writer.write(command + b"\r\n")
            answers.append(await reply())
        return answers
    finally:
        writer.close()


def xoauth2(user: str, token: str) -> bytes:
    blob = f"user={user}\x01auth=Bearer {token}\x01\x01".encode()
    return b"AUTH XOAUTH2 " + base64.b64encode(blob)


@pytest.fixture
def plain_relay(relay_factory: Callable[..., LocalRelay]) -> LocalRelay:
    return relay_factory(tls="none", users={USER: PASSWORD})


async def test_a_bad_xoauth2_token_gets_the_error_challenge_then_535(
    plain_relay: LocalRelay,
) -> None:
    challenge, final = await dialogue(plain_relay, xoauth2(USER, "expired-token"), b"")
    assert challenge.startswith(b"334 ")
    error = json.loads(base64.b64decode(challenge[4:]))
    assert error["status"] == "401"
    assert final.startswith(b"535")


async def test_a_good_xoauth2_token_is_accepted(plain_relay: LocalRelay) -> None:
    (answer,) = await dialogue(plain_relay, xoauth2(USER, PASSWORD))
    assert answer.startswith(b"235")


@pytest.mark.parametrize(
    "blob", [b"AUTH XOAUTH2 !!!not-base64", b"AUTH XOAUTH2 " + base64.b64encode(b"junk")]
)
async def test_a_malformed_xoauth2_response_is_refused(
    plain_relay: LocalRelay, blob: bytes
) -> None:
    challenge, final = await dialogue(plain_relay, blob, b"")
    assert challenge.startswith(b"334 ")
    assert final.startswith(b"535")


async def test_a_bad_password_gets_535(plain_relay: LocalRelay) -> None:
    plain = base64.b64encode(f"\0{USER}\0wrong".encode())
    (answer,) = await dialogue(plain_relay, b"AUTH PLAIN " + plain)
    assert answer.startswith(b"535")
