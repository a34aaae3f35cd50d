"""SPF (RFC 7208) for ``mailsdk doctor``: the record, its includes and check_host().

:func:`check_host` evaluates a domain's policy for one IP address as a receiver would,
counting the DNS-querying terms (``include``, ``a``, ``mx``, ``ptr``, ``exists``,
``redirect``: at most 10 per evaluation, includes counted, RFC 7208 4.6.4) and the void
look-ups (at most 2). Evaluating an address no record lists (from the documentation range)
walks every term, so its count is the most any sender can cost.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Literal

from mailsdk._dnsquery import DNSFailure, Lookups

__all__ = ["MAX_LOOKUPS", "MAX_VOID", "Evaluation", "SPFError", "check_host", "spf_records"]

Result = Literal["pass", "fail", "softfail", "neutral", "none", "permerror", "temperror"]
IP = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_LOOKUPS = 10
"""RFC 7208 4.6.4: DNS-querying terms per evaluation, includes and redirects counted."""
MAX_VOID = 2
"""RFC 7208 4.6.4: look-ups that may find nothing before the result is permerror."""
MAX_MX_NAMES = 10

_QUALIFIERS = {"+": "pass", "-": "fail", "~": "softfail", "?": "neutral"}
_SHOWN = {"+": "", "-": "-", "~": "~", "?": "?"}
_MECHANISMS = ("all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists")
_MODIFIER = re.compile(r"^([A-Za-z][A-Za-z0-9_.-]*)=(.*)$")
_MACRO = re.compile(r"%(?:\{([slodiphcrtv])(\d*)(r?)([.\-+,/_=]*)\}|(.))", re.IGNORECASE)
_TERM = re.compile(r"^([A-Za-z][A-Za-z0-9_.-]*)(?:([:/])(.*))?$")
_DUAL_CIDR = re.compile(r"^(.*?)(?:/(\d+))?(?://(\d+))?$")


class SPFError(Exception):
    """A permerror or temperror, with what caused it."""

    def __init__(self, result: Literal["permerror", "temperror"], text: str) -> None:
        super().__init__(text)
        self.result: Literal["permerror", "temperror"] = result


@dataclass
class Evaluation:
    """What one check_host() run found."""

    result: Result = "none"
    reason: str = ""
    lookups: int = 0
    void: int = 0
    includes: list[str] = field(default_factory=list)
    """Every domain reached through include or redirect, in order."""
    matched: str | None = None
    """The term that decided the result, with the domain whose record holds it."""


def spf_records(lookups: Lookups, domain: str) -> list[str]:
    """The TXT records at *domain* that are SPF records (``v=spf1`` then a space or the
    end, RFC 7208 4.5, in any case)."""
    return [
        r for r in lookups.txt(domain) if r.lower() == "v=spf1" or r.lower().startswith("v=spf1 ")
    ]


def check_host(lookups: Lookups, ip: IP, domain: str, sender: str | None = None) -> Evaluation:
    """RFC 7208 check_host(*ip*, *domain*, *sender*): the SPF result for mail from *ip*
    whose envelope sender is *sender* (default ``postmaster@<domain>``)."""
    evaluation = Evaluation()
    try:
        result = _Checker(lookups, ip, sender or f"postmaster@{domain}", evaluation).run(domain)
    except SPFError as exc:
        evaluation.result, evaluation.reason = exc.result, str(exc)
        return evaluation
    evaluation.result = result
    return evaluation


@dataclass
class _Checker:
    lookups: Lookups
    ip: IP
    sender: str
    evaluation: Evaluation

    def run(self, domain: str, depth: int = 0) -> Result:
        try:
            records = spf_records(self.lookups, domain)
        except DNSFailure as exc:
            raise SPFError("temperror", f"DNS look-up failed: {exc}") from None
        if not records:
            return "none"
        if len(records) > 1:
            raise SPFError("permerror", f"{domain} publishes {len(records)} SPF records")
        record = records[0]
        terms = record.split()[1:]
        redirect: str | None = None
        directives: list[tuple[str, str, str]] = []
        for term in terms:
            modifier = _MODIFIER.match(term)
            if modifier and modifier.group(1).lower() not in _MECHANISMS:
                name, value = modifier.group(1).lower(), modifier.group(2)
                if name == "redirect":
                    if redirect is not None:
                        raise SPFError("permerror", f"{domain}: redirect given twice")
                    redirect = value
                continue  # exp= and unknown modifiers do not change the result
            qualifier = term[0] if term[0] in _QUALIFIERS else "+"
            body = term[1:] if term[0] in _QUALIFIERS else term
            parsed = _TERM.match(body)
            if parsed is None or parsed.group(1).lower() not in _MECHANISMS:
                raise SPFError("permerror", f"{domain}: unknown mechanism {term!r}")
            sep, rest = parsed.group(2) or "", parsed.group(3) or ""
            directives.append(
                (qualifier, parsed.group(1).lower(), rest if sep == ":" else sep + rest)
            )
        for qualifier, name, arg in directives:
            if self._matches(domain, name, arg, depth):
                if name != "include":  # an include that passed names its own deciding term
                    shown = f":{arg}" if arg and not arg.startswith("/") else arg
                    self.evaluation.matched = f"{_SHOWN[qualifier]}{name}{shown} in {domain}"
                return _QUALIFIERS[qualifier]  # type: ignore[return-value]
        if redirect is not None and not any(n == "all" for _, n, _ in directives):
            self._count(domain)
            target = self._expand(redirect, domain)
            self.evaluation.includes.append(target)
            result = self.run(target, depth + 1)
            if result == "none":
                raise SPFError("permerror", f"redirect to {target}, which has no SPF record")
            return result
        return "neutral"

    def _count(self, domain: str) -> None:
        self.evaluation.lookups += 1
        if self.evaluation.lookups > MAX_LOOKUPS:
            raise SPFError(
                "permerror",
                f"more than {MAX_LOOKUPS} DNS-querying terms (reached in {domain})",
            )

    def _void(self, found: bool) -> None:
        if not found:
            self.evaluation.void += 1
            if self.evaluation.void > MAX_VOID:
                raise SPFError("permerror", f"more than {MAX_VOID} look-ups found nothing")

    def _matches(self, domain: str, name: str, arg: str, depth: int) -> bool:
        if name == "all":
            return True
        if name in ("ip4", "ip6"):
            return self._in_network(domain, name, arg)
        self._count(domain)
        try:
            return self._dns_match(domain, name, arg, depth)
        except DNSFailure as exc:
            raise SPFError("temperror", f"DNS look-up failed: {exc}") from None

    def _in_network(self, domain: str, name: str, arg: str) -> bool:
        try:
            network = ipaddress.ip_network(arg, strict=False)
        except ValueError:
            raise SPFError("permerror", f"{domain}: bad {name}:{arg}") from None
        if (name == "ip4") != (network.version == 4):
            raise SPFError("permerror", f"{domain}: {name}:{arg} is the wrong address family")
        return self.ip.version == network.version and self.ip in network

    def _dns_match(self, domain: str, name: str, arg: str, depth: int) -> bool:
        if name == "include":
            if not arg:
                raise SPFError("permerror", f"{domain}: include without a domain")
            target = self._expand(arg, domain)
            self.evaluation.includes.append(target)
            if depth >= 20:
                raise SPFError("permerror", f"include loop at {target}")
            result = self.run(target, depth + 1)
            if result == "none":
                raise SPFError("permerror", f"include:{target}, which has no SPF record")
            return result == "pass"
        spec, cidr4, cidr6 = self._split_cidr(domain, arg)
        target = self._expand(spec, domain) if spec else domain
        if name == "a":
            found = self.lookups.a(target, self.ip.version)
            self._void(bool(found))
            return any(self._cidr_match(addr, cidr4, cidr6) for addr in found)
        if name == "mx":
            hosts = self.lookups.mx(target) or []
            self._void(bool(hosts))
            if len(hosts) > MAX_MX_NAMES:
                raise SPFError("permerror", f"mx:{target} has more than {MAX_MX_NAMES} MX names")
            return any(
                self._cidr_match(addr, cidr4, cidr6)
                for mx in hosts
                if mx.host != "."
                for addr in self.lookups.a(mx.host, self.ip.version)
            )
        if name == "exists":
            found4 = self.lookups.a(target, 4)
            self._void(bool(found4))
            return bool(found4)
        # ptr (RFC 7208 5.5: SHOULD NOT be used): a validated name of the IP under target.
        names = self.lookups.ptr(self.ip)[:10]
        self._void(bool(names))
        for host in names:
            if (host == target or host.endswith("." + target)) and self.ip in self.lookups.a(
                host, self.ip.version
            ):
                return True
        return False

    def _split_cidr(self, domain: str, arg: str) -> tuple[str, int, int]:
        match = _DUAL_CIDR.match(arg)
        assert match is not None  # the pattern matches every string
        spec, v4, v6 = match.group(1), match.group(2), match.group(3)
        cidr4, cidr6 = int(v4) if v4 else 32, int(v6) if v6 else 128
        if cidr4 > 32 or cidr6 > 128:
            raise SPFError("permerror", f"{domain}: bad prefix length in {arg!r}")
        return spec, cidr4, cidr6

    def _cidr_match(self, addr: IP, cidr4: int, cidr6: int) -> bool:
        if addr.version != self.ip.version:
            return False
        prefix = cidr4 if addr.version == 4 else cidr6
        return self.ip in ipaddress.ip_network(f"{addr}/{prefix}", strict=False)

    def _expand(self, spec: str, domain: str) -> str:
        """A domain-spec with its macros expanded (RFC 7208 section 7)."""
        local, _, sender_domain = self.sender.rpartition("@")

        def value(letter: str) -> str:
            letter = letter.lower()
            if letter == "s":
                return self.sender
            if letter == "l":
                return local or "postmaster"
            if letter == "o":
                return sender_domain
            if letter == "d":
                return domain
            if letter == "i":
                if self.ip.version == 4:
                    return str(self.ip)
                return ".".join(self.ip.exploded.replace(":", ""))
            if letter == "v":
                return "in-addr" if self.ip.version == 4 else "ip6"
            if letter == "h":
                return domain
            if letter == "p":
                return "unknown"
            raise SPFError("permerror", f"{domain}: macro %{{{letter}}} outside exp=")

        def replace(match: re.Match[str]) -> str:
            if match.group(5) is not None:
                escape = {"%": "%", "_": " ", "-": "%20"}.get(match.group(5))
                if escape is None:
                    raise SPFError("permerror", f"{domain}: bad macro in {spec!r}")
                return escape
            parts = re.split("[" + re.escape(match.group(4) or ".") + "]", value(match.group(1)))
            if match.group(3):
                parts.reverse()
            if match.group(2):
                keep = int(match.group(2))
                if keep == 0:
                    raise SPFError("permerror", f"{domain}: macro keeps zero parts")
                parts = parts[-keep:]
            return ".".join(parts)

        expanded = _MACRO.sub(replace, spec).rstrip(".")
        if not expanded or ".." in expanded:
            raise SPFError("permerror", f"{domain}: bad domain-spec {spec!r}")
        return expanded
