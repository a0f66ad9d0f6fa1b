"""The one place that reads Twisted's private or undocumented attributes.

The edge needs a few things Twisted has no public API for: the request line's path
before the body is read, whether a request's connection is gone, and whether a
transport still queues bytes (to write straight to the socket on the media hot path).
Each is named here once; tests/edge/test_twisted_internals.py checks them against
real Twisted objects, so an upgrade that renames one fails there, not in production.
"""

from twisted.internet import tcp


def request_line_path(channel) -> bytes:
    """The path of the request line being read on an HTTPChannel: it is kept as
    ``_path`` from the head until requestReceived (after the body); b"" otherwise."""
    return getattr(channel, "_path", None) or b""


def request_disconnected(request) -> bool:
    """Whether an http.Request's connection was lost (``_disconnected``)."""
    return request._disconnected


def port_socket(port):
    """The socket under a listening udp.Port (ISystemHandle), or None."""
    get_handle = getattr(port, "getHandle", None)
    return get_handle() if get_handle is not None else None


def plain_socket(transport):
    """The socket under `transport` if bytes written to it go to the peer as they are
    (plain TCP), else None. A TLS transport (a TLSMemoryBIOProtocol) hands attribute
    reads through to the TCP transport under it, `socket` included: only the type
    tells them apart; a tcp.Connection that started TLS has ``TLS`` set."""
    if not isinstance(transport, tcp.Connection) or getattr(transport, "TLS", False):
        return None
    return transport.getHandle()


def writes_idle(transport) -> bool:
    """Whether a connected FileDescriptor transport queues nothing (``_tempDataBuffer``
    and ``dataBuffer`` empty) and is not closing, so bytes sent on its socket now keep
    their order."""
    return not transport._tempDataBuffer and not transport.dataBuffer \
        and transport.connected and not transport.disconnecting
