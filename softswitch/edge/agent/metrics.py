"""Agent-call media metrics, added up from the calls when /metrics is scraped.

Per-frame figures are counted where they happen, in each call's bridge
(`media.latency.LatencyHistogram`s and plain counters): nothing per 20 ms frame touches
prometheus_client. This collector adds up the live calls and what the ended calls left
behind (`ended`) at scrape time, so counters only grow and histograms are complete.
"""

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeHistogramMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)

from ...media.latency import LATENCY_BOUNDS, LatencyHistogram

# Processing time of one call's 20 ms slot: 50 us to 20 ms.
SLOT_BOUNDS = (0.00005, 0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02)
FIRST_AUDIO_BOUNDS = (0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0)
JITTER_DEPTH_BOUNDS = (0.02, 0.04, 0.06, 0.08, 0.1, 0.12, 0.16, 0.2, 0.3)
# Answering-machine detection: answer to decision, 1 to 30 s.
AMD_DECISION_BOUNDS = (1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 5.0, 7.5, 10.0, 30.0)

# name, help, how to read it from a bridge
_COUNTERS = (
    ("softswitch_agent_caller_frames", "20 ms frames of caller audio sent to agents",
     lambda b: b.caller_frames),
    ("softswitch_agent_concealed_frames",
     "Caller frames the jitter buffer concealed (lost or late packets)",
     lambda b: b.jitter.concealed),
    ("softswitch_agent_late_packets", "Caller packets that came after their slot was played",
     lambda b: b.jitter.late),
    ("softswitch_agent_clears", "Barge-ins: agent clears and speech-started events",
     lambda b: b.clears),
    ("softswitch_agent_marks_received", "Marks received from agents",
     lambda b: b.marks_received),
    ("softswitch_agent_marks_played",
     "Marks acknowledged to agents (played, or released by a clear)",
     lambda b: b.marks_played),
    ("softswitch_agent_slots_skipped", "20 ms slots skipped after stalls of the switch",
     lambda b: b.pacer.skipped),
    ("softswitch_agent_dtmf_in", "Caller key presses sent to agents", lambda b: b.dtmf_in),
    ("softswitch_agent_dtmf_out", "Agent digits sent to callers", lambda b: b.dtmf_out),
    ("softswitch_agent_profile_errors", "Agent messages ignored as malformed",
     lambda b: b.profile_errors),
)


class AgentMediaMetrics:
    """A prometheus_client collector; sessions are `begun(bridge)` and `ended(bridge)`."""

    def __init__(self):
        self._live: set = set()
        self.slot_seconds = LatencyHistogram(SLOT_BOUNDS)  # every call's slots
        self._first_audio = LatencyHistogram(FIRST_AUDIO_BOUNDS)
        self._first_counted: set = set()  # live bridges whose first audio is counted
        self._caller = LatencyHistogram(LATENCY_BOUNDS)  # of the ended calls
        self._agent = LatencyHistogram(LATENCY_BOUNDS)
        self._ended = [0] * len(_COUNTERS)
        self._codecs: dict[tuple[str, str], int] = {}  # (caller codec, agent format)
        # answering-machine detection (outbound calls that ask): results, greeting ends
        self.amd_results = {"human": 0, "machine": 0, "unknown": 0}
        self.amd_machine_ends = {"beep": 0, "silence": 0, "timeout": 0}
        self.amd_decision = LatencyHistogram(AMD_DECISION_BOUNDS)

    def amd_event(self, event) -> None:
        """A detector event of a call (media.amd.AmdDecided or MachineEnded)."""
        result = getattr(event, "result", None)
        if result is not None:
            self.amd_results[result] += 1
            self.amd_decision.observe(event.at_ms / 1000)
        else:
            self.amd_machine_ends[event.cause] += 1

    def begun(self, bridge) -> None:
        self._live.add(bridge)
        # (codec names and agent formats are a small fixed set: bounded labels)
        key = (bridge.codec.name, bridge.agent_format)
        self._codecs[key] = self._codecs.get(key, 0) + 1

    def ended(self, bridge) -> None:
        if bridge not in self._live:
            return
        self._live.discard(bridge)
        self._count_first_audio(bridge)
        self._first_counted.discard(bridge)
        self._caller.add(bridge.caller_latency)
        self._agent.add(bridge.agent_latency)
        for index, (_, _, read) in enumerate(_COUNTERS):
            self._ended[index] += read(bridge)

    def _count_first_audio(self, bridge) -> None:
        if bridge in self._first_counted:
            return
        stats_first, started = bridge.first_agent_audio_at, bridge.started_at
        if stats_first is not None and started is not None:
            self._first_counted.add(bridge)
            self._first_audio.observe(max(0.0, stats_first - started))

    # -- Collector ------------------------------------------------------------------------
    def describe(self):
        return []  # (collected only when scraped)

    def collect(self):
        live = list(self._live)
        for bridge in live:
            self._count_first_audio(bridge)
        caller, agent = _sum(self._caller, live, "caller_latency"), \
            _sum(self._agent, live, "agent_latency")
        yield _histogram("softswitch_agent_caller_audio_latency_seconds",
                         "Caller audio: RTP arrival to the WebSocket send (jitter buffer "
                         "hold included)", caller)
        yield _histogram("softswitch_agent_audio_latency_seconds",
                         "Agent audio: WebSocket arrival to its first RTP packet (waiting "
                         "behind queued audio included)", agent)
        yield _histogram("softswitch_agent_first_audio_seconds",
                         "Answer to the agent's first audio", self._first_audio)
        yield _histogram("softswitch_agent_frame_seconds",
                         "Processing time of one 20 ms agent-bridge slot (caller audio to "
                         "the agent, agent audio to RTP)", self.slot_seconds)
        for index, (name, text, read) in enumerate(_COUNTERS):
            family = CounterMetricFamily(name, text)
            family.add_metric([], self._ended[index] + sum(read(b) for b in live))
            yield family
        family = CounterMetricFamily(
            "softswitch_agent_calls_by_codec",
            "Agent calls bridged, by the caller leg's codec and the agent leg's audio format",
            labels=["codec", "agent_format"])
        for (codec, agent_format), count in sorted(self._codecs.items()):
            family.add_metric([codec, agent_format], count)
        yield family
        depth = LatencyHistogram(JITTER_DEPTH_BOUNDS)
        for bridge in live:
            depth.observe(bridge.jitter.depth_ms / 1000)
        family = GaugeHistogramMetricFamily(
            "softswitch_agent_jitter_depth_seconds",
            "Caller audio buffered in the jitter buffers of the calls up now",
            buckets=depth.cumulative(), gsum_value=depth.sum)
        yield family
        results = CounterMetricFamily("softswitch_amd_results",
                                      "Answering-machine detection results",
                                      labels=["result"])
        for result, count in self.amd_results.items():
            results.add_metric([result], count)
        yield results
        ends = CounterMetricFamily("softswitch_amd_machine_ends",
                                   "Machine greetings whose end was found, by how",
                                   labels=["cause"])
        for cause, count in self.amd_machine_ends.items():
            ends.add_metric([cause], count)
        yield ends
        yield _histogram("softswitch_amd_decision_seconds",
                         "Answer to the answering-machine detection's result",
                         self.amd_decision)
        gauge = GaugeMetricFamily("softswitch_agent_calls_active",
                                  "Agent calls with their media bridged now")
        gauge.add_metric([], len(live))
        yield gauge


def _sum(ended: LatencyHistogram, live: list, attribute: str) -> LatencyHistogram:
    total = LatencyHistogram(ended.bounds)
    total.add(ended)
    for bridge in live:
        total.add(getattr(bridge, attribute))
    return total


def _histogram(name: str, text: str, counts: LatencyHistogram) -> HistogramMetricFamily:
    return HistogramMetricFamily(name, text, buckets=counts.cumulative(),
                                 sum_value=counts.sum)
