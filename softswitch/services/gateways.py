"""Trunk gateways: health by OPTIONS probing (Kamailio dispatcher style) and the order
a trunk route tries its gateways in.

Health. Every gateway of every enabled trunk in the routing snapshot is probed with an
OPTIONS on a fixed interval (first probe at a random point of the first interval, so a
hundred gateways do not probe at once). Any response, 404/405/501 included, proves the
gateway alive and measures the round trip; a transaction timeout (Timer F) or a transport
failure is a failed probe. A gateway goes down after `timeout_failures` failures in a row
and comes back after `recovery_successes` successes in a row. A gateway never probed yet
counts as up. The proxy marks a gateway *suspect* when it answers a call with 503: it is
skipped until a probe sent after that answer succeeds, and that probe comes soon.

Selection (`order_gateways`): usable gateways only; same region as asked first; then
priority (lower first), then SRV rank (a name's backup SRV targets after its
primary ones, see services.gateway_dns); among equal region, priority and rank,
lowest measured round trip first (RTTs within `rtt_tolerance` count as equal), and
weighted random order among equals and among gateways not measured yet. When no
gateway of the trunk is usable they are all returned anyway (option
`all_down_fallback`): when probes are blocked or lost it is better to try the calls
than to fail every one of them.
"""

import random
from dataclasses import asdict, dataclass

from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger

from ..sip.headers import Headers
from ..sip.ids import new_call_id, new_tag
from ..sip.message import Request, Response
from ..sip.transport import Peer
from ..sip.uri import host_for_socket, parse_uri
from .routing import Gateway, RoutingSnapshot, Trunk

log = Logger()

# Probes still waiting for an answer before the next one is skipped: with an interval
# shorter than Timer F (32 s) probes overlap, and a silent gateway should not pile up
# transactions.
MAX_PROBES_IN_FLIGHT = 4
# Weight of the newest sample in the smoothed round-trip time.
RTT_SMOOTHING = 0.25
# Round trips closer than this are equal when ordering gateways (weights then decide).
DEFAULT_RTT_TOLERANCE = 0.005

_RNG = random.Random()


@dataclass(frozen=True, slots=True)
class GatewayStatus:
    """One row of `GatewayHealth.status()` (as a dict there, for the API)."""

    trunk: str
    gateway: str  # "host:port", ";transport=..." when not UDP
    transport: str
    state: str  # "up" | "down" | "suspect"
    rtt: float | None
    last_change: float
    last_probe: float | None


def gateway_label(gateway: Gateway) -> str:
    """How a gateway is named in metrics and the API."""
    label = f"{_uri_host(gateway.host)}:{gateway.port}"
    return label if gateway.transport == "udp" else f"{label};transport={gateway.transport}"


class _Target:
    """Probe state of one gateway address (shared by trunks listing the same one)."""

    __slots__ = ("gateway", "trunks", "up", "suspect_since", "suspect_after", "failures",
                 "successes", "rtt", "last_change", "last_probe", "timer", "in_flight", "sent")

    def __init__(self, gateway: Gateway, trunks: tuple[str, ...], now: float):
        self.gateway = gateway
        self.trunks = trunks
        self.up = True
        self.suspect_since: float | None = None
        self.suspect_after = 0  # only probes numbered above this clear the suspicion
        self.failures = self.successes = self.in_flight = self.sent = 0
        self.rtt: float | None = None
        self.last_change = now
        self.last_probe: float | None = None
        self.timer: IDelayedCall | None = None

    @property
    def usable(self) -> bool:
        return self.up and self.suspect_since is None

    @property
    def state(self) -> str:
        if not self.up:
            return "down"
        return "up" if self.suspect_since is None else "suspect"


class _Probe:
    """The ClientHandler of one OPTIONS probe: the first outcome counts."""

    __slots__ = ("health", "target", "number", "sent_at", "done")

    def __init__(self, health: "GatewayHealth", target: _Target, number: int, sent_at: float):
        self.health, self.target, self.number = health, target, number
        self.sent_at, self.done = sent_at, False

    def response_received(self, key, response: Response) -> None:
        self._finish("ok")

    def timed_out(self, key) -> None:
        self._finish("timeout")

    def transport_failed(self, key) -> None:
        self._finish("transport_error")

    def _finish(self, result: str) -> None:
        if not self.done:
            self.done = True
            self.target.in_flight -= 1
            self.health._probe_finished(self, result)


class GatewayHealth:
    def __init__(self, clock: IReactorTime, stack, *, interval: float = 30.0,
                 timeout_failures: int = 3, recovery_successes: int = 2,
                 suspect_probe_delay: float = 2.0, metrics=None,
                 rng: random.Random | None = None):
        if interval <= 0 or timeout_failures < 1 or recovery_successes < 1:
            raise ValueError("interval, timeout_failures and recovery_successes must be positive")
        self._clock = clock
        self._stack = stack
        self._interval = interval
        self._down_after = timeout_failures
        self._up_after = recovery_successes
        self._suspect_delay = min(suspect_probe_delay, interval)
        self._metrics = metrics
        self._rng = rng or _RNG
        self._targets: dict[str, _Target] = {}

    # -- configuration ----------------------------------------------------------------
    def set_snapshot(self, snapshot: RoutingSnapshot) -> None:
        """Probe exactly the gateways of the enabled trunks of `snapshot`; state of
        gateways that stay is kept."""
        wanted: dict[str, tuple[Gateway, list[str]]] = {}
        for trunk in snapshot.trunks.values():
            if trunk.enabled:
                for gateway in trunk.gateways:
                    wanted.setdefault(gateway.key, (gateway, []))[1].append(trunk.name)
        now = self._clock.seconds()
        for key in [k for k in self._targets if k not in wanted]:
            target = self._targets.pop(key)
            self._cancel(target)
            self._forget_labels(target, target.trunks)
        for key, (gateway, names) in wanted.items():
            trunks = tuple(sorted(set(names)))
            target = self._targets.get(key)
            if target is None:
                target = self._targets[key] = _Target(gateway, trunks, now)
                self._schedule(target, self._rng.uniform(0, self._interval))
            else:
                self._forget_labels(target, set(target.trunks) - set(trunks))
                target.gateway, target.trunks = gateway, trunks
            self._export(target)

    def stop(self) -> None:
        """Stop probing (shutdown); answers to probes in flight are ignored."""
        for target in self._targets.values():
            self._cancel(target)
        self._targets.clear()

    # -- what the proxy and the API ask -------------------------------------------------
    def is_usable(self, gateway_key: str) -> bool:
        """False for a gateway down or suspect; True for unknown keys (not probed)."""
        target = self._targets.get(gateway_key)
        return target is None or target.usable

    def rtt(self, gateway_key: str) -> float | None:
        """The smoothed OPTIONS round trip in seconds, None before the first answer."""
        target = self._targets.get(gateway_key)
        return None if target is None else target.rtt

    def mark_suspect(self, gateway_key: str) -> None:
        """The gateway answered a call with 503: skip it until a later probe succeeds."""
        target = self._targets.get(gateway_key)
        if target is None or not target.up:
            return
        if target.suspect_since is None:
            now = self._clock.seconds()
            target.suspect_since = target.last_change = now
            target.suspect_after = target.sent
            log.info("gateway {gateway} answered 503: suspect until it answers a probe",
                     gateway=gateway_label(target.gateway))
            self._export(target)
        timer = target.timer
        if timer is None or timer.getTime() - self._clock.seconds() > self._suspect_delay:
            self._schedule(target, self._suspect_delay)

    def status(self) -> list[dict]:
        rows = [GatewayStatus(trunk, gateway_label(t.gateway), t.gateway.transport, t.state,
                              t.rtt, t.last_change, t.last_probe)
                for t in self._targets.values() for trunk in t.trunks]
        rows.sort(key=lambda row: (row.trunk, row.gateway))
        return [asdict(row) for row in rows]

    def order(self, trunk: Trunk, region: str | None = None, **options) -> list[Gateway]:
        """`order_gateways` with this health and its random source (the proxy's
        `gateway_order` callable)."""
        options.setdefault("rng", self._rng)
        return order_gateways(trunk, self, region, **options)

    # -- probing ------------------------------------------------------------------------
    def _schedule(self, target: _Target, delay: float) -> None:
        self._cancel(target)
        target.timer = self._clock.callLater(delay, self._probe_due, target)

    @staticmethod
    def _cancel(target: _Target) -> None:
        if target.timer is not None and target.timer.active():
            target.timer.cancel()
        target.timer = None

    def _probe_due(self, target: _Target) -> None:
        target.timer = None
        if self._targets.get(target.gateway.key) is not target:
            return
        self._schedule(target, self._interval)
        if target.in_flight >= MAX_PROBES_IN_FLIGHT:
            return
        gateway = target.gateway
        peer = Peer(gateway.transport, host_for_socket(gateway.host), gateway.port)
        now = self._clock.seconds()
        target.last_probe = now
        target.in_flight += 1
        target.sent += 1
        probe = _Probe(self, target, target.sent, now)
        try:
            self._stack.send_request(self._options(peer, gateway), peer, probe)
        except Exception:
            log.failure("sending an OPTIONS probe to {gateway} failed",
                        gateway=gateway_label(gateway))
            probe.transport_failed(None)

    def _options(self, peer: Peer, gateway: Gateway) -> Request:
        transport = "" if gateway.transport == "udp" else f";transport={gateway.transport}"
        uri = f"sip:{_uri_host(gateway.host)}:{gateway.port}{transport}"
        local = self._stack.local_uri(peer)
        headers = Headers.from_pairs([
            ("Via", self._stack.via_for(peer)),
            ("Max-Forwards", "70"),
            ("From", f"<{local}>;tag={new_tag()}"),
            ("To", f"<{uri}>"),
            ("Call-ID", new_call_id(parse_uri(local).host)),
            ("CSeq", "1 OPTIONS"),
            ("Accept", "application/sdp"),
        ])
        return Request("OPTIONS", uri, headers)

    def _probe_finished(self, probe: _Probe, result: str) -> None:
        target = probe.target
        if self._metrics is not None:
            self._metrics.gateway_probes.labels(result).inc()
        if self._targets.get(target.gateway.key) is not target:
            return  # removed while the probe was out
        now = self._clock.seconds()
        before = target.state
        if result == "ok":
            sample = now - probe.sent_at
            target.rtt = sample if target.rtt is None else (
                (1 - RTT_SMOOTHING) * target.rtt + RTT_SMOOTHING * sample)
            target.failures = 0
            target.successes += 1
            if target.suspect_since is not None and probe.number > target.suspect_after:
                target.suspect_since = None
            if not target.up and target.successes >= self._up_after:
                target.up = True
                log.info("gateway {gateway} is up again", gateway=gateway_label(target.gateway))
        else:
            target.successes = 0
            target.failures += 1
            if target.up and target.failures >= self._down_after:
                target.up, target.suspect_since = False, None
                log.warn("gateway {gateway} is down after {n} failed probes ({result})",
                         gateway=gateway_label(target.gateway), n=target.failures,
                         result=result)
        if target.state != before:
            target.last_change = now
        self._export(target)

    # -- metrics ------------------------------------------------------------------------
    def _export(self, target: _Target) -> None:
        if self._metrics is None:
            return
        label = gateway_label(target.gateway)
        for trunk in target.trunks:
            self._metrics.gateway_up.labels(trunk, label).set(1 if target.usable else 0)
            if target.rtt is not None:
                self._metrics.gateway_rtt.labels(trunk, label).set(target.rtt)

    def _forget_labels(self, target: _Target, trunks) -> None:
        if self._metrics is None:
            return
        label = gateway_label(target.gateway)
        for trunk in trunks:
            for gauge in (self._metrics.gateway_up, self._metrics.gateway_rtt):
                try:
                    gauge.remove(trunk, label)
                except KeyError:
                    pass


def order_gateways(trunk: Trunk, health: GatewayHealth | None = None,
                   region: str | None = None, *, rng: random.Random | None = None,
                   prefer_low_rtt: bool = True, rtt_tolerance: float = DEFAULT_RTT_TOLERANCE,
                   all_down_fallback: bool = True) -> list[Gateway]:
    """The gateways of `trunk` in the order a call should try them (module docstring).

    `rng` makes the weighted order reproducible; `all_down_fallback=False` returns an
    empty list when no gateway is usable."""
    rng = rng or _RNG
    candidates = list(trunk.gateways)
    if health is not None:
        usable = [g for g in candidates if health.is_usable(g.key)]
        if usable or not all_down_fallback:
            candidates = usable
    groups: dict[tuple[int, int, int], list[Gateway]] = {}
    for gateway in candidates:
        near = 0 if region is not None and gateway.region == region else 1
        groups.setdefault((near, gateway.priority, gateway.srv_rank), []).append(gateway)
    ordered: list[Gateway] = []
    for key in sorted(groups):
        shuffled = _weighted_order(groups[key], rng)
        if prefer_low_rtt and health is not None and len(shuffled) > 1:
            shuffled = _by_rtt(shuffled, health, rtt_tolerance)
        ordered += shuffled
    return ordered


def _weighted_order(gateways: list[Gateway], rng: random.Random) -> list[Gateway]:
    """A random order where a gateway comes first with probability proportional to its
    weight (Efraimidis-Spirakis keys); weight 0 gateways come last."""
    if len(gateways) < 2:
        return list(gateways)
    keyed = []
    for gateway in gateways:
        draw = rng.random()
        if gateway.weight > 0:
            keyed.append(((0, -(draw ** (1.0 / gateway.weight))), gateway))
        else:
            keyed.append(((1, draw), gateway))
    keyed.sort(key=lambda item: item[0])
    return [gateway for _, gateway in keyed]


def _by_rtt(shuffled: list[Gateway], health: GatewayHealth, tolerance: float) -> list[Gateway]:
    """Measured gateways by round trip, clusters within `tolerance` of their fastest
    member keeping the weighted order; gateways not measured yet after them."""
    position = {g.key: i for i, g in enumerate(shuffled)}
    measured = sorted((g for g in shuffled if health.rtt(g.key) is not None),
                      key=lambda g: health.rtt(g.key))
    ordered: list[Gateway] = []
    start = 0
    while start < len(measured):
        fastest = health.rtt(measured[start].key)
        end = start
        while end < len(measured) and health.rtt(measured[end].key) - fastest <= tolerance:
            end += 1
        ordered += sorted(measured[start:end], key=lambda g: position[g.key])
        start = end
    return ordered + [g for g in shuffled if health.rtt(g.key) is None]


def _uri_host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host
