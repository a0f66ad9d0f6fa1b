"""One call's audio and control between the caller's RTP and the agent's WebSocket.

`AgentBridge` is pure (bring-your-own-I/O): the edge feeds it what arrives and the
time, and sends what it returns. Every input returns an `Output`:

    ws            frames for the agent's WebSocket (str: text frame, bytes: binary)
    rtp           `RtpOut` packets for the caller (bytes(packet) is the datagram)
    actions       `Hangup(reason)`, `Transfer(target, warm)` for call control
    errors        what was wrong with an agent frame that was ignored (for the log)
    next_deadline when to call `tick` next (None before `start` and after `stop`)

Inputs: `start(now, gated=False)`, `release(info, events, now)`, `report(event, now)`,
`resume(profile, now)` (a new socket after one was lost), `begin_handoff(now)`,
`complete_handoff(profile, info, now)` and `cancel_handoff(now)` (another agent takes
the call over: agent.bridge_handoff),
`finish(reason, now)` (the agent is done: hang up once its queue has played),
`rtp_received(payload_type, seq, timestamp, marker, payload, now)`,
`info_dtmf(digit, now)`, `hold(held, now)` (the caller's hold and resume),
`ws_text(text, now)`, `ws_binary(data, now)`, `tick(now)` and `stop(reason, now)`.
Times are seconds on the edge's monotonic clock. The call's inputs (all but the
media, the agent's frames and `tick`) are in `bridge_lifecycle.py`, what the agent
asks of the call besides audio in `bridge_control.py`; this module keeps the
per-frame paths.

It composes the media core: a `JitterBuffer` (caller -> agent), a `Playout` and a
`Pacer` (agent -> caller), a `DtmfDetector`, the call's G.711 codec and the conversion
to and from the profile's audio format (`codec.py`).

Clock. `start` anchors the `Pacer`; slot k is due at start + 20 ms * k, whatever time
`tick` is actually called (drift-free). Each `tick` handles the slots that have come
due since the last one:
- caller -> agent: one jitter-buffer frame per slot, each popped at its slot's own
  deadline (the buffer sees a regular 20 ms clock even when ticks are late), so the
  agent gets exactly one 20 ms `CallerAudio` per slot from the first slot on (silence
  while the caller has sent nothing or the buffer holds its first packet: agents with
  their own VAD expect a steady stream), stamped with the slot's media time
  (`slot * 20` ms since `start`). Comfort noise (RFC 3389, payload type 13) is
  filed as a silent frame in the jitter buffer, so the agent hears silence. After a stall
  every elapsed slot is still sent (a WebSocket needs no pacing and the agent should
  not lose the caller's words), up to `MAX_CATCH_UP_SLOTS`;
- agent -> caller: one RTP packet per slot the `Pacer` lets through (a short stall is
  caught up with at most `max_burst` packets back to back, a longer one is skipped),
  always a whole frame: agent audio, or silence when none is queued. Marks are
  reported when the frame that takes the last byte before them is produced
  (playout truth).

RTP out. The bridge owns the outgoing stream's header fields; the edge only sends
`bytes(packet)`. `ssrc`, `initial_seq` and `initial_timestamp` come from the edge (it
draws them at random, RFC 3550 §5.1). The sequence number advances by one per packet
sent. The timestamp is `initial_timestamp + 160 * slot` (960 for Opus, whose RTP clock is
48 kHz): it advances per slot, sent or
skipped, so after a skipped stall the caller's jitter buffer sees a pause, not a loss
nor a burst. The marker bit is set on the very first packet, on the first audio packet
after skipped slots (the timestamp jumped), and on the first packet of each DTMF event.

DTMF. From the caller: RFC 4733 packets on `rtp_event_pt` go through the
`DtmfDetector` and reach the agent as one `CallerDtmf` per key press; SIP INFO digits
come through `info_dtmf`. To the caller: an agent's digits are queued and sent one after
another as RFC 4733 events from the next slot on (not after the queued speech): each
digit's packets (first with the marker, updates, the end packet three times) take one
slot each, in place of the audio frame, so playout pauses meanwhile and resumes after;
`dtmf_gap_ms` of audio slots separate two digits. A call that negotiated no
telephone-event (`rtp_event_pt=None`) cannot carry them: they are counted
(`dtmf_unsent`) and dropped.

Barge-in. `AgentClear` (and the Realtime `SpeechStarted`) drops the queued audio at once
and acknowledges the pending marks. For `SpeechStarted` the bridge then sends the
profile's `truncate(ms)`, with the ms of the current response actually taken for
sending. `ResponseStarted` restarts that count — at once if nothing older is queued,
else when playout reaches the new response (within the 20 ms frame where the two meet);
a barge-in before that reports 0 ms for the new response.

Hangup. `AgentHangup` becomes a `Hangup` action once the audio the agent queued before it
has been sent (its goodbye is heard), like a mark; at once if playout has not started.
`AgentTransfer` becomes a `Transfer` action at once (dialling the human overlaps the
agent's last words).

L16 agents at 16/24 kHz. The agent -> caller resampler holds back 15-25 ms; that tail is
flushed into playout before a mark or a hangup (so they stay on playout truth) and when
the agent has paused (playout has less than a frame left and no agent audio came for
`AGENT_PAUSE`), so the end of an utterance is not held until the next one. A flush
restarts the resampler's filter, which is inaudible at the end of an utterance but would
not be every 20 ms: an agent streaming in real time is therefore not flushed between
its chunks.

Latency. `caller_latency` counts, per caller frame sent to the agent, the time from its
RTP packet's arrival to the tick that sends it (the jitter buffer's hold included);
`agent_latency`, per chunk of agent audio, the time from its arrival to the tick that
takes its first byte into an RTP packet (the wait behind audio queued before it
included; chunks cleared before playing are not counted). Both are
`media.latency.LatencyHistogram`s, cheap enough for every frame.

Gate (answering-machine detection that waits for its result, docs/amd.md). `start`
with `gated=True` runs the call's schedule (the caller hears silence) but tells the
agent nothing yet: the caller's frames are held, the newest `MAX_GATED_SLOTS` of them.
`release(info, events, now)` then sends the start (with `info`, the call's details and
what answered), the `events` and the held frames with their own media times, so the
agent hears what was said while it waited. `report(event, now)` sends one event to a
started agent (held with the frames while gated).

Malformed agent frames (`ProfileError`, or anything the profile chokes on) are
counted in `profile_errors`, described in `Output.errors`, and ignored; nothing raises
out of an input. Per-frame processing time is the edge's to measure.
"""

from collections import deque

from softswitch.agent.bridge_control import AgentControl, ResponseBoundary
from softswitch.agent.bridge_handoff import HandoffControl
from softswitch.agent.bridge_lifecycle import MAX_GATED_SLOTS, CallLifecycle
from softswitch.agent.bridge_output import (
    BridgeStats,
    Hangup,
    Output,
    Record,
    RtpOut,
    Transfer,
    bridge_stats,
)
from softswitch.agent.codec import AgentToCaller, CallerToAgent, call_codec
from softswitch.agent.events import (
    DTMF_DIGITS,
    AgentAudio,
    AgentClear,
    AgentDtmf,
    AgentHandoff,
    AgentHangup,
    AgentMark,
    AgentRecording,
    AgentTransfer,
    CallerAudio,
    CallerDtmf,
    CallInfo,
    MarkPlayed,
    ResponseStarted,
    SpeechStarted,
)
from softswitch.agent.profiles import ProfileError
from softswitch.media.dtmf import DtmfDetector, DtmfGenerator, DtmfPacket
from softswitch.media.jitter import JitterBuffer
from softswitch.media.latency import LatencyHistogram
from softswitch.media.playout import Pacer, Playout

FRAME_MS = 20
COMFORT_NOISE_PT = 13  # RFC 3551 static payload type of RFC 3389 comfort noise
MAX_CATCH_UP_SLOTS = 50  # caller audio sent to the agent after one stall: 1 s at most
AGENT_PAUSE = 0.040  # no agent audio for this long (s) with playout running dry: a pause
_AGENT_FRAME_ERRORS = (ProfileError, ValueError, TypeError, KeyError, AttributeError)
__all__ = ["MAX_GATED_SLOTS", "AgentBridge", "BridgeStats", "Hangup", "Output", "Record",
           "RtpOut", "Transfer"]


class AgentBridge(CallLifecycle, AgentControl, HandoffControl):
    """One call's bridge. `profile` is a wire profile (`profiles.make_profile`), `codec`
    the call's G.711 law ("PCMU" or "PCMA"), `rtp_event_pt` the negotiated
    telephone-event payload type (None if none); the jitter options are the
    `JitterBuffer`'s, `max_burst` the `Pacer`'s; `ssrc`, `initial_seq` and
    `initial_timestamp` start the outgoing RTP stream."""

    def __init__(self, profile, info: CallInfo, *, codec: str = "PCMU",
                 rtp_event_pt: int | None = None, target_ms: float = 60,
                 min_delay_ms: float = 20, max_delay_ms: float = 200, max_burst: int = 3,
                 ssrc: int = 0, initial_seq: int = 0, initial_timestamp: int = 0,
                 dtmf_duration_ms: int = 100, dtmf_gap_ms: int = 40, now: float,
                 payload_type: int | None = None):
        self.profile = profile
        self.info = info
        self.codec = call_codec(codec, payload_type)
        if rtp_event_pt is not None and (not 0 <= rtp_event_pt <= 127
                                         or rtp_event_pt == self.codec.payload_type):
            raise ValueError(f"telephone-event payload type {rtp_event_pt}")
        self.rtp_event_pt = rtp_event_pt
        self.created_at = now
        clock = self.codec.clock_rate
        self.jitter = JitterBuffer(clock, FRAME_MS, min_delay_ms, max_delay_ms, target_ms,
                                   silence=self.codec.silence, attenuate=self.codec.conceal)
        self.playout = Playout(len(self.codec.playout_frame), self.codec.playout_frame,
                               FRAME_MS)
        self._ts_step = clock * FRAME_MS // 1000  # RTP clock ticks per 20 ms
        self._wire_bytes = self.codec.wire_frame_bytes
        self._packetize = self.codec.packetize
        self.pacer = Pacer(FRAME_MS / 1000, max_burst)
        self.detector = DtmfDetector()
        self._up = CallerToAgent(self.codec, profile.audio_format)
        self._down = AgentToCaller(profile.audio_format, self.codec)
        self._ssrc = ssrc & 0xFFFFFFFF
        self._seq = initial_seq & 0xFFFF
        self._ts0 = initial_timestamp & 0xFFFFFFFF
        self._marker = True  # the next audio packet carries the marker bit
        self._dtmf_duration_ms = dtmf_duration_ms
        self._dtmf_gap_slots = -(-dtmf_gap_ms // FRAME_MS)
        DtmfGenerator("1", dtmf_duration_ms)  # (checks the duration now, not mid-call)
        self._dtmf_digits: deque[str] = deque()
        self._dtmf_packets: deque[DtmfPacket | None] = deque()
        self._started_at: float | None = None
        self._gated: deque | None = None  # frames held until `release` (gated start)
        self._closed = False
        self._boundaries = 0  # response boundaries queued, not yet reached
        self._hangup_requested = False
        self._held = False  # the caller put the call on hold: no RTP goes out
        self._last_agent_audio = now
        self._quiet = Output()  # nothing to do; carries the current next_deadline
        self._handlers = {
            AgentAudio: self._on_audio, AgentMark: self._on_mark, AgentClear: self._on_clear,
            AgentDtmf: self._on_dtmf, AgentHangup: self._on_hangup,
            AgentTransfer: self._on_transfer, SpeechStarted: self._on_speech_started,
            ResponseStarted: self._on_response_started,
            AgentRecording: lambda event, now, ws, actions: actions.append(Record(event.action)),
            AgentHandoff: self._on_handoff,
        }
        self.ws_frames_out = self.ws_frames_in = self.caller_frames = 0
        self.caller_silence_frames = self.comfort_noise = 0
        self.agent_audio_chunks = 0
        self.first_agent_audio_at: float | None = None
        self.rtp_packets = self.rtp_ignored = 0
        self.marks_received = self.marks_played = 0
        self.dtmf_in = self.dtmf_out = self.dtmf_unsent = 0
        self.clears = self.profile_errors = 0
        self.caller_latency = LatencyHistogram()
        self.agent_latency = LatencyHistogram()
        self._chunk_arrivals: deque[tuple[int, float]] = deque()  # (stream position, time)
        # A call being recorded: a media.recording.SlotRecorder, given each slot's
        # G.711 frame of both directions (caller 0, agent 1); it only copies.
        self.recorder = None

    # --- inputs (the call's: bridge_lifecycle.py) ---

    @property
    def agent_format(self) -> str:
        """The agent leg's audio as encoding/rate (call record and metrics)."""
        fmt = self.profile.audio_format
        return f"{fmt.encoding}/{fmt.sample_rate}"

    def rtp_received(self, payload_type: int, seq: int, timestamp: int, marker: bool,
                     payload: bytes, now: float) -> Output:
        if self._closed:
            return self._quiet
        if payload_type == self.codec.payload_type:
            size = self._wire_bytes
            if len(payload) == size or (size is None and payload):
                self.jitter.push(seq, timestamp, payload, now)
            else:  # another packet time: the switch offers ptime 20 only
                self.rtp_ignored += 1
            return self._quiet
        if payload_type == self.rtp_event_pt:
            digit = self.detector.push(timestamp, marker, payload)
            if digit is not None:
                return self._caller_dtmf(digit.digit)
            return self._quiet
        if payload_type == COMFORT_NOISE_PT:
            # The caller went quiet (RFC 3389): its slot is silence, and so is what
            # follows until speech returns (concealment repeats a silent frame).
            self.comfort_noise += 1
            self.jitter.push(seq, timestamp, self.codec.silence, now)
            return self._quiet
        self.rtp_ignored += 1  # a payload type never negotiated
        return self._quiet

    def info_dtmf(self, digit: str, now: float) -> Output:
        """A digit the caller sent by SIP INFO (parsed by `dtmf.parse_info_dtmf`)."""
        if self._closed or len(digit) != 1 or digit.upper() not in DTMF_DIGITS:
            return self._quiet
        return self._caller_dtmf(digit.upper())

    def ws_text(self, text: str, now: float) -> Output:
        return self._from_agent(self.profile.decode_text, text, now)

    def ws_binary(self, data: bytes, now: float) -> Output:
        return self._from_agent(self.profile.decode_binary, data, now)

    def tick(self, now: float) -> Output:
        """Send what the 20 ms slots due by `now` call for."""
        if self._started_at is None or self._closed:
            return self._idle()
        pacer = self.pacer
        first = pacer.slot
        due = pacer.tick(now)
        if not due:
            return self._quiet
        end = pacer.slot
        ws: list = []
        rtp: list = []
        actions: list = []
        encode = self.profile.encode if self._gated is None else self._hold
        convert = self._up.convert
        pop = self.jitter.pop
        deadline = pacer.deadline
        observe = self.caller_latency.observe
        recorder = self.recorder
        for slot in range(max(first, end - MAX_CATCH_UP_SLOTS), end):
            frame = pop(deadline(slot))
            if frame is not None:
                ws += encode(CallerAudio(convert(frame.payload), slot * FRAME_MS))
                if frame.arrived is not None:
                    observe(now - frame.arrived)
            else:  # no caller packet yet (or still held): the agent hears silence
                ws += encode(CallerAudio(convert(self.codec.silence), slot * FRAME_MS))
                self.caller_silence_frames += 1
            if recorder is not None:
                recorder.write(0, slot, self.codec.silence if frame is None else frame.payload)
            self.caller_frames += 1
        self.ws_frames_out += len(ws)
        if end - first > due:  # slots were skipped: the timestamp jumps
            self._marker = True
        playout = self.playout
        arrivals = self._chunk_arrivals
        for slot in range(end - due, end):
            timestamp = (self._ts0 + self._ts_step * slot) & 0xFFFFFFFF
            if self._dtmf_digits or self._dtmf_packets:
                packet = self._next_dtmf_packet(timestamp)
                if packet is not None:
                    rtp.append(RtpOut(packet.payload, self.rtp_event_pt, packet.marker,
                                      self._seq, packet.timestamp, self._ssrc, True))
                    self._seq = (self._seq + 1) & 0xFFFF
                    continue
            if self._down.holding and playout.queued_ms() < FRAME_MS \
                    and now - self._last_agent_audio >= AGENT_PAUSE:
                playout.enqueue(self._down.flush())  # the agent paused: play the tail
            frame, reached = playout.next_frame()
            if recorder is not None:
                recorder.write(1, slot, frame)
            if arrivals:
                taken = playout.taken
                while arrivals and arrivals[0][0] < taken:
                    self.agent_latency.observe(now - arrivals.popleft()[1])
            if self._packetize is not None:
                frame = self._packetize(frame)
            rtp.append(RtpOut(frame, self.codec.payload_type, self._marker, self._seq,
                              timestamp, self._ssrc))
            self._seq = (self._seq + 1) & 0xFFFF
            self._marker = False
            if reached:
                self._reached(reached, ws, actions)
        if self._held:
            # The caller holds: nothing is sent (playout and marks go on). The sequence
            # number is taken back so the caller sees a pause, not a loss, on resume.
            self._seq = (self._seq - len(rtp)) & 0xFFFF
            self._marker = True
            rtp = []
        self.rtp_packets += len(rtp)
        self._quiet = quiet = Output(next_deadline=pacer.next_deadline())
        return Output(tuple(ws), tuple(rtp), tuple(actions), (), quiet.next_deadline)

    # --- reading ---

    def next_deadline(self) -> float | None:
        if self._started_at is None or self._closed:
            return None
        return self.pacer.next_deadline()

    @property
    def started_at(self) -> float | None:
        """When `start` anchored the schedule (the answer), or None."""
        return self._started_at

    @property
    def closed(self) -> bool:
        return self._closed

    def stats(self) -> BridgeStats:
        return bridge_stats(self)

    # --- internals: to the agent ---

    def _encode(self, event) -> list:
        frames = self.profile.encode(event)
        self.ws_frames_out += len(frames)
        return frames

    def _caller_dtmf(self, digit: str) -> Output:
        self.dtmf_in += 1
        # (nothing goes to the agent before its start message: `report` sees to it)
        return self.report(CallerDtmf(digit), 0.0)

    def _reached(self, items: list, ws: list, actions: list) -> None:
        """Marks the playout reached (or a clear released), in order."""
        for item in items:
            if type(item) is str:
                self.marks_played += 1
                ws += self._encode(MarkPlayed(item))
            elif type(item) is ResponseBoundary:
                self._boundaries -= 1
                self.playout.reset_played()
            else:
                actions.append(Hangup(item.reason, item.headers))

    # --- internals: from the agent ---

    def _from_agent(self, decode, data, now: float) -> Output:
        if self._closed:
            return self._quiet
        self.ws_frames_in += 1
        try:
            events = decode(data)
        except _AGENT_FRAME_ERRORS as exc:
            return self._agent_error(exc)
        if len(events) == 1 and type(events[0]) is AgentAudio:  # the hot path
            try:
                self._on_audio(events[0], now, None, None)
            except _AGENT_FRAME_ERRORS as exc:
                return self._agent_error(exc)
            return self._quiet
        ws: list = []
        actions: list = []
        errors = ()
        for event in events:
            handler = self._handlers.get(type(event))
            if handler is None:
                continue
            try:
                handler(event, now, ws, actions)
            except _AGENT_FRAME_ERRORS as exc:
                self.profile_errors += 1
                errors += (f"{type(event).__name__}: {exc}",)
        return self._output(ws, actions, errors)

    def _agent_error(self, exc: Exception) -> Output:
        self.profile_errors += 1
        return Output(errors=(f"{type(exc).__name__}: {exc}",),
                      next_deadline=self._quiet.next_deadline)

    def _on_audio(self, event: AgentAudio, now: float, ws, actions) -> None:
        if self.first_agent_audio_at is None:
            self.first_agent_audio_at = now
        self._last_agent_audio = now
        self.agent_audio_chunks += 1
        coded = self._down.convert(event.audio)
        if coded:
            self._chunk_arrivals.append((self.playout.written, now))
            self.playout.enqueue(coded)

    def _flush_down(self) -> None:
        if self._down.holding:
            self.playout.enqueue(self._down.flush())

    # --- internals: to the caller ---

    def _next_dtmf_packet(self, timestamp: int) -> DtmfPacket | None:
        """The DTMF packet for this slot, or None for an audio slot."""
        packets = self._dtmf_packets
        if not packets and self._dtmf_digits:
            digit = self._dtmf_digits.popleft()
            packets.extend(DtmfGenerator(digit, self._dtmf_duration_ms,
                                         clock_rate=self.codec.clock_rate, timestamp=timestamp,
                                         packet_ms=FRAME_MS))
            packets.extend([None] * self._dtmf_gap_slots)
            self.dtmf_out += 1
        return packets.popleft() if packets else None

    # --- internals: outputs ---

    def _count(self, frames: list) -> list:
        self.ws_frames_out += len(frames)
        return frames

    def _output(self, ws=(), actions=(), errors=()) -> Output:
        if not ws and not actions and not errors:
            return self._quiet
        return Output(tuple(ws), (), tuple(actions), tuple(errors), self._quiet.next_deadline)

    def _idle(self) -> Output:
        return self._quiet
