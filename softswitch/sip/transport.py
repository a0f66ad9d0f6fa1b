"""Transport addressing (RFC 3261 §18): who a message came from, where a response
goes, and the received/rport stamps on the top Via (RFC 3581). Pure: no sockets."""

from dataclasses import dataclass

from .message import Request
from .uri import host_for_socket


@dataclass(frozen=True, slots=True)
class Peer:
    """A remote transport address."""

    transport: str  # "udp" or "tcp"
    host: str
    port: int

    @property
    def reliable(self) -> bool:
        return self.transport != "udp"

    def __str__(self) -> str:
        return f"{self.transport}:{self.host}:{self.port}"


def stamp_via(request: Request, peer: Peer) -> None:
    """RFC 3261 §18.2.1 received and RFC 3581 rport on the top Via."""
    via = request.top_via
    wants_rport = "rport" in via.params and via.params["rport"] is None
    if host_for_socket(via.host) == peer.host and not wants_rport:
        return
    via.params["received"] = peer.host
    if wants_rport:
        via.params["rport"] = str(peer.port)
    request.headers.replace_first("Via", str(via))


def response_destination(request: Request, peer: Peer) -> Peer:
    """Where responses to `request` go (RFC 3261 §18.2.2, RFC 3581 §4): back on the
    connection for TCP; for UDP to received (or sent-by) and rport (or the port)."""
    if peer.reliable:
        return peer
    via = request.top_via
    host = via.params.get("received") or host_for_socket(via.host)
    rport = via.params.get("rport")
    port = int(rport) if rport else (via.port or 5060)
    if host == peer.host and port == peer.port:
        return peer
    return Peer(peer.transport, host, port)
