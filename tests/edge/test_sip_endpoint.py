"""The SIP endpoint with in-memory transports on a Clock: parsing, Via stamping,
retransmission absorption, stateless refusals and transaction timers."""

from pathlib import Path

import pytest
from memory_switch import Switch, authorization

from softswitch.edge.sip.endpoint import LocalAddresses, SipEndpoint
from softswitch.metrics import Metrics
from softswitch.services.ports import LateTransactionUser
from softswitch.sip.message import parse_message
from softswitch.sip.timers import TimerConfig
from softswitch.sip.transaction import TransactionLayer
from softswitch.sip.transport import Peer, response_destination

TORTURE = Path(__file__).resolve().parents[1] / "fixtures" / "torture"
PHONE = Peer("udp", "192.0.2.10", 5062)


class Wire:
    def __init__(self):
        self.sent: list[tuple[bytes, Peer]] = []

    def send(self, data, peer, on_failure=None):
        self.sent.append((data, peer))

    def responses(self):
        # Refusals of requests missing From/To cannot be fully valid themselves.
        return [(parse_message(d, validate=False), p) for d, p in self.sent]


@pytest.fixture
def endpoint():
    switch = Switch({"alice": "secret"})
    layer = TransactionLayer(TimerConfig(), response_destination=response_destination)
    metrics = Metrics()
    core = LateTransactionUser()
    endpoint = SipEndpoint(switch.clock, layer, core, metrics)
    core.bind(switch.dispatcher_on(endpoint))
    wire = Wire()
    endpoint.add_transport("udp", wire)
    endpoint.add_transport("tcp", wire)
    endpoint.switch, endpoint.wire, endpoint.layer, endpoint.metrics = switch, wire, layer, metrics
    return endpoint


def options(branch="z9hG4bKopt1", via="SIP/2.0/UDP 10.0.0.5:5062;rport"):
    return (f"OPTIONS sip:example.com SIP/2.0\r\nVia: {via};branch={branch}\r\n"
            "Max-Forwards: 70\r\nTo: <sip:example.com>\r\nFrom: <sip:a@example.com>;tag=1\r\n"
            "Call-ID: opt@10.0.0.5\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n").encode()


def test_options_answered_to_the_nat_address_with_received_and_rport(endpoint):
    endpoint.message_received(options(), PHONE)
    [(response, peer)] = endpoint.wire.responses()
    assert response.status == 200
    assert peer == PHONE
    assert response.top_via.params["received"] == "192.0.2.10"
    assert response.top_via.params["rport"] == "5062"


def test_without_rport_the_response_still_goes_to_the_source_port(endpoint):
    endpoint.message_received(options(via="SIP/2.0/UDP 10.0.0.5:5070"), PHONE)
    [(response, peer)] = endpoint.wire.responses()
    assert peer == PHONE
    assert response.top_via.params["received"] == "192.0.2.10"


def test_retransmitted_request_gets_the_same_response_and_no_new_work(endpoint):
    endpoint.message_received(options(), PHONE)
    endpoint.message_received(options(), PHONE)
    first, second = endpoint.wire.sent
    assert first == second
    assert endpoint.metrics.sip_requests.labels("OPTIONS")._value.get() == 2
    assert endpoint.metrics.sip_retransmissions_absorbed._value.get() == 1


def test_transactions_end_after_timer_j(endpoint):
    endpoint.message_received(options(), PHONE)
    assert len(endpoint.layer) == 1
    endpoint.switch.clock.advance(32.0)
    assert len(endpoint.layer) == 0


@pytest.mark.parametrize("name, status", [
    ("badinv01.dat", 400), ("insuf.dat", 400), ("badvers.dat", 505), ("clerr.dat", 400),
    ("ncl.dat", 400), ("scalar02.dat", 400), ("quotbal.dat", 400), ("ltgtruri.dat", 400),
    ("lwsruri.dat", 400), ("lwsstart.dat", 400), ("trws.dat", 400), ("escruri.dat", 400),
    ("regbadct.dat", 400), ("badaspec.dat", 400), ("mismatch01.dat", 400),
    ("mismatch02.dat", 501), ("multi01.dat", 400), ("mcl01.dat", 400),
    ("rfc5118/ipv6-bad.dat", 400),
])
def test_malformed_requests_get_their_status_statelessly(endpoint, name, status):
    endpoint.message_received((TORTURE / name).read_bytes(), PHONE)
    responses = endpoint.wire.responses()
    assert [r.status for r, _ in responses] == [status]
    assert responses[0][0].headers.get("Warning").startswith("399 ")
    assert len(endpoint.layer) == 0


def test_a_request_without_via_or_cseq_cannot_be_answered_and_is_dropped(endpoint):
    endpoint.message_received((TORTURE / "test.dat").read_bytes(), PHONE)
    assert endpoint.wire.sent == []


@pytest.mark.parametrize("name", ["scalarlg.dat", "bigcode.dat", "bcast.dat"])
def test_bad_or_stray_responses_are_dropped(endpoint, name):
    endpoint.message_received((TORTURE / name).read_bytes(), PHONE)
    assert endpoint.wire.sent == []


@pytest.mark.parametrize("data", [b"", b"\r\n\r\n", b"\x00", b"\xff" * 100, b"SIP/2.0",
                                  b"INVITE", b"A" * 70000])
def test_garbage_never_raises(endpoint, data):
    endpoint.message_received(data, PHONE)


def test_register_over_the_wire(endpoint):
    switch = endpoint.switch
    raw = switch._register("alice", ("<sip:alice@10.0.0.5:5062>",), 600, "c1", "", "")
    endpoint.message_received(raw.replace("\n", "\r\n").encode(), PHONE)
    [(challenge, _)] = endpoint.wire.responses()
    assert challenge.status == 401
    auth = authorization(challenge.headers.values("WWW-Authenticate")[0], "alice", "secret",
                         "REGISTER", "sip:example.com")
    raw = switch._register("alice", ("<sip:alice@10.0.0.5:5062>",), 600, "c1",
                           f"Authorization: {auth}\n", "")
    endpoint.message_received(raw.replace("\n", "\r\n").encode(), PHONE)
    ok = endpoint.wire.responses()[-1][0]
    assert ok.status == 200
    [binding] = switch.location.lookup("sip:alice@example.com")
    assert binding.received == "udp:192.0.2.10:5062"


def test_our_addresses_are_the_bound_ones_and_our_advertised_names_on_a_bound_port():
    addresses = LocalAddresses("Switch.Example.com")
    addresses.bind("udp", "192.0.2.10", 5060)
    addresses.bind("tcp", "192.0.2.10", 5062)
    addresses.bind("udp", "192.0.2.99", 5999)  # a second bind of a transport: ignored
    assert addresses.is_ours("192.0.2.10", 5060) and addresses.is_ours("192.0.2.10", 5062)
    assert addresses.is_ours("switch.example.com", 5062)
    assert addresses.is_ours("[SWITCH.example.com]", 5060)
    assert not addresses.is_ours("192.0.2.10", 5070)
    assert not addresses.is_ours("192.0.2.99", 5999)
    assert not addresses.is_ours("192.0.2.11", 5060)
    assert addresses.for_peer(Peer("tcp", "203.0.113.5", 5060)) == ("Switch.Example.com", 5062)
