"""Listening sockets for SIP: bound in privilegedStartService so a port in use stops
start-up with one clear line."""

import socket

from twisted.application.service import Service
from twisted.internet.defer import gatherResults, maybeDeferred, succeed
from twisted.internet.error import CannotListenError
from twisted.logger import Logger

from ...config import ListenSpec
from .tcp import SipStreamFactory
from .udp import SipDatagramProtocol

log = Logger()


UDP_RECEIVE_BUFFER = 4 * 1024 * 1024  # bursts of thousands of datagrams must not drop


def _enlarge_receive_buffer(port) -> None:
    """Ask for a large receive buffer (SO_RCVBUFFORCE passes rmem_max when allowed)."""
    sock = port.getHandle()
    for option in (getattr(socket, "SO_RCVBUFFORCE", None), socket.SO_RCVBUF):
        if option is None:
            continue
        try:
            sock.setsockopt(socket.SOL_SOCKET, option, UDP_RECEIVE_BUFFER)
            return
        except OSError:
            continue


class StartupError(Exception):
    """Start-up cannot go on; str() is one line naming the cause."""


class SipListeners(Service):
    def __init__(self, reactor, endpoint, specs: list[ListenSpec], stream_factory: SipStreamFactory,
                 max_message_size: int, tls_factory=None):
        self._reactor = reactor
        self._endpoint = endpoint
        self._specs = specs
        self._stream_factory = stream_factory
        self._tls_factory = tls_factory  # edge.sip.tls.SipTlsFactory
        self._max_message_size = max_message_size
        self._ports = []
        self.bound: list[tuple[str, str, int]] = []

    def privilegedStartService(self) -> None:
        super().privilegedStartService()
        for spec in self._specs:
            try:
                port = self._listen(spec)
            except CannotListenError as exc:
                self._close_ports()
                raise StartupError(f"cannot listen for SIP on {spec.transport}:"
                                   f"{spec.host}:{spec.port}: {exc.socketError}") from None
            self._ports.append(port)
            address = port.getHost()
            self.bound.append((spec.transport, address.host, address.port))
            log.info("SIP listening on {transport}:{host}:{port}", transport=spec.transport,
                     host=address.host, port=address.port)
        if self._tls_factory is not None:
            self._endpoint.add_sender("tls", self._tls_factory)

    def _listen(self, spec: ListenSpec):
        if spec.transport == "udp":
            protocol = SipDatagramProtocol(self._endpoint, self._max_message_size)
            port = self._reactor.listenUDP(spec.port, protocol, interface=spec.host,
                                           maxPacketSize=self._max_message_size)
            _enlarge_receive_buffer(port)
            transport = protocol
        elif spec.transport == "tls":
            port = self._reactor.listenTCP(spec.port, self._tls_factory.server_factory(),
                                           interface=spec.host, backlog=1024)
            transport = self._tls_factory
        else:
            port = self._reactor.listenTCP(spec.port, self._stream_factory, interface=spec.host,
                                           backlog=1024)
            transport = self._stream_factory
        bound = port.getHost()
        self._endpoint.add_transport(spec.transport, transport, bound.host, bound.port)
        return port

    def stopService(self):
        if not self.running:
            return succeed(None)
        super().stopService()
        self._stream_factory.close_all()
        if self._tls_factory is not None:
            self._tls_factory.close_all()
        self._endpoint.stop()
        return self._close_ports()

    def _close_ports(self):
        ports, self._ports = self._ports, []
        return gatherResults([maybeDeferred(p.stopListening) for p in ports])
