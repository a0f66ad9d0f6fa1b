"""SIP over TCP: framed by Content-Length, connections reused for responses (keyed by
the peer address), closed when idle, capped in number overall and per source address.

A message must arrive whole within `message_timeout` of its first byte (Kamailio's
tcp_msg_read_timeout): a slow sender (slowloris) or a body that never completes is
closed then, whatever it trickles; an idle connection (no bytes, keep-alives included)
is closed after `idle_timeout`."""

from twisted.internet.protocol import ClientFactory, Protocol, ServerFactory
from twisted.logger import Logger
from twisted.protocols.policies import TimeoutMixin

from ...sip.errors import RemoteProtocolError
from ...sip.framing import PONG, StreamFramer
from ...sip.message import Limits
from ...sip.transport import Peer

log = Logger()


class SipStreamProtocol(Protocol, TimeoutMixin):
    ready = True  # may carry messages (TLS: once its handshake is through)

    def __init__(self, factory: "SipStreamFactory"):
        self._factory = factory
        self._framer = StreamFramer(factory.limits)
        self.peer: Peer | None = None
        self.outbound = False  # opened by us: not counted against its address's cap
        self.counted = False  # counted in the factory's per-address table
        self._message_call = None  # the deadline of the message being read


    def connectionMade(self) -> None:
        address = self.transport.getPeer()
        self.peer = Peer(self._factory.transport_name, address.host, address.port)
        refusal = self._factory.register(self)
        if refusal is not None:
            # Debug only: a flood of refused connections must not flood the log too.
            log.debug("refusing connection from {peer}: {why}", peer=str(self.peer),
                      why=refusal)
            self.peer = None  # never registered: connectionLost leaves the tables be
            self.transport.abortConnection()
            return
        self.setTimeout(self._factory.idle_timeout)

    def dataReceived(self, data: bytes) -> None:
        self.resetTimeout()
        framer = self._framer
        try:
            messages = framer.feed(data)
        except RemoteProtocolError as exc:
            # Framing is lost: deliver what came complete before it, then close.
            log.debug("closing TCP connection from {peer}: {error}", peer=str(self.peer),
                      error=str(exc))
            self._factory.metrics.sip_dropped.labels("bad-framing").inc()
            for raw in getattr(exc, "messages", ()):
                self._factory.endpoint.message_received(raw, self.peer)
            self.transport.loseConnection()
            return
        if framer.buffered:
            # A message has begun: its deadline runs from its first byte, so it is
            # armed when the buffer was empty or a message completed in this read.
            if messages or self._message_call is None:
                self._arm_message_deadline()
        elif self._message_call is not None:
            self._message_call.cancel()
            self._message_call = None
        pings = framer.take_pings()
        if pings:
            self.transport.write(PONG * pings)  # RFC 5626 §4.4.1
        for raw in messages:
            self._factory.endpoint.message_received(raw, self.peer)

    def _arm_message_deadline(self) -> None:
        if self._message_call is not None:
            self._message_call.cancel()
        self._message_call = self._factory.clock.callLater(
            self._factory.message_timeout, self._message_timed_out)

    def _message_timed_out(self) -> None:
        self._message_call = None
        log.debug("closing TCP connection from {peer}: message not complete within "
                  "{timeout} s", peer=str(self.peer), timeout=self._factory.message_timeout)
        self._factory.metrics.sip_dropped.labels("tcp-message-timeout").inc()
        self.transport.abortConnection()

    def timeoutConnection(self) -> None:
        log.debug("closing idle TCP connection from {peer}", peer=str(self.peer))
        self.transport.loseConnection()

    def connectionLost(self, reason=None) -> None:
        self.setTimeout(None)
        if self._message_call is not None:
            self._message_call.cancel()
            self._message_call = None
        self._factory.unregister(self)


class SipStreamFactory(ServerFactory):
    """Accepts connections, and opens them when a request must go to a peer over TCP
    with none open yet (gateways, phones registered over TCP after their connection
    dropped). Messages wait in order while the connection is being made."""

    transport_name = "tcp"
    protocol_class = SipStreamProtocol

    def __init__(self, endpoint, metrics, limits: Limits, idle_timeout: float,
                 max_connections: int, clock=None, reactor=None,
                 connect_timeout: float = 5.0, max_per_address: int = 32,
                 message_timeout: float = 20.0):
        self.endpoint = endpoint
        self.metrics = metrics
        self.limits = limits
        self.idle_timeout = idle_timeout
        self.max_connections = max_connections
        self.max_per_address = max_per_address
        self.message_timeout = message_timeout
        self.clock = clock if clock is not None else reactor
        self._connections: dict[tuple[str, int], SipStreamProtocol] = {}
        # Accepted connections per source host; bounded by the connection cap.
        self._per_host: dict[str, int] = {}
        self._pending: dict[tuple[str, int], list] = {}  # (data, on_failure) per peer
        self._clock = clock
        self._reactor = reactor
        self._connect_timeout = connect_timeout

    def buildProtocol(self, addr) -> SipStreamProtocol:
        protocol = self.protocol_class(self)
        protocol.factory = self
        if self._clock is not None:
            protocol.callLater = self._clock.callLater
        return protocol

    def register(self, protocol: SipStreamProtocol) -> str | None:
        """Admit a new connection; the reason it is refused, or None."""
        if len(self._connections) >= self.max_connections:
            self.metrics.sip_dropped.labels("tcp-connection-limit").inc()
            return "connection limit reached"
        host = protocol.peer.host
        if not protocol.outbound:
            count = self._per_host.get(host, 0)
            if count >= self.max_per_address:
                self.metrics.sip_dropped.labels("tcp-address-limit").inc()
                return f"{self.max_per_address} connections from this address already"
            self._per_host[host] = count + 1
            protocol.counted = True
        key = (host, protocol.peer.port)
        self._connections[key] = protocol
        self._count_connections()
        if protocol.ready:
            self.flush(protocol)
        return None

    def flush(self, protocol: SipStreamProtocol) -> None:
        """Write what waited for this connection to be ready."""
        for data, _ in self._pending.pop((protocol.peer.host, protocol.peer.port), ()):
            protocol.transport.write(data)

    def _count_connections(self) -> None:
        self.metrics.tcp_connections.set(len(self._connections))

    def unregister(self, protocol: SipStreamProtocol) -> None:
        if protocol.peer is None:
            return
        host = protocol.peer.host
        key = (host, protocol.peer.port)
        if self._connections.get(key) is protocol:
            del self._connections[key]
        if protocol.counted:
            protocol.counted = False
            count = self._per_host.pop(host, 1) - 1
            if count > 0:
                self._per_host[host] = count
        self._count_connections()

    def connections_from(self, host: str) -> int:
        """Accepted connections open from one source address."""
        return self._per_host.get(host, 0)

    def send(self, data: bytes, peer: Peer, on_failure=None) -> None:
        key = (peer.host, peer.port)
        protocol = self._connections.get(key)
        if protocol is not None and protocol.transport is not None:
            if protocol.ready:
                protocol.transport.write(data)
                return
            # Open, not ready yet (a TLS handshake): written when it is.
            self._pending.setdefault(key, []).append((data, on_failure))
            return
        if key in self._pending:  # being opened
            self._pending[key].append((data, on_failure))
            return
        outbound = None
        if self._reactor is not None and len(self._connections) < self.max_connections:
            outbound = self.outbound_factory(peer, key)
        if outbound is None:
            log.debug("no {transport} connection to {peer}: message dropped",
                      transport=self.transport_name.upper(), peer=str(peer))
            self.metrics.sip_dropped.labels("tcp-connection-gone").inc()
            if on_failure is not None:
                # Later, as a refused connection would be: the sender (a proxy forking
                # to several contacts) is still setting up the branch that failed.
                if self.clock is not None:
                    self.clock.callLater(0, on_failure)
                else:
                    on_failure()
            return
        self._pending[key] = [(data, on_failure)]
        self._reactor.connectTCP(peer.host, peer.port, outbound, timeout=self._connect_timeout)

    def outbound_factory(self, peer: Peer, key: tuple[str, int]):
        """The client factory opening a connection to `peer`, or None (not allowed)."""
        return _Outbound(self, key)

    def connect_failed(self, key: tuple[str, int], reason) -> None:
        log.info("{transport} connection to {host}:{port} failed: {why}",
                 transport=self.transport_name.upper(), host=key[0], port=key[1],
                 why=reason.getErrorMessage())
        self.fail_pending(key)

    def fail_pending(self, key: tuple[str, int]) -> None:
        """The messages waiting for a connection that will not be: their transactions
        fail now (RFC 3261 §17.1.4)."""
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
        protocol = self._parent.buildProtocol(addr)
        protocol.outbound = True
        return protocol

    def clientConnectionFailed(self, connector, reason) -> None:
        self._parent.connect_failed(self._key, reason)
