"""DKIM and one-click unsubscribe through provider APIs.

Raw-MIME APIs (Mailgun's messages.mime here) post our signed bytes, which dkimpy verifies;
JSON APIs render the message again, so ``dkim=`` with one is refused when the sender is built,
unless ``dkim_skip_rerendering=True``, and then the result says the message went unsigned.
List-Unsubscribe travels as a header in JSON APIs that take headers.
"""

from __future__ import annotations

import email
import email.policy
import json

import pytest
import respx
from contract_table import MAILGUN, SENDGRID, mailgun_queued, sendgrid_accepted
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from mailsdk import AsyncSender, ConfigurationError, DKIMSigner, Message
from tests.dkim_shapes import SHAPES, verifies


@pytest.fixture(scope="module")
def signer() -> DKIMSigner:
    pem = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return DKIMSigner(domain="example.com", selector="s2026", private_key=pem)


def test_dkim_with_a_json_api_is_refused_when_the_sender_is_built(signer: DKIMSigner) -> None:
    sendgrid = SENDGRID.make("SG.key")
    with pytest.raises(ConfigurationError, match="dkim_skip_rerendering=True") as info:
        AsyncSender([MAILGUN.make("key-1"), sendgrid], dkim=signer)
    assert sendgrid.name in str(info.value)


async def test_mailgun_posts_the_signed_bytes(
    signer: DKIMSigner, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.post(MAILGUN.endpoint).mock(return_value=mailgun_queued())
    async with AsyncSender(MAILGUN.make("key-1"), dkim=signer) as sender:
        result = await sender.send(SHAPES["one-click unsubscribe"]())
    assert result.dkim_signed
    body = route.calls.last.request.content
    # The MIME is the "message" file part of the form: find it by its first header.
    start = body.index(b"DKIM-Signature: ")
    mime = body[start : body.index(b"\r\n--", body.index(b"\r\n\r\n", start) + 4)]
    parsed = email.message_from_bytes(mime, policy=email.policy.default)
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert verifies(mime, signer)


async def test_skip_rerendering_sends_unsigned_through_json_apis_and_says_so(
    signer: DKIMSigner, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.post(SENDGRID.endpoint).mock(return_value=sendgrid_accepted())
    message = Message(
        from_="news@example.com",
        to=["alice@example.org"],
        subject="News",
        html="<p>News</p>",
        list_unsubscribe=["https://example.com/u/8f2a", "mailto:unsub@example.com"],
        list_unsubscribe_post=True,
    )
    async with AsyncSender(
        SENDGRID.make("SG.key"), dkim=signer, dkim_skip_rerendering=True
    ) as sender:
        result = await sender.send(message)
    assert not result.dkim_signed
    sent = json.loads(route.calls.last.request.content)
    assert "DKIM-Signature" not in json.dumps(sent)
    assert sent["headers"]["List-Unsubscribe"] == (
        "<https://example.com/u/8f2a>, <mailto:unsub@example.com>"
    )
    assert sent["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_a_rate_limited_json_api_is_refused_too(signer: DKIMSigner) -> None:
    # ?rate= wraps the relay; the wrapper must not hide that the API re-renders.
    with pytest.raises(ConfigurationError, match="dkim_skip_rerendering"):
        AsyncSender("sendgrid://SG.key@default?rate=20/s", dkim=signer)
    AsyncSender("smtp://mail.example.com:587?rate=20/s", dkim=signer)  # SMTP carries it
