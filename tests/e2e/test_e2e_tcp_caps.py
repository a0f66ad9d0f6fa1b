"""The running switch against real TCP sockets: one address gets at most its share of
connections, a slowloris sender and a body that never completes are closed by the
message deadline, and a well-behaved client is still answered."""

import socket
import time

import pytest

from e2e_switch import wait_until

PER_ADDRESS = 4
MESSAGE_TIMEOUT = 1.0

OPTIONS = (b"OPTIONS sip:%s SIP/2.0\r\n"
           b"Via: SIP/2.0/TCP 127.0.0.1:5999;branch=z9hG4bK-%s\r\n"
           b"From: <sip:probe@e2e.test>;tag=1\r\nTo: <sip:%s>\r\n"
           b"Call-ID: tcp-caps-%s\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
           b"Content-Length: 0\r\n\r\n")


@pytest.fixture
def capped(make_switch):
    return make_switch(sip={"tcp_max_connections_per_address": PER_ADDRESS,
                            "tcp_message_timeout": MESSAGE_TIMEOUT})


def _connect(switch) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", switch.sip_port), timeout=5)
    sock.settimeout(5)
    return sock


def _closed_by_peer(sock: socket.socket, timeout: float) -> bool:
    """True when the switch closes (or resets) the connection within `timeout`."""
    sock.settimeout(timeout)
    try:
        while True:
            if sock.recv(4096) == b"":
                return True
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def _options(switch, tag: str) -> bytes:
    target = switch.sip_target.encode()
    return OPTIONS % (target, tag.encode(), target, tag.encode())


def test_one_address_cannot_take_more_than_its_share(capped):
    # Connections of earlier tests count towards the address's share until closed.
    wait_until(lambda: capped.metric("softswitch_sip_tcp_connections") == 0, 10)
    held = [_connect(capped) for _ in range(PER_ADDRESS)]
    try:
        wait_until(lambda: capped.metric("softswitch_sip_tcp_connections") == PER_ADDRESS, 5)
        extra = _connect(capped)
        assert _closed_by_peer(extra, 2.0)
        extra.close()
        assert capped.metric("softswitch_sip_messages_dropped_total",
                             reason="tcp-address-limit") >= 1
        # The connections admitted still carry requests.
        held[0].sendall(_options(capped, "held"))
        assert held[0].recv(4096).startswith(b"SIP/2.0 ")
    finally:
        for sock in held:
            sock.close()


def test_slowloris_and_partial_body_closed_by_the_deadline(capped):
    slow = _connect(capped)
    partial = _connect(capped)
    request = _options(capped, "slow")
    body = request.replace(b"Content-Length: 0", b"Content-Length: 100") + b"only part"
    partial.sendall(body)
    started = time.monotonic()
    closed = False
    # One byte every 0.2 s: never idle, never done.
    for octet in request[:40]:
        try:
            slow.send(bytes([octet]))
        except OSError:
            closed = True
            break
        time.sleep(0.2)
        if time.monotonic() - started > MESSAGE_TIMEOUT + 3:
            break
    closed = closed or _closed_by_peer(slow, 1.0)
    elapsed = time.monotonic() - started
    assert closed, "the slow sender was still connected"
    assert elapsed < MESSAGE_TIMEOUT + 3
    assert _closed_by_peer(partial, 1.0)
    slow.close()
    partial.close()
    assert capped.metric("softswitch_sip_messages_dropped_total",
                         reason="tcp-message-timeout") == 2
    # A well-behaved client is served after all that.
    good = _connect(capped)
    good.sendall(_options(capped, "good"))
    assert good.recv(4096).startswith(b"SIP/2.0 ")
    good.close()
