"""A DNS server for end-to-end tests, as a process of its own (the tests run no reactor):
twisted.names serving one in-memory zone on 127.0.0.1.

    python dns_server_process.py '{"zone": "carrier.test",
        "srv": {"_sip._udp.sip.carrier.test": [[10, 1, 5070, "gw1.carrier.test"]]},
        "a": {"gw1.carrier.test": ["127.0.0.4"]}}'

prints the UDP port it listens on, then serves until its standard input closes.
"""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))

from twisted.internet import reactor, stdio  # noqa: E402
from twisted.internet.protocol import Protocol  # noqa: E402
from twisted.names import dns  # noqa: E402

from dns_zone import serve_zone  # noqa: E402


class _StopOnEof(Protocol):
    def connectionLost(self, reason):
        reactor.stop()


def main(spec: dict) -> None:
    records: dict[str, list] = {}
    for name, targets in spec.get("srv", {}).items():
        records[name] = [dns.Record_SRV(*target, ttl=0) for target in targets]
    for name, addresses in spec.get("a", {}).items():
        records.setdefault(name, []).extend(dns.Record_A(a, ttl=0) for a in addresses)
    server = serve_zone(reactor, spec["zone"], records)
    sys.stdout.write(f"{server.port.getHost().port}\n")
    sys.stdout.flush()
    stdio.StandardIO(_StopOnEof())
    reactor.run()


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
