"""SIP over TLS (RFC 3261 §26.2, RFC 5630): TCP framing, caps and deadlines with a
TLS layer from Twisted (pyOpenSSL, service-identity) under them.

A connection counts against its address's cap from its first byte, like TCP, and
must finish its handshake within `handshake_timeout` or it is aborted (a peer that
never finishes one, or that sends garbage, holds nothing for long). Messages for a
connection wait until its handshake is through; an outbound connection whose
handshake fails (a certificate for another name, an unknown CA) fails the
transactions that waited for it at once.

Outbound connections are opened only to destinations `names` knows (trunk gateways):
their certificate is checked against the gateway's configured host name (its IP
address when it was given as one) and the trust store; a trunk may present a client
certificate (mutual TLS). Anyone else (a phone) is reached over its own connection."""

from dataclasses import dataclass

from twisted.internet.interfaces import IHandshakeListener
from twisted.logger import Logger
from twisted.protocols.tls import TLSMemoryBIOFactory
from zope.interface import implementer

from ...sip.transport import Peer
from .tcp import SipStreamFactory, SipStreamProtocol, _Outbound
from .tls_context import TlsContexts

log = Logger()


@dataclass(frozen=True, slots=True)
class TlsDestination:
    """How to open TLS to one address: the name its certificate must carry, and the
    client certificate and key to present (each PEM text or a PEM file's path; None:
    no client certificate)."""

    server_name: str
    client_certificate: str | None = None
    client_key: str | None = None


@implementer(IHandshakeListener)
class SipTlsProtocol(SipStreamProtocol):
    ready = False

    def __init__(self, factory: "SipTlsFactory"):
        super().__init__(factory)
        self._handshake_call = None
        # Failure callbacks of the messages written at the handshake, until the peer
        # sends a byte: under TLS 1.3 a server refuses a client certificate only after
        # the client's handshake is through, by closing the connection.
        self.unanswered: list = []

    def connectionMade(self) -> None:
        super().connectionMade()
        if self.peer is None:
            return  # refused (a cap): already being aborted
        # A handshake and each SIP message are small writes waiting on an answer:
        # Nagle's algorithm against the peer's delayed ACK would add 40 ms to each.
        no_delay = getattr(self.transport, "setTcpNoDelay", None)
        if no_delay is not None:
            no_delay(True)
        self._handshake_call = self._factory.clock.callLater(
            self._factory.handshake_timeout, self._handshake_timed_out)

    def handshakeCompleted(self) -> None:
        if self._handshake_call is not None:
            self._handshake_call.cancel()
            self._handshake_call = None
        if self.peer is None:
            return
        self.ready = True
        self._factory.metrics.tls_handshakes.labels("ok").inc()
        self._factory.flush(self)

    def dataReceived(self, data: bytes) -> None:
        if self.unanswered:
            self.unanswered = []
        super().dataReceived(data)

    def _handshake_timed_out(self) -> None:
        self._handshake_call = None
        log.debug("closing TLS connection with {peer}: no handshake within {timeout} s",
                  peer=str(self.peer), timeout=self._factory.handshake_timeout)
        self._factory.metrics.sip_dropped.labels("tls-handshake-timeout").inc()
        self.transport.abortConnection()

    def connectionLost(self, reason=None) -> None:
        if self._handshake_call is not None:
            self._handshake_call.cancel()
            self._handshake_call = None
        if not self.ready and self.peer is not None:
            self._factory.handshake_failed(self, reason)
        unanswered, self.unanswered = self.unanswered, []
        if unanswered:
            log.warn("TLS connection to {peer} closed before any answer: {why}",
                     peer=str(self.peer), why=_why(reason))
            self._factory.fail_callbacks(unanswered)
        super().connectionLost(reason)


class SipTlsFactory(SipStreamFactory):
    """The stream factory of `tls:` listeners and of outbound TLS connections."""

    transport_name = "tls"
    protocol_class = SipTlsProtocol

    def __init__(self, endpoint, metrics, limits, idle_timeout: float, max_connections: int,
                 contexts: TlsContexts, names=None, handshake_timeout: float = 10.0,
                 **kwargs):
        super().__init__(endpoint, metrics, limits, idle_timeout, max_connections, **kwargs)
        self.contexts = contexts
        # (host, port) -> TlsDestination | None: where outbound TLS may go.
        self._names = names or (lambda host, port: None)
        self.handshake_timeout = handshake_timeout

    def server_factory(self) -> TLSMemoryBIOFactory:
        """What a `tls:` listener listens with: TLS around this factory."""
        return TLSMemoryBIOFactory(self.contexts, False, self)

    def outbound_factory(self, peer: Peer, key: tuple[str, int]):
        destination = self._names(peer.host, peer.port)
        if destination is None:
            return None  # no name to check a certificate against: only its own connection
        try:
            creator = self.contexts.client(destination)
        except Exception as exc:  # noqa: BLE001 - e.g. a trunk's client key unreadable
            log.warn("no TLS towards {peer}: {error}", peer=str(peer), error=str(exc))
            return None
        return TLSMemoryBIOFactory(creator, True, _Outbound(self, key))

    def flush(self, protocol: SipTlsProtocol) -> None:
        key = (protocol.peer.host, protocol.peer.port)
        if protocol.outbound:
            protocol.unanswered = [f for _, f in self._pending.get(key, ()) if f is not None]
        super().flush(protocol)

    def fail_callbacks(self, callbacks: list) -> None:
        for on_failure in callbacks:
            self.metrics.sip_dropped.labels("tcp-connect-failed").inc()
            on_failure()

    def handshake_failed(self, protocol: SipTlsProtocol, reason) -> None:
        """A connection closed before its handshake was through: the messages that
        waited for it fail now (an outbound one), and the failure is counted."""
        why = _why(reason)
        self.metrics.tls_handshakes.labels("failed").inc()
        if protocol.outbound:
            log.warn("TLS handshake with {peer} failed: {why}", peer=str(protocol.peer), why=why)
        else:  # debug only: a flood of bad handshakes must not flood the log too
            log.debug("TLS handshake with {peer} failed: {why}", peer=str(protocol.peer),
                      why=why)
        self.fail_pending((protocol.peer.host, protocol.peer.port))

    def _count_connections(self) -> None:
        self.metrics.tls_connections.set(len(self._connections))


def _why(reason) -> str:
    return reason.getErrorMessage() if reason is not None else "closed"
