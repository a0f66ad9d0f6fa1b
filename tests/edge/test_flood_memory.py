"""100,000 of issue 12's leak packets leave nothing behind: no transaction, no timer,
a bounded failure table, the same number of live objects (issue 12: 2 x 60,000 of
them took the switch from 111 MB to 652 MB, never returned). bench/bench_leak_rss.py
measures the RSS of the same flood over real UDP."""

import gc

from hostile_switch import hostile_switch

from softswitch.edge.sip.failure_log import MAX_KEYS
from softswitch.sip.transport import Peer

PACKETS = 100_000
WARM_UP = 10_000


def leak_packet(n: int) -> bytes:
    """One of the five packets of the report, each with its own transaction."""
    kind = n % 5
    via = f"SIP/2.0/UDP 192.0.2.66:5060;branch=z9hG4bK{n}"
    extra = ""
    if kind == 0:
        extra = "Require: ,\r\n"
    elif kind == 1:
        extra = "Proxy-Require: foo,,bar\r\n"
    elif kind == 2:
        extra = 'Require: foo, "bar\r\n'
    elif kind == 3:
        via += ";received=2001:db8::1"
    data = (f"OPTIONS sip:example.com SIP/2.0\r\nVia: {via}\r\nMax-Forwards: 70\r\n"
            f"To: <sip:example.com>\r\nFrom: <sip:a@example.com>;tag=1\r\n"
            f"Call-ID: leak{n}@x\r\nCSeq: 1 OPTIONS\r\n{extra}Content-Length: 0\r\n\r\n"
            ).encode()
    if kind == 4:
        data = data.replace(b"Via: ", b"Via:\r\nVia: ")
    return data


def live_objects(switch) -> int:
    for _ in range(40):  # Timer J (32 s) of the last packets
        switch.clock.advance(1)
    gc.collect()
    return len(gc.get_objects())


def test_a_flood_of_leak_packets_leaves_no_state_behind():
    switch = hostile_switch()
    endpoint, layer = switch.endpoint, switch.layer
    answered = 0
    peak = 0
    baseline = None
    for n in range(PACKETS):
        endpoint.message_received(leak_packet(n), Peer("udp", f"192.0.2.{n % 250}", 5060))
        answered += len(switch.raw)
        switch.raw.clear()
        if n % 1000 == 999:
            peak = max(peak, len(layer))
            switch.clock.advance(1)  # 1,000 packets a second: ~32,000 in Timer J
        if n == WARM_UP:
            baseline = live_objects(switch)
    assert answered == PACKETS  # every packet got its one answer
    assert peak <= 33_000  # only what Timer J holds
    after = live_objects(switch)
    assert len(layer) == 0 and len(layer._timers) == 0
    assert len(endpoint.failures) <= MAX_KEYS
    assert after - baseline < 2_000, (baseline, after)
