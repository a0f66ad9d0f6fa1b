"""Outbound registration to carriers (RFC 3261 §10.2, UAC side) for trunks with
`"register": true`.

Each enabled trunk with register set and credentials registers to its first gateway
by priority: REGISTER sip:<domain> with To/From <sip:auth_username@domain> and our
Contact, answering one 401/407 challenge per exchange with the trunk's credentials
(CSeq+1, same Call-ID) and one 423 with the registrar's Min-Expires. The granted
expiry (our Contact's expires parameter, else the Expires header) is refreshed at 80 %
of it or 30 s before the end, whichever is sooner. A failed exchange (timeout,
transport error, a rejection, a second challenge) is retried after an exponential,
jittered backoff (5, 10, 20 ... 300 s, longer if the registrar's Retry-After asks).
A trunk that goes away, is disabled or changes its credentials or gateway is
unregistered (Expires: 0); `stop()` unregisters everything at shutdown.
"""

import random
from dataclasses import asdict, dataclass

from twisted.internet.defer import Deferred, gatherResults, succeed
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger

from ..sip.errors import SipError
from ..sip.headers import Headers
from ..sip.ids import new_call_id, new_tag
from ..sip.message import Request, Response
from ..sip.transport import Peer
from ..sip.uri import SipUri, host_for_socket, parse_uri
from .credential_retry import CannotAnswer, answer_challenge, credentials_of, is_challenge
from .gateways import gateway_label
from .routing import Gateway, RoutingSnapshot, Trunk

log = Logger()

REFRESH_FRACTION = 0.8
REFRESH_MARGIN = 30.0  # seconds before the end at the latest
MIN_REFRESH = 5.0  # never sooner than this (or half the grant, if that is shorter)
BACKOFF_INITIAL = 5.0
BACKOFF_MAX = 300.0
MAX_EXPIRES = 2**31 - 1

_RNG = random.Random()


@dataclass(frozen=True, slots=True)
class RegistrationStatus:
    trunk: str
    state: str  # "registering" | "registered" | "failed"
    gateway: str
    expires_at: float | None  # end of the last granted registration
    last_error: str | None
    next_attempt_at: float | None  # the next REGISTER (refresh or retry)


def gateway_domain(trunk: Trunk, gateway: Gateway) -> str:
    """The default registrar domain: the gateway's configured name or address, with
    its port if it was configured and is not 5060."""
    if gateway.domain is not None and gateway.port_from_dns:
        return gateway.domain
    host = gateway.uri_host
    return host if gateway.port == 5060 else f"{host}:{gateway.port}"


def refresh_delay(granted: float) -> float:
    """When to refresh a registration granted for `granted` seconds."""
    return max(min(MIN_REFRESH, granted / 2),
               min(REFRESH_FRACTION * granted, granted - REFRESH_MARGIN))


class _Registration:
    """One trunk's registration: identity (fixed) and progress (changing)."""

    __slots__ = ("trunk", "gateway", "peer", "domain", "contact", "call_id", "from_tag",
                 "cseq", "state", "expires_at", "last_error", "failures", "timer",
                 "next_attempt_at", "exchange")

    def __init__(self, trunk: Trunk, gateway: Gateway, domain: str, contact: str,
                 call_id: str):
        self.trunk, self.gateway, self.domain = trunk, gateway, domain
        self.peer = Peer(gateway.transport, host_for_socket(gateway.host), gateway.port)
        self.contact, self.call_id, self.from_tag = contact, call_id, new_tag()
        self.cseq = 0
        self.state = "registering"
        self.expires_at: float | None = None
        self.last_error: str | None = None
        self.failures = 0
        self.timer: IDelayedCall | None = None
        self.next_attempt_at: float | None = None
        self.exchange: _Exchange | None = None

    @property
    def uri(self) -> str:
        """The Request-URI, also the digest-uri."""
        transport = self.gateway.transport
        return f"sip:{self.domain}" + ("" if transport == "udp" else f";transport={transport}")

    @property
    def identity(self) -> tuple:
        t = self.trunk
        return (t.auth_username, t.auth_password, self.gateway.key, self.domain)


class _Exchange:
    """One REGISTER exchange (the ClientHandler of its requests): at most one answered
    challenge and one Min-Expires retry."""

    __slots__ = ("owner", "reg", "expires", "auth_tried", "interval_retried", "done",
                 "finished")

    def __init__(self, owner: "TrunkRegistrations", reg: _Registration, expires: int):
        self.owner, self.reg, self.expires = owner, reg, expires
        self.auth_tried = self.interval_retried = False
        self.done = False
        self.finished = Deferred()  # fires (with None) when the exchange ends

    @property
    def current(self) -> bool:
        return not self.done and (self.expires == 0 or self.reg.exchange is self)

    def response_received(self, key, response: Response) -> None:
        if not self.current or response.status < 200:
            return
        status = response.status
        if is_challenge(status) and not self.auth_tried:
            self.auth_tried = True
            self.owner._answer_challenge(self, response)
        elif status == 423 and not self.interval_retried and self.expires:
            self.interval_retried, self.auth_tried = True, False
            self.owner._retry_interval(self, response)
        elif 200 <= status < 300:
            if self.expires:
                self.owner._succeeded(self, response)
            else:
                self.end()  # unregistered
        else:
            result = "auth_failed" if is_challenge(status) else "rejected"
            self.owner._failed(self, result, f"{status} {response.reason}".strip(),
                               _retry_after(response))

    def timed_out(self, key) -> None:
        if self.current:
            self.owner._failed(self, "timeout", "timeout")

    def transport_failed(self, key) -> None:
        if self.current:
            self.owner._failed(self, "transport_error", "transport error")

    def end(self) -> None:
        if not self.done:
            self.done = True
            self.finished.callback(None)


class TrunkRegistrations:
    def __init__(self, clock: IReactorTime, stack, *, domain_for=gateway_domain,
                 expires: int = 600, metrics=None, rng: random.Random | None = None,
                 backoff_initial: float = BACKOFF_INITIAL, backoff_max: float = BACKOFF_MAX,
                 jitter: float = 0.2):
        if expires < 1:
            raise ValueError("expires must be positive")
        self._clock = clock
        self._stack = stack
        self._domain_for = domain_for
        self._expires = expires
        self._metrics = metrics
        self._rng = rng or _RNG
        self._backoff = (backoff_initial, backoff_max, jitter)
        self._registrations: dict[str, _Registration] = {}
        self._unregistering: list[Deferred] = []
        self._stopped = False

    # -- configuration ----------------------------------------------------------------
    def set_snapshot(self, snapshot: RoutingSnapshot) -> None:
        """Register the trunks that should be, unregister those that should not."""
        if self._stopped:
            return
        wanted = {t.name: t for t in snapshot.trunks.values() if _wants_registration(t)}
        for name in [n for n in self._registrations if n not in wanted]:
            self._remove(self._registrations.pop(name))
        for name, trunk in wanted.items():
            gateway = min(trunk.gateways, key=lambda g: g.priority)
            domain = self._domain_for(trunk, gateway)
            reg = self._registrations.get(name)
            identity = (trunk.auth_username, trunk.auth_password, gateway.key, domain)
            if reg is not None and reg.identity == identity:
                reg.trunk = trunk
                continue
            if reg is not None:
                self._remove(reg)
            peer = Peer(gateway.transport, host_for_socket(gateway.host), gateway.port)
            contact = self._stack.local_uri(peer, trunk.auth_username)
            call_id = new_call_id(parse_uri(contact).host)
            reg = self._registrations[name] = _Registration(trunk, gateway, domain, contact,
                                                            call_id)
            self._set_gauge(name, 0)
            self._start(reg)

    def stop(self) -> Deferred:
        """Unregister every trunk; fires when every unregistration has its answer (or
        timed out)."""
        self._stopped = True
        for reg in list(self._registrations.values()):
            self._remove(reg)
        self._registrations.clear()
        pending = list(self._unregistering)
        if not pending:
            return succeed(None)
        return gatherResults(pending, consumeErrors=True).addCallback(lambda _: None)

    # -- for the API --------------------------------------------------------------------
    def status(self, trunk_name: str) -> dict | None:
        """State of a trunk's registration, None for a trunk that does not register."""
        reg = self._registrations.get(trunk_name)
        if reg is None:
            return None
        return asdict(RegistrationStatus(
            reg.trunk.name, reg.state, gateway_label(reg.gateway), reg.expires_at,
            reg.last_error, reg.next_attempt_at))

    def statuses(self) -> list[dict]:
        return [self.status(name) for name in sorted(self._registrations)]

    # -- the exchange -------------------------------------------------------------------
    def _start(self, reg: _Registration) -> None:
        self._cancel(reg)
        reg.next_attempt_at = None
        if reg.state != "registered":
            reg.state = "registering"
        exchange = reg.exchange = _Exchange(self, reg, self._expires)
        self._send(exchange)

    def _send(self, exchange: _Exchange, authorization: tuple[str, str] | None = None) -> None:
        reg = exchange.reg
        reg.cseq += 1
        aor = f"<sip:{reg.trunk.auth_username}@{reg.domain}>"
        pairs = [("Via", self._stack.via_for(reg.peer)), ("Max-Forwards", "70"),
                 ("From", f"{aor};tag={reg.from_tag}"), ("To", aor),
                 ("Call-ID", reg.call_id), ("CSeq", f"{reg.cseq} REGISTER"),
                 ("Contact", f"<{reg.contact}>"), ("Expires", str(exchange.expires))]
        if authorization is not None:
            pairs.append(authorization)
        request = Request("REGISTER", reg.uri, Headers.from_pairs(pairs))
        try:
            self._stack.send_request(request, reg.peer, exchange)
        except Exception:
            log.failure("sending REGISTER for trunk {trunk} failed", trunk=reg.trunk.name)
            exchange.transport_failed(None)

    def _answer_challenge(self, exchange: _Exchange, response: Response) -> None:
        reg = exchange.reg
        try:
            authorization = answer_challenge(response, credentials_of(reg.trunk), "REGISTER",
                                             reg.uri)
        except CannotAnswer as exc:
            self._failed(exchange, "auth_failed", str(exc))
            return
        self._send(exchange, authorization)

    def _retry_interval(self, exchange: _Exchange, response: Response) -> None:
        minimum = _int_header(response, "Min-Expires")
        if minimum is None or not exchange.expires < minimum <= MAX_EXPIRES:
            self._failed(exchange, "rejected", "423 without a usable Min-Expires")
            return
        exchange.expires = minimum
        self._send(exchange)

    def _succeeded(self, exchange: _Exchange, response: Response) -> None:
        reg = exchange.reg
        granted = _granted_expiry(response, reg.contact, exchange.expires)
        if granted <= 0:
            self._failed(exchange, "rejected", "the registrar granted no time")
            return
        exchange.end()
        reg.exchange = None
        now = self._clock.seconds()
        if reg.state != "registered":
            log.info("trunk {trunk} registered to {gateway} for {granted}s",
                     trunk=reg.trunk.name, gateway=str(reg.peer), granted=granted)
        reg.state, reg.last_error, reg.failures = "registered", None, 0
        reg.expires_at = now + granted
        self._count("ok")
        self._set_gauge(reg.trunk.name, 1)
        self._schedule(reg, refresh_delay(granted))

    def _failed(self, exchange: _Exchange, result: str, error: str,
                retry_after: int | None = None) -> None:
        exchange.end()
        reg = exchange.reg
        if exchange.expires == 0:
            return  # an unregistration: nothing to retry
        reg.exchange = None
        reg.state, reg.last_error = "failed", error
        reg.failures += 1
        self._count(result)
        self._set_gauge(reg.trunk.name, 0)
        initial, maximum, jitter = self._backoff
        delay = initial * 2 ** min(reg.failures - 1, 30)
        delay = min(maximum, delay * self._rng.uniform(1 - jitter, 1 + jitter))
        if retry_after is not None:
            delay = min(maximum, max(delay, retry_after))
        log.warn("registration of trunk {trunk} to {gateway} failed ({error}); "
                 "retrying in {delay:.0f}s", trunk=reg.trunk.name, gateway=str(reg.peer),
                 error=error, delay=delay)
        self._schedule(reg, delay)

    # -- removal ------------------------------------------------------------------------
    def _remove(self, reg: _Registration) -> None:
        self._cancel(reg)
        in_flight, reg.exchange = reg.exchange, None
        if in_flight is not None:
            in_flight.end()
        self._set_gauge(reg.trunk.name, None)
        live = reg.expires_at is not None and reg.expires_at > self._clock.seconds()
        if not live and in_flight is None:
            return
        log.info("unregistering trunk {trunk} from {gateway}", trunk=reg.trunk.name,
                 gateway=str(reg.peer))
        exchange = _Exchange(self, reg, 0)
        self._unregistering.append(exchange.finished)
        exchange.finished.addCallback(lambda _: self._unregistering.remove(exchange.finished))
        self._send(exchange)

    # -- helpers ------------------------------------------------------------------------
    def _schedule(self, reg: _Registration, delay: float) -> None:
        self._cancel(reg)
        reg.timer = self._clock.callLater(delay, self._due, reg)
        reg.next_attempt_at = self._clock.seconds() + delay

    def _due(self, reg: _Registration) -> None:
        reg.timer = None
        if self._registrations.get(reg.trunk.name) is reg:
            self._start(reg)

    @staticmethod
    def _cancel(reg: _Registration) -> None:
        if reg.timer is not None and reg.timer.active():
            reg.timer.cancel()
        reg.timer = None

    def _count(self, result: str) -> None:
        if self._metrics is not None:
            self._metrics.trunk_registration_attempts.labels(result).inc()

    def _set_gauge(self, trunk: str, value: int | None) -> None:
        """Export registered (1) or not (0); None removes the trunk's series."""
        if self._metrics is None:
            return
        if value is not None:
            self._metrics.trunk_registered.labels(trunk).set(value)
            return
        try:
            self._metrics.trunk_registered.remove(trunk)
        except KeyError:
            pass


def _wants_registration(trunk: Trunk) -> bool:
    return (trunk.enabled and trunk.register and bool(trunk.gateways)
            and bool(trunk.auth_username) and trunk.auth_password is not None)


def _granted_expiry(response: Response, contact: str, requested: int) -> int:
    """Our Contact's expires parameter, else the only Contact's, else the Expires
    header, else what we asked for."""
    try:
        ours = parse_uri(contact)
        contacts = [c for c in response.contacts if c.address is not None]
        mine = [c for c in contacts if _same_address(c.address.uri, ours)]
        chosen = mine or (contacts if len(contacts) == 1 else [])
        if chosen and chosen[0].expires is not None:
            return chosen[0].expires
    except SipError:
        pass  # a garbled Contact list: fall back to the header
    header = _int_header(response, "Expires")
    return requested if header is None else header


def _same_address(a, b) -> bool:
    if not isinstance(a, SipUri) or not isinstance(b, SipUri):
        return False
    return (a.user == b.user and a.host.lower() == b.host.lower()
            and (a.port or 5060) == (b.port or 5060))


def _int_header(response: Response, name: str) -> int | None:
    value = (response.headers.get(name) or "").strip()
    if not value.isdigit() or len(value) > 10:
        return None
    return int(value)


def _retry_after(response: Response) -> int | None:
    value = (response.headers.get("Retry-After") or "").split("(")[0].split(";")[0].strip()
    return int(value) if value.isdigit() and len(value) <= 10 else None
