"""Wiring SIP over TLS into the process: the factory for `tls:` listeners and
outbound TLS, the names gateways' certificates are checked against (from the routing
snapshot), and the certificate reload on SIGHUP and when the files change."""

import signal

from twisted.application.service import Service
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from .service import StartupError
from .tls import SipTlsFactory, TlsDestination
from .tls_context import TlsConfigError, TlsContexts

log = Logger()


class GatewayNames:
    """(host, port) -> TlsDestination of the TLS gateway at that address: the host name
    its row was configured with (its address when given as one) and its trunk's client
    certificate. Indexed once per snapshot."""

    def __init__(self, snapshot):
        self._snapshot = snapshot  # SnapshotHolder: called, gives the current snapshot
        self._indexed = None
        self._index: dict[tuple[str, int], TlsDestination] = {}

    def __call__(self, host: str, port: int) -> TlsDestination | None:
        current = self._snapshot()
        if current is not self._indexed:
            self._index = _index(current)
            self._indexed = current
        return self._index.get((host, port))


def _index(snapshot) -> dict[tuple[str, int], TlsDestination]:
    index = {}
    for trunk in snapshot.trunks.values():
        for gateway in trunk.gateways:
            if gateway.transport != "tls":
                continue
            index[(gateway.host.strip("[]"), gateway.port)] = TlsDestination(
                gateway.domain or gateway.host.strip("[]"),
                trunk.tls_client_certificate,
                trunk.tls_client_key)
    return index


class TlsReloader(Service):
    """Reads the certificate files again on SIGHUP and when their mtime changes."""

    def __init__(self, reactor, contexts: TlsContexts, interval: float):
        self._reactor = reactor
        self._contexts = contexts
        self._interval = interval
        self._poll = None
        self._previous_handler = None

    def startService(self) -> None:
        super().startService()
        if self._interval > 0:
            self._poll = LoopingCall(self._check)
            self._poll.clock = self._reactor
            self._poll.start(self._interval, now=False)
        try:
            self._previous_handler = signal.signal(signal.SIGHUP, self._hangup)
        except ValueError:  # not the main thread (tests): the poll still works
            self._previous_handler = None

    def _hangup(self, signum, frame) -> None:
        self._reactor.callFromThread(self._contexts.reload)

    def _check(self) -> None:
        try:
            self._contexts.check()
        except Exception:  # noqa: BLE001 - the poll must outlive one bad read
            log.failure("checking the TLS certificate files failed")

    def stopService(self):
        if self._poll is not None and self._poll.running:
            self._poll.stop()
        if self._previous_handler is not None:
            signal.signal(signal.SIGHUP, self._previous_handler)
            self._previous_handler = None
        return super().stopService()


def make_tls(tls, sip, endpoint, metrics, limits, reactor, snapshot):
    """The TLS stream factory and its reloader, from [tls] and [sip] settings."""
    try:
        contexts = TlsContexts(tls.certificate, tls.key, tls.chain, tls.ca_file,
                               tls.min_version, tls.ciphers, tls.verify_client)
    except (TlsConfigError, ValueError) as exc:  # ValueError: a cipher string OpenSSL refuses
        raise StartupError(f"[tls] {exc}") from None
    factory = SipTlsFactory(
        endpoint, metrics, limits, sip.tcp_idle_timeout, sip.tcp_max_connections,
        contexts, names=GatewayNames(snapshot), handshake_timeout=tls.handshake_timeout,
        reactor=reactor, max_per_address=sip.tcp_max_connections_per_address,
        message_timeout=sip.tcp_message_timeout)
    return factory, TlsReloader(reactor, contexts, tls.reload_interval)
