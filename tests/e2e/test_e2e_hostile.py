"""Hostile datagrams against the real switch over loopback UDP (issue 12): zero bytes
to any address but the source, the leak packets answered 400 naming their header with
the switch still serving, transaction metrics that move."""

import socket
import uuid

from e2e_sip import UdpClient
from e2e_switch import wait_until

CREATED = "softswitch_sip_transactions_total"
ACTIVE = "softswitch_sip_transactions_active"


def invite(client: UdpClient, via_params: str) -> bytes:
    tag = uuid.uuid4().hex[:10]
    return (f"INVITE sip:+14155550100@127.0.0.1 SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{client.port};branch=z9hG4bK{tag}{via_params}\r\n"
            f"Max-Forwards: 70\r\nTo: <sip:+14155550100@127.0.0.1>\r\n"
            f"From: <sip:x@127.0.0.1>;tag={tag}\r\nCall-ID: {tag}@127.0.0.1\r\n"
            f"CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n").encode()


def test_an_invite_whose_via_names_a_third_address_reaches_only_its_source(switch):
    """The report's case: one INVITE with received= naming a third socket made the
    switch send it 12 packets. Now the source gets the one 407 and the third socket
    nothing, over the time Timer G would have run (and the 407 is not repeated)."""
    third = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    third.bind(("127.0.0.2", 0))
    third_port = third.getsockname()[1]
    try:
        with UdpClient(switch.sip_port) as client:
            data = invite(client, f";received=127.0.0.2;rport={third_port}")
            answer = client.exchange(data)
            assert answer is not None, f"the source got nothing\n{switch.output()}"
            assert answer.status == 407, answer.text
            assert client.receive(timeout=2.5) is None  # no Timer G copies either
        third.settimeout(0.5)
        try:
            data, sender = third.recvfrom(65535)
        except socket.timeout:
            data = None
        assert data is None, f"the third address received {data!r}"
    finally:
        third.close()


LEAKS = [
    (b"Require: ,\r\n", "Require"),
    (b"Proxy-Require: foo,,bar\r\n", "Proxy-Require"),
    (b'Require: foo, "bar\r\n', "Require"),
]


def options(client: UdpClient, extra: bytes) -> bytes:
    tag = uuid.uuid4().hex[:10]
    return (f"OPTIONS sip:127.0.0.1 SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{client.port};branch=z9hG4bK{tag};rport\r\n"
            f"Max-Forwards: 70\r\nTo: <sip:127.0.0.1>\r\nFrom: <sip:x@127.0.0.1>;tag={tag}\r\n"
            f"Call-ID: {tag}@127.0.0.1\r\nCSeq: 1 OPTIONS\r\n").encode() + extra + \
        b"Content-Length: 0\r\n\r\n"


def test_the_leak_packets_are_answered_and_counted_and_the_switch_keeps_serving(switch):
    created = switch.metric(CREATED, kind="server_non_invite")
    with UdpClient(switch.sip_port) as client:
        for extra, header in LEAKS * 20:
            answer = client.exchange(options(client, extra))
            assert answer is not None, f"no answer\n{switch.output()}"
            assert answer.status == 400, answer.text
            assert answer.header("Warning").startswith(f'399 softswitch "{header}: ')
        ok = client.exchange(options(client, b""))
        assert ok is not None and ok.status == 200
    assert switch.metric(CREATED, kind="server_non_invite") >= created + 61
    assert switch.metric(ACTIVE) >= 1  # they wait out Timer J, then go
    assert "Traceback" not in switch.output()
    wait_until(lambda: switch.health()["status"] == "ok", 2.0)
