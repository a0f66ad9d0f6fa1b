"""Transport addressing (RFC 3261 §18): who a message came from, where a response
goes, and the received/rport stamps on the top Via (RFC 3581). Pure: no sockets."""

from dataclasses import dataclass

from .message import Request
from .uri import host_for_socket


@dataclass(frozen=True, slots=True)
class Peer:
    """A remote transport address."""

    transport: str  # "udp", "tcp" or "tls"
    host: str
    port: int

    @property
    def reliable(self) -> bool:
        return self.transport != "udp"

    @property
    def secure(self) -> bool:
        """Whether this hop is TLS: a request received from such a peer came over TLS
        (what SDES keys in its SDP need, RFC 4568 §8.3)."""
        return self.transport == "tls"

    def __str__(self) -> str:
        return f"{self.transport}:{self.host}:{self.port}"


def stamp_via(request: Request, peer: Peer) -> None:
    """RFC 3261 §18.2.1 received and RFC 3581 rport on the top Via.

    A `received` or `rport` the sender wrote itself is overwritten with what the
    packet shows: it must never steer where answers go (reflection)."""
    via = request.top_via
    params = via.params
    has_rport = "rport" in params
    if not has_rport and "received" not in params and host_for_socket(via.host) == peer.host:
        return
    params["received"] = peer.host
    if has_rport:
        params["rport"] = str(peer.port)
    request.headers.replace_first("Via", str(via))


def response_destination(request: Request, peer: Peer) -> Peer:
    """Where responses to `request` go: always the packet's real source.

    On a connection that is the connection (RFC 3261 §18.2.2). Over UDP it is the
    source address and port whatever the Via says, as RFC 3581 rport does (Kamailio's
    force_rport): the Via's sent-by and port are written by the sender, so following
    them would let one forged packet aim our answers at a third party."""
    return peer
