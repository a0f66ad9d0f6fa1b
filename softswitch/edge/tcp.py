"""SIP over TCP: framed by Content-Length, connections reused for responses (keyed by
the peer address), closed when idle, capped in number."""

from twisted.internet.protocol import Protocol, ServerFactory
from twisted.logger import Logger
from twisted.protocols.policies import TimeoutMixin

from ..sip.errors import RemoteProtocolError
from ..sip.framing import PONG, StreamFramer
from ..sip.message import Limits
from ..sip.transport import Peer

log = Logger()


class SipStreamProtocol(Protocol, TimeoutMixin):
    def __init__(self, factory: "SipStreamFactory"):
        self._factory = factory
        self._framer = StreamFramer(factory.limits)
        self.peer: Peer | None = None

    def connectionMade(self) -> None:
        address = self.transport.getPeer()
        self.peer = Peer("tcp", address.host, address.port)
        if not self._factory.register(self):
            log.warn("refusing TCP connection from {peer}: connection limit reached",
                     peer=str(self.peer))
            self.transport.abortConnection()
            return
        self.setTimeout(self._factory.idle_timeout)

    def dataReceived(self, data: bytes) -> None:
        self.resetTimeout()
        try:
            messages = self._framer.feed(data)
        except RemoteProtocolError as exc:
            # Framing is lost: deliver what came complete before it, then close.
            log.debug("closing TCP connection from {peer}: {error}", peer=str(self.peer),
                      error=str(exc))
            self._factory.metrics.sip_dropped.labels("bad-framing").inc()
            for raw in getattr(exc, "messages", ()):
                self._factory.endpoint.message_received(raw, self.peer)
            self.transport.loseConnection()
            return
        pings = self._framer.take_pings()
        if pings:
            self.transport.write(PONG * pings)  # RFC 5626 §4.4.1
        for raw in messages:
            self._factory.endpoint.message_received(raw, self.peer)

    def timeoutConnection(self) -> None:
        log.debug("closing idle TCP connection from {peer}", peer=str(self.peer))
        self.transport.loseConnection()

    def connectionLost(self, reason=None) -> None:
        self.setTimeout(None)
        self._factory.unregister(self)


class SipStreamFactory(ServerFactory):
    def __init__(self, endpoint, metrics, limits: Limits, idle_timeout: float,
                 max_connections: int, clock=None):
        self.endpoint = endpoint
        self.metrics = metrics
        self.limits = limits
        self.idle_timeout = idle_timeout
        self.max_connections = max_connections
        self._connections: dict[tuple[str, int], SipStreamProtocol] = {}
        self._clock = clock

    def buildProtocol(self, addr) -> SipStreamProtocol:
        protocol = SipStreamProtocol(self)
        protocol.factory = self
        if self._clock is not None:
            protocol.callLater = self._clock.callLater
        return protocol

    def register(self, protocol: SipStreamProtocol) -> bool:
        if len(self._connections) >= self.max_connections:
            return False
        self._connections[(protocol.peer.host, protocol.peer.port)] = protocol
        self.metrics.tcp_connections.set(len(self._connections))
        return True

    def unregister(self, protocol: SipStreamProtocol) -> None:
        if protocol.peer is None:
            return
        key = (protocol.peer.host, protocol.peer.port)
        if self._connections.get(key) is protocol:
            del self._connections[key]
        self.metrics.tcp_connections.set(len(self._connections))

    def send(self, data: bytes, peer: Peer) -> None:
        protocol = self._connections.get((peer.host, peer.port))
        if protocol is None or protocol.transport is None:
            log.debug("no open TCP connection to {peer}; response dropped", peer=str(peer))
            self.metrics.sip_dropped.labels("tcp-connection-gone").inc()
            return
        protocol.transport.write(data)

    def close_all(self) -> None:
        for protocol in list(self._connections.values()):
            protocol.transport.loseConnection()
