"""What `AgentBridge` returns: the `Output` of every input, with its `RtpOut` packets and
`Hangup`/`Transfer`/`Handoff` actions, and the call's `BridgeStats`."""

from dataclasses import dataclass, fields
from typing import NamedTuple

from softswitch.media.jitter import JitterStats
from softswitch.media.rtp import RTP_HEADER


# RtpOut and Output are made 50 times a second per call: immutable typed tuples, built
# at a third of the cost of a frozen dataclass (whose __init__ sets each field through
# object.__setattr__). The rarer values (actions, stats) are frozen dataclasses.

class RtpOut(NamedTuple):
    """One RTP packet for the caller; `bytes(packet)` is the datagram."""

    payload: bytes
    payload_type: int
    marker: bool
    sequence_number: int
    timestamp: int
    ssrc: int
    is_event: bool = False  # an RFC 4733 telephone-event, not audio

    def __bytes__(self) -> bytes:
        return RTP_HEADER.pack(0x80, self.payload_type | (0x80 if self.marker else 0),
                               self.sequence_number, self.timestamp, self.ssrc) + self.payload


@dataclass(frozen=True, slots=True)
class Hangup:
    """End the call (BYE the caller); the agent asked for it."""

    reason: str
    headers: tuple[tuple[str, str], ...] = ()  # the agent's, for the BYE


@dataclass(frozen=True, slots=True)
class Record:
    """The agent asked to start, pause, resume or stop the call's recording."""

    action: str


@dataclass(frozen=True, slots=True)
class Transfer:
    """Dial `target` (E.164, "user:NAME" or "trunk:NAME") and bridge the caller to it;
    `warm`: keep the agent connected until the human answers."""

    target: str
    warm: bool = False
    mode: str = "bridge"  # or "refer": SIP REFER on the caller's leg
    headers: tuple[tuple[str, str], ...] = ()  # the agent's, for the human's INVITE


@dataclass(frozen=True, slots=True)
class Handoff:
    """Hand the call over to the agent named `agent` (agent.bridge_handoff)."""

    agent: str
    reason: str


class Output(NamedTuple):
    ws: tuple[str | bytes, ...] = ()
    rtp: tuple[RtpOut, ...] = ()
    actions: tuple[Hangup | Transfer | Handoff, ...] = ()
    errors: tuple[str, ...] = ()
    next_deadline: float | None = None


@dataclass(frozen=True, slots=True)
class BridgeStats:
    ws_frames_out: int  # frames sent to the agent, of every kind
    ws_frames_in: int  # frames received from the agent
    caller_frames: int  # 20 ms frames of caller audio sent to the agent
    caller_silence_frames: int  # of which silence: no caller packet yet, or held
    comfort_noise_packets: int  # caller RFC 3389 packets, heard as silence
    agent_audio_chunks: int  # audio messages from the agent
    agent_audio_ms: float  # agent audio queued for the caller (in the call's codec)
    first_agent_audio_s: float | None  # from start to the first agent audio
    rtp_packets: int  # RTP packets produced, audio and events
    agent_frames_sent: int  # RTP frames carrying agent audio (whole or padded)
    silence_frames_sent: int  # RTP frames of silence (nothing queued)
    ringback_frames_sent: int  # RTP frames of ringback (a cold transfer ringing)
    slots_skipped: int  # 20 ms slots skipped after long stalls
    stalls: int
    rtp_ignored: int  # caller packets of another payload type or not 20 ms
    concealed: int  # caller frames concealed (lost or late packets)
    late: int  # caller packets that came after their slot was played
    jitter_depth_ms: float
    jitter_delay_ms: float
    jitter_ms: float
    clears: int  # barge-ins: clear, speech started
    cleared_ms: float  # agent audio dropped by them
    marks_received: int
    marks_played: int  # acknowledged to the agent (reached or cleared)
    dtmf_in: int  # key presses sent to the agent (RFC 4733 and INFO)
    dtmf_out: int  # digits sent to the caller
    dtmf_unsent: int  # digits dropped: no telephone-event on the call
    profile_errors: int
    caller_audio_latency_ms: dict  # count, p50, p95, p99, max: RTP arrival -> agent
    agent_audio_latency_ms: dict  # the agent's chunk arrival -> its first RTP packet
    jitter: JitterStats
    caller_codec: str = "PCMU"  # the caller leg's RTP codec (PCMU, PCMA, G722)
    agent_format: str = "mulaw/8000"  # the agent leg's audio: encoding/rate

    def to_dict(self) -> dict:
        """Plain data for the call record: what `dataclasses.asdict` gives, without its
        recursion and deep copies (hundreds of calls, each at the end of every call)."""
        plain = {name: getattr(self, name) for name in _BRIDGE_FIELDS}
        plain["caller_audio_latency_ms"] = dict(self.caller_audio_latency_ms)
        plain["agent_audio_latency_ms"] = dict(self.agent_audio_latency_ms)
        jitter = self.jitter
        plain["jitter"] = {name: getattr(jitter, name) for name in _JITTER_FIELDS}
        return plain


_BRIDGE_FIELDS = tuple(f.name for f in fields(BridgeStats))
_JITTER_FIELDS = tuple(f.name for f in fields(JitterStats))


def bridge_stats(bridge) -> BridgeStats:
    """The statistics of `bridge` (agent.bridge.AgentBridge) for its call record."""
    jitter = bridge.jitter.stats()
    playout = bridge.playout
    first = bridge.first_agent_audio_at
    return BridgeStats(
        ws_frames_out=bridge.ws_frames_out, ws_frames_in=bridge.ws_frames_in,
        caller_frames=bridge.caller_frames,
        caller_silence_frames=bridge.caller_silence_frames,
        comfort_noise_packets=bridge.comfort_noise, agent_audio_chunks=bridge.agent_audio_chunks,
        agent_audio_ms=playout.enqueued_bytes / bridge.codec.playout_bytes_per_ms,
        first_agent_audio_s=(None if first is None or bridge._started_at is None
                             else max(0.0, first - bridge._started_at)),
        rtp_packets=bridge.rtp_packets,
        agent_frames_sent=playout.audio_frames + playout.padded_frames,
        silence_frames_sent=playout.silence_frames,
        ringback_frames_sent=playout.filler_frames,
        slots_skipped=bridge.pacer.skipped, stalls=bridge.pacer.stalls,
        rtp_ignored=bridge.rtp_ignored, concealed=jitter.concealed, late=jitter.late,
        jitter_depth_ms=jitter.depth_ms, jitter_delay_ms=jitter.delay_ms,
        jitter_ms=jitter.jitter_ms, clears=bridge.clears,
        cleared_ms=playout.cleared_bytes / bridge.codec.playout_bytes_per_ms,
        caller_codec=bridge.codec.name, agent_format=bridge.agent_format,
        marks_received=bridge.marks_received, marks_played=bridge.marks_played,
        dtmf_in=bridge.dtmf_in, dtmf_out=bridge.dtmf_out, dtmf_unsent=bridge.dtmf_unsent,
        profile_errors=bridge.profile_errors,
        caller_audio_latency_ms=bridge.caller_latency.summary_ms(),
        agent_audio_latency_ms=bridge.agent_latency.summary_ms(), jitter=jitter,
    )
