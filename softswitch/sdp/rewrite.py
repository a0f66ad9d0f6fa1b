"""Rewrites a media relay applies to the SDP it passes on.

`rewrite_for_relay` points every active stream at the relay: the connection address
(session and media level), the m= port, ``a=rtcp`` when the relay's RTCP port is not
port+1 or the offer already had one, and (for topology hiding) the o= address. An
unspecified connection address (0.0.0.0 or ::, the RFC 2543 hold) is kept as it is.

`OriginVersioner` keeps the o= line one side receives consistent across the offers
and answers of a dialog (RFC 3264 §8): the identity of the first, a version that is
bumped by one exactly when the rest of the body changed.
"""

from collections.abc import Sequence
from dataclasses import replace

from .model import MediaDescription, SessionDescription
from .values import Connection, RtcpAttribute


def replace_connection_address(sdp: SessionDescription, address: str) -> SessionDescription:
    """A copy of `sdp` whose session- and media-level c= lines (unless unspecified)
    carry `address`."""
    out = sdp.copy()
    relay = Connection.for_address(address)
    _replace_connection(out, relay)
    for media in out.media:
        _replace_connection(media, relay)
    return out


def _replace_connection(section, relay: Connection) -> None:
    current = section.connection
    if current is not None and not current.is_unspecified:
        section.connection = relay


def set_stream_ports(media: MediaDescription, rtp_port: int, rtcp_port: int,
                     address: str | None = None) -> None:
    """Set a stream's m= port; write ``a=rtcp:<rtcp_port>`` when the stream already had
    an a=rtcp line (its old value would leak) or RTCP is not on rtp_port + 1. The new
    attribute names `address` where the old one named an address."""
    media.port = rtp_port
    existing = media.rtcp
    if existing is None and rtcp_port == rtp_port + 1:
        return
    connection = None
    if address is not None and existing is not None and existing.connection is not None:
        connection = Connection.for_address(address)
    media.rtcp = RtcpAttribute(rtcp_port, connection)


def rewrite_for_relay(sdp: SessionDescription, address: str,
                      ports: Sequence[tuple[int, int] | None],
                      replace_origin: bool = True) -> SessionDescription:
    """A copy of `sdp` pointing at the relay at `address`.

    `ports[i]` is the relay's (rtp, rtcp) port pair for m= line i, or None to leave that
    stream alone; a rejected stream (port 0) is never given a port.
    """
    if len(ports) != len(sdp.media):
        raise ValueError(f"{len(ports)} port pairs for {len(sdp.media)} m= lines")
    out = sdp.copy()
    relay = Connection.for_address(address)
    _replace_connection(out, relay)
    for media, pair in zip(out.media, ports):
        if pair is None or media.port == 0:
            continue
        _replace_connection(media, relay)
        set_stream_ports(media, pair[0], pair[1], relay.address)
    if replace_origin:
        out.origin = replace(out.origin, addrtype=relay.addrtype, address=relay.address)
    return out


def _body_without_origin(sdp: SessionDescription) -> str:
    return "".join(str(line) for line in sdp.lines if line.kind != "o") + \
        "".join(map(str, sdp.media))


class OriginVersioner:
    """The o= line of the SDP sent to one side, kept as RFC 3264 §8 wants it."""

    __slots__ = ("_origin", "_body")

    def __init__(self):
        self._origin = None
        self._body = None

    def stamp(self, sdp: SessionDescription) -> SessionDescription:
        """A copy of `sdp` with the o= line this side must see."""
        out = sdp.copy()
        body = _body_without_origin(out)
        if self._origin is None:
            origin = out.origin
        elif body == self._body:
            origin = self._origin
        else:
            origin = replace(self._origin, version=self._origin.version + 1)
        out.origin = origin
        self._origin, self._body = origin, body
        return out
