"""``mailsdk doctor`` and :func:`mailsdk.doctor.diagnose` against an authoritative DNS server
the tests start on loopback (UDP and TCP), serving zones written here."""

from __future__ import annotations

import base64
import ipaddress
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from mailsdk import ConfigurationError, DKIMSigner
from mailsdk._dnsquery import Lookups, make_resolver
from mailsdk._spf import check_host
from mailsdk.cli.doctor import _related
from mailsdk.doctor import DoctorReport, Finding, diagnose
from tests.cli_runner import run
from tests.dns_zone import LocalDNS, Zone

RELAY_IP = "203.0.113.25"


def _pem(key: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@pytest.fixture(scope="module")
def rsa_pem() -> bytes:
    return _pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))


@pytest.fixture
def key_file(tmp_path: Path, rsa_pem: bytes) -> Path:
    path = tmp_path / "dkim.pem"
    path.write_bytes(rsa_pem)
    return path


def healthy_zone(rsa_pem: bytes) -> Zone:
    """example.com as it should be: MX, SPF through an include, DKIM, DMARC p=reject."""
    signer = DKIMSigner(domain="example.com", selector="s2026", private_key=rsa_pem)
    return (
        Zone()
        .add("example.com", "MX", (10, "mx1.example.com"), (20, "mx2.example.com"))
        .add("mx1.example.com", "A", "198.51.100.10")
        .add("mx2.example.com", "AAAA", "2001:db8::10")
        .add("example.com", "TXT", "v=spf1 include:_spf.example.net -all", "google-site=x")
        .add("_spf.example.net", "TXT", "v=spf1 ip4:203.0.113.0/24 ip6:2001:db8:25::/48 ~all")
        .add("s2026._domainkey.example.com", "TXT", signer.dns_record())
        .add("_dmarc.example.com", "TXT", "v=DMARC1; p=reject; rua=mailto:d@example.com")
        .add("relay.example.com", "A", RELAY_IP)
    )


@pytest.fixture(scope="module")
def dns_server() -> Iterator[LocalDNS]:
    # One server for the module (stopping one waits for its poll loop); each test serves
    # its own zone on it.
    server = LocalDNS(Zone()).start()
    yield server
    server.stop()


@pytest.fixture
def dns(dns_server: LocalDNS) -> LocalDNS:
    return serve(dns_server, Zone())


def serve(dns: LocalDNS, zone: Zone) -> LocalDNS:
    dns.zone.records = zone.records
    dns.zone.failing = zone.failing
    dns.zone.queries.clear()
    return dns


def levels(report: DoctorReport) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for finding in report.findings:
        out.setdefault(finding.check, []).append(finding.level)
    return out


def only(report: DoctorReport, check: str) -> Finding:
    found = [f for f in report.findings if f.check == check]
    assert len(found) == 1, report.findings
    return found[0]


# -- the whole report ------------------------------------------------------------------------


def test_a_healthy_domain_has_no_error(dns: LocalDNS, rsa_pem: bytes, key_file: Path) -> None:
    serve(dns, healthy_zone(rsa_pem))
    report = diagnose(
        "example.com",
        selector="s2026",
        dkim_key=key_file,
        relays=["smtp://relay.example.com:587", "smtp://127.0.0.1:25?tls=none"],
        nameserver=dns.address,
    )
    assert report.ok, report.findings
    assert levels(report) == {
        "mx": ["ok"],
        "spf": ["ok"],
        "spf.all": ["ok"],
        "spf.relay": ["ok", "ok"],
        "dkim": ["ok"],
        "dkim.key": ["ok"],
        "dmarc": ["ok"],
        "dmarc.alignment": ["ok"],
    }
    assert only(report, "mx").message == "MX 10 mx1.example.com, 20 mx2.example.com"
    assert only(report, "spf").message == (
        "SPF record 'v=spf1 include:_spf.example.net -all': 1 of 10 DNS look-ups "
        "(includes _spf.example.net)"
    )
    relay, local = [f.message for f in report.findings if f.check == "spf.relay"]
    assert relay == (
        f"smtp://relay.example.com:587: {RELAY_IP} passes (ip4:203.0.113.0/24 in _spf.example.net)"
    )
    assert "127.0.0.1 is loopback" in local
    assert (
        only(report, "dkim").message
        == "key record at s2026._domainkey.example.com: k=rsa, RSA 2048 bits"
    )
    assert only(report, "dmarc").message == "_dmarc.example.com: p=reject"


def test_cli_prints_findings_and_exits_0(dns: LocalDNS, rsa_pem: bytes, key_file: Path) -> None:
    serve(dns, healthy_zone(rsa_pem))
    result = run(
        "doctor",
        "example.com",
        "--selector",
        "s2026",
        "--dkim-key",
        str(key_file),
        "--relay",
        "smtp://relay.example.com",
        "--nameserver",
        dns.address,
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "example.com"
    assert "  ok    mx               MX 10 mx1.example.com, 20 mx2.example.com" in lines
    assert lines[-1] == "0 error(s), 0 warning(s)"


def test_cli_json_and_exit_3_on_errors(dns: LocalDNS) -> None:
    serve(dns, Zone().add("example.com", "MX", (10, "mx.example.com")))
    result = run("doctor", "example.com", "--nameserver", dns.address, "--json")
    assert result.exit_code == 3
    data = json.loads(result.stdout)
    assert data["domain"] == "example.com"
    assert data["ok"] is False
    by_check = {f["check"]: f for f in data["findings"]}
    assert by_check["mx"]["level"] == "error"  # mx.example.com has no address
    assert by_check["spf"]["level"] == "error"
    assert by_check["spf"]["fix"].startswith('publish one TXT record at example.com: "v=spf1')
    assert by_check["dkim"]["level"] == "warn"  # no selector given
    assert by_check["dmarc"]["level"] == "error"
    assert set(by_check["dmarc"]) == {"level", "check", "message", "fix"}


def test_cli_bad_input_exits_1(dns: LocalDNS, key_file: Path) -> None:
    assert run("doctor", "example.com", "--nameserver", "dns.example:53").exit_code == 1
    assert run("doctor", "localhost", "--nameserver", dns.address).exit_code == 1
    result = run("doctor", "example.com", "--dkim-key", str(key_file))
    assert result.exit_code == 1
    assert "--dkim-key needs --selector" in result.output


def test_cli_uses_the_configured_dkim_signer(
    dns: LocalDNS, rsa_pem: bytes, key_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    serve(dns, healthy_zone(rsa_pem))
    other = _pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    other_file = key_file.with_name("other.pem")
    other_file.write_bytes(other)
    monkeypatch.setenv("MAILSDK_DKIM_DOMAIN", "example.com")
    monkeypatch.setenv("MAILSDK_DKIM_SELECTOR", "s2026")
    monkeypatch.setenv("MAILSDK_DKIM_KEY_FILE", str(other_file))
    result = run("doctor", "example.com", "--nameserver", dns.address, "--json")
    assert result.exit_code == 3
    key = next(f for f in json.loads(result.stdout)["findings"] if f["check"] == "dkim.key")
    assert key["level"] == "error"
    assert "does not hold the public half of the signing key" in key["message"]
    assert key["fix"].startswith('publish TXT "v=DKIM1; k=rsa; p=')


# -- MX --------------------------------------------------------------------------------------


def test_mx_nxdomain_null_and_missing(dns: LocalDNS) -> None:
    serve(dns, Zone().add("example.com", "MX", (0, ".")).add("nomx.example.org", "A", "192.0.2.7"))
    assert (
        "does not exist in DNS"
        in only(diagnose("nowhere.example", nameserver=dns.address), "mx").message
    )
    null = only(diagnose("example.com", nameserver=dns.address), "mx")
    assert null.level == "warn"
    assert "publishes a null MX (RFC 7505)" in null.message
    missing = only(diagnose("nomx.example.org", nameserver=dns.address), "mx")
    assert missing.level == "warn"
    assert "has no MX record" in missing.message


# -- SPF -------------------------------------------------------------------------------------


def _spf_includes(count: int, extra: Callable[[int], str] = lambda n: "") -> Zone:
    """example.com includes *count* domains with one ``a:`` term each: two look-ups apiece."""
    zone = Zone().add(
        "example.com",
        "TXT",
        "v=spf1 " + " ".join(f"include:i{n}.example.net" for n in range(count)) + " -all",
    )
    for n in range(count):
        zone.add(f"i{n}.example.net", "TXT", f"v=spf1 a:h{n}.example.net{extra(n)} -all")
        zone.add(f"h{n}.example.net", "A", f"198.51.100.{100 + n}")
    return zone


def test_spf_over_ten_lookups_is_a_permerror(dns: LocalDNS) -> None:
    zone = _spf_includes(6, extra=lambda n: f" ip4:198.51.100.{n}")
    finding = only(diagnose("example.com", nameserver=serve(dns, zone).address), "spf")
    assert finding.level == "error"
    assert "permerror: more than 10 DNS-querying terms (reached in example.com)" in finding.message
    assert finding.fix is not None
    assert "ip4:/ip6:" in finding.fix


def test_spf_exactly_ten_lookups_is_fine(dns: LocalDNS) -> None:
    zone = _spf_includes(5)
    finding = only(diagnose("example.com", nameserver=serve(dns, zone).address), "spf")
    assert finding.level == "ok"
    assert "10 of 10 DNS look-ups" in finding.message


def test_spf_void_lookups_past_two_are_a_permerror(dns: LocalDNS) -> None:
    zone = Zone().add(
        "example.com", "TXT", "v=spf1 a:n1.example.com a:n2.example.com a:n3.example.com -all"
    )
    finding = only(diagnose("example.com", nameserver=serve(dns, zone).address), "spf")
    assert finding.level == "error"
    assert "more than 2 look-ups found nothing" in finding.message


def test_two_spf_records_and_a_missing_include(dns: LocalDNS) -> None:
    zone = Zone().add("example.com", "TXT", "v=spf1 -all", "v=spf1 ip4:192.0.2.0/24 -all")
    zone.add("example.org", "TXT", "v=spf1 include:gone.example.net -all").add(
        "gone.example.net", "A", "192.0.2.9"
    )
    address = serve(dns, zone).address
    two = only(diagnose("example.com", nameserver=address), "spf")
    assert two.level == "error"
    assert "publishes 2 SPF records" in two.message
    gone = only(diagnose("example.org", nameserver=address), "spf")
    assert gone.level == "error"
    assert "include:gone.example.net, which has no SPF record" in gone.message


@pytest.mark.parametrize(
    ("ending", "level", "text"),
    [
        ("+all", "error", "SPF passes for any address (all in example.com)"),
        ("?all", "warn", "ends neutral"),
        ("", "warn", "ends neutral"),
        ("~all", "ok", "soft-fail"),
    ],
)
def test_spf_all(dns: LocalDNS, ending: str, level: str, text: str) -> None:
    zone = Zone().add("example.com", "TXT", f"v=spf1 ip4:192.0.2.10 {ending}".strip())
    finding = only(diagnose("example.com", nameserver=serve(dns, zone).address), "spf.all")
    assert finding.level == level
    assert text in finding.message


def test_relay_not_covered_says_which_address_to_add(dns: LocalDNS) -> None:
    zone = Zone().add("example.com", "TXT", "v=spf1 ip4:192.0.2.0/24 -all")
    zone.add("relay.example.com", "A", RELAY_IP).add("relay.example.com", "AAAA", "2001:db8::25")
    report = diagnose(
        "example.com", relays=["smtp://relay.example.com"], nameserver=serve(dns, zone).address
    )
    v4, v6 = [f for f in report.findings if f.check == "spf.relay"]
    assert (v4.level, v6.level) == ("error", "error")
    assert v4.message == f"smtp://relay.example.com: {RELAY_IP} is not covered by SPF (result fail)"
    assert v4.fix is not None
    assert v4.fix.startswith(f"add ip4:{RELAY_IP} ")
    assert v6.fix is not None
    assert v6.fix.startswith("add ip6:2001:db8::25 ")


def test_relay_covered_through_mx_a_exists_macro_and_redirect(dns: LocalDNS) -> None:
    zone = (
        Zone()
        .add("example.com", "TXT", "v=spf1 mx a:out.example.com/28 redirect=_spf.example.com")
        .add("example.com", "MX", (10, "mx.example.com"))
        .add("mx.example.com", "A", "198.51.100.1")
        .add("out.example.com", "A", "198.51.100.33")
        .add("_spf.example.com", "TXT", "v=spf1 exists:%{i}.%{d2}.allow.example.net -all")
        .add("203.0.113.25.example.com.allow.example.net", "A", "127.0.0.2")
        .add("a1.example.com", "A", "198.51.100.1")
        .add("a2.example.com", "A", "198.51.100.40")
        .add("a3.example.com", "A", RELAY_IP)
    )
    report = diagnose(
        "example.com",
        relays=["smtp://a1.example.com", "smtp://a2.example.com", "smtp://a3.example.com"],
        nameserver=serve(dns, zone).address,
    )
    assert [f.message.split(": ", 1)[1] for f in report.findings if f.check == "spf.relay"] == [
        "198.51.100.1 passes (mx in example.com)",
        "198.51.100.40 passes (a:out.example.com/28 in example.com)",
        f"{RELAY_IP} passes (exists:%{{i}}.%{{d2}}.allow.example.net in _spf.example.com)",
    ]


def test_provider_relays_are_checked_for_their_include(dns: LocalDNS) -> None:
    zone = Zone().add("example.com", "TXT", "v=spf1 include:sendgrid.net -all")
    zone.add("sendgrid.net", "TXT", "v=spf1 ip4:198.51.100.0/24 -all")
    report = diagnose(
        "example.com",
        relays=["sendgrid://SG.key@default", "mailgun://key@mg.example.com"],
        nameserver=serve(dns, zone).address,
    )
    sendgrid, mailgun = [f for f in report.findings if f.check == "spf.relay"]
    assert sendgrid.level == "ok"
    assert "include:sendgrid.net is in the SPF record" in sendgrid.message
    assert mailgun.level == "warn"
    assert "does not include mailgun.org" in mailgun.message
    assert "SG.key" not in json.dumps(report.to_dict())


def test_servfail_is_a_temperror(dns: LocalDNS) -> None:
    zone = Zone().add("example.com", "TXT", "v=spf1 include:broken.example.net -all")
    zone.add("broken.example.net", "A", "192.0.2.1")
    zone.failing.add("broken.example.net")
    finding = only(diagnose("example.com", nameserver=serve(dns, zone).address), "spf")
    assert finding.level == "error"
    assert "temperror" in finding.message


V6 = "2001:db8::1"
V6_NIBBLES = ".".join(reversed(ipaddress.ip_address(V6).exploded.replace(":", "")))


@pytest.mark.parametrize(
    ("ip", "record", "extra", "result", "matched"),
    [
        (
            RELAY_IP,
            "v=spf1 exists:%{ir}.%{v}._spf.%{d} -all",
            [("25.113.0.203.in-addr._spf.example.com", "A", "127.0.0.2")],
            "pass",
            "exists:%{ir}.%{v}._spf.%{d} in example.com",
        ),
        (
            RELAY_IP,
            "v=spf1 exists:%{l}.%{o}.%{d1}.users.example.net -all",
            [("postmaster.example.com.com.users.example.net", "A", "127.0.0.2")],
            "pass",
            None,
        ),
        (
            V6,
            "v=spf1 exists:%{ir}.%{v}.x.example.net -all",
            [(f"{V6_NIBBLES}.ip6.x.example.net", "A", "127.0.0.2")],
            "pass",
            None,
        ),
        (V6, "v=spf1 ip6:2001:db8::/32 -all", [], "pass", "ip6:2001:db8::/32 in example.com"),
        (
            V6,
            "v=spf1 a:v6.example.com//64 -all",
            [("v6.example.com", "AAAA", "2001:db8::ffff")],
            "pass",
            None,
        ),
        (
            RELAY_IP,
            "v=spf1 ptr -all",
            [
                ("25.113.0.203.in-addr.arpa", "PTR", "out.example.com"),
                ("out.example.com", "A", RELAY_IP),
            ],
            "pass",
            "ptr in example.com",
        ),
        (RELAY_IP, "v=spf1 ip4:198.51.100.0/24 ~all", [], "softfail", "~all in example.com"),
        (RELAY_IP, "v=spf1 exists:%x.example.net -all", [], "permerror", None),
        (RELAY_IP, "v=spf1 include:%{d0}.example.net -all", [], "permerror", None),
        (RELAY_IP, "v=spf1 ip4:300.1.1.1 -all", [], "permerror", None),
        (RELAY_IP, "v=spf1 ip4:2001:db8::/32 -all", [], "permerror", None),
        (RELAY_IP, "v=spf1 frobnicate -all", [], "permerror", None),
        (RELAY_IP, "v=spf1 redirect=a.example.net redirect=b.example.net", [], "permerror", None),
        (RELAY_IP, "v=spf1 exp=explain.example.com unknown-mod=x ?all", [], "neutral", None),
        (RELAY_IP, "v=spf1 -all redirect=elsewhere.example.net", [], "fail", None),
    ],
)
def test_check_host(
    dns: LocalDNS,
    ip: str,
    record: str,
    extra: list[tuple[str, str, str]],
    result: str,
    matched: str | None,
) -> None:
    zone = Zone().add("example.com", "TXT", record)
    for name, rtype, value in extra:
        zone.add(name, rtype, value)
    lookups = Lookups(make_resolver(serve(dns, zone).address))
    evaluation = check_host(lookups, ipaddress.ip_address(ip), "example.com")
    assert evaluation.result == result, evaluation.reason
    if matched is not None:
        assert evaluation.matched == matched


# -- DKIM ------------------------------------------------------------------------------------


def test_dkim_missing_record_says_what_to_publish(
    dns: LocalDNS, key_file: Path, rsa_pem: bytes
) -> None:
    report = diagnose("example.com", selector="s1", dkim_key=key_file, nameserver=dns.address)
    finding = only(report, "dkim")
    assert finding.level == "error"
    assert finding.message == "no DKIM key record at s1._domainkey.example.com"
    expected = DKIMSigner(domain="example.com", selector="s1", private_key=rsa_pem).dns_record()
    assert finding.fix == f'publish TXT "{expected}" at s1._domainkey.example.com'


def test_dkim_record_split_into_strings_and_fetched_over_tcp(dns: LocalDNS, tmp_path: Path) -> None:
    # A 4096-bit key's record is over 700 octets: several TXT strings, and an answer that
    # needs EDNS or TCP.
    pem = _pem(rsa.generate_private_key(public_exponent=65537, key_size=4096))
    (tmp_path / "big.pem").write_bytes(pem)
    signer = DKIMSigner(domain="example.com", selector="big", private_key=pem)
    serve(dns, Zone().add("big._domainkey.example.com", "TXT", signer.dns_record()))
    report = diagnose(
        "example.com", selector="big", dkim_key=tmp_path / "big.pem", nameserver=dns.address
    )
    assert only(report, "dkim").message.endswith("RSA 4096 bits")
    asked = [(q[2], q[0]) for q in dns.zone.queries if q[1] == "TXT"]
    assert ("udp", "big._domainkey.example.com") in asked
    assert ("tcp", "big._domainkey.example.com") in asked
    assert only(report, "dkim.key").level == "ok"


def test_dkim_ed25519_key_matches(dns: LocalDNS, tmp_path: Path) -> None:
    pem = _pem(ed25519.Ed25519PrivateKey.generate())
    (tmp_path / "ed.pem").write_bytes(pem)
    signer = DKIMSigner(domain="example.com", selector="ed", private_key=pem)
    serve(dns, Zone().add("ed._domainkey.example.com", "TXT", signer.dns_record()))
    report = diagnose(
        "example.com", selector="ed", dkim_key=tmp_path / "ed.pem", nameserver=dns.address
    )
    assert (
        only(report, "dkim").message
        == "key record at ed._domainkey.example.com: k=ed25519, Ed25519"
    )
    assert only(report, "dkim.key").level == "ok"


@pytest.mark.parametrize(
    ("record", "problem"),
    [
        ("v=DKIM1; k=rsa; p=", "p= is empty: the key is revoked"),
        ("v=DKIM1; k=rsa", "no p= tag"),
        ("k=rsa; v=DKIM1; p=AAAA", "v= must come first"),
        ("v=DKIM1; k=dsa; p=AAAA", "k=dsa is neither rsa nor ed25519"),
        ("v=DKIM1; h=sha1; p=AAAA", "h=sha1 excludes sha256"),
        ("v=DKIM1; k=ed25519; p=AAAA", "an Ed25519 p= must be 32 bytes, not 3"),
        ("v=DKIM1; p=not base64!", "p= is not base64"),
    ],
)
def test_dkim_invalid_records(dns: LocalDNS, record: str, problem: str) -> None:
    serve(dns, Zone().add("s._domainkey.example.com", "TXT", record))
    finding = only(diagnose("example.com", selector="s", nameserver=dns.address), "dkim")
    assert finding.level == "error"
    assert problem in finding.message


def test_dkim_short_rsa_key_and_testing_flag_warn(dns: LocalDNS, tmp_path: Path) -> None:
    pem = _pem(rsa.generate_private_key(public_exponent=65537, key_size=1024))
    record = DKIMSigner(domain="example.com", selector="old", private_key=pem).dns_record()
    serve(dns, Zone().add("old._domainkey.example.com", "TXT", record + "; t=y"))
    report = diagnose("example.com", selector="old", nameserver=dns.address)
    assert [(f.level, f.message) for f in report.findings if f.check == "dkim"] == [
        (
            "warn",
            "old._domainkey.example.com: RSA key of 1024 bits: 2048 is advised (RFC 8301, Gmail)",
        ),
        (
            "warn",
            "old._domainkey.example.com has t=y (testing): verifiers may treat signed mail "
            "as unsigned",
        ),
    ]


# -- DMARC -----------------------------------------------------------------------------------


def test_dmarc_p_none_without_rua_and_pct(dns: LocalDNS) -> None:
    serve(dns, Zone().add("_dmarc.example.com", "TXT", "v=DMARC1; p=none; pct=50"))
    report = diagnose("example.com", nameserver=dns.address)
    assert [only(report, c).level for c in ("dmarc", "dmarc.rua", "dmarc.pct")] == ["warn"] * 3
    assert "p=none" in only(report, "dmarc").message


def test_dmarc_inherited_by_a_subdomain_uses_sp(dns: LocalDNS) -> None:
    serve(
        dns,
        Zone().add(
            "_dmarc.example.com",
            "TXT",
            "v=DMARC1; p=reject; sp=quarantine; rua=mailto:d@example.com",
        ),
    )
    finding = only(diagnose("news.example.com", nameserver=dns.address), "dmarc")
    assert finding.message == "_dmarc.example.com (inherited by news.example.com): p=quarantine"


def test_dmarc_two_records_and_a_bad_policy(dns: LocalDNS) -> None:
    zone = Zone().add("_dmarc.example.com", "TXT", "v=DMARC1; p=reject", "v=DMARC1; p=none")
    zone.add("_dmarc.example.org", "TXT", "v=DMARC1; p=block").add(
        "_dmarc.example.net", "TXT", "v=DMARC1x; p=reject"
    )
    address = serve(dns, zone).address
    assert "2 DMARC records" in only(diagnose("example.com", nameserver=address), "dmarc").message
    bad = only(diagnose("example.org", nameserver=address), "dmarc")
    assert bad.level == "error"
    assert "p=block is not none" in bad.message
    assert "no DMARC record" in only(diagnose("example.net", nameserver=address), "dmarc").message


def test_dmarc_alignment_with_the_signing_domain(dns: LocalDNS, rsa_pem: bytes) -> None:
    signer = DKIMSigner(domain="mail.example.com", selector="s", private_key=rsa_pem)
    zone = Zone().add("s._domainkey.mail.example.com", "TXT", signer.dns_record())
    zone.add("_dmarc.example.com", "TXT", "v=DMARC1; p=reject; adkim=s; rua=mailto:d@example.com")
    zone.add("_dmarc.example.org", "TXT", "v=DMARC1; p=reject; rua=mailto:d@example.org")
    address = serve(dns, zone).address
    strict = only(diagnose("example.com", signer=signer, nameserver=address), "dmarc.alignment")
    assert strict.level == "error"
    assert (
        strict.message
        == "DKIM d=mail.example.com does not align with From example.com (adkim=s, strict)"
    )
    report = diagnose("example.com", signer=signer, nameserver=address)
    assert only(report, "dkim.key").level == "ok"  # the key is looked up under d=
    other = DKIMSigner(domain="example.org", selector="s", private_key=rsa_pem)
    relaxed = only(
        diagnose("news.example.org", signer=other, nameserver=address), "dmarc.alignment"
    )
    assert relaxed.level == "ok"
    assert "(adkim=r, relaxed)" in relaxed.message


def test_bad_arguments_are_configuration_errors(dns: LocalDNS) -> None:
    with pytest.raises(ConfigurationError, match="not a domain name"):
        diagnose("localhost", nameserver=dns.address)
    with pytest.raises(ConfigurationError, match="give an IP address"):
        diagnose("example.com", nameserver="ns.example.com:53")


def test_the_configured_key_is_compared_only_with_its_own_selector(
    dns: LocalDNS, rsa_pem: bytes
) -> None:
    signer = DKIMSigner(domain="example.com", selector="s2026", private_key=rsa_pem)
    other = _pem(ed25519.Ed25519PrivateKey.generate())
    record = DKIMSigner(domain="example.com", selector="old", private_key=other).dns_record()
    serve(dns, Zone().add("old._domainkey.example.com", "TXT", record))
    report = diagnose("example.com", selector="old", signer=signer, nameserver=dns.address)
    assert only(report, "dkim").level == "ok"
    assert [f for f in report.findings if f.check == "dkim.key"] == []


def test_dkim_rsa_key_published_as_pkcs1_rsapublickey(
    dns: LocalDNS, rsa_pem: bytes, key_file: Path
) -> None:
    # RFC 6376 3.6.1 names the PKCS#1 RSAPublicKey form; most publish SubjectPublicKeyInfo.
    public = serialization.load_pem_private_key(rsa_pem, None).public_key()
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    record = "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode()
    serve(dns, Zone().add("s._domainkey.example.com", "TXT", record))
    report = diagnose("example.com", selector="s", dkim_key=key_file, nameserver=dns.address)
    assert only(report, "dkim").message.endswith("RSA 2048 bits")
    assert only(report, "dkim.key").level == "ok"


def test_dmarc_keywords_are_read_whatever_their_case(dns: LocalDNS, rsa_pem: bytes) -> None:
    # RFC 7489 section 6.4: tag values such as the policy are case-insensitive keywords.
    signer = DKIMSigner(domain="mail.example.com", selector="s", private_key=rsa_pem)
    zone = Zone().add("s._domainkey.mail.example.com", "TXT", signer.dns_record())
    zone.add("_dmarc.example.com", "TXT", "v=DMARC1; p=Reject; adkim=S; rua=mailto:d@example.com")
    report = diagnose("example.com", signer=signer, nameserver=serve(dns, zone).address)
    assert only(report, "dmarc").level == "ok"
    assert only(report, "dmarc").message == "_dmarc.example.com: p=reject"
    assert "adkim=s, strict" in only(report, "dmarc.alignment").message


@pytest.mark.parametrize("name", ["localhost", "bad..example.com", "-x.example.com", "a b.com", ""])
def test_a_name_that_is_not_a_domain_is_refused_before_any_lookup(name: str) -> None:
    # The DKIM signer's domain check (mailsdk.dkim.ascii_domain), plus: a dot is needed.
    with pytest.raises(ConfigurationError, match="is not a domain name"):
        diagnose(name, nameserver="192.0.2.1", timeout=0.01)


def test_a_published_rsa_key_under_1024_bits_is_an_error(dns: LocalDNS) -> None:
    # RFC 8301: verifiers must reject it, so the report is not ok (a 1024-bit key only warns).
    n = (1 << 767) | 0xF1  # a 768-bit odd modulus: only its size matters here
    public = rsa.RSAPublicNumbers(65537, n).public_key()
    der = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    record = f"v=DKIM1; k=rsa; p={base64.b64encode(der).decode()}"
    serve(dns, Zone().add("weak._domainkey.example.com", "TXT", record))
    report = diagnose("example.com", selector="weak", nameserver=dns.address)
    finding = only(report, "dkim")
    assert (finding.level, finding.message) == (
        "error",
        "weak._domainkey.example.com: RSA key of 768 bits: verifiers must reject it (RFC 8301)",
    )
    assert not report.ok


def test_the_configured_signer_counts_for_an_internationalised_domain() -> None:
    # The signer holds its domain in A-labels; the command line may give it in Unicode.
    assert _related("xn--bcher-kva.de", "bücher.de")
    assert _related("mail.xn--bcher-kva.de", "BÜCHER.de.")
    assert not _related("xn--bcher-kva.de", "example.de")
