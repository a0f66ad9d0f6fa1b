"""A real DNS server on loopback for tests: twisted.names serving one in-memory zone.

    server = serve_zone(reactor, "carrier.test", {"_sip._udp.sip.carrier.test": [
        dns.Record_SRV(10, 1, 5070, "gw1.carrier.test", ttl=0)], ...})
    server.address  # "127.0.0.1:PORT", for [trunks] dns_servers

Records with ttl=0 are not cached by clients, so a test can set `silent` (queries
go unanswered, as with a dead server) between lookups.
"""

from twisted.names import authority, dns, server


class MemoryAuthority(authority.FileAuthority):
    """A zone from a dict of name -> records instead of a file."""

    def loadFile(self, spec):
        zone, records = spec
        # twisted.names keys names as bytes.
        self.soa = (zone.encode(), dns.Record_SOA(mname=f"ns.{zone}", rname=f"admin.{zone}",
                                                  serial=1, minimum=0, expire=0, ttl=0))
        self.records = {name.lower().encode(): list(rrs) for name, rrs in records.items()}
        self.records.setdefault(self.soa[0].lower(), []).append(self.soa[1])


class ZoneServer:
    def __init__(self, reactor, zone: str, records: dict):
        self.authority = MemoryAuthority((zone, records))
        self.silent = False
        factory = server.DNSServerFactory(authorities=[self.authority])
        factory.noisy = False
        protocol = dns.DNSDatagramProtocol(factory)
        protocol.noisy = False
        self.port = reactor.listenUDP(0, protocol, interface="127.0.0.1")
        self.address = f"127.0.0.1:{self.port.getHost().port}"
        self.queries: list[tuple[str, int]] = []
        original = factory.handleQuery

        def recording(message, proto, address):
            self.queries += [(str(q.name), q.type) for q in message.queries]
            if not self.silent:
                original(message, proto, address)

        factory.handleQuery = recording

    def stop(self):
        return self.port.stopListening()


def serve_zone(reactor, zone: str, records: dict) -> ZoneServer:
    return ZoneServer(reactor, zone, records)
