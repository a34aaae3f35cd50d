"""The deliverability doctor: a domain's MX, SPF, DKIM and DMARC records, checked as receivers
read them, each finding with what to do about it.

:func:`diagnose` runs every check through one resolver (the system's, or a given name
server) and returns a :class:`DoctorReport`; ``mailsdk doctor`` prints it. Needs the
``doctor`` extra (dnspython; ``cryptography`` for the DKIM key checks).
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from mailsdk._dnsquery import DNSFailure, Lookups, make_resolver
from mailsdk._spf import MAX_LOOKUPS, MAX_VOID, check_host, spf_records
from mailsdk.config import TransportURL, parse_url
from mailsdk.dkim import MIN_RSA_BITS, ascii_domain
from mailsdk.errors import ConfigurationError

if TYPE_CHECKING:
    import dns.resolver

    from mailsdk.dkim import DKIMSigner, KeySource

__all__ = ["PROVIDER_SPF_INCLUDES", "DoctorReport", "Finding", "Level", "diagnose"]

Level = Literal["ok", "warn", "error"]
"""How a finding reads: fine, worth fixing, or mail will fail authentication."""

PROVIDER_SPF_INCLUDES: dict[str, tuple[str, ...]] = {
    "sendgrid": ("sendgrid.net",),
    "mailgun": ("mailgun.org",),
    "ses": ("amazonses.com",),
    "resend": ("amazonses.com",),
    "postmark": ("spf.mtasv.net",),
    "sparkpost": ("sparkpostmail.com",),
    "mailjet": ("spf.mailjet.com",),
    "brevo": ("spf.brevo.com", "spf.sendinblue.com"),
    "mailersend": ("_spf.mailersend.net",),
    "mailtrap": ("_spf.smtp.mailtrap.live",),
    "graph": ("spf.protection.outlook.com",),
    "gmail": ("_spf.google.com",),
}
"""URL scheme -> the SPF include(s) the provider's setup asks for (any one counts)."""

# An address from the documentation range (RFC 5737): no record lists it, so evaluating it
# walks every term, which is the most DNS look-ups any sender can cost.
_NOBODY = ipaddress.ip_address("192.0.2.1")
_DMARC_RECORD = re.compile(r"^v=DMARC1[ \t]*(?:;|$)")


@dataclass(frozen=True)
class Finding:
    """One thing the doctor found: its ``level``, the ``check`` it belongs to (``mx``,
    ``spf``, ``dkim``, ``dmarc``, with a detail such as ``spf.relay``), what was found, and
    the ``fix`` when it is not ok."""

    level: Level
    check: str
    message: str
    fix: str | None = None


@dataclass
class DoctorReport:
    """Every finding for one domain, in the order the checks ran."""

    domain: str
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no finding is an error (warnings allowed)."""
        return not any(f.level == "error" for f in self.findings)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data: the domain, ``ok`` and the findings."""
        return {
            "domain": self.domain,
            "ok": self.ok,
            "findings": [asdict(f) for f in self.findings],
        }

    def _add(self, level: Level, check: str, message: str, fix: str | None = None) -> None:
        self.findings.append(Finding(level, check, message, fix))


def diagnose(
    domain: str,
    *,
    selector: str | None = None,
    dkim_key: KeySource | None = None,
    signer: DKIMSigner | None = None,
    relays: Sequence[str | TransportURL] = (),
    nameserver: str | None = None,
    timeout: float = 5.0,
    resolver: dns.resolver.Resolver | None = None,
) -> DoctorReport:
    """Check the records that decide whether mail from *domain* (the From domain) passes.

    Args:
        domain: the From domain.
        selector: the DKIM selector to check (default: *signer*'s).
        dkim_key: a DKIM private key (PEM bytes, text or path) whose public half must be
            the one published; *signer*'s key is used when not given.
        signer: the configured :class:`~mailsdk.DKIMSigner` (its domain, selector, key).
        relays: relay URLs; SMTP hosts are resolved and each address is evaluated against
            SPF, provider URLs are checked for their SPF include.
        nameserver: ``HOST:PORT`` of the DNS server to ask (default: the system's).
        timeout: seconds per DNS look-up.
        resolver: a dnspython resolver to use instead (then *nameserver* is ignored).

    Raises ConfigurationError for a malformed domain, name server or key; everything DNS
    says (including failures) becomes a finding.
    """
    domain = _checked_domain(domain)
    try:
        lookups = Lookups(resolver or make_resolver(nameserver, timeout))
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from None
    report = DoctorReport(domain)
    parsed = [r if isinstance(r, TransportURL) else parse_url(r) for r in relays]
    _check_mx(report, lookups, domain)
    _check_spf(report, lookups, domain, parsed)
    _check_dkim(report, lookups, domain, selector, dkim_key, signer)
    _check_dmarc(report, lookups, domain, signer.domain if signer else None)
    return report


def _checked_domain(value: str) -> str:
    name = ascii_domain(value)
    if name is None or "." not in name:
        raise ConfigurationError(f"{value!r} is not a domain name (e.g. example.com)")
    return name


# -- MX --------------------------------------------------------------------------------------


def _check_mx(report: DoctorReport, lookups: Lookups, domain: str) -> None:
    try:
        records = lookups.mx(domain)
    except DNSFailure as exc:
        report._add("error", "mx", f"the MX look-up failed: {exc}", "check the name servers")
        return
    if records is None:
        report._add(
            "error",
            "mx",
            f"{domain} does not exist in DNS (NXDOMAIN)",
            "register the domain or fix its delegation; receivers refuse mail from it",
        )
        return
    if not records:
        report._add(
            "warn",
            "mx",
            f"{domain} has no MX record: mail to it goes to its A/AAAA address (RFC 5321 5.1)",
            f"publish an MX record for {domain} so replies and bounces reach a mailbox",
        )
        return
    if any(r.host == "." for r in records):
        report._add(
            "warn",
            "mx",
            f"{domain} publishes a null MX (RFC 7505): it receives no mail, so replies and "
            "bounces to it are lost",
            "use a From domain that receives mail, or publish real MX records",
        )
        return
    listed = ", ".join(f"{r.preference} {r.host}" for r in records)
    unresolved = []
    for record in records:
        try:
            if not lookups.addresses(record.host):
                unresolved.append(record.host)
        except DNSFailure:
            unresolved.append(record.host)
    if unresolved:
        report._add(
            "error",
            "mx",
            f"MX {listed}; no address for {', '.join(unresolved)}",
            "give each MX host an A or AAAA record (not a CNAME), or remove it",
        )
    else:
        report._add("ok", "mx", f"MX {listed}")


# -- SPF -------------------------------------------------------------------------------------


def _check_spf(
    report: DoctorReport, lookups: Lookups, domain: str, relays: list[TransportURL]
) -> None:
    try:
        records = spf_records(lookups, domain)
    except DNSFailure as exc:
        report._add("error", "spf", f"temperror: the TXT look-up failed: {exc}")
        return
    if not records:
        report._add(
            "error",
            "spf",
            f"{domain} has no SPF record (result none)",
            f'publish one TXT record at {domain}: "v=spf1 <your senders> -all" (Gmail and '
            "Yahoo require SPF or DKIM from every sender, both from bulk senders)",
        )
        return
    if len(records) > 1:
        report._add(
            "error",
            "spf",
            f"{domain} publishes {len(records)} SPF records, so SPF is a permerror (RFC 7208 3.2)",
            "merge them into one TXT record starting with v=spf1",
        )
        return
    record = records[0]
    walk = check_host(lookups, _NOBODY, domain)
    if walk.result == "permerror":
        report._add(
            "error",
            "spf",
            f"SPF record {record!r} is a permerror: {walk.reason}",
            f"keep at most {MAX_LOOKUPS} DNS-querying terms (include, a, mx, ptr, exists, "
            f"redirect, counted through includes) and at most {MAX_VOID} that find "
            "nothing: replace includes you do not use, or a and mx, with ip4:/ip6:",
        )
        return
    if walk.result == "temperror":
        report._add("error", "spf", f"SPF record {record!r}: temperror: {walk.reason}")
        return
    report._add(
        "ok",
        "spf",
        f"SPF record {record!r}: {walk.lookups} of {MAX_LOOKUPS} DNS look-ups"
        + (f" (includes {', '.join(walk.includes)})" if walk.includes else ""),
    )
    _check_spf_all(report, record, walk.result, walk.matched)
    for relay in relays:
        _check_relay(report, lookups, domain, relay, walk.includes)


def _check_spf_all(report: DoctorReport, record: str, result: str, matched: str | None) -> None:
    if result == "pass":
        report._add(
            "error",
            "spf.all",
            f"SPF passes for any address ({matched}): anyone may send as this domain",
            "end the record with -all (or ~all) and list only your senders",
        )
    elif result == "neutral":
        report._add(
            "warn",
            "spf.all",
            "SPF ends neutral (no -all or ~all): receivers learn nothing about other senders",
            "end the record with ~all, then -all once every sender is listed",
        )
    elif result == "softfail":
        report._add("ok", "spf.all", "other senders soft-fail (~all)")
    else:
        report._add("ok", "spf.all", "other senders fail (-all)")


def _check_relay(
    report: DoctorReport,
    lookups: Lookups,
    domain: str,
    relay: TransportURL,
    includes: list[str],
) -> None:
    shown = relay.display()
    if relay.scheme in ("smtp", "smtps") and relay.host:
        _check_smtp_relay(report, lookups, domain, relay.host, shown)
        return
    wanted = PROVIDER_SPF_INCLUDES.get(relay.scheme)
    if wanted is None:
        report._add("ok", "spf.relay", f"{shown}: not checked (sends nowhere or is unknown)")
        return
    if any(name in includes for name in wanted):
        report._add("ok", "spf.relay", f"{shown}: include:{wanted[0]} is in the SPF record")
        return
    report._add(
        "warn",
        "spf.relay",
        f"{shown}: the SPF record does not include {' or '.join(wanted)}",
        f"if {relay.scheme} sends with {domain} (or a subdomain you set up there) as the "
        f"bounce domain, add include:{wanted[0]} to that domain's SPF record; if it uses its "
        "own bounce domain, DMARC needs your DKIM signature (aligned) instead",
    )


def _check_smtp_relay(
    report: DoctorReport, lookups: Lookups, domain: str, host: str, shown: str
) -> None:
    try:
        addresses = [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        try:
            addresses = lookups.addresses(host)
        except DNSFailure as exc:
            report._add("error", "spf.relay", f"{shown}: cannot resolve {host}: {exc}")
            return
    if not addresses:
        report._add("error", "spf.relay", f"{shown}: {host} has no address in DNS")
        return
    for address in addresses:
        if address.is_loopback:
            report._add(
                "ok", "spf.relay", f"{shown}: {address} is loopback (a local relay passes on)"
            )
            continue
        verdict = check_host(lookups, address, domain)
        if verdict.result == "pass":
            report._add("ok", "spf.relay", f"{shown}: {address} passes ({verdict.matched})")
        else:
            net = "ip4" if address.version == 4 else "ip6"
            report._add(
                "error",
                "spf.relay",
                f"{shown}: {address} is not covered by SPF (result {verdict.result})",
                f"add {net}:{address} (or the relay provider's include) to the SPF record of "
                f"{domain}, the envelope sender's domain",
            )


# -- DKIM ------------------------------------------------------------------------------------


def _check_dkim(
    report: DoctorReport,
    lookups: Lookups,
    domain: str,
    selector: str | None,
    key: KeySource | None,
    signer: DKIMSigner | None,
) -> None:
    selector = selector or (signer.selector if signer else None)
    dkim_domain = signer.domain if signer else domain
    if selector is None:
        report._add(
            "warn",
            "dkim",
            "no DKIM selector given, so no key record was checked",
            "pass --selector (or configure MAILSDK_DKIM_SELECTOR); DKIM is required by Gmail "
            "and Yahoo for bulk senders",
        )
        return
    name = f"{selector}._domainkey.{dkim_domain}"
    try:
        records = lookups.txt(name)
    except DNSFailure as exc:
        report._add("error", "dkim", f"the TXT look-up of {name} failed: {exc}")
        return
    expected = _expected_record(dkim_domain, selector, key, signer)
    publish = f'publish TXT "{expected}" at {name}' if expected else f"publish the key at {name}"
    if not records:
        report._add("error", "dkim", f"no DKIM key record at {name}", publish)
        return
    if len(records) > 1:
        report._add(
            "error",
            "dkim",
            f"{len(records)} TXT records at {name}; verifiers may read any one (RFC 6376 3.6.2.2)",
            "keep one record per selector",
        )
        return
    tags, problem = _parse_key_record(records[0])
    if problem is not None:
        report._add("error", "dkim", f"the key record at {name} is invalid: {problem}", publish)
        return
    key_problem, public = _public_key(tags)
    if key_problem is not None:
        level, text = key_problem
        report._add(level, "dkim", f"{name}: {text}", publish)
        if level == "error":
            return
    else:
        report._add("ok", "dkim", f"key record at {name}: k={tags.get('k', 'rsa')}, {public[0]}")
    if "y" in tags.get("t", "").split(":"):
        report._add(
            "warn",
            "dkim",
            f"{name} has t=y (testing): verifiers may treat signed mail as unsigned",
            "remove t=y once signing works",
        )
    if expected is not None:
        ours = _parse_key_record(expected)[0]
        if _public_key(ours)[1][1] == public[1]:
            report._add("ok", "dkim.key", f"{name} holds the public half of the signing key")
        else:
            report._add(
                "error",
                "dkim.key",
                f"{name} does not hold the public half of the signing key: verifiers will "
                "fail every signature",
                publish,
            )


def _expected_record(
    domain: str, selector: str, key: KeySource | None, signer: DKIMSigner | None
) -> str | None:
    if key is None:
        # The configured key says nothing about another selector's record.
        return signer.dns_record() if signer is not None and signer.selector == selector else None
    from mailsdk.dkim import DKIMSigner

    return DKIMSigner(domain=domain, selector=selector, private_key=key).dns_record()


def _parse_key_record(text: str) -> tuple[dict[str, str], str | None]:
    """The tags of a DKIM key record (RFC 6376 3.6.1), and what is wrong with it, if any."""
    tags: dict[str, str] = {}
    for part in text.split(";"):
        if not part.strip():
            continue
        name, sep, value = part.partition("=")
        if not sep:
            return tags, f"{part.strip()!r} is not a tag=value pair"
        name = name.strip()
        if name in tags:
            return tags, f"tag {name} given twice"
        tags[name] = "".join(value.split())
    if "v" in tags and (tags["v"] != "DKIM1" or next(iter(tags)) != "v"):
        return tags, "v= must come first and be DKIM1"
    if "p" not in tags:
        return tags, "no p= tag (the public key)"
    if tags["p"] == "":
        return tags, "p= is empty: the key is revoked"
    if tags.get("k", "rsa") not in ("rsa", "ed25519"):
        return tags, f"k={tags['k']} is neither rsa nor ed25519"
    hashes = tags.get("h", "sha256").split(":")
    if "sha256" not in hashes:
        return tags, f"h={tags['h']} excludes sha256 (rsa-sha1 must not be used, RFC 8301)"
    services = tags.get("s", "*").split(":")
    if "*" not in services and "email" not in services:
        return tags, f"s={tags['s']} does not allow email"
    return tags, None


def _public_key(tags: dict[str, str]) -> tuple[tuple[Level, str] | None, tuple[str, bytes]]:
    """What is wrong with the key and how much it matters (None if nothing), and a
    description and comparable form of it (RSA: the modulus and exponent; Ed25519: the raw
    32 bytes)."""
    try:
        raw = base64.b64decode(tags["p"], validate=True)
    except (binascii.Error, ValueError):
        return ("error", "p= is not base64"), ("", b"")
    if tags.get("k", "rsa") == "ed25519":
        if len(raw) != 32:
            return ("error", f"an Ed25519 p= must be 32 bytes, not {len(raw)}"), ("", raw)
        return None, ("Ed25519", raw)
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
    from cryptography.hazmat.primitives.serialization import (
        load_der_public_key,
    )

    key: object
    try:
        key = load_der_public_key(raw)
    except ValueError:
        key = _rsa_public_key_pkcs1(raw)
    if not isinstance(key, RSAPublicKey):
        return ("error", "p= is not an RSA public key"), ("", raw)
    numbers = key.public_numbers()
    form = f"{numbers.n:x}:{numbers.e:x}".encode()
    bits = key.key_size
    if bits < MIN_RSA_BITS:
        return ("error", f"RSA key of {bits} bits: verifiers must reject it (RFC 8301)"), (
            "",
            form,
        )
    if bits < 2048:
        return ("warn", f"RSA key of {bits} bits: 2048 is advised (RFC 8301, Gmail)"), (
            f"RSA {bits} bits",
            form,
        )
    return None, (f"RSA {bits} bits", form)


def _rsa_public_key_pkcs1(raw: bytes) -> object:
    """An RSAPublicKey given as PKCS#1 (RFC 6376 3.6.1 names that form; most publish SPKI)."""
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    pem = b"-----BEGIN RSA PUBLIC KEY-----\n" + base64.encodebytes(raw)
    try:
        return load_pem_public_key(pem + b"-----END RSA PUBLIC KEY-----\n")
    except ValueError:
        return None


# -- DMARC -----------------------------------------------------------------------------------


def _org_domain(name: str) -> str:
    """The last two labels: a stand-in for the organisational domain (no public suffix list,
    so ``example.co.uk`` reads as ``co.uk``; only used to compare two names)."""
    return ".".join(name.split(".")[-2:])


def _check_dmarc(
    report: DoctorReport, lookups: Lookups, domain: str, dkim_domain: str | None
) -> None:
    labels = domain.split(".")
    found: tuple[str, list[str]] | None = None
    # RFC 7489 6.6.3 / RFC 9989 4.10: the From domain, then the names above it.
    for start in range(0, min(len(labels) - 1, 8)):
        name = "_dmarc." + ".".join(labels[start:])
        try:
            records = [r for r in lookups.txt(name) if _DMARC_RECORD.match(r)]
        except DNSFailure as exc:
            report._add("error", "dmarc", f"the TXT look-up of {name} failed: {exc}")
            return
        if records:
            found = (name, records)
            break
    if found is None:
        report._add(
            "error",
            "dmarc",
            f"no DMARC record at _dmarc.{domain} or above",
            f'publish TXT "v=DMARC1; p=none; rua=mailto:dmarc@{domain}" at _dmarc.{domain} '
            "(Gmail, Yahoo and Outlook.com require one from bulk senders), read the reports, "
            "then move to p=quarantine",
        )
        return
    name, records = found
    if len(records) > 1:
        report._add(
            "error",
            "dmarc",
            f"{len(records)} DMARC records at {name}: receivers then apply none",
            "keep one",
        )
        return
    tags: dict[str, str] = {}
    for part in records[0].split(";"):
        key, _, value = part.partition("=")
        if key.strip():
            tags.setdefault(key.strip().lower(), value.strip())
    for key in ("p", "sp", "adkim", "aspf"):  # keywords, case-insensitive (RFC 7489 6.4)
        if key in tags:
            tags[key] = tags[key].lower()
    inherited = name != f"_dmarc.{domain}"
    policy = tags.get("sp", tags.get("p")) if inherited else tags.get("p")
    where = f"{name} (inherited by {domain})" if inherited else name
    if policy not in ("none", "quarantine", "reject"):
        level: Level = "warn" if "rua" in tags else "error"
        report._add(
            level,
            "dmarc",
            f"{where}: p={policy or '(missing)'} is not none, quarantine or reject"
            + ("; treated as p=none because rua= is valid" if level == "warn" else ""),
            "set p=none, p=quarantine or p=reject",
        )
    elif policy == "none":
        report._add(
            "warn",
            "dmarc",
            f"{where}: p=none: receivers act on nothing that fails (monitoring only)",
            "once the aggregate reports show your mail passing, move to p=quarantine, then "
            "p=reject",
        )
    else:
        report._add("ok", "dmarc", f"{where}: p={policy}")
    if "rua" not in tags:
        report._add(
            "warn",
            "dmarc.rua",
            f"{where} has no rua=: you get no aggregate reports",
            f"add rua=mailto:dmarc@{domain} (Yahoo strongly advises it)",
        )
    pct = tags.get("pct", "100")
    if pct != "100":
        report._add(
            "warn",
            "dmarc.pct",
            f"{where}: pct={pct}: the policy applies to part of the failing mail only",
            "remove pct= (RFC 9989 drops it)",
        )
    _check_alignment(report, domain, dkim_domain or domain, tags)


def _check_alignment(
    report: DoctorReport, domain: str, dkim_domain: str, tags: dict[str, str]
) -> None:
    adkim = tags.get("adkim", "r")
    aspf = tags.get("aspf", "r")
    strict = adkim == "s"
    aligned = dkim_domain == domain if strict else _org_domain(dkim_domain) == _org_domain(domain)
    mode = "strict" if strict else "relaxed"
    if aligned:
        report._add(
            "ok",
            "dmarc.alignment",
            f"DKIM d={dkim_domain} aligns with From {domain} (adkim={adkim}, {mode}); SPF is "
            f"checked on the envelope sender, {domain} unless envelope_from says otherwise "
            f"(aspf={aspf})",
        )
    else:
        report._add(
            "error",
            "dmarc.alignment",
            f"DKIM d={dkim_domain} does not align with From {domain} (adkim={adkim}, {mode})",
            f"sign with d={domain}" + ("" if strict else " or a domain under it"),
        )
