"""UDP sockets behind one epoll descriptor that the reactor reads.

On Linux, with a reactor that watches file descriptors (`IReactorFDSet`: epoll, poll,
select), every relay socket sits behind one `select.epoll` descriptor and the reactor
watches only that one (`SocketGroup`). One reactor wake-up then serves every ready
socket, one `recvfrom` each (the inner epoll is level-triggered, so a socket with more
queued datagrams is served again on the next round). A Twisted `udp.Port` per socket
would cost, per packet, the reactor's dispatch with its logging context and a second
`recvfrom` that ends in EAGAIN — about 4-5 µs on the development machine, more than the
relay's own work.
"""

import socket

from twisted.internet.error import CannotListenError
from twisted.logger import Logger

from .epoll_group import EpollGroup

log = Logger()
MAX_DATAGRAM = 8192


class SocketGroup(EpollGroup):
    """The relay's UDP sockets behind one epoll descriptor that the reactor reads
    (`epoll_group.EpollGroup`), each read with one `recvfrom` per wake-up."""

    log_prefix = "RtpRelay"

    def listen(self, port: int, protocol, interface: str) -> "GroupSocket":
        """Bind `interface`:`port` and deliver its datagrams to `protocol`; raises
        CannotListenError as `listenUDP` does."""
        # An IP literal (never a name to look up); only IPv6's have a colon.
        family = socket.AF_INET6 if ":" in interface else socket.AF_INET
        try:
            socket.inet_pton(family, interface)
        except OSError as exc:
            raise CannotListenError(interface, port, exc) from None
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            sock.bind((interface, port))
        except OSError as exc:
            sock.close()
            raise CannotListenError(interface, port, exc) from None
        received = protocol.datagramReceived
        if family == socket.AF_INET6:
            def received(data, addr, deliver=received):
                deliver(data, addr[:2])
        self._add(sock.fileno(), (sock.recvfrom, received))
        protocol.sendto = sock.sendto
        return GroupSocket(self, sock, port)

    def forget(self, sock: socket.socket) -> None:
        self._remove(sock.fileno())
        sock.close()

    def _read(self, ready: list) -> None:
        receivers = self._members
        for fd, _ in ready:
            entry = receivers.get(fd)
            if entry is None:
                continue
            try:
                data, addr = entry[0](MAX_DATAGRAM)
            except OSError:
                continue  # nothing after all, or an ICMP error reported on the socket
            try:
                entry[1](data, addr)
            except Exception:
                log.failure("RTP relay failed on a datagram from {addr}", addr=addr)


class GroupSocket:
    """What `listenUDP` would have returned, for a socket of a `SocketGroup`."""

    __slots__ = ("_group", "_sock", "_port")

    def __init__(self, group: SocketGroup, sock: socket.socket, port: int):
        self._group = group
        self._sock = sock
        self._port = port

    def stopListening(self) -> None:
        if self._sock is not None:
            self._group.forget(self._sock)
            self._sock = None
