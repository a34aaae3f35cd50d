"""DKIM signatures checked by an independent verifier: dkimpy's ``verify`` with a DNS stub.

Every message shape mailsdk renders (plain, alternative, attachments, inline images, SMTPUTF8
addresses, 8-bit text, long folded headers, a streamed attachment over 1 MiB, one-click
unsubscribe) is signed with rsa-sha256 and ed25519-sha256 and must verify; a changed body
or header must not. Key problems are ConfigurationError and never quote the key.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from pydantic import SecretStr

from mailsdk import Attachment, ConfigurationError, DKIMSigner, Message, OutgoingMessage
from mailsdk._fastmime import STREAM_ABOVE, Encoded
from mailsdk.dkim import _header_fields, _relaxed_header, _split_and_hash
from tests.dkim_shapes import SHAPES, base, verifies

NOW = 1_796_360_000  # the signing clock: a fixed instant, no wall clock in these tests


def _pem(
    key: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey,
    fmt: serialization.PrivateFormat = serialization.PrivateFormat.PKCS8,
) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption())


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ed_key() -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.generate()


@pytest.fixture(scope="module", params=["rsa-sha256", "ed25519-sha256"])
def signer(
    request: pytest.FixtureRequest, rsa_key: rsa.RSAPrivateKey, ed_key: ed25519.Ed25519PrivateKey
) -> DKIMSigner:
    key = rsa_key if request.param == "rsa-sha256" else ed_key
    return DKIMSigner(
        domain="example.com", selector="s2026", private_key=_pem(key), clock=lambda: NOW
    )


def signed_bytes(message: Message, signer: DKIMSigner) -> bytes:
    outgoing = OutgoingMessage(message)
    outgoing.sign(signer)
    return b"".join(outgoing.chunks())


@pytest.mark.parametrize("shape", SHAPES)
def test_every_shape_verifies_with_dkimpy(shape: str, signer: DKIMSigner) -> None:
    signed = signed_bytes(SHAPES[shape](), signer)
    assert verifies(signed, signer)


def test_a_streamed_attachment_over_a_mebibyte_is_signed_and_verifies(
    signer: DKIMSigner,
) -> None:
    content = random.Random(14).randbytes(STREAM_ABOVE + 300_001)
    message = base(text="big", attachments=[Attachment(filename="big.bin", content=content)])
    outgoing = OutgoingMessage(message)
    assert any(isinstance(p, Encoded) for p in outgoing._rendered())  # really streamed
    outgoing.sign(signer)
    assert outgoing._raw is None  # signing never joined the whole message
    assert verifies(b"".join(outgoing.chunks()), signer)


def test_the_signature_is_at_the_top_and_lists_the_expected_fields(signer: DKIMSigner) -> None:
    signed = signed_bytes(SHAPES["one-click unsubscribe"](), signer)
    assert signed.startswith(b"DKIM-Signature: v=1; a=" + signer.algorithm.encode())
    field = signed.split(b"\r\nFrom:")[0].decode()
    tags = dict(
        t.strip().split("=", 1)
        for t in re.sub(r"\r\n[ \t]", "", field.split(":", 1)[1]).split(";")
        if t.strip()
    )
    assert tags["c"] == "relaxed/relaxed"
    assert (tags["d"], tags["s"], tags["t"]) == ("example.com", "s2026", str(NOW))
    signed_fields = re.sub(r"\s", "", tags["h"]).split(":")
    # From oversigned: listed once more than it occurs, so nobody can add another.
    assert signed_fields.count("from") == 2
    for name in ("to", "subject", "date", "message-id", "mime-version", "content-type"):
        assert name in signed_fields
    assert "list-unsubscribe" in signed_fields
    assert "list-unsubscribe-post" in signed_fields
    assert "cc" not in signed_fields  # absent fields are not listed (only From is oversigned)


def test_the_field_is_folded_under_78_octets(signer: DKIMSigner) -> None:
    signed = signed_bytes(SHAPES["long folded headers"](), signer)
    field = signed.split(b"\r\nFrom:")[0]
    assert all(len(line) <= 78 for line in field.split(b"\r\n"))
    assert all(line[:1] in (b" ", b"\t") for line in field.split(b"\r\n")[1:])


@pytest.mark.parametrize(
    "tamper",
    [
        lambda raw: raw.replace(b"the report is attached", b"the report is attacked"),
        lambda raw: raw.replace(b"Subject: Daily report", b"Subject: Daily rep0rt"),
        lambda raw: raw.replace(b"From: Reports <reports@", b"From: Reports <r3ports@"),
        lambda raw: raw.replace(b"\r\nFrom:", b"\r\nFrom: evil@example.net\r\nFrom:", 1),
        lambda raw: raw.replace(b"Message-ID: <dkim-test", b"Message-ID: <dkim-tost"),
        lambda raw: raw + b"appended line\r\n",
    ],
    ids=["body", "subject", "from", "added from", "message-id", "appended body"],
)
def test_changed_messages_fail_verification(
    tamper: Callable[[bytes], bytes], signer: DKIMSigner
) -> None:
    signed = signed_bytes(SHAPES["plain"](), signer)
    assert verifies(signed, signer)
    changed = tamper(signed)
    assert changed != signed
    assert not verifies(changed, signer)


def test_relaxed_canonicalisation_survives_refolding_and_white_space(signer: DKIMSigner) -> None:
    signed = signed_bytes(SHAPES["plain"](), signer)
    head, _, body = signed.partition(b"\r\n\r\n")
    # What relays may do under relaxed/relaxed: re-fold a header, change white space, case
    # of a field name, trailing white space and trailing blank lines of the body.
    head = head.replace(b"Subject: Daily report", b"subject:   Daily\r\n\treport  ")
    body = body.replace(b"Hello,", b"Hello,   ") + b"\r\n\r\n"
    assert verifies(head + b"\r\n\r\n" + body, signer)


def test_sign_prefixes_bytes_and_matches_the_streamed_signature(signer: DKIMSigner) -> None:
    message = SHAPES["attachments"]()
    raw = OutgoingMessage(message).raw
    assert signer.sign(raw) == signed_bytes(message, signer)


def test_signing_twice_adds_one_signature(signer: DKIMSigner) -> None:
    outgoing = OutgoingMessage(SHAPES["plain"]())
    outgoing.sign(signer)
    outgoing.sign(signer)
    assert outgoing.raw.count(b"DKIM-Signature:") == 1
    assert outgoing.dkim_signed


def test_the_expiry_tag(rsa_key: rsa.RSAPrivateKey) -> None:
    signer = DKIMSigner(
        domain="example.com",
        selector="s1",
        private_key=_pem(rsa_key),
        expire_after=3600,
        clock=lambda: NOW,
    )
    field = signer.sign(SHAPES["plain"]().as_bytes()).split(b"\r\nFrom:")[0]
    assert f"x={NOW + 3600};".encode() in field


# -- keys ---------------------------------------------------------------------------------


def test_traditional_pem_a_path_and_a_secret_all_load(
    rsa_key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    traditional = _pem(rsa_key, serialization.PrivateFormat.TraditionalOpenSSL)
    assert traditional.startswith(b"-----BEGIN RSA PRIVATE KEY-----")
    path = tmp_path / "dkim.pem"
    path.write_bytes(traditional)
    records = {
        DKIMSigner(domain="example.com", selector="s", private_key=source).dns_record()
        for source in (
            traditional,
            traditional.decode(),
            path,
            str(path),
            SecretStr(traditional.decode()),
        )
    }
    assert len(records) == 1
    assert records.pop().startswith("v=DKIM1; k=rsa; p=MIIB")  # SubjectPublicKeyInfo


def test_dkimpy_style_ed25519_seed_loads(ed_key: ed25519.Ed25519PrivateKey) -> None:
    import base64

    seed = ed_key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    signer = DKIMSigner(domain="example.com", selector="s", private_key=base64.b64encode(seed))
    assert signer.algorithm == "ed25519-sha256"
    assert re.fullmatch(r"v=DKIM1; k=ed25519; p=[A-Za-z0-9+/]{43}=", signer.dns_record())


def test_the_rfc_8463_test_key_gives_the_published_record() -> None:
    # RFC 8463 appendix A: the secret seed and the public key record it publishes.
    seed = b"nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A="
    signer = DKIMSigner(domain="football.example.com", selector="brisbane", private_key=seed)
    assert (
        signer.dns_record() == "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
    )


def _small_rsa_pem(bits: int) -> bytes:
    """An RSA key below what cryptography will generate (it refuses < 1024 bits)."""
    rng = random.Random(bits)

    def prime(size: int) -> int:
        while True:
            candidate = rng.getrandbits(size) | (1 << (size - 1)) | 1
            if all(pow(a, candidate - 1, candidate) == 1 for a in (2, 3, 5, 7, 11, 13, 17)):
                return candidate

    e = 65537
    while True:
        p, q = prime(bits // 2), prime(bits // 2)
        phi = (p - 1) * (q - 1)
        if p != q and phi % e:
            break
    d = pow(e, -1, phi)
    numbers = rsa.RSAPrivateNumbers(
        p, q, d, d % (p - 1), d % (q - 1), pow(q, -1, p), rsa.RSAPublicNumbers(e, p * q)
    )
    return _pem(numbers.private_key(unsafe_skip_rsa_key_validation=True))


def test_an_rsa_key_under_1024_bits_is_refused_without_quoting_it() -> None:
    pem = _small_rsa_pem(512)
    with pytest.raises(ConfigurationError, match="512 bits; DKIM needs at least 1024") as info:
        DKIMSigner(domain="example.com", selector="s", private_key=pem)
    _assert_no_key_material(info.value, pem)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (
            b"-----BEGIN PRIVATE KEY-----\nnot base64 at all\n-----END PRIVATE KEY-----\n",
            "could not be read",
        ),
        (b"just some bytes", "is not a PEM private key"),
        (
            b"-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----\n",
            "could not be read",
        ),
    ],
    ids=["bad pem", "not pem", "public key"],
)
def test_bad_keys_are_configuration_errors(source: bytes, expected: str) -> None:
    with pytest.raises(ConfigurationError, match=expected) as info:
        DKIMSigner(domain="example.com", selector="s", private_key=source)
    _assert_no_key_material(info.value, source)


def test_an_encrypted_key_says_so(rsa_key: rsa.RSAPrivateKey) -> None:
    pem = rsa_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pass phrase"),
    )
    with pytest.raises(ConfigurationError, match="is encrypted") as info:
        DKIMSigner(domain="example.com", selector="s", private_key=pem)
    _assert_no_key_material(info.value, pem)


def test_a_key_of_another_type_is_refused() -> None:
    pem = _pem(ec.generate_private_key(ec.SECP256R1()))
    with pytest.raises(ConfigurationError, match="of type EC, not RSA or Ed25519") as info:
        DKIMSigner(domain="example.com", selector="s", private_key=pem)
    _assert_no_key_material(info.value, pem)


def test_the_algorithm_must_fit_the_key(
    rsa_key: rsa.RSAPrivateKey, ed_key: ed25519.Ed25519PrivateKey
) -> None:
    with pytest.raises(ConfigurationError, match="RSA key, which cannot sign ed25519-sha256"):
        DKIMSigner(
            domain="example.com",
            selector="s",
            private_key=_pem(rsa_key),
            algorithm="ed25519-sha256",
        )
    with pytest.raises(ConfigurationError, match="ED25519 key, which cannot sign rsa-sha256"):
        DKIMSigner(
            domain="example.com", selector="s", private_key=_pem(ed_key), algorithm="rsa-sha256"
        )
    with pytest.raises(ConfigurationError, match="not rsa-sha256 or ed25519-sha256"):
        DKIMSigner(
            domain="example.com",
            selector="s",
            private_key=_pem(rsa_key),
            algorithm="rsa-sha1",  # type: ignore[arg-type]
        )


def test_a_missing_key_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"cannot read the DKIM key file .*nope\.pem"):
        DKIMSigner(domain="example.com", selector="s", private_key=tmp_path / "nope.pem")


@pytest.mark.parametrize(
    ("domain", "selector"),
    [("example.com; x=1", "s"), ("example.com", "s 1"), ("", "s"), ("example.com", "a;b=c")],
)
def test_domain_and_selector_cannot_inject_tags(
    domain: str, selector: str, rsa_key: rsa.RSAPrivateKey
) -> None:
    with pytest.raises(ConfigurationError):
        DKIMSigner(domain=domain, selector=selector, private_key=_pem(rsa_key))


def test_an_idn_domain_signs_as_its_a_label(rsa_key: rsa.RSAPrivateKey) -> None:
    signer = DKIMSigner(domain="bücher.example", selector="s", private_key=_pem(rsa_key))
    assert signer.domain == "xn--bcher-kva.example"
    assert signer.record_name == "s._domainkey.xn--bcher-kva.example"


def test_repr_and_errors_never_show_the_key(rsa_key: rsa.RSAPrivateKey) -> None:
    pem = _pem(rsa_key)
    signer = DKIMSigner(domain="example.com", selector="s", private_key=pem)
    body = pem.decode().splitlines()[1]
    assert body not in repr(signer)
    assert "private" not in repr(signer).lower()


def _assert_no_key_material(error: BaseException, source: bytes) -> None:
    text = str(error) + repr(error)
    for line in source.decode("ascii", "replace").splitlines():
        if "-----" not in line and len(line) > 8:
            assert line not in text
    assert error.__cause__ is None
    assert error.__context__ is None


# -- canonicalisation, against RFC 6376 section 3.4.6's example ------------------------------

RFC_EXAMPLE = b"A: X\r\nB : Y\t\r\n\tZ  \r\n\r\n C \r\nD \t E\r\n\r\n\r\n"


def test_relaxed_header_canonicalisation_is_the_rfc_example() -> None:
    head, _ = _split_and_hash([RFC_EXAMPLE])
    fields = _header_fields(head)
    assert [_relaxed_header(raw) for _, raw in fields] == [b"a:X\r\n", b"b:Y Z\r\n"]


@pytest.mark.parametrize(
    "chunks",
    [
        [RFC_EXAMPLE],
        [b"A: X\r\n", b"B : Y\t\r\n\tZ  \r\n", b"\r\n C \r\n", b"D \t E\r\n\r\n", b"\r\n"],
        [b"A: X\r\nB : Y\t\r\n\tZ  \r\n\r\n C \r\nD \t E\r\n", b"\r\n", b"\r\n"],
    ],
    ids=["one chunk", "line by line", "blank lines apart"],
)
def test_relaxed_body_canonicalisation_is_the_rfc_example(chunks: list[bytes]) -> None:
    _, body_hash = _split_and_hash(chunks)
    assert body_hash == hashlib.sha256(b" C\r\nD E\r\n").digest()


def test_an_empty_body_hashes_as_nothing() -> None:
    _, body_hash = _split_and_hash([b"A: X\r\n\r\n", b"\r\n\r\n"])
    assert body_hash == hashlib.sha256(b"").digest()
