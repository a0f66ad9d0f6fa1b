"""The in-process RTP relay: `MediaControl` on the injected reactor's UDP sockets.

Each leg of a call has, per m= line, a port pair bound on its region's bind address
(even RTP port, RTCP on RTP + 1) and facing that leg's phone. A packet arriving on leg
A's port from A's latched peer is sent from leg B's port to B's peer; RTCP likewise on
the +1 ports (and on the RTP port when the stream multiplexes it, RFC 5761).

What each SDP means for the ports (latch targets, hold, statistics) is decided in
the core (`softswitch.media.relay_plan`); this module binds and wires the sockets.

The packet path is `relay_port.RelayPort` (one per bound socket); the sockets sit behind
one epoll descriptor (`edge.polling.udp_group.SocketGroup`) on a reactor that watches file
descriptors, else each is an ordinary `listenUDP` (the same protocol either way).

A leg whose SDP does not receive on a stream (sendonly or inactive: it holds) is
sent no RTP there until a later SDP of its receives again (RTCP goes on); the port
facing it simply has no destination, so the packet path does not change.

Inactivity is checked lazily: the statistics of each stream keep the last arrival
time; one timer per call (the injected clock's `callLater`) wakes when the timeout could
have expired and either reports `MediaTimedOut` or sleeps again. It counts from the
answer, or later from when a side whose SDP had no address first names one.
"""

import select

from twisted.internet.defer import fail, gatherResults, maybeDeferred, succeed
from twisted.internet.error import CannotListenError
from twisted.internet.interfaces import IReactorFDSet
from twisted.logger import Logger

from ...media.latch import LatchPolicy
from ...media.relay_crypto import CallCrypto
from ...media.relay_call import AnswerMismatch, RelayCall, RelayLeg, UnknownLeg
from ...media.relay_plan import idle_delay, stats_config, stream_plans
from ...media.stats import ReceiverStats
from ...sdp import SdpError, SessionDescription, parse_sdp, rewrite_for_relay
from ...services.media_control import (
    CallMediaStats,
    LegMediaStats,
    MediaError,
    MediaListener,
    MediaRejected,
    MediaTimedOut,
    PortsExhausted,
    RegionConfig,
    StreamMediaStats,
    UnknownCall,
    UnknownRegion,
    UnknownTag,
)
from ..polling.udp_group import MAX_DATAGRAM, SocketGroup
from .metrics import RelayTotals
from .ports import PortAllocator
from .regions import RelayRegions
from .relay_port import LocalLeg, RelayPort, ignore_rtp
from .srtp_path import install_keys, srtp_counters

log = Logger()



class _LegStream:
    __slots__ = ("index", "media", "port", "rtp", "rtcp")

    def __init__(self, index: int, port: int, rtp: RelayPort, rtcp: RelayPort):
        self.index = index
        self.media = ""
        self.port = port
        self.rtp = rtp
        self.rtcp = rtcp

    def ports(self) -> tuple[int, int]:
        return self.port, self.port + 1


class _Leg(RelayLeg):
    """A leg and the port pairs facing its phone, one per m= line."""
    __slots__ = ("streams",)

    def __init__(self, tag: str | None):
        super().__init__(tag)
        self.streams: list[_LegStream] = []


class _Call(RelayCall):
    """A call's offer/answer state (media.relay_call) and what holds its ports."""
    __slots__ = ("region", "allocator", "timer", "crypto")

    leg_type = _Leg

    def __init__(self, call_id: str, region: RegionConfig, allocator: PortAllocator,
                 tag: str, now: float):
        super().__init__(call_id, tag, now)
        self.region = region  # as it was when the call started (relay_regions)
        self.allocator = allocator
        self.timer = None
        self.crypto = CallCrypto()  # SDES keys per leg (media.relay_crypto)

    def last_activity(self) -> float:
        """When RTP (or a non-RTP stream's packet) last arrived from either side; read
        from the streams' statistics so that the hot path writes nothing here."""
        latest = self.activity_floor
        for leg in (self.caller, self.callee):
            for stream in leg.streams:
                arrival = stream.rtp.own_stats.last_arrival
                if arrival is not None and arrival > latest:
                    latest = arrival
        return latest

    def ports(self):
        for leg in (self.caller, self.callee):
            for stream in leg.streams:
                yield stream.rtp
                yield stream.rtcp


class RtpRelay:
    """`MediaControl` in this process; see `softswitch.services.media_control`."""

    def __init__(self, reactor, regions: dict[str, RegionConfig], default_region: str,
                 inactivity_timeout: float = 60.0, *, hold_timeout: float = 3600.0,
                 latch_policy: LatchPolicy = LatchPolicy(), clock=None,
                 allow_sdes_over_insecure: bool = False,
                 between_reads=None):
        if default_region not in regions:
            raise ValueError(f"default region {default_region!r} is not configured")
        if inactivity_timeout <= 0 or hold_timeout <= 0:
            raise ValueError("timeouts must be positive")
        self._reactor = reactor
        self._clock = clock if clock is not None else reactor
        self._now = self._clock.seconds
        self._regions = RelayRegions(regions)
        self._default_region = default_region
        self._inactivity_timeout = inactivity_timeout
        self._hold_timeout = hold_timeout
        self._policy = latch_policy
        self._allow_sdes_over_insecure = allow_sdes_over_insecure
        self._calls: dict[str, _Call] = {}
        self._listener: MediaListener | None = None
        self.totals = RelayTotals()  # what deleted calls counted (edge.media.metrics)
        if IReactorFDSet.providedBy(reactor) and hasattr(select, "epoll"):
            # between_reads: the agent calls' slot ticker (edge.polling.epoll_group)
            self._listen = SocketGroup(reactor, between_reads).listen
        else:
            self._listen = self._listen_udp

    def _listen_udp(self, port: int, protocol: "RelayPort", interface: str):
        return self._reactor.listenUDP(port, protocol, interface=interface,
                                       maxPacketSize=MAX_DATAGRAM)

    # -- MediaControl ------------------------------------------------------------

    def set_listener(self, listener: MediaListener | None) -> None:
        self._listener = listener

    def offer(self, call_id: str, from_tag: str, sdp: bytes, region: str | None = None,
              *, secure: bool | None = None, encryption: str | None = None,
              require_srtp: bool = False):
        keys_allowed = secure is not False or self._allow_sdes_over_insecure
        return self._run(self._offer, call_id, from_tag, sdp, region, keys_allowed,
                         encryption, require_srtp)

    def answer(self, call_id: str, from_tag: str, to_tag: str, sdp: bytes):
        return self._run(self._answer, call_id, from_tag, to_tag, sdp)

    def query(self, call_id: str):
        return self._run(lambda: self._stats(self._call(call_id)))

    def delete(self, call_id: str, from_tag: str | None = None, to_tag: str | None = None):
        call = self._calls.get(call_id)
        if call is None:
            return fail(UnknownCall(f"no media for call {call_id!r}"))
        if to_tag is not None and to_tag != call.callee.tag:
            return succeed(self._stats(call))  # a branch that lost: nothing to end
        del self._calls[call_id]
        if call.timer is not None and call.timer.active():
            call.timer.cancel()
        self.totals.add_call(call)
        stats = self._stats(call)
        return self._close(call).addCallback(lambda _: stats)

    # -- state for metrics and tests ----------------------------------------------

    @property
    def calls(self) -> int:
        return len(self._calls)

    def live_calls(self):
        return list(self._calls.values())

    def rtp_ports(self, call_id: str) -> tuple | None:
        """The first stream's RTP ports (caller side, callee side) of a call, or None:
        where a recording taps it (edge.media.recording_source)."""
        call = self._calls.get(call_id)
        if call is None or not call.caller.streams or not call.callee.streams:
            return None
        return call.caller.streams[0].rtp, call.callee.streams[0].rtp

    def set_regions(self, regions: dict[str, RegionConfig]) -> None:
        """The regions new calls use from now on (see relay_regions); the default
        region must stay."""
        if self._default_region not in regions:
            raise ValueError(f"default region {self._default_region!r} is not configured")
        self._regions.replace(regions)

    def region_names(self) -> list[str]:
        return self._regions.names()

    def port_pairs_in_use(self, region: str) -> int:
        return self._regions.allocator(region).in_use

    def port_pairs_free(self, region: str) -> int:
        return self._regions.allocator(region).free

    def close(self):
        """Delete every call (shutdown); fires when every socket is closed."""
        return gatherResults([self.delete(call_id) for call_id in list(self._calls)],
                             consumeErrors=True)

    def attach_local(self, call_id: str, stream_index: int) -> "LocalLeg":
        """Terminate the callee side of an offered and answered call in this process
        (agent calls): the caller's RTP on stream `stream_index` goes to the returned
        LocalLeg's receiver (`LocalLeg.receive_with`) instead of out of the callee
        leg's port, and `LocalLeg.send_packets` sends to the caller from the
        caller-facing port."""
        call = self._call(call_id)
        if stream_index >= min(len(call.caller.streams), len(call.callee.streams)):
            raise UnknownCall(f"call {call_id!r} has no stream {stream_index}")
        stream = call.callee.streams[stream_index]
        callee_port = stream.rtp
        # Nobody may send to the callee side from the network while it is local: with
        # no latch its ports drop every packet (else a stranger could latch there and
        # have its RTP relayed to the caller).
        for port in (stream.rtp, stream.rtcp):
            port.latch = None
            port.peer = None
            port.dest = None  # (what is not RTP, RTCP multiplexed, has nowhere to go)
        callee_port.local = ignore_rtp
        return LocalLeg(call.caller.streams[stream_index].rtp, callee_port)

    def detach_local(self, call_id: str, stream_index: int) -> None:
        """Undo `attach_local` (a transfer): the callee port sends again, to its latched
        peer (else the address its leg's SDP advertised), so the caller's RTP goes out
        to whoever answered on the callee leg."""
        call = self._call(call_id)
        if stream_index >= len(call.callee.streams):
            raise UnknownCall(f"call {call_id!r} has no stream {stream_index}")
        port = call.callee.streams[stream_index].rtp
        port.local = None
        port.dest = port.latch.destination if port.latch is not None and not port.held \
            else None

    def callee_packets(self, call_id: str, stream_index: int) -> int:
        """RTP packets taken so far on the callee side's port of a stream (while it is
        local: early media from a transfer's human, once an answer pointed it there)."""
        call = self._calls.get(call_id)
        if call is None or stream_index >= len(call.callee.streams):
            return 0
        return call.callee.streams[stream_index].rtp.own_stats.packets

    # -- offer/answer --------------------------------------------------------------

    def _run(self, fn, *args):
        try:
            return succeed(fn(*args))
        except MediaError as exc:
            return fail(exc)

    def _call(self, call_id: str) -> _Call:
        call = self._calls.get(call_id)
        if call is None:
            raise UnknownCall(f"no media for call {call_id!r}")
        return call

    @staticmethod
    def _parse(data: bytes) -> SessionDescription:
        try:
            return parse_sdp(data)
        except SdpError as exc:
            raise MediaRejected(str(exc)) from None

    def _offer(self, call_id, from_tag, data, region_name, keys_allowed=True,
               encryption=None, require_srtp=False):
        sdp = self._parse(data)
        call = self._calls.get(call_id)
        created = call is None
        if created:
            name = region_name or self._default_region
            found = self._regions.get(name)
            if found is None:
                raise UnknownRegion(f"no media region {name!r}")
            call = _Call(call_id, *found, from_tag, self._now())
        try:
            offerer = call.offerer(from_tag)
        except UnknownLeg as exc:
            raise UnknownTag(str(exc)) from None
        answerer = call.other(offerer)
        try:
            self._ensure_streams(call, len(sdp.media))
        except PortsExhausted:
            if created:
                self._close(call)
            raise
        out = self._pointed(call, sdp, answerer)
        try:
            call.crypto.offer(offerer, answerer, sdp, out, keys_allowed, encryption,
                              require_srtp)
        except SdpError as exc:
            if created:
                self._close(call)
            raise MediaRejected(str(exc)) from None
        if created:
            self._calls[call_id] = call
        self._apply(call, offerer, sdp, new_party=False)
        call.offer = sdp
        return bytes(answerer.versioner.stamp(out))

    def _answer(self, call_id, from_tag, to_tag, data):
        call = self._call(call_id)
        sdp = self._parse(data)
        try:
            answerer, new_party = call.take_answer(from_tag, to_tag, sdp, self._now())
        except UnknownLeg as exc:
            raise UnknownTag(str(exc)) from None
        except AnswerMismatch as exc:
            raise MediaRejected(str(exc)) from None
        offerer = call.other(answerer)
        out = self._pointed(call, sdp, offerer)
        try:
            call.crypto.answer(answerer, offerer, sdp, out)
        except SdpError as exc:
            raise MediaRejected(str(exc)) from None
        self._apply(call, answerer, sdp, new_party)
        install_keys(call.crypto, (call.caller, call.callee))
        return bytes(offerer.versioner.stamp(out))

    @staticmethod
    def _pointed(call: _Call, sdp: SessionDescription, to: _Leg) -> SessionDescription:
        """A copy of `sdp` pointed at the ports facing `to`."""
        ports = [stream.ports() for stream in to.streams[:len(sdp.media)]]
        return rewrite_for_relay(sdp, call.region.advertise, ports)

    def _apply(self, call: _Call, leg: _Leg, sdp: SessionDescription, new_party: bool):
        """`leg`'s phone sent `sdp`: point its ports' latches at what it advertises
        (the plan is media.relay_plan's, hold and activity media.relay_call's)."""
        call.sdp_applied(leg, sdp, self._now())
        other = call.other(leg)
        for index, plan in enumerate(stream_plans(sdp)):
            stream = leg.streams[index]
            stream.media = plan.media
            # RTP to a leg that holds is dropped here (RTCP goes on, RFC 3264 §5.1).
            stream.rtp.held = plan.held
            stream.rtp.set_advertised(plan.rtp, new_party)
            stream.rtcp.set_advertised(plan.rtcp, new_party)
            for port in (stream.rtp, stream.rtcp, other.streams[index].rtp,
                         other.streams[index].rtcp):
                port.rtp_mode = plan.rtp_mode
                port.read_rtcp = plan.read_rtcp or port.crypto  # SRTCP read once unprotected
            clock_rate, excluded = stats_config((other.sdp, leg.sdp), index)
            for party in (leg, other):
                party.streams[index].rtp.own_stats.configure(clock_rate, excluded)
        self._arm(call)

    # -- ports ---------------------------------------------------------------------

    def _ensure_streams(self, call: _Call, count: int) -> None:
        """Bind port pairs for both legs up to `count` streams."""
        while len(call.caller.streams) < count:
            index = len(call.caller.streams)
            a = self._bind_stream(call, index)
            try:
                b = self._bind_stream(call, index)
            except PortsExhausted:
                self._close_ports(call, [a.rtp, a.rtcp])
                raise
            a.rtp.partner, b.rtp.partner = b.rtp, a.rtp
            a.rtcp.partner, b.rtcp.partner = b.rtcp, a.rtcp
            for mine, theirs in ((a, b), (b, a)):
                mine.rtp.far_stats = theirs.rtp.own_stats
                mine.rtcp.own_stats = mine.rtp.own_stats
                mine.rtcp.sibling = mine.rtp
                mine.rtcp.far_stats = theirs.rtp.own_stats
            call.caller.streams.append(a)
            call.callee.streams.append(b)

    def _bind_stream(self, call: _Call, index: int) -> _LegStream:
        region = call.region
        allocator = call.allocator
        for _ in range(allocator.free):
            port = allocator.take()
            stats = ReceiverStats()
            rtp = RelayPort(call, False, stats, self._now, self._policy)
            rtcp = RelayPort(call, True, stats, self._now, self._policy)
            rtp.number, rtcp.number = port, port + 1
            try:
                rtp.listening = self._listen(port, rtp, region.bind)
            except CannotListenError:
                allocator.release(port)
                continue
            try:
                rtcp.listening = self._listen(port + 1, rtcp, region.bind)
            except CannotListenError:
                rtp.listening.stopListening()
                allocator.release(port)
                continue
            return _LegStream(index, port, rtp, rtcp)
        raise PortsExhausted(f"region {region.name}: no free RTP port pair in "
                             f"{region.port_min}-{region.port_max}")

    def _close(self, call: _Call):
        return self._close_ports(call, list(call.ports()))

    def _close_ports(self, call: _Call, ports: list[RelayPort]):
        allocator = call.allocator
        closing = [maybeDeferred(port.listening.stopListening)
                   for port in ports if port.listening is not None]

        def release(result):
            for port in ports:
                if not port.rtcp and port.listening is not None:
                    allocator.release(port.number)
            return result

        return gatherResults(closing, consumeErrors=True).addBoth(release)

    # -- inactivity ----------------------------------------------------------------

    def _arm(self, call: _Call) -> None:
        """(Re)schedule the call's inactivity check once it is answered."""
        if call.answered is None:
            return
        if call.timer is not None and call.timer.active():
            call.timer.cancel()
        timeout = self._hold_timeout if call.on_hold else self._inactivity_timeout
        delay = idle_delay(call.last_activity(), timeout, self._now())
        call.timer = self._clock.callLater(delay, self._check_idle, call)

    def _check_idle(self, call: _Call) -> None:
        call.timer = None
        if self._calls.get(call.call_id) is not call:
            return
        timeout = self._hold_timeout if call.on_hold else self._inactivity_timeout
        idle = self._now() - call.last_activity()
        if idle < timeout:
            call.timer = self._clock.callLater(timeout - idle, self._check_idle, call)
            return
        event = MediaTimedOut(call.call_id, idle)
        self.totals.media_timed_out(call.region.name)
        if self._listener is None:
            log.info("media of call {call_id} timed out after {idle:.0f} s",
                     call_id=call.call_id, idle=idle)
            return
        try:
            self._listener(event)
        except Exception:
            log.failure("media listener failed on {event}", event=event)

    # -- statistics ----------------------------------------------------------------

    def _stats(self, call: _Call) -> CallMediaStats:
        return CallMediaStats(
            call_id=call.call_id, region=call.region.name,
            caller=self._leg_stats(call.caller), callee=self._leg_stats(call.callee),
            started=call.started, answered=call.answered, last_activity=call.last_activity())

    @staticmethod
    def _leg_stats(leg: _Leg) -> LegMediaStats:
        streams = []
        for stream in leg.streams:
            rtp, rtcp = stream.rtp, stream.rtcp
            latches = [p.latch for p in (rtp, rtcp) if p.latch is not None]
            suite, srtp_dropped = srtp_counters(rtp)  # (one context for RTP and RTCP)
            streams.append(StreamMediaStats(
                index=stream.index, media=stream.media, local_port=stream.port,
                advertised=rtp.latch.advertised if rtp.latch else None, peer=rtp.peer,
                rtp=rtp.own_stats.snapshot(),
                forwarded=rtp.forwarded + rtcp.forwarded,
                rtcp_packets=rtp.rtcp_packets + rtcp.rtcp_packets,
                dropped_foreign=sum(latch.dropped for latch in latches)
                + rtcp.dropped_stranger,
                dropped_learning=sum(latch.dropped_learning for latch in latches)
                + rtp.dropped_closed + rtcp.dropped_closed,
                malformed=rtp.malformed + rtcp.malformed,
                unrouted=rtp.unrouted + rtcp.unrouted,
                send_errors=rtp.send_errors + rtcp.send_errors,
                srtp=suite, srtp_dropped=srtp_dropped))
        return LegMediaStats(leg.tag, tuple(streams))
