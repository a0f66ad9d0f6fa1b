"""SIP over UDP: one datagram is one message."""

import socket

from twisted.internet.protocol import DatagramProtocol
from twisted.logger import Logger

from ...sip.transport import Peer
from ...sip.uri import host_for_socket
from ..twisted_internals import port_socket

log = Logger()


class SipDatagramProtocol(DatagramProtocol):
    def __init__(self, endpoint, max_message_size: int):
        self._endpoint = endpoint
        self._max_size = max_message_size
        self._sendto = None
        self._family = socket.AF_INET

    def startProtocol(self) -> None:
        # The socket's own sendto: Port.write checks each address with three calls of
        # Twisted's isIPAddress/isIPv6Address (a sixth of a send's cost); `send` checks
        # it with one inet_pton instead.
        sock = port_socket(self.transport)
        if sock is not None:
            self._sendto, self._family = sock.sendto, sock.family

    def stopProtocol(self) -> None:
        self._sendto = None

    def datagramReceived(self, data: bytes, addr) -> None:
        self._endpoint.message_received(data, Peer("udp", addr[0], addr[1]))

    def send(self, data: bytes, peer: Peer) -> None:
        sendto = self._sendto
        if sendto is None:
            return
        host = host_for_socket(peer.host)
        try:
            # Only an IP literal of the socket's family is sent to: a host name would
            # make sendto resolve it, blocking the reactor.
            socket.inet_pton(self._family, host)
            sendto(data, (host, peer.port))
        except OSError as exc:
            # ICMP errors and unroutable destinations surface here on Linux, and an
            # address that is not a literal of the socket's family (IPv6 on IPv4...).
            log.debug("UDP send to {peer} failed: {error}", peer=str(peer), error=exc)
