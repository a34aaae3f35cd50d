"""DNS look-ups for ``mailsdk doctor``: one dnspython resolver, answers as plain values.

A name that does not exist, or exists without records of the type asked for, is an empty
answer (RFC 7208 4.6.4 calls both "void"); a server failure or a timeout raises
:class:`DNSFailure`, which SPF turns into ``temperror``.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import dns.exception
import dns.name
import dns.rdatatype
import dns.resolver
import dns.reversename

__all__ = ["DNSFailure", "Lookups", "make_resolver"]


class DNSFailure(Exception):
    """A query got no usable answer (server failure, refusal or timeout)."""


@dataclass(frozen=True)
class MXRecord:
    """One MX record: its preference and target host (``"."`` for a null MX, RFC 7505)."""

    preference: int
    host: str


def make_resolver(nameserver: str | None = None, timeout: float = 5.0) -> dns.resolver.Resolver:
    """A resolver asking *nameserver* (``HOST:PORT``, ``HOST`` or ``[v6]:PORT``; HOST an IP
    address) or, when None, the system's resolvers; each look-up gives up after *timeout*
    seconds."""
    if nameserver is None:
        resolver = dns.resolver.Resolver()
    else:
        host, port = _host_port(nameserver)
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [host]
        resolver.port = port
    resolver.lifetime = timeout
    resolver.timeout = timeout
    return resolver


def _host_port(value: str) -> tuple[str, int]:
    host, port = value, "53"
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        port = rest.removeprefix(":") or "53"
    elif value.count(":") == 1:
        host, port = value.split(":")
    try:
        ipaddress.ip_address(host)
        number = int(port)
    except ValueError:
        raise ValueError(
            f"nameserver {value!r}: give an IP address and optionally a port (HOST:PORT)"
        ) from None
    if not 0 < number < 65536:
        raise ValueError(f"nameserver {value!r}: port out of range")
    return host, number


class Lookups:
    """Queries through one resolver; every method returns a list (empty when void)."""

    def __init__(self, resolver: dns.resolver.Resolver) -> None:
        self.resolver = resolver
        # One diagnosis walks the same SPF chain once per relay address: each name is asked
        # once (failures are not kept; they raise).
        self._seen: dict[tuple[str, str], list[object] | None] = {}

    def _answer(self, name: str, rdtype: str) -> list[object] | None:
        """The records of *rdtype* at *name*; None when the name does not exist."""
        key = (name.lower(), rdtype)
        if key not in self._seen:
            self._seen[key] = self._query(name, rdtype)
        return self._seen[key]

    def _query(self, name: str, rdtype: str) -> list[object] | None:
        try:
            qname = dns.name.from_text(name)
            answer = self.resolver.resolve(qname, rdtype, raise_on_no_answer=False, search=False)
        except dns.resolver.NXDOMAIN:
            return None
        except (dns.resolver.NoNameservers, dns.exception.Timeout) as exc:
            raise DNSFailure(f"{rdtype} {name}: {type(exc).__name__}") from None
        except (dns.exception.DNSException, ValueError) as exc:
            raise DNSFailure(f"{rdtype} {name}: {exc}") from None
        return list(answer.rrset) if answer.rrset is not None else []

    def txt(self, name: str) -> list[str]:
        """Each TXT record at *name*, its strings joined without separator (RFC 7208 3.3,
        RFC 6376 3.6.2.2), decoded as UTF-8 (invalid bytes replaced)."""
        records = self._answer(name, "TXT") or []
        return [b"".join(r.strings).decode("utf-8", "replace") for r in records]  # type: ignore[attr-defined]

    def mx(self, name: str) -> list[MXRecord] | None:
        """The MX records at *name*, lowest preference first; None when it does not exist."""
        records = self._answer(name, "MX")
        if records is None:
            return None
        found = [
            MXRecord(r.preference, r.exchange.to_text(omit_final_dot=True) or ".")  # type: ignore[attr-defined]
            for r in records
        ]
        return sorted(found, key=lambda r: (r.preference, r.host))

    def addresses(self, name: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
        """The A and AAAA addresses of *name*."""
        out: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = []
        for rdtype in ("A", "AAAA"):
            out.extend(ipaddress.ip_address(r.address) for r in self._answer(name, rdtype) or [])  # type: ignore[attr-defined]
        return out

    def a(self, name: str, version: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
        """The A (*version* 4) or AAAA (6) addresses of *name*."""
        records = self._answer(name, "A" if version == 4 else "AAAA") or []
        return [ipaddress.ip_address(r.address) for r in records]  # type: ignore[attr-defined]

    def ptr(self, ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> list[str]:
        """The PTR names of *ip*."""
        name = dns.reversename.from_address(str(ip)).to_text()
        records = self._answer(name, "PTR") or []
        return [r.target.to_text(omit_final_dot=True) for r in records]  # type: ignore[attr-defined]
