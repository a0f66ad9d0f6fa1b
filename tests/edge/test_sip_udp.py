"""SIP over UDP sends with the socket's own sendto: exact bytes to the peer, and only
to an IP literal of the socket's family (never a name lookup, nothing raised)."""

import socket

import pytest

from softswitch.edge.sip.udp import SipDatagramProtocol
from softswitch.sip.transport import Peer


class _Port:
    """What listenUDP gives the protocol: a transport with its socket (ISystemHandle)."""

    def __init__(self, sock):
        self._sock = sock

    def getHandle(self):
        return self._sock


@pytest.fixture
def sockets():
    ours = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    ours.bind(("127.0.0.1", 0))
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    peer.bind(("127.0.0.1", 0))
    peer.settimeout(2)
    yield ours, peer
    ours.close()
    peer.close()


def _protocol(sock) -> SipDatagramProtocol:
    protocol = SipDatagramProtocol(endpoint=None, max_message_size=65535)
    protocol.makeConnection(_Port(sock))  # (startProtocol, as listenUDP does)
    return protocol


def test_sends_the_bytes_to_the_peer(sockets):
    ours, peer = sockets
    protocol = _protocol(ours)
    data = b"OPTIONS sip:x@127.0.0.1 SIP/2.0\r\n\r\n"
    protocol.send(data, Peer("udp", "127.0.0.1", peer.getsockname()[1]))
    received, source = peer.recvfrom(65535)
    assert received == data and source == ours.getsockname()


def test_refuses_names_and_the_other_family_without_raising(sockets):
    ours, peer = sockets
    protocol = _protocol(ours)
    port = peer.getsockname()[1]
    protocol.send(b"by name", Peer("udp", "localhost", port))
    protocol.send(b"ipv6", Peer("udp", "::1", port))
    protocol.send(b"bracketed", Peer("udp", "[::1]", port))
    protocol.send(b"literal", Peer("udp", "127.0.0.1", port))
    assert peer.recvfrom(65535)[0] == b"literal"  # the first and only datagram


def test_sends_nothing_once_stopped(sockets):
    ours, peer = sockets
    protocol = _protocol(ours)
    protocol.doStop()
    protocol.send(b"late", Peer("udp", "127.0.0.1", peer.getsockname()[1]))
    peer.settimeout(0.05)
    with pytest.raises(socket.timeout):
        peer.recvfrom(65535)
