"""RTP relay metrics by region, added up from the calls when /metrics is scraped.

The relay's ports count every packet in plain attributes (`relay_port.RelayPort`, their
`media.stats.ReceiverStats` and `media.latch.Latch`); nothing per packet touches
prometheus_client. `RelayTotals` keeps what deleted calls left behind (`add_call`, at
delete) and the media timeouts; the collector adds the live calls to it at scrape time,
so the counters only grow.
"""

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from ...media.latency import LatencyHistogram
from .srtp_path import srtp_counters

# RFC 3550 interarrival jitter of a stream at its end: 1 ms to 0.5 s.
JITTER_BOUNDS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2, 0.5)

# name, help; counted per region by `_count_call`, in this order
_COUNTERS = (
    ("softswitch_relay_rtp_packets_received",
     "RTP packets received from phones and carriers (accepted from the latched peer)"),
    ("softswitch_relay_rtp_bytes_received", "Bytes of those RTP packets"),
    ("softswitch_relay_rtp_packets_lost",
     "RTP packets lost on the way to the relay (RFC 3550, from sequence numbers)"),
    ("softswitch_relay_packets_forwarded", "RTP and RTCP packets sent on to the other side"),
    ("softswitch_relay_rtcp_packets", "RTCP packets received"),
)
# why a packet was not relayed (the `reason` label)
# ("srtp": not authentic, replayed, or not protectable toward an SRTP leg)
DROP_REASONS = ("stranger", "learning", "before_sdp", "malformed", "unrouted", "send_error",
                "srtp")


def _count_call(call, counts: list, drops: dict) -> None:
    for leg in (call.caller, call.callee):
        for stream in leg.streams:
            rtp, rtcp = stream.rtp, stream.rtcp
            stats = rtp.own_stats  # (the RTCP port shares it)
            counts[0] += stats.packets
            counts[1] += stats.bytes
            counts[2] += max(0, stats.lost)
            counts[3] += rtp.forwarded + rtcp.forwarded
            counts[4] += rtp.rtcp_packets + rtcp.rtcp_packets
            drops["srtp"] += srtp_counters(rtp)[1]  # (one context for RTP and RTCP)
            for port in (rtp, rtcp):
                latch = port.latch
                if latch is not None:
                    drops["stranger"] += latch.dropped
                    drops["learning"] += latch.dropped_learning
                drops["stranger"] += port.dropped_stranger
                drops["before_sdp"] += port.dropped_closed
                drops["malformed"] += port.malformed
                drops["unrouted"] += port.unrouted
                drops["send_error"] += port.send_errors


class _RegionTotals:
    __slots__ = ("counts", "drops", "timeouts", "jitter")

    def __init__(self):
        self.counts = [0] * len(_COUNTERS)
        self.drops = dict.fromkeys(DROP_REASONS, 0)
        self.timeouts = 0
        self.jitter = LatencyHistogram(JITTER_BOUNDS)


class RelayTotals:
    """What ended calls left behind, by region (kept by the relay)."""

    def __init__(self):
        self._regions: dict[str, _RegionTotals] = {}

    def region(self, name: str) -> _RegionTotals:
        totals = self._regions.get(name)
        if totals is None:
            totals = self._regions[name] = _RegionTotals()
        return totals

    def regions(self):
        return self._regions.items()

    def add_call(self, call) -> None:
        """`call` (an edge.media.relay._Call) is deleted: keep its counts."""
        totals = self.region(call.region.name)
        _count_call(call, totals.counts, totals.drops)
        for leg in (call.caller, call.callee):
            for stream in leg.streams:
                stats = stream.rtp.own_stats
                if stats.packets > 1:
                    totals.jitter.observe(stats.snapshot().jitter_ms / 1000.0)

    def media_timed_out(self, region: str) -> None:
        self.region(region).timeouts += 1


class RelayMetrics:
    """A prometheus_client collector over `relay` (an edge.media.relay.RtpRelay)."""

    def __init__(self, relay):
        self._relay = relay

    def describe(self):
        return []  # (collected on scrape only; nothing to check at registration)

    def collect(self):
        relay = self._relay
        live: dict[str, tuple[list, dict, int]] = {}
        for call in relay.live_calls():
            counts, drops, calls = live.setdefault(
                call.region.name, ([0] * len(_COUNTERS), dict.fromkeys(DROP_REASONS, 0), 0))
            _count_call(call, counts, drops)
            live[call.region.name] = (counts, drops, calls + 1)
        regions = sorted(set(live) | {name for name, _ in relay.totals.regions()}
                         | set(relay.region_names()))
        families = [CounterMetricFamily(name, text, labels=["region"])
                    for name, text in _COUNTERS]
        dropped = CounterMetricFamily("softswitch_relay_packets_dropped",
                                      "Packets the relay did not pass on, by reason",
                                      labels=["region", "reason"])
        timeouts = CounterMetricFamily("softswitch_relay_media_timeouts",
                                       "Calls whose media went quiet for the inactivity timeout",
                                       labels=["region"])
        active = GaugeMetricFamily("softswitch_relay_calls", "Calls with media on the relay",
                                   labels=["region"])
        in_use = GaugeMetricFamily("softswitch_relay_port_pairs_in_use",
                                   "RTP/RTCP port pairs bound", labels=["region"])
        free = GaugeMetricFamily("softswitch_relay_port_pairs_free",
                                 "RTP/RTCP port pairs left in the region's range",
                                 labels=["region"])
        jitter = HistogramMetricFamily(
            "softswitch_relay_stream_jitter_seconds",
            "RFC 3550 interarrival jitter of each ended stream, as received", labels=["region"])
        for region in regions:
            ended = relay.totals.region(region)
            counts, drops, calls = live.get(region, ((0,) * len(_COUNTERS), {}, 0))
            for family, total, now in zip(families, ended.counts, counts):
                family.add_metric([region], total + now)
            for reason in DROP_REASONS:
                dropped.add_metric([region, reason], ended.drops[reason] + drops.get(reason, 0))
            timeouts.add_metric([region], ended.timeouts)
            active.add_metric([region], calls)
            if region in relay.region_names():
                in_use.add_metric([region], relay.port_pairs_in_use(region))
                free.add_metric([region], relay.port_pairs_free(region))
            histogram = ended.jitter
            jitter.add_metric([region], histogram.cumulative(), histogram.sum)
        yield from families
        yield from (dropped, timeouts, active, in_use, free, jitter)
