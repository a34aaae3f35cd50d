"""DKIM end to end: what an aiosmtpd relay receives from Sender(dkim=...) verifies with dkimpy.

The bytes checked are the ones the relay took off the wire (after SMTP dot-unstuffing), for
every message shape and both algorithms, a streamed attachment over 1 MiB included; across a
failover both relays receive the same signed bytes.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import pytest

from mailsdk import AsyncSender, Attachment, DKIMSigner, Message, Sender
from mailsdk._fastmime import STREAM_ABOVE
from mailsdk.devserver import LocalRelay
from mailsdk.retry import RetryPolicy
from tests.conftest import PASSWORD, USER
from tests.dkim_shapes import SHAPES, base, verifies


def url(relay: LocalRelay) -> str:
    return relay.url(USER, PASSWORD)


@pytest.fixture(scope="module")
def signers() -> dict[str, DKIMSigner]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

    out = {}
    for name, key in (
        ("rsa-sha256", rsa.generate_private_key(public_exponent=65537, key_size=2048)),
        ("ed25519-sha256", ed25519.Ed25519PrivateKey.generate()),
    ):
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        out[name] = DKIMSigner(domain="example.com", selector="s2026", private_key=pem)
    return out


@pytest.fixture(params=["rsa-sha256", "ed25519-sha256"])
def signer(request: pytest.FixtureRequest, signers: dict[str, DKIMSigner]) -> DKIMSigner:
    return signers[request.param]


async def test_every_shape_arrives_verifiable(
    relay_factory: Callable[..., LocalRelay], signer: DKIMSigner
) -> None:
    relay = relay_factory()  # STARTTLS, SMTPUTF8 offered
    async with AsyncSender(url(relay), dkim=signer) as sender:
        for shape in SHAPES.values():
            result = await sender.send(shape())
            assert result.dkim_signed
    assert len(relay.messages) == len(SHAPES)
    for shape, received in zip(SHAPES, relay.messages, strict=True):
        assert received.data.startswith(b"DKIM-Signature: "), shape
        assert verifies(received.data, signer), shape


async def test_a_streamed_attachment_arrives_verifiable(
    relay_factory: Callable[..., LocalRelay], signer: DKIMSigner
) -> None:
    relay = relay_factory()
    content = random.Random(8463).randbytes(STREAM_ABOVE * 2 + 12_345)
    message = base(text="big", attachments=[Attachment(filename="big.bin", content=content)])
    async with AsyncSender(url(relay), dkim=signer) as sender:
        result = await sender.send(message)
    assert result.dkim_signed
    (received,) = relay.messages
    assert len(received.data) > 2 * STREAM_ABOVE
    assert verifies(received.data, signer)


async def test_failover_sends_the_same_signature_to_both_relays(
    relay_factory: Callable[..., LocalRelay], signer: DKIMSigner
) -> None:
    primary, secondary = relay_factory(), relay_factory()
    # The primary takes the whole message, then refuses it: it fails over with the same bytes.
    primary.data_reply = "554 5.7.1 Rejected by policy"
    message = SHAPES["one-click unsubscribe"]()
    async with AsyncSender(
        [url(primary), url(secondary)], dkim=signer, retry=RetryPolicy(attempts=1)
    ) as sender:
        result = await sender.send(message)
    assert [a.outcome for a in result.attempts] == ["permanent", "delivered"]
    assert result.dkim_signed
    (first,), (second,) = primary.messages, secondary.messages
    assert first.data == second.data  # one signature, made once
    assert first.data.count(b"DKIM-Signature:") == 1
    assert verifies(second.data, signer)


def test_the_sync_sender_signs_too(
    relay_factory: Callable[..., LocalRelay], signer: DKIMSigner
) -> None:
    relay = relay_factory()
    with Sender(url(relay), dkim=signer) as sender:
        result = sender.send(
            Message(from_="app@example.com", to=["x@example.org"], subject="s", text="t")
        )
    assert result.dkim_signed
    assert verifies(relay.messages[0].data, signer)


async def test_without_dkim_nothing_is_signed(relay_factory: Callable[..., LocalRelay]) -> None:
    relay = relay_factory()
    async with AsyncSender(url(relay)) as sender:
        result = await sender.send(SHAPES["plain"]())
    assert not result.dkim_signed
    assert b"DKIM-Signature" not in relay.messages[0].data


async def test_the_outbox_worker_signs_through_the_sender(
    relay_factory: Callable[..., LocalRelay], signer: DKIMSigner, tmp_path: Path
) -> None:
    from mailsdk.outbox import Outbox

    relay = relay_factory()
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    outbox.enqueue(SHAPES["one-click unsubscribe"]())
    async with AsyncSender(url(relay), dkim=signer) as sender:
        await outbox.arun(sender, poll_interval=0.01)
    (received,) = relay.messages
    assert received.data.startswith(b"DKIM-Signature: ")
    assert verifies(received.data, signer)
