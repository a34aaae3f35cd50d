"""CPU to DKIM-sign the benchmark message: mailsdk's DKIMSigner against dkimpy's ``sign``.

Both sign the same rendered bytes with the same RSA-2048 key, relaxed/relaxed, over the same
header fields, in the same run (A B A B, best of two). Two more rows say what dominates: the
RSA-2048 private-key operation alone (one ``cryptography`` sign over a 32-byte digest, which
every rsa-sha256 signer pays), and mailsdk with an Ed25519 key.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

from benchmarks._common import message, table
from mailsdk import DKIMSigner, OutgoingMessage
from mailsdk.dkim import _header_fields, _split_and_hash


def _cpu_ms(fn: Callable[[], object], count: int) -> float:
    start = time.process_time()
    for _ in range(count):
        fn()
    return (time.process_time() - start) * 1000 / count


def main(count: int = 500) -> str:
    """Returns the Markdown report."""
    import dkim  # dkimpy: a test and benchmark dependency only

    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = rsa_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    ed_pem = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    ours = DKIMSigner(domain="example.com", selector="bench", private_key=pem)
    ours_ed = DKIMSigner(domain="example.com", selector="bench", private_key=ed_pem)
    raw = OutgoingMessage(message(0)).raw
    head, _ = _split_and_hash([raw])
    present = {name for name, _ in _header_fields(head)}
    include = [n.encode() for n in ours.headers if n in present]
    digest = b"\x00" * 32

    def theirs() -> bytes:
        return dkim.sign(
            raw,
            b"bench",
            b"example.com",
            pem,
            canonicalize=(b"relaxed", b"relaxed"),
            include_headers=include,
        )

    def rsa_only() -> bytes:
        from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

        return rsa_key.sign(digest, padding.PKCS1v15(), Prehashed(hashes.SHA256()))

    cases = {
        "mailsdk DKIMSigner, rsa-sha256": lambda: ours.sign(raw),
        "dkimpy 1.1 dkim.sign, rsa-sha256": theirs,
        "RSA-2048 private-key operation alone": rsa_only,
        "mailsdk DKIMSigner, ed25519-sha256": lambda: ours_ed.sign(raw),
        "mailsdk body and header hashing alone": lambda: _split_and_hash([raw]),
    }
    best: dict[str, float] = {}
    for _ in range(2):  # A B A B
        for label, fn in cases.items():
            best[label] = min(best.get(label, 1e9), _cpu_ms(fn, count))
    base = best["dkimpy 1.1 dkim.sign, rsa-sha256"]
    rows = [[label, f"{ms:.3f}", f"{ms / base:.2f}"] for label, ms in best.items()]
    return (
        f"### DKIM signing the {len(raw) / 1024:.0f} KB message (CPU per message)\n\n"
        + table(["signer", "CPU ms", "vs dkimpy"], rows)
        + "\n"
    )
