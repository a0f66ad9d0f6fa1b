"""SIP over TCP: framed by Content-Length, connections reused for responses (keyed by
the peer address), closed when idle, capped in number."""

from twisted.internet.protocol import ClientFactory, Protocol, ServerFactory
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
    """Accepts connections, and opens them when a request must go to a peer over TCP
    with none open yet (gateways, phones registered over TCP after their connection
    dropped). Messages wait in order while the connection is being made."""

    def __init__(self, endpoint, metrics, limits: Limits, idle_timeout: float,
                 max_connections: int, clock=None, reactor=None,
                 connect_timeout: float = 5.0):
        self.endpoint = endpoint
        self.metrics = metrics
        self.limits = limits
        self.idle_timeout = idle_timeout
        self.max_connections = max_connections
        self._connections: dict[tuple[str, int], SipStreamProtocol] = {}
        self._pending: dict[tuple[str, int], list] = {}  # (data, on_failure) per peer
        self._clock = clock
        self._reactor = reactor
        self._connect_timeout = connect_timeout

    def buildProtocol(self, addr) -> SipStreamProtocol:
        protocol = SipStreamProtocol(self)
        protocol.factory = self
        if self._clock is not None:
            protocol.callLater = self._clock.callLater
        return protocol

    def register(self, protocol: SipStreamProtocol) -> bool:
        if len(self._connections) >= self.max_connections:
            return False
        key = (protocol.peer.host, protocol.peer.port)
        self._connections[key] = protocol
        self.metrics.tcp_connections.set(len(self._connections))
        for data, _ in self._pending.pop(key, ()):
            protocol.transport.write(data)
        return True

    def unregister(self, protocol: SipStreamProtocol) -> None:
        if protocol.peer is None:
            return
        key = (protocol.peer.host, protocol.peer.port)
        if self._connections.get(key) is protocol:
            del self._connections[key]
        self.metrics.tcp_connections.set(len(self._connections))

    def send(self, data: bytes, peer: Peer, on_failure=None) -> None:
        key = (peer.host, peer.port)
        protocol = self._connections.get(key)
        if protocol is not None and protocol.transport is not None:
            protocol.transport.write(data)
            return
        if key in self._pending:
            self._pending[key].append((data, on_failure))
            return
        if self._reactor is None or len(self._connections) >= self.max_connections:
            log.debug("no TCP connection to {peer}: message dropped", peer=str(peer))
            self.metrics.sip_dropped.labels("tcp-connection-gone").inc()
            if on_failure is not None:
                on_failure()
            return
        self._pending[key] = [(data, on_failure)]
        self._reactor.connectTCP(peer.host, peer.port, _Outbound(self, key),
                                 timeout=self._connect_timeout)

    def connect_failed(self, key: tuple[str, int], reason) -> None:
        log.info("TCP connection to {host}:{port} failed: {why}", host=key[0], port=key[1],
                 why=reason.getErrorMessage())
        for _, on_failure in self._pending.pop(key, ()):
            self.metrics.sip_dropped.labels("tcp-connect-failed").inc()
            if on_failure is not None:
                on_failure()

    def close_all(self) -> None:
        self._pending.clear()
        for protocol in list(self._connections.values()):
            protocol.transport.loseConnection()


class _Outbound(ClientFactory):
    """Opens one connection for the stream factory; it then serves both ways."""

    noisy = False

    def __init__(self, parent: SipStreamFactory, key: tuple[str, int]):
        self._parent = parent
        self._key = key

    def buildProtocol(self, addr) -> SipStreamProtocol:
        return self._parent.buildProtocol(addr)

    def clientConnectionFailed(self, connector, reason) -> None:
        self._parent.connect_failed(self._key, reason)
