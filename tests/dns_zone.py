"""An authoritative DNS server on loopback (dnslib), UDP and TCP on one port, serving a zone
the test writes: ``mailsdk doctor`` is tested against it, never against the internet."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from dnslib import AAAA, MX, PTR, QTYPE, RCODE, RR, TXT, A, DNSLabel, DNSRecord
from dnslib.server import BaseResolver, DNSLogger, DNSServer

_RDATA: dict[str, Any] = {
    "A": A,
    "AAAA": AAAA,
    "PTR": PTR,
    "TXT": lambda text: TXT([text[i : i + 255] for i in range(0, len(text), 255)] or [""]),
}


_QUIET = DNSLogger(logf=lambda _text: None)


class Zone(BaseResolver):  # type: ignore[misc]
    """Records by (name, type); a name with no record of any type (nor below it) is
    NXDOMAIN; names in :attr:`failing` answer SERVFAIL."""

    def __init__(self) -> None:
        self.records: dict[tuple[str, str], list[RR]] = defaultdict(list)
        self.failing: set[str] = set()
        self.queries: list[tuple[str, str, str]] = []
        """Each question asked: name, type and ``udp`` or ``tcp``."""

    def add(self, name: str, rtype: str, *values: Any) -> Zone:
        """Add records; MX values are ``(preference, host)``, TXT values are text (split
        into 255-octet strings as DNS requires)."""
        key = (name.lower().rstrip("."), rtype)
        for value in values:
            rdata = MX(value[1], value[0]) if rtype == "MX" else _RDATA[rtype](value)
            self.records[key].append(RR(name, getattr(QTYPE, rtype), rdata=rdata, ttl=60))
        return self

    def _exists(self, name: str) -> bool:
        return any(n == name or n.endswith("." + name) for n, _ in self.records)

    def resolve(self, request: DNSRecord, handler: Any) -> DNSRecord:
        reply = request.reply()
        name = str(DNSLabel(request.q.qname)).lower().rstrip(".")
        rtype = QTYPE[request.q.qtype]
        self.queries.append((name, rtype, handler.protocol))
        if name in self.failing:
            reply.header.rcode = RCODE.SERVFAIL
        elif not self._exists(name):
            reply.header.rcode = RCODE.NXDOMAIN
        else:
            for rr in self.records.get((name, rtype), []):
                reply.add_answer(rr)
        if handler.protocol == "udp" and len(reply.pack()) > 512:
            # As a server without EDNS answers: TC set, the question kept (dnslib's own
            # truncate() drops it, which clients reject), so the client asks over TCP
            # (RFC 1035 4.2.1, RFC 7766).
            reply = request.reply()
            reply.header.tc = 1
        return reply


class LocalDNS:
    """:class:`Zone` served on 127.0.0.1, UDP and TCP on the same free port."""

    def __init__(self, zone: Zone) -> None:
        self.zone = zone
        self.port = 0
        self._servers: list[DNSServer] = []

    @property
    def address(self) -> str:
        """``HOST:PORT`` for ``--nameserver``."""
        return f"127.0.0.1:{self.port}"

    def start(self) -> LocalDNS:
        # The UDP server binds port 0 itself (no probe-then-bind race with other processes);
        # TCP then takes the same number, and a clash there closes UDP and tries again.
        for _ in range(50):
            udp = DNSServer(self.zone, address="127.0.0.1", port=0, tcp=False, logger=_QUIET)
            port = int(udp.server.server_address[1])
            try:
                tcp = DNSServer(self.zone, address="127.0.0.1", port=port, tcp=True, logger=_QUIET)
            except OSError:
                udp.server.server_close()
                continue
            self.port, self._servers = port, [udp, tcp]
            for server in self._servers:
                server.start_thread()
            return self
        raise OSError("no free port for the test DNS server")

    def stop(self) -> None:
        for server in self._servers:
            server.stop()
            server.server.server_close()
