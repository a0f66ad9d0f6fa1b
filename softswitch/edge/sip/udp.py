"""SIP over UDP: one datagram is one message."""

from twisted.internet.error import InvalidAddressError
from twisted.internet.protocol import DatagramProtocol
from twisted.logger import Logger

from ...sip.transport import Peer
from ...sip.uri import host_for_socket

log = Logger()


class SipDatagramProtocol(DatagramProtocol):
    def __init__(self, endpoint, max_message_size: int):
        self._endpoint = endpoint
        self._max_size = max_message_size

    def datagramReceived(self, data: bytes, addr) -> None:
        self._endpoint.message_received(data, Peer("udp", addr[0], addr[1]))

    def send(self, data: bytes, peer: Peer) -> None:
        if self.transport is None:
            return
        try:
            self.transport.write(data, (host_for_socket(peer.host), peer.port))
        except (OSError, InvalidAddressError) as exc:
            # ICMP errors and unroutable destinations surface here on Linux; an IPv6
            # address on an IPv4 socket (or the reverse) is refused by Twisted.
            log.debug("UDP send to {peer} failed: {error}", peer=str(peer), error=exc)
