"""The SIP endpoint: bytes from the transports in, bytes to the transports out.

It parses, stamps received/rport on the top Via, feeds the transaction layer, hands
new requests to the dispatcher and keeps one reactor timer armed for the layer's
earliest deadline. Hostile input is answered or dropped here; nothing raises into
the reactor.

This is also the TU boundary: each event the layer returns is handed to its user on
its own, so what the dispatcher, the proxy or a handler raises costs that one event.
A request whose handling raised is answered once (the error's status with a Warning,
or 500) and its server transaction is freed; failures are logged once per source and
kind (failure_log), never as a traceback per packet.
"""

import socket

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from ...metrics import Metrics, method_label, status_class
from ...sip import transaction as tx
from ...sip.amplification import fit_answer
from ...sip.errors import RemoteProtocolError, SipError
from ...sip.ids import new_tag
from ...sip.message import DEFAULT_LIMITS, Limits, Request, make_response, parse_message
from ...sip.salvage import salvage_request
from ...sip.transaction_server import PROCEEDING, TRYING
from ...sip.transport import Peer, stamp_via
from .failure_log import FailureLog, failure_kind

log = Logger()


class LocalAddresses:
    """Our address as a given peer should see it: the configured advertised host,
    else the bound address of the transport (set by the listeners)."""

    def __init__(self, advertise: str = ""):
        self._advertise = advertise
        self._bound: dict[str, tuple[str, int]] = {}
        # is_ours, asked several times per message: the bound pairs and their ports.
        self._bound_pairs: set[tuple[str, int]] = set()
        self._bound_ports: set[int] = set()
        self._used: set[str] = {advertise.lower()} if advertise else set()
        self._routes: dict[str, str] = {}  # remote host -> our source address towards it

    def bind(self, transport: str, host: str, port: int) -> None:
        if transport not in self._bound:
            self._bound[transport] = (host, port)
            self._bound_pairs.add((host, port))
            self._bound_ports.add(port)

    def is_ours(self, host: str, port: int) -> bool:
        """A bound address, or any name we gave ourselves, on a bound port."""
        if port not in self._bound_ports:
            return False
        host = host.strip("[]").lower()
        return host in self._used or (host, port) in self._bound_pairs

    def for_peer(self, peer: Peer) -> tuple[str, int]:
        host, port = self._bound.get(peer.transport) or self._bound.get("udp") or ("127.0.0.1", 5060)
        if self._advertise:
            host = self._advertise
        elif host in ("0.0.0.0", "::"):
            host = self._routes.get(peer.host)
            if host is None:
                if len(self._routes) > 4096:
                    self._routes.clear()
                host = self._routes[peer.host] = _outbound_host(peer.host)
        self._used.add(host.lower())
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return host, port


def _outbound_host(remote: str) -> str:
    """The local address the kernel would use towards `remote` (no packet is sent)."""
    family = socket.AF_INET6 if ":" in remote else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect((remote, 9))
            return probe.getsockname()[0]
        except OSError:
            return "127.0.0.1"


class SipEndpoint:
    """The edge side of the SIP stack; implements services.ports.SipStack."""

    def __init__(self, clock: IReactorTime, layer, core, metrics: Metrics,
                 limits: Limits = DEFAULT_LIMITS, trace: bool = False,
                 addresses: LocalAddresses | None = None, guard=None):
        self._clock = clock
        # edge.sip.guard.SipGuard.admit: False drops a message before it is parsed.
        self._admit = guard.admit if guard is not None else None
        self._layer = layer
        self._core = core
        self._metrics = metrics
        self._limits = limits
        self._trace = trace
        self._addresses = addresses or LocalAddresses()
        self._transports = {}
        self._handlers = {}
        self._timer = None
        self._now = None
        self.failures = FailureLog()
        metrics.transactions_active.set_function(lambda: len(layer))

    def add_transport(self, name: str, transport, host: str = "127.0.0.1",
                      port: int = 5060) -> None:
        """`transport.send(data: bytes, peer: Peer) -> None`, bound at host:port."""
        self._transports[name] = transport
        self._addresses.bind(name, host, port)

    def add_sender(self, name: str, transport) -> None:
        """A transport that sends without a listener of its own (outbound TLS)."""
        self._transports.setdefault(name, transport)

    # -- inbound ----------------------------------------------------------------
    def message_received(self, data: bytes, peer: Peer) -> None:
        try:
            self._receive(data, peer)
        except Exception as exc:  # noqa: BLE001 - the message boundary
            self._metrics.sip_dropped.labels("failed").inc()
            self._failed(peer.host, exc, "message")
        self._arm_timer()

    def _receive(self, data: bytes, peer: Peer) -> None:
        if self._admit is not None and not self._admit(data, peer):
            return
        if len(data) < 8 and not data.strip(b"\r\n\x00 "):
            return  # keep-alives (CRLFs, a NUL); no SIP message is this short
        if self._trace:
            log.info("recv from {peer}:\n{data}", peer=str(peer), data=_printable(data))
        try:
            message = parse_message(data, stream=peer.reliable, limits=self._limits)
        except RemoteProtocolError as exc:
            self._refuse(data, exc, peer)
            return
        now = self.seconds()
        metrics = self._metrics
        if message.is_request:
            metrics.child(metrics.sip_requests, method_label(message.method)).inc()
            stamp_via(message, peer)
            events = self._layer.receive_request(message, peer, now, reliable=peer.reliable)
            if message.method != "ACK" and not any(
                    isinstance(e, tx.RequestReceived) for e in events):
                metrics.sip_retransmissions_absorbed.inc()
        else:
            metrics.child(metrics.sip_responses_received, method_label(message.cseq.method),
                          status_class(message.status)).inc()
            events = self._layer.receive_response(message, now)
        self._process(events, now)

    def _refuse(self, data: bytes, exc: RemoteProtocolError, peer: Peer) -> None:
        """A malformed request gets its status statelessly; a bad response is dropped."""
        if data.startswith(b"SIP/"):
            self._metrics.sip_dropped.labels("malformed-response").inc()
            log.debug("dropped malformed response from {peer}: {error}", peer=str(peer),
                      error=str(exc))
            return
        self._metrics.sip_dropped.labels("malformed-request").inc()
        log.debug("refused malformed request from {peer}: {error}", peer=str(peer),
                  error=str(exc))
        request = getattr(exc, "partial", None)
        if not isinstance(request, Request):
            request = salvage_request(data)
        if request is None or request.method == "ACK":
            return
        try:
            stamp_via(request, peer)
        except SipError:
            pass  # the Via itself is broken; handled below
        response = make_response(request, exc.status_hint)
        response.headers.add("Warning", _warning(exc))
        if not peer.reliable:
            response = fit_answer(response, len(data))
        self._count_response(response)
        self._send(response.to_bytes(), peer)  # the packet's source, whatever the Via

    # -- events -------------------------------------------------------------------
    def _process(self, events, now: float) -> None:
        for event in events:
            try:
                self._handle(event)
            except Exception as exc:  # noqa: BLE001 - the TU boundary, one event at a time
                self._event_failed(event, exc)

    def _handle(self, event) -> None:
        if isinstance(event, tx.SendMessage):
            self._send(event.data, event.destination, event.key)
        elif isinstance(event, tx.RequestReceived):
            key = event.key
            self._metrics.child(self._metrics.transactions_created, _kind(key)).inc()
            self._core.request_received(key, event.request, event.source)
        elif isinstance(event, tx.ResponseReceived):
            handler = self._handlers.get(event.key)
            if handler is not None:
                handler.response_received(event.key, event.response)
        elif isinstance(event, tx.AckReceived):
            self._core.ack_received(event.request, event.source)
        elif isinstance(event, tx.StrayResponse):
            self._core.stray_response(event.response)
        elif isinstance(event, tx.TransactionTimedOut):
            handler = self._handlers.get(event.key)
            if handler is not None:
                handler.timed_out(event.key)
            else:
                self._core.server_timed_out(event.key)
        elif isinstance(event, tx.TransportFailed):
            handler = self._handlers.get(event.key)
            if handler is not None:
                handler.transport_failed(event.key)
        elif isinstance(event, tx.TransactionTerminated):
            self._handlers.pop(event.key, None)
        elif isinstance(event, tx.TimerFailed):
            self._failed("timer", event.error, f"timer of a {_kind(event.key)} transaction")
        elif isinstance(event, tx.MessageAbsorbed):
            log.debug("absorbed: {reason}", reason=event.reason)

    def _event_failed(self, event, exc: Exception) -> None:
        """What a user of `event` raised: logged; a new request is answered once and
        its server transaction freed, so nothing waits for a TU that gave up."""
        source = getattr(event, "source", None)
        self._failed(source.host if isinstance(source, Peer) else "local", exc,
                     type(event).__name__)
        if isinstance(event, tx.RequestReceived):
            self._answer_failed(event.key, event.request, exc)

    def _answer_failed(self, key, request: Request, exc: Exception) -> None:
        if self._layer.state(key) not in (TRYING, PROCEEDING):
            return  # the TU answered (or dropped) before raising
        remote = isinstance(exc, RemoteProtocolError)
        self._metrics.sip_dropped.labels("malformed-request" if remote else "failed").inc()
        try:
            status = exc.status_hint if remote else 500
            response = make_response(request, status,
                                     to_tag=None if request.to_tag else new_tag())
            if remote:
                response.headers.add("Warning", _warning(exc))
            self.respond(key, response)
        except Exception as again:  # noqa: BLE001 - e.g. the Via itself is broken
            self._failed("local", again, "answering a failed request")
        if self._layer.state(key) in (TRYING, PROCEEDING):
            self._process(self._layer.terminate(key), self.seconds())

    def _failed(self, source: str, exc: Exception, what: str) -> None:
        self.failures.failed(self.seconds(), source, failure_kind(exc), what,
                              f"{type(exc).__name__}: {exc}")

    # -- SipStack port (services call these) ------------------------------------------
    def seconds(self) -> float:
        return self._clock.seconds()

    def respond(self, key, response) -> None:
        self._count_response(response)
        now = self.seconds()
        self._process(self._layer.send_response(key, response, now), now)
        self._arm_timer()

    def send_request(self, request, destination: Peer, handler):
        metrics = self._metrics
        metrics.child(metrics.sip_requests_sent, method_label(request.method)).inc()
        now = self.seconds()
        key, events = self._layer.send_request(request, destination, destination.reliable, now)
        metrics.child(metrics.transactions_created, _kind(key)).inc()
        self._handlers[key] = handler
        self._process(events, now)
        self._arm_timer()
        return key

    def send_stateless(self, message, destination: Peer) -> None:
        if not message.is_request:
            self._count_response(message)
        self._send(message.to_bytes(), destination)

    def via_for(self, destination: Peer, branch: str | None = None) -> str:
        host, port = self._addresses.for_peer(destination)
        return (f"SIP/2.0/{destination.transport.upper()} {host}:{port};"
                f"branch={branch or tx.new_branch()};rport")

    def is_our_address(self, host: str, port: int) -> bool:
        return self._addresses.is_ours(host, port)

    def local_uri(self, destination: Peer, user: str | None = None) -> str:
        host, port = self._addresses.for_peer(destination)
        userinfo = f"{user}@" if user else ""
        transport = "" if destination.transport == "udp" else f";transport={destination.transport}"
        return f"sip:{userinfo}{host}:{port}{transport}"

    def _count_response(self, response) -> None:
        try:
            method = method_label(response.cseq.method)
        except SipError:
            method = "other"
        metrics = self._metrics
        metrics.child(metrics.sip_responses_sent, method, status_class(response.status)).inc()

    # -- outbound -------------------------------------------------------------------
    def _send(self, data: bytes, peer: Peer, key=None) -> None:
        transport = self._transports.get(peer.transport)
        if transport is None:
            log.warn("no {transport} transport to reach {peer}", transport=peer.transport,
                     peer=str(peer))
            return
        if self._trace:
            log.info("send to {peer}:\n{data}", peer=str(peer), data=_printable(data))
        try:
            if peer.reliable:
                # A connection that cannot be made fails the transaction at once
                # (RFC 3261 §17.1.4) instead of waiting for its timeout.
                transport.send(data, peer, on_failure=lambda: self._transport_failed(key))
            else:
                transport.send(data, peer)
        except Exception as exc:  # noqa: BLE001 - e.g. an address the socket cannot reach
            self._failed(peer.host, exc, "sending")
            self._transport_failed(key)

    def _transport_failed(self, key) -> None:
        if key is None:
            return
        now = self.seconds()
        self._process(self._layer.transport_error(key, now), now)
        self._arm_timer()

    # -- timers -----------------------------------------------------------------------
    def _arm_timer(self) -> None:
        deadline = self._layer.get_timer()
        timer = self._timer
        if deadline is None:
            if timer is not None and timer.active():
                timer.cancel()
            self._timer = None
            return
        if timer is not None and timer.active():
            if timer.getTime() <= deadline:
                return
            timer.cancel()
        delay = max(0.0, deadline - self.seconds())
        self._timer = self._clock.callLater(delay, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        try:
            now = self.seconds()
            self._process(self._layer.handle_timer(now), now)
        except Exception as exc:  # noqa: BLE001 - _process isolates events; belt and braces
            self._failed("timer", exc, "timer run")
        self._arm_timer()

    def stop(self) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None


def _printable(data: bytes) -> str:
    return data.decode("utf-8", "replace")


def _kind(key) -> str:
    """transactions_created label: role and INVITE or not (four values)."""
    return f"{key.role}_{'invite' if key.method == 'INVITE' else 'non_invite'}"


def _warning(exc: Exception) -> str:
    """RFC 3261 §20.43 Warning naming what was wrong (399: miscellaneous)."""
    return f'399 softswitch "{_warning_text(str(exc))}"'


def _warning_text(text: str) -> str:
    return "".join(c for c in text if c.isprintable() and c not in '"\\')[:120]
