"""Nothing raises past a message (issue 12): the exact packets that leaked a server
transaction and a traceback each are answered once and their transactions freed; a
failing event costs only itself, in a timer run too; failures are logged once per
source and kind; the transaction metrics are real."""

import pytest
from hostile_switch import hostile_switch
from twisted.logger import globalLogPublisher

from softswitch.edge.sip.failure_log import FailureLog
from softswitch.sip.message import parse_message
from softswitch.sip.transaction import new_branch
from softswitch.sip.transport import Peer

ATTACKER = Peer("udp", "192.0.2.66", 5060)


def packet(method="OPTIONS", extra="", via=None, branch="z9hG4bKleak1", call_id="leak@x"):
    via = f"SIP/2.0/UDP 192.0.2.66:5060;branch={branch}" if via is None else via
    return (f"{method} sip:example.com SIP/2.0\r\nVia: {via}\r\nMax-Forwards: 70\r\n"
            f"To: <sip:example.com>\r\nFrom: <sip:a@example.com>;tag=1\r\n"
            f"Call-ID: {call_id}\r\nCSeq: 1 {method}\r\n{extra}Content-Length: 0\r\n\r\n"
            ).encode()


# The bytes of issue 12: each raised out of the dispatcher, left its server
# transaction alive forever and logged a 1.2 KB traceback.
LEAKS = {
    "empty-require": (packet(extra="Require: ,\r\n"), "Require"),
    "empty-proxy-require": (packet(extra="Proxy-Require: foo,,bar\r\n"), "Proxy-Require"),
    "invite-proxy-require": (packet("INVITE", extra="Proxy-Require: foo,,bar\r\n"),
                             "Proxy-Require"),
    "unterminated-quote": (packet(extra='Require: foo, "bar\r\n'), "Require"),
    "invite-unterminated-quote": (packet("INVITE", extra='Proxy-Require: foo, "bar\r\n'),
                                  "Proxy-Require"),
}


class Errors:
    """Log events that carry a failure (a traceback) or are errors/warnings."""

    def __init__(self):
        self.events = []

    def __call__(self, event):
        if "log_failure" in event or event.get("log_level").name in ("warn", "error",
                                                                    "critical"):
            self.events.append(event)

    def tracebacks(self):
        return [e for e in self.events if "log_failure" in e]


@pytest.fixture
def errors():
    observer = Errors()
    globalLogPublisher.addObserver(observer)
    yield observer
    globalLogPublisher.removeObserver(observer)


@pytest.fixture
def switch():
    return hostile_switch()


def answers(switch):
    out = [(parse_message(d, validate=False), p) for d, p in switch.raw]
    switch.raw.clear()
    return out


@pytest.mark.parametrize("name", sorted(LEAKS))
def test_a_leak_packet_is_answered_400_naming_the_header_and_its_transaction_freed(
        switch, errors, name):
    data, header = LEAKS[name]
    switch.endpoint.message_received(data, ATTACKER)
    [(response, peer)] = answers(switch)
    assert response.status == 400 and peer == ATTACKER
    assert response.headers.get("Warning").startswith(f'399 softswitch "{header}: ')
    assert errors.tracebacks() == []
    switch.clock.advance(64)
    assert len(switch.layer) == 0


def test_a_retransmitted_leak_packet_gets_the_same_answer_from_its_transaction(switch):
    data, _ = LEAKS["empty-require"]
    switch.endpoint.message_received(data, ATTACKER)
    switch.endpoint.message_received(data, ATTACKER)
    first, second = answers(switch)
    assert first == second or first[0].to_bytes() == second[0].to_bytes()
    assert len(switch.layer) == 1
    switch.clock.advance(32)
    assert len(switch.layer) == 0


def test_an_empty_first_via_line_is_answered_at_the_source(switch, errors):
    data = packet(via="").replace(
        b"Via: \r\n", b"Via:\r\nVia: SIP/2.0/UDP 198.51.100.9:5060;branch=z9hG4bKv2\r\n")
    switch.endpoint.message_received(data, ATTACKER)
    [(response, peer)] = answers(switch)
    assert response.status == 400 and peer == ATTACKER
    assert "empty Via" in response.headers.get("Warning")
    assert errors.tracebacks() == [] and len(switch.layer) == 0


@pytest.mark.parametrize("received", ["2001:db8::1", "[2001:db8::1]", "203.0.113.99"])
def test_a_received_written_by_the_client_is_overwritten_and_ignored(switch, received):
    via = f"SIP/2.0/UDP 192.0.2.66:5060;received={received};rport=7777;branch=z9hG4bKr"
    switch.endpoint.message_received(packet("INVITE", via=via), ATTACKER)
    switch.clock.advance(64)
    sent = answers(switch)
    assert sent and {peer for _, peer in sent} == {ATTACKER}
    response = sent[0][0]
    assert response.top_via.params["received"] == "192.0.2.66"
    assert response.top_via.params["rport"] == "5060"


def test_an_ipv6_source_is_answered_at_its_own_address(switch):
    peer = Peer("udp", "2001:db8::66", 5070)
    via = "SIP/2.0/UDP [2001:db8::66]:5070;received=198.51.100.1;branch=z9hG4bK6"
    switch.endpoint.message_received(packet(via=via), peer)
    [(response, to)] = answers(switch)
    assert response.status == 200 and to == peer
    assert response.top_via.params["received"] == "2001:db8::66"


class Handler:
    def __init__(self, log, name, fail=False):
        self.log, self.name, self.fail = log, name, fail

    def response_received(self, key, response):
        self.log.append((self.name, response.status))

    def timed_out(self, key):
        self.log.append((self.name, "timeout"))
        if self.fail:
            raise RuntimeError("a handler bug")

    def transport_failed(self, key):
        self.log.append((self.name, "transport"))


def options_to(peer, call_id):
    return parse_message(packet(via=f"SIP/2.0/UDP 127.0.0.1:5060;branch={new_branch()}",
                                call_id=call_id))


def test_a_failing_event_in_a_timer_run_does_not_lose_the_others(switch, errors):
    """Two client transactions time out in the same timer run; the first user raises
    and the second still hears its timeout (issue 12: a caller's events were lost)."""
    log = []
    gateway = Peer("udp", "203.0.113.1", 5060)
    for name, fail in (("first", True), ("second", False)):
        switch.endpoint.send_request(options_to(gateway, name), gateway,
                                     Handler(log, name, fail))
    switch.clock.advance(0)
    switch.clock.advance(32)  # Timer F of both
    assert log == [("first", "timeout"), ("second", "timeout")]
    assert errors.tracebacks() == []
    assert len(errors.events) == 1  # one rate-limited line
    assert len(switch.layer) == 0


def test_a_send_that_raises_in_a_timer_run_costs_only_its_own_transaction(switch):
    """A destination the socket refuses (an IPv6 address on an IPv4 socket raises in
    Twisted) fails that transaction; the other's retransmissions still go out."""
    log = []
    bad, good = Peer("udp", "2001:db8::9", 5060), Peer("udp", "203.0.113.1", 5060)
    sent = []

    def send(data, peer, on_failure=None):
        if ":" in peer.host:
            raise ValueError("IPv6 port write() called with IPv4 address")
        sent.append(peer)

    switch.wire.send = send
    switch.endpoint.send_request(options_to(bad, "bad"), bad, Handler(log, "bad"))
    switch.endpoint.send_request(options_to(good, "good"), good, Handler(log, "good"))
    assert log == [("bad", "transport")]
    switch.clock.advance(0.5)
    switch.clock.advance(1.0)
    assert sent == [good] * 3  # initial, E at 0.5 and 1.5
    assert len(switch.layer) == 1


def test_failures_are_logged_once_per_source_and_kind(switch, errors):
    data, _ = LEAKS["empty-require"]
    for n in range(1000):
        switch.endpoint.message_received(data.replace(b"leak1", b"leak1-%d" % n), ATTACKER)
    assert len(answers(switch)) == 1000
    assert errors.tracebacks() == []
    assert len(errors.events) == 1
    other = Peer("udp", "192.0.2.67", 5060)
    switch.endpoint.message_received(data, other)
    assert len(errors.events) == 2
    switch.clock.advance(61)
    switch.endpoint.message_received(data.replace(b"leak1", b"later"), ATTACKER)
    assert len(errors.events) == 3
    assert "999 more since the last line" in errors.events[-1]["repeats"]


def test_the_failure_log_table_is_bounded_and_swept_on_its_clock():
    failures = FailureLog(interval=60, max_keys=4)
    for n in range(10):
        failures.failed(0.0, f"192.0.2.{n}", "KeyError@x.py:1", "message", "boom")
    assert len(failures) == 4 and failures.suppressed == 6
    assert failures.failed(61.0, "192.0.2.200", "KeyError@x.py:1", "message", "boom")
    assert len(failures) == 1


def test_transaction_metrics_follow_the_layer(switch):
    metrics = switch.endpoint._metrics
    switch.endpoint.message_received(LEAKS["empty-require"][0], ATTACKER)
    switch.endpoint.message_received(packet(branch="z9hG4bKok"), ATTACKER)
    created = metrics.transactions_created.labels("server_non_invite")._value.get()
    assert created == 2
    active = metrics.registry.get_sample_value("softswitch_sip_transactions_active")
    assert active == 2 == len(switch.layer)
    switch.clock.advance(32)
    assert metrics.registry.get_sample_value("softswitch_sip_transactions_active") == 0


def test_an_unexpected_error_in_the_tu_is_answered_500_and_freed(switch, errors,
                                                                 monkeypatch):
    def broken(*args):
        raise KeyError("a service bug")

    monkeypatch.setattr(switch.proxy, "initial_invite", broken)
    invite = packet("INVITE").replace(b"sip:example.com SIP", b"sip:+14155550100@127.0.0.1 SIP")
    switch.endpoint.message_received(invite, ATTACKER)
    [(response, peer)] = answers(switch)
    assert response.status == 500 and peer == ATTACKER
    assert errors.tracebacks() == []
    switch.clock.advance(64)
    assert len(switch.layer) == 0


def test_a_call_whose_start_raises_is_answered_500_and_leaves_no_call(switch, monkeypatch):
    from hostile_switch import CARRIER

    from softswitch.services.proxy_call import ProxyCall

    def broken(self):
        raise ValueError("a routing bug")

    monkeypatch.setattr(ProxyCall, "start", broken)
    invite = packet("INVITE", via="SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bKc1").replace(
        b"INVITE sip:example.com SIP", b"INVITE sip:4155550100@127.0.0.1 SIP")
    switch.endpoint.message_received(invite, CARRIER)
    statuses = [r.status for r, _ in answers(switch)]
    assert statuses == [100, 500]
    assert len(switch.proxy) == 0
    switch.clock.advance(64)
    assert len(switch.layer) == 0
