"""SIP over TCP under attack: per-address connection caps, the whole-message deadline
(slowloris, bodies that never complete) and the idle timeout, on a Clock."""

from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

from softswitch.edge.sip.tcp import SipStreamFactory
from softswitch.metrics import Metrics
from softswitch.sip.message import Limits

OPTIONS = (b"OPTIONS sip:bob@example.com SIP/2.0\r\n"
           b"Via: SIP/2.0/TCP 192.0.2.7:5060;branch=z9hG4bK-1\r\n"
           b"From: <sip:a@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\n"
           b"Call-ID: c1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
           b"Content-Length: 4\r\n\r\nbody")


class Endpoint:
    def __init__(self):
        self.received = []

    def message_received(self, raw, peer):
        self.received.append((raw, peer))


class Transport(StringTransport):
    def __init__(self, host, port):
        super().__init__(peerAddress=IPv4Address("TCP", host, port))
        self.aborted = False

    def abortConnection(self):
        self.aborted = True
        self.loseConnection()


def make_factory(**kwargs):
    clock = Clock()
    endpoint = Endpoint()
    metrics = Metrics()
    options = dict(idle_timeout=300.0, max_connections=4096, clock=clock,
                   max_per_address=3, message_timeout=20.0)
    options.update(kwargs)
    factory = SipStreamFactory(endpoint, metrics, Limits(), **options)
    return factory, clock, endpoint, metrics


def connect(factory, host="192.0.2.7", port=40000):
    protocol = factory.buildProtocol(None)
    transport = Transport(host, port)
    protocol.makeConnection(transport)
    return protocol, transport


def close(protocol, transport):
    if transport.disconnecting:
        protocol.connectionLost(None)


def dropped(metrics, reason):
    return metrics.registry.get_sample_value(
        "softswitch_sip_messages_dropped_total", {"reason": reason}) or 0


def test_one_address_gets_at_most_its_share_of_connections():
    factory, _, _, metrics = make_factory()
    opened = [connect(factory, port=40000 + i) for i in range(5)]
    states = [t.aborted for _, t in opened]
    assert states == [False, False, False, True, True]
    assert factory.connections_from("192.0.2.7") == 3
    assert dropped(metrics, "tcp-address-limit") == 2
    # Another address is still served.
    _, other = connect(factory, host="198.51.100.9")
    assert not other.aborted
    # The refused connections going away leave the count alone; a closed one frees
    # a place.
    for protocol, transport in opened[3:]:
        close(protocol, transport)
    assert factory.connections_from("192.0.2.7") == 3
    protocol, transport = opened[0]
    transport.loseConnection()
    close(protocol, transport)
    assert factory.connections_from("192.0.2.7") == 2
    _, again = connect(factory, port=41000)
    assert not again.aborted


def test_global_cap_kept():
    factory, _, _, metrics = make_factory(max_connections=2, max_per_address=10)
    results = [connect(factory, host=f"192.0.2.{i}")[1].aborted for i in range(1, 4)]
    assert results == [False, False, True]
    assert dropped(metrics, "tcp-connection-limit") == 1


def test_outbound_connections_do_not_count_against_the_address():
    factory, _, _, _ = make_factory(max_per_address=1)
    protocol = factory.buildProtocol(None)
    protocol.outbound = True
    protocol.makeConnection(Transport("192.0.2.7", 5060))
    assert factory.connections_from("192.0.2.7") == 0
    _, inbound = connect(factory)
    assert not inbound.aborted


def test_slowloris_closed_at_the_message_deadline_however_slowly_it_trickles():
    factory, clock, endpoint, metrics = make_factory()
    protocol, transport = connect(factory)
    for octet in OPTIONS[:60]:
        protocol.dataReceived(bytes([octet]))
        clock.advance(0.3)  # each byte well inside the idle timeout
    assert clock.seconds() < 20 and not transport.disconnecting
    clock.advance(20 - clock.seconds() + 0.01)
    assert transport.aborted
    assert endpoint.received == []
    assert dropped(metrics, "tcp-message-timeout") == 1
    close(protocol, transport)
    assert clock.getDelayedCalls() == []


def test_partial_body_closed_at_the_deadline():
    factory, clock, endpoint, _ = make_factory(message_timeout=5.0)
    protocol, transport = connect(factory)
    protocol.dataReceived(OPTIONS[:-2])  # the header and half the body
    clock.advance(4.9)
    assert not transport.disconnecting
    clock.advance(0.2)
    assert transport.aborted and endpoint.received == []


def test_whole_messages_arm_no_deadline_and_a_completed_one_clears_it():
    factory, clock, endpoint, _ = make_factory(message_timeout=5.0)
    protocol, transport = connect(factory)
    protocol.dataReceived(OPTIONS)
    assert [d for d in clock.getDelayedCalls() if d.func == protocol._message_timed_out] == []
    protocol.dataReceived(OPTIONS[:10])
    clock.advance(4.0)
    protocol.dataReceived(OPTIONS[10:])
    clock.advance(4.0)  # past the first deadline: it was cancelled
    assert not transport.disconnecting
    assert len(endpoint.received) == 2


def test_the_next_message_gets_its_own_deadline():
    factory, clock, endpoint, _ = make_factory(message_timeout=5.0)
    protocol, transport = connect(factory)
    protocol.dataReceived(OPTIONS[:10])
    clock.advance(4.0)
    protocol.dataReceived(OPTIONS[10:] + OPTIONS[:10])  # one ends, the next begins
    clock.advance(4.0)
    assert not transport.disconnecting
    clock.advance(1.1)
    assert transport.aborted
    assert len(endpoint.received) == 1


def test_keepalives_keep_a_connection_open_and_silence_closes_it():
    factory, clock, _, _ = make_factory(idle_timeout=30.0)
    protocol, transport = connect(factory)
    for _ in range(5):
        clock.advance(25)
        protocol.dataReceived(b"\r\n\r\n")
    assert not transport.disconnecting
    assert transport.value() == b"\r\n" * 5
    clock.advance(30.1)
    assert transport.disconnecting
