"""Many TCP sockets' reads behind one descriptor of the reactor.

Twisted serves each readable descriptor with its own pass through the reactor's
dispatch (logging context, log prefix, the endpoint's wrapping protocol): per 20 ms
media message of every agent call, that costs more than reading the message. A
`ReadGroup` is one `IReadDescriptor` (an epoll descriptor) for many sockets: one
reactor wake-up serves every socket that is ready, each with one `recv`.

A socket taken over (`take_over`) is no longer read by its Twisted transport; writing
and closing stay the transport's. At end of stream or an error the socket is handed
back (`transport.startReading()`), so Twisted meets the condition itself and runs
`connectionLost` as usual. Nothing raises into the reactor.
"""

from twisted.logger import Logger

from ..twisted_internals import plain_socket
from .epoll_group import EpollGroup

log = Logger()
READ_SIZE = 65536


class ReadGroup(EpollGroup):
    """Members: fd -> (transport, sock.recv, deliver)."""

    log_prefix = "ReadGroup"

    def _read(self, ready: list) -> None:
        readers = self._members
        for fd, _ in ready:
            entry = readers.get(fd)
            if entry is None:
                continue
            try:
                data = entry[1](READ_SIZE)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if not data:  # end of stream or an error: Twisted's to handle
                self._hand_back(fd)
                continue
            try:
                entry[2](data)
            except Exception:
                log.failure("reading a socket of the group failed")

    # -- members ------------------------------------------------------------------------
    def take_over(self, transport, deliver) -> int | None:
        """Read `transport`'s socket here and pass what arrives to deliver(bytes); its
        descriptor (for `release`), or None (nothing changed) for a transport without
        a plain socket (TLS)."""
        sock = plain_socket(transport)
        if sock is None or not transport.connected:
            return None
        fd = sock.fileno()
        if fd < 0 or fd in self._members:
            return None
        transport.stopReading()
        self._add(fd, (transport, sock.recv, deliver))
        return fd

    def release(self, fd: int, transport) -> None:
        """Stop reading `transport`'s socket (descriptor `fd`) here: it is closing."""
        entry = self._members.get(fd)
        if entry is not None and entry[0] is transport:
            self._remove(fd)

    def _hand_back(self, fd: int) -> None:
        transport = self._remove(fd)[0]
        if transport.connected:
            transport.startReading()
