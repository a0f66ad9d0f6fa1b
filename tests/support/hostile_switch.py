"""The whole SIP side (endpoint, transactions, dispatcher, registrar, proxy) on a
Clock with a wire that records bytes: what the message-boundary tests, the fuzz
target and the flood tests attack."""

from memory_proxy import ProxyHarness

from softswitch.services.routing import Gateway, Number, OutboundRoute, RoutingSnapshot, Target, Trunk
from softswitch.sip.transport import Peer

CARRIER = Peer("udp", "198.51.100.7", 5060)


def snapshot() -> RoutingSnapshot:
    carrier = Trunk("carrier", (Gateway("carrier", "198.51.100.7", 5060, "udp", None, 1, 10),),
                    number_format="nanp")
    outbound = Trunk("out", (Gateway("out", "203.0.113.1", 5060, "udp", None, 1, 10),))
    return RoutingSnapshot(
        trunks=[carrier, outbound],
        numbers=[Number("+14155550100", (Target("user", "bob"),)),
                 Number("+14155550101", (Target("reject", code=486),)),
                 Number("+14155550102", (Target("trunk", "out"),))],
        users=["alice", "bob"], outbound=[OutboundRoute("1", ("out",))])


class RawWire:
    """Records (bytes, peer) as the transport would write them."""

    def __init__(self):
        self.sent: list[tuple[bytes, Peer]] = []

    def send(self, data, peer, on_failure=None):
        self.sent.append((data, peer))


def hostile_switch() -> ProxyHarness:
    harness = ProxyHarness(snapshot(), users={"alice": "a-secret", "bob": "b-secret"})
    harness.bind("bob", "sip:bob@10.0.0.2:5062", "udp:192.0.2.20:40000")
    wire = RawWire()
    harness.wire.send = wire.send
    harness.raw = wire.sent
    return harness
