"""The SIP endpoint: bytes from the transports in, bytes to the transports out.

It parses, stamps received/rport on the top Via, feeds the transaction layer, hands
new requests to the dispatcher and keeps one reactor timer armed for the layer's
earliest deadline. Hostile input is answered or dropped here; nothing raises into
the reactor.
"""

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from ..metrics import Metrics, method_label, status_class
from ..sip import transaction as tx
from ..sip.errors import RemoteProtocolError, SipError
from ..sip.message import DEFAULT_LIMITS, Limits, Request, make_response, parse_message
from ..sip.salvage import salvage_request
from ..sip.transport import Peer, response_destination, stamp_via

log = Logger()
_KEEPALIVES = (b"\r\n", b"\r\n\r\n", b"\n", b"\x00", b"")


class SipEndpoint:
    def __init__(self, clock: IReactorTime, layer, dispatcher, metrics: Metrics,
                 limits: Limits = DEFAULT_LIMITS, trace: bool = False):
        self._clock = clock
        self._layer = layer
        self._dispatcher = dispatcher
        self._metrics = metrics
        self._limits = limits
        self._trace = trace
        self._transports = {}
        self._timer = None

    def add_transport(self, name: str, transport) -> None:
        """`transport.send(data: bytes, peer: Peer) -> None`."""
        self._transports[name] = transport

    # -- inbound ----------------------------------------------------------------
    def message_received(self, data: bytes, peer: Peer) -> None:
        try:
            self._receive(data, peer)
        except Exception:
            log.failure("unexpected error handling a message from {peer}", peer=str(peer))
        self._arm_timer()

    def _receive(self, data: bytes, peer: Peer) -> None:
        if data in _KEEPALIVES or not data.strip(b"\r\n\x00 "):
            return
        if self._trace:
            log.info("recv from {peer}:\n{data}", peer=str(peer), data=_printable(data))
        try:
            message = parse_message(data, stream=peer.reliable, limits=self._limits)
        except RemoteProtocolError as exc:
            self._refuse(data, exc, peer)
            return
        now = self._clock.seconds()
        if message.is_request:
            self._metrics.sip_requests.labels(method_label(message.method)).inc()
            stamp_via(message, peer)
            events = self._layer.receive_request(message, peer, now, reliable=peer.reliable)
            if message.method != "ACK" and not any(
                    isinstance(e, tx.RequestReceived) for e in events):
                self._metrics.sip_retransmissions_absorbed.inc()
        else:
            self._metrics.sip_responses_received.labels(
                method_label(message.cseq.method), status_class(message.status)).inc()
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
        response = make_response(request, exc.status_hint)
        response.headers.add("Warning", f'399 softswitch "{_warning_text(str(exc))}"')
        try:
            destination = response_destination(request, peer)
        except SipError:
            # The Via itself is what is broken: answer where the request came from.
            destination = peer
        self._count_response(response)
        self._send(response.to_bytes(), destination)

    # -- events -------------------------------------------------------------------
    def _process(self, events, now: float) -> None:
        pending = list(events)
        while pending:
            event = pending.pop(0)
            if isinstance(event, tx.SendMessage):
                self._send(event.data, event.destination)
            elif isinstance(event, tx.RequestReceived):
                pending.extend(self._dispatch(event, now))
            elif isinstance(event, tx.ResponseReceived):
                log.debug("response for a client transaction: {r}", r=event.response)
            elif isinstance(event, tx.StrayResponse):
                self._metrics.sip_dropped.labels("stray-response").inc()
            elif isinstance(event, tx.MessageAbsorbed):
                log.debug("absorbed: {reason}", reason=event.reason)

    def _dispatch(self, event, now: float):
        request = event.request
        response = self._dispatcher.handle(request, str(event.source), now)
        if response is None:
            return []
        self._count_response(response)
        return self._layer.send_response(event.key, response, now)

    def _count_response(self, response) -> None:
        try:
            method = method_label(response.cseq.method)
        except SipError:
            method = "other"
        self._metrics.sip_responses_sent.labels(method, status_class(response.status)).inc()

    # -- outbound -------------------------------------------------------------------
    def _send(self, data: bytes, peer: Peer) -> None:
        transport = self._transports.get(peer.transport)
        if transport is None:
            log.warn("no {transport} transport to reach {peer}", transport=peer.transport,
                     peer=str(peer))
            return
        if self._trace:
            log.info("send to {peer}:\n{data}", peer=str(peer), data=_printable(data))
        transport.send(data, peer)

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
        delay = max(0.0, deadline - self._clock.seconds())
        self._timer = self._clock.callLater(delay, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        try:
            now = self._clock.seconds()
            self._process(self._layer.handle_timer(now), now)
        except Exception:
            log.failure("unexpected error firing transaction timers")
        self._arm_timer()

    def stop(self) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None


def _printable(data: bytes) -> str:
    return data.decode("utf-8", "replace")


def _warning_text(text: str) -> str:
    return "".join(c for c in text if c.isprintable() and c not in '"\\')[:120]
