"""The agent bridge driven by explicit times: the caller's RTP in and out, the agent's
WebSocket frames in and out, for each profile and both G.711 laws."""

import base64
import dataclasses
import json
import random

import numpy as np
import pytest

from softswitch.agent.bridge import (
    AGENT_PAUSE, MAX_CATCH_UP_SLOTS, AgentBridge, BridgeStats, Hangup, Output, RtpOut, Transfer,
)
from softswitch.agent.codec import AgentToCaller, CallerToAgent, call_codec
from softswitch.agent.events import AudioFormat, CallInfo
from softswitch.agent.profiles import make_profile
from softswitch.media.dtmf import DtmfDetector, DtmfGenerator, TelephoneEvent
from softswitch.media.g711 import (
    SILENCE_ALAW, SILENCE_ULAW, alaw_decode, alaw_encode, alaw_to_ulaw, ulaw_decode,
    ulaw_encode, ulaw_to_alaw,
)
from softswitch.media.rtp import RtpPacket

T0 = 100.0
SLOT = 0.02
EVENT_PT = 101
SSRC = 0x11223344
SEQ0 = 65530  # wraps during the tests
TS0 = 0xFFFFFF00
INFO = CallInfo("CA1", "MZ1", "AC1", "+12125550123", "+14155550100", did="+14155550100",
                custom_parameters={"tier": "gold"})


def make(profile="twilio", codec="PCMU", event_pt=EVENT_PT, **options):
    profile_options = {k: options.pop(k) for k in ("sample_rate",) if k in options}
    return AgentBridge(make_profile(profile, **profile_options), INFO, codec=codec,
                       rtp_event_pt=event_pt, ssrc=SSRC, initial_seq=SEQ0,
                       initial_timestamp=TS0, now=T0, **options)


def text(x):
    return json.dumps(x, separators=(",", ":"))


def media_message(audio: bytes) -> str:
    return text({"event": "media", "streamSid": "MZ1",
                 "media": {"payload": base64.b64encode(audio).decode()}})


def ulaw_sine(freq, frames, amplitude=8000, rate=8000, start=0):
    t = (np.arange(160 * frames) + start) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def pcm_sine(freq, seconds, rate, amplitude=8000):
    t = np.arange(int(rate * seconds)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def dominant_hz(samples, rate):
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return np.argmax(spectrum) * rate / len(samples)


def sine_snr(x, freq, rate):
    """Signal to noise and distortion of `x` against the best-fitting sine at `freq`."""
    t = np.arange(len(x)) / rate
    basis = np.stack([np.sin(2 * np.pi * freq * t), np.cos(2 * np.pi * freq * t),
                      np.ones_like(t)], 1)
    coef, *_ = np.linalg.lstsq(basis, x, rcond=None)
    fit = basis @ coef
    return 10 * np.log10(np.sum(fit ** 2) / np.sum((x - fit) ** 2))


def best_match(reference, signal, max_lag):
    """(lag, SNR in dB) of `signal` against `reference` delayed by the best lag."""
    best = (0, -np.inf)
    n = len(reference) - max_lag
    ref = reference[:n].astype(np.float64)
    for lag in range(max_lag):
        seg = signal[lag:lag + n].astype(np.float64)
        if len(seg) < n:
            break
        noise = np.sum((seg - ref) ** 2)
        snr = 10 * np.log10(np.sum(ref ** 2) / max(noise, 1e-9))
        if snr > best[1]:
            best = (lag, snr)
    return best


class Sim:
    """Drives a bridge: RTP arrivals and agent frames at given times, `tick` at each
    `next_deadline` (plus `lateness`), everything recorded with the time it came out."""

    def __init__(self, bridge, lateness=lambda t: 0.0):
        self.bridge = bridge
        self.lateness = lateness
        self.now = T0
        self.ws = []  # (time, frame)
        self.rtp = []  # (time, RtpOut)
        self.actions = []  # (time, action)
        self.errors = []
        self.ticks = []  # (time, Output)
        self.inputs = []  # (time, order, callable)

    def take(self, out: Output):
        assert isinstance(out, Output)
        self.ws += [(self.now, f) for f in out.ws]
        self.rtp += [(self.now, p) for p in out.rtp]
        self.actions += [(self.now, a) for a in out.actions]
        self.errors += list(out.errors)
        return out

    def start(self):
        return self.take(self.bridge.start(self.now))

    def at(self, t, fn):
        self.inputs.append((t, len(self.inputs), fn))

    def caller_packets(self, packets):
        """packets: (arrival time, pt, seq, ts, marker, payload)."""
        for t, pt, seq, ts, marker, payload in packets:
            self.at(t, lambda now, a=(pt, seq, ts, marker, payload):
                    self.bridge.rtp_received(*a, now))

    def agent_text(self, t, message):
        self.at(t, lambda now: self.bridge.ws_text(message, now))

    def agent_binary(self, t, data):
        self.at(t, lambda now: self.bridge.ws_binary(data, now))

    def run(self, until):
        self.inputs.sort(key=lambda e: (e[0], e[1]))
        while True:
            deadline = self.bridge.next_deadline()
            tick_at = None if deadline is None else deadline + self.lateness(deadline)
            next_input = self.inputs[0][0] if self.inputs else None
            candidates = [t for t in (tick_at, next_input) if t is not None]
            if not candidates or min(candidates) > until:
                break
            if next_input is not None and (tick_at is None or next_input < tick_at):
                t, _, fn = self.inputs.pop(0)
                self.now = max(self.now, t)
                self.take(fn(self.now))
            else:
                self.now = max(self.now, tick_at)
                self.ticks.append((self.now, self.take(self.bridge.tick(self.now))))
        self.now = max(self.now, until)

    # --- views ---

    def messages(self):
        return [json.loads(f) for _, f in self.ws if isinstance(f, str)]

    def events(self):
        return [m.get("event", m.get("type")) for m in self.messages()]

    def audio_packets(self):
        return [p for _, p in self.rtp if not p.is_event]


def stream(payloads, start=T0 + 0.005, pt=0, seq0=1000, ts0=5000, delays=None):
    """RTP packets of 20 ms frames sent every 20 ms from `start`."""
    out = []
    for k, payload in enumerate(payloads):
        delay = delays(k) if delays else 0.0
        out.append((start + SLOT * k + delay, pt, (seq0 + k) & 0xFFFF,
                    (ts0 + 160 * k) & 0xFFFFFFFF, k == 0, payload))
    return out


def frame_bytes(k):
    """A recognisable 160-byte µ-law frame (never the silence code)."""
    return bytes([(k % 200) + 20]) * 160


def key_press(digit, start, seq0, ts, pt=EVENT_PT):
    return [(start + SLOT * i, pt, (seq0 + i) & 0xFFFF, ts, p.marker, p.payload)
            for i, p in enumerate(DtmfGenerator(digit, 100, timestamp=ts))]


# --- Twilio on a PCMU call: the exact message sequence ---------------------------------

def test_twilio_message_sequence_of_a_whole_call():
    bridge = make()
    sim = Sim(bridge)
    connected, start = [json.loads(f) for f in sim.start().ws]
    assert connected == {"event": "connected", "protocol": "Call", "version": "1.0.0"}
    assert start["event"] == "start" and start["sequenceNumber"] == "1"
    assert start["start"]["customParameters"] == {
        "from": "+12125550123", "to": "+14155550100", "from_number": "+12125550123",
        "to_number": "+14155550100", "did": "+14155550100", "direction": "inbound",
        "tier": "gold"}
    assert start["start"]["mediaFormat"] == {"encoding": "audio/x-mulaw", "sampleRate": 8000,
                                             "channels": 1}
    payloads = [frame_bytes(k) for k in range(50)]
    sim.caller_packets(stream(payloads))
    sim.caller_packets(key_press("5", T0 + 0.405, 3000, 90000))
    sim.agent_text(T0 + 0.1, media_message(b"\x11" * 400))
    sim.agent_text(T0 + 0.1, text({"event": "mark", "streamSid": "MZ1",
                                   "mark": {"name": "greeting"}}))
    sim.run(T0 + 1.2)
    sim.take(bridge.stop("caller-hangup", sim.now))

    messages = sim.messages()
    kinds = [m["event"] for m in messages]
    assert kinds[:2] == ["connected", "start"] and kinds[-1] == "stop"
    assert kinds.count("dtmf") == 1 and kinds.count("mark") == 1
    assert [int(m["sequenceNumber"]) for m in messages[1:]] == list(range(1, len(messages)))
    media = [m for m in messages if m["event"] == "media"]
    assert [int(m["media"]["chunk"]) for m in media] == list(range(1, len(media) + 1))
    stamps = [int(m["media"]["timestamp"]) for m in media]
    assert all(b - a == 20 for a, b in zip(stamps, stamps[1:]))
    # A steady stream from the answer on: silence while the first packet (5 ms after
    # start) is held 60 ms, then the caller's audio from slot 4.
    assert stamps[0] == 0  # (stamped with the media time since start)
    heard = [base64.b64decode(m["media"]["payload"]) for m in media]
    assert heard[:4] == [SILENCE_ULAW] * 4
    assert heard[4:54] == payloads  # in order, untouched (PCMU passthrough)
    assert all(h == SILENCE_ULAW for h in heard[56:])  # after 2 faded repeats: silence
    dtmf = messages[kinds.index("dtmf")]
    assert dtmf["dtmf"] == {"track": "inbound_track", "digit": "5"}
    assert messages[kinds.index("mark")]["mark"] == {"name": "greeting"}
    stop = messages[-1]
    assert stop["stop"] == {"accountSid": "AC1", "callSid": "CA1", "reason": "caller-hangup"}
    # One media frame per 20 ms slot from the first on: sent by the tick of its slot.
    media_times = [t for t, f in sim.ws if isinstance(f, str) and '"media"' in f]
    assert np.allclose(np.diff(media_times), SLOT)
    stats = bridge.stats()
    assert isinstance(stats, BridgeStats)
    assert stats.caller_frames == len(media) and stats.dtmf_in == 1
    assert stats.caller_silence_frames == 4
    assert stats.marks_received == stats.marks_played == 1
    assert stats.ws_frames_out == len(sim.ws) and stats.ws_frames_in == 2
    assert stats.first_agent_audio_s == pytest.approx(0.1)
    assert bridge.next_deadline() is None
    assert bridge.tick(sim.now + 1) == Output() and bridge.stop("again", sim.now) == Output()
    # The call record's plain data: what dataclasses.asdict gives, without sharing a dict.
    plain = stats.to_dict()
    assert plain == dataclasses.asdict(stats)
    assert plain["caller_audio_latency_ms"] is not stats.caller_audio_latency_ms
    assert plain["jitter"]["played"] == stats.jitter.played > 0


def test_nothing_goes_out_before_start():
    bridge = make()
    assert bridge.next_deadline() is None
    assert bridge.tick(T0) == Output()
    assert bridge.rtp_received(0, 1, 160, True, frame_bytes(1), T0) == Output()
    for p in key_press("1", T0, 10, 800):
        assert bridge.rtp_received(*p[1:], T0).ws == ()  # the agent has had no start
    out = bridge.start(T0 + 1)
    assert out.next_deadline == T0 + 1
    assert bridge.start(T0 + 2) == Output(next_deadline=T0 + 1)  # (once)


# --- caller -> agent through the jitter buffer -------------------------------------------

@pytest.mark.parametrize("seed", range(4))
def test_a_bad_network_still_gives_the_agent_one_frame_per_slot(seed):
    rng = random.Random(seed)
    bridge = make()
    sim = Sim(bridge, lateness=lambda t: rng.uniform(0, 0.004))  # timer jitter too
    sim.start()
    n = 500
    packets = []
    for p in stream([frame_bytes(k) for k in range(n)],
                    delays=lambda k: rng.uniform(0, 0.035)):  # reorders
        roll = rng.random()
        if roll < 0.05:
            continue  # lost
        if roll < 0.08:
            packets.append(p)  # duplicated
        if roll > 0.98:
            p = (p[0] + 0.2,) + p[1:]  # far too late
        packets.append(p)
    sim.caller_packets(packets)
    sim.run(T0 + n * SLOT + 1.0)
    media = [m for m in sim.messages() if m["event"] == "media"]
    stamps = [int(m["media"]["timestamp"]) for m in media]
    assert stamps == list(range(stamps[0], stamps[0] + 20 * len(stamps), 20))
    # Every tick after the hold sent exactly one frame (timer jitter never sends two).
    per_tick = [sum(isinstance(f, str) and '"media"' in f for f in out.ws)
                for _, out in sim.ticks]
    first = per_tick.index(1)
    assert set(per_tick[first:]) == {1}
    assert stamps[0] <= 120  # the hold is the jitter buffer's, nothing more
    payloads = [base64.b64decode(m["media"]["payload"]) for m in media]
    assert all(len(p) == 160 for p in payloads)
    real = [p for p in payloads if p != SILENCE_ULAW and p[0] >= 20 and len(set(p)) == 1]
    assert len(real) >= 0.85 * n  # (the rest: lost, late, or concealed repeats)
    stats = bridge.stats()
    assert stats.jitter.duplicates > 0 and stats.late > 0 and stats.concealed > 0
    assert stats.caller_frames == len(media)


def test_a_sine_from_the_caller_reaches_the_agent_unchanged():
    bridge = make()
    sim = Sim(bridge)
    sim.start()
    sine = ulaw_sine(440, 50)
    coded = ulaw_encode(sine)
    sim.caller_packets(stream([coded[i * 160:(i + 1) * 160] for i in range(50)]))
    sim.run(T0 + 1.2)
    media = [m for m in sim.messages() if m["event"] == "media"]
    heard = b"".join(base64.b64decode(m["media"]["payload"]) for m in media[4:54])
    assert heard == coded
    decoded = ulaw_decode(heard)
    assert dominant_hz(decoded, 8000) == pytest.approx(440, abs=8)
    assert np.max(np.abs(decoded.astype(int) - sine)) < 8000 * 0.04  # µ-law step size


def test_other_payload_types_and_packet_sizes_are_ignored():
    bridge = make()
    bridge.start(T0)
    bridge.rtp_received(8, 2, 0, False, frame_bytes(1), T0)  # A-law on a PCMU call
    bridge.rtp_received(0, 3, 0, False, b"\xff" * 80, T0)  # 10 ms packets
    bridge.rtp_received(96, 4, 0, False, frame_bytes(1), T0)  # never negotiated
    assert bridge.stats().rtp_ignored == 3 and bridge.jitter.received == 0


@pytest.mark.parametrize("profile, rate, silence", [
    ("twilio", 8000, SILENCE_ULAW), ("openai-realtime", 8000, SILENCE_ULAW),
    ("raw", 8000, bytes(320)), ("raw", 16000, bytes(640)), ("raw", 24000, bytes(960))])
def test_a_caller_who_sends_nothing_gives_the_agent_a_steady_silent_stream(
        profile, rate, silence):
    options = {"sample_rate": rate} if profile == "raw" else {}
    bridge = make(profile, **options)
    sim = Sim(bridge)
    sim.start()
    sim.run(T0 + 1.0 - SLOT / 2)  # a muted phone: not one packet for a second
    audio = [(t, f) for t, f in sim.ws if isinstance(f, bytes)] if profile == "raw" else [
        (t, base64.b64decode((m.get("media") or {}).get("payload") or m.get("audio")))
        for t, m in ((t, json.loads(f)) for t, f in sim.ws)
        if m.get("event") == "media" or m.get("type") == "input_audio_buffer.append"]
    assert [t for t, _ in audio] == pytest.approx([T0 + SLOT * k for k in range(50)])
    assert {f for _, f in audio} == {silence}
    stats = bridge.stats()
    assert stats.caller_frames == stats.caller_silence_frames == 50
    assert stats.caller_audio_latency_ms["count"] == 0  # silence is not caller audio


def test_comfort_noise_is_heard_as_silence_not_as_repeated_speech():
    bridge = make()
    sim = Sim(bridge)
    sim.start()
    speech = [frame_bytes(k) for k in range(10)]
    packets = stream(speech)
    # RFC 3389: the phone goes quiet after frame 9 with one CN packet (level 64 dBov),
    # then sends nothing until its next talk-spurt, 1 s of media time later.
    packets.append((T0 + 0.005 + SLOT * 10, 13, 1010, 5000 + 160 * 10, False, b"\x40"))
    packets += stream([frame_bytes(50)], start=T0 + 0.005 + SLOT * 60, seq0=1011,
                      ts0=5000 + 160 * 60)
    sim.caller_packets(packets)
    sim.run(T0 + 1.6)
    heard = [base64.b64decode(m["media"]["payload"]) for m in sim.messages()
             if m["event"] == "media"]
    assert heard[4:14] == speech  # (4 silent slots while the first packet was held)
    assert heard[14:64] == [SILENCE_ULAW] * 50  # no faded repeats of the last word
    assert heard[64] == frame_bytes(50)  # the next talk-spurt on time
    stats = bridge.stats()
    assert stats.comfort_noise_packets == 1 and stats.rtp_ignored == 0
    assert stats.concealed == 0


# --- agent -> caller through playout --------------------------------------------------

def test_agent_audio_in_odd_chunks_comes_out_one_whole_frame_per_tick():
    bridge = make()
    sim = Sim(bridge)
    sim.start()
    agent = bytes((i % 200) + 10 for i in range(8000))  # 1 s of µ-law, never silence
    sizes = [56, 296] * 40  # 7 ms and 37 ms chunks
    pos, t = 0, T0 + 0.003
    while pos < len(agent):
        size = sizes.pop(0) if sizes else 500
        sim.agent_text(t, media_message(agent[pos:pos + size]))
        pos += size
        t += 0.011  # faster than real time
    sim.run(T0 + 2.0)
    packets = sim.audio_packets()
    assert all(len(p.payload) == 160 for p in packets)
    assert [t for t, _ in sim.rtp] == pytest.approx([T0 + SLOT * k for k in range(len(packets))])
    assert len(packets) == 101  # slots 0..100 inclusive, one packet each
    played = b"".join(p.payload for p in packets)
    start = played.index(agent[:160])  # after the silence before the first chunk
    assert played[:start] == SILENCE_ULAW * (start // 160)
    assert played[start:start + len(agent)] == agent
    assert set(played[start + len(agent):]) == {0xFF}  # silence once the queue is empty
    # RTP headers: seq +1 per packet (wrapping), timestamp +160 per slot, marker first.
    assert [p.sequence_number for p in packets] == [(SEQ0 + k) & 0xFFFF for k in range(101)]
    assert [p.timestamp for p in packets] == [(TS0 + 160 * k) & 0xFFFFFFFF for k in range(101)]
    assert [p.marker for p in packets] == [True] + [False] * 100
    assert all(p.payload_type == 0 and p.ssrc == SSRC for p in packets)
    parsed = RtpPacket.parse(bytes(packets[3]))
    assert (parsed.payload_type, parsed.sequence_number, parsed.timestamp, parsed.ssrc,
            parsed.payload, parsed.marker) == (0, packets[3].sequence_number,
                                               packets[3].timestamp, SSRC, packets[3].payload,
                                               False)


def test_the_schedule_is_drift_free_under_late_wakeups():
    bridge = make()
    bridge.start(T0)
    deadlines, packets = [], 0
    for _ in range(3000):  # one minute, every wake-up 3.7 ms late
        deadline = bridge.next_deadline()
        deadlines.append(deadline)
        packets += len(bridge.tick(deadline + 0.0037).rtp)
    assert deadlines[-1] == pytest.approx(T0 + 2999 * SLOT, abs=1e-9)
    assert packets == 3000 and bridge.stats().slots_skipped == 0


def marks_in(out: Output) -> list[str]:
    return [m["mark"]["name"] for m in map(json.loads, out.ws) if m["event"] == "mark"]


def test_marks_are_acknowledged_when_the_audio_before_them_is_sent():
    bridge = make()
    bridge.start(T0)
    bridge.ws_text(media_message(b"\x01" * 400), T0)
    assert bridge.ws_text(text({"event": "mark", "mark": {"name": "a"}}), T0).ws == ()
    bridge.ws_text(media_message(b"\x02" * 160), T0)
    bridge.ws_text(text({"event": "mark", "mark": {"name": "b"}}), T0)
    outs = [bridge.tick(T0 + SLOT * k) for k in range(5)]
    marks = [marks_in(out) for out in outs]
    # bytes 0-159, 160-319, 320-479 (the last of the first 400: "a"), 480-559 ("b").
    assert marks == [[], [], ["a"], ["b"], []]
    assert outs[2].rtp[0].payload == b"\x01" * 80 + b"\x02" * 80
    assert outs[3].rtp[0].payload == b"\x02" * 80 + SILENCE_ULAW[:80]  # padded
    assert outs[4].rtp[0].payload == SILENCE_ULAW


def test_a_mark_with_nothing_queued_is_acknowledged_by_the_next_tick():
    bridge = make()
    bridge.start(T0)
    bridge.ws_text(text({"event": "mark", "mark": {"name": "now"}}), T0 + 0.001)
    out = bridge.tick(T0 + 0.001)
    assert marks_in(out) == ["now"]


def test_clear_drops_the_queue_at_once_and_acknowledges_pending_marks():
    bridge = make()
    bridge.start(T0)
    bridge.ws_text(media_message(b"\x05" * 16000), T0)
    bridge.ws_text(text({"event": "mark", "mark": {"name": "m1"}}), T0)
    bridge.ws_text(media_message(b"\x06" * 800), T0)
    bridge.ws_text(text({"event": "mark", "mark": {"name": "m2"}}), T0)
    for k in range(3):
        assert bridge.tick(T0 + SLOT * k).rtp[0].payload == b"\x05" * 160
    out = bridge.ws_text(text({"event": "clear", "streamSid": "MZ1"}), T0 + 0.05)
    assert [json.loads(f)["mark"]["name"] for f in out.ws] == ["m1", "m2"]
    assert out.rtp == ()
    after = bridge.tick(T0 + 0.06)
    assert after.rtp[0].payload == SILENCE_ULAW and marks_in(after) == []
    stats = bridge.stats()
    assert stats.clears == 1 and stats.marks_played == 2
    assert stats.cleared_ms == pytest.approx((16000 - 480 + 800) / 8)


def test_a_stall_is_not_burst_back_to_the_caller():
    bridge = make(max_burst=3)
    sim = Sim(bridge)
    sim.start()
    sim.caller_packets(stream([frame_bytes(k) for k in range(100)]))
    sim.agent_text(T0, media_message(bytes(range(1, 201)) * 40))  # 1 s of audio
    sim.run(T0 + 0.5)
    before = len(sim.rtp)
    media_before = sum(m["event"] == "media" for m in sim.messages())
    slot = bridge.pacer.slot
    # The reactor stalls for 200 ms: the next tick comes 200 ms after its deadline.
    late = bridge.next_deadline() + 0.2
    sim.inputs = [i for i in sim.inputs if i[0] > late]
    out = bridge.tick(late)
    assert len(out.rtp) == 1  # 11 slots due: more than max_burst, so skipped, not burst
    packet, previous = out.rtp[0], sim.rtp[-1][1]
    assert packet.sequence_number == (previous.sequence_number + 1) & 0xFFFF
    assert packet.timestamp == (previous.timestamp + 160 * 11) & 0xFFFFFFFF  # a pause
    assert packet.marker
    agent_frames = before - 1  # (slot 0 went out before the agent's audio)
    assert packet.payload == (bytes(range(1, 201)) * 40)[
        160 * agent_frames:160 * (agent_frames + 1)]  # no agent audio lost: it plays late
    # The agent still gets every caller slot (the WebSocket needs no pacing).
    media = [json.loads(f) for f in out.ws if '"media"' in f]
    assert len(media) == bridge.pacer.slot - slot == 11
    assert bridge.stats().slots_skipped == 10 and bridge.stats().stalls == 1
    # A short stall (3 slots due) is caught up back to back, without a marker.
    short = bridge.tick(bridge.next_deadline() + 2 * SLOT)
    assert len(short.rtp) == 3 and not any(p.marker for p in short.rtp)
    assert media_before > 0


def test_after_a_very_long_stall_the_agent_gets_at_most_a_second_of_catch_up():
    bridge = make()
    bridge.start(T0)
    for k in range(10):
        bridge.rtp_received(0, k, 160 * k, False, frame_bytes(k), T0 + SLOT * k)
    out = bridge.tick(T0 + 5.0)
    assert sum('"media"' in f for f in out.ws) == MAX_CATCH_UP_SLOTS
    assert len(out.rtp) == 1


# --- DTMF ---------------------------------------------------------------------------

def test_caller_dtmf_reaches_the_agent_once_per_key_press_by_rtp_and_info():
    bridge = make()
    sim = Sim(bridge)
    sim.start()
    packets = key_press("7", T0 + 0.1, 500, 8000)
    packets += [packets[0], packets[-1]]  # retransmissions
    packets += key_press("7", T0 + 0.5, 520, 16000)  # the same key again
    sim.caller_packets(packets)
    sim.at(T0 + 0.9, lambda now: bridge.info_dtmf("#", now))
    sim.at(T0 + 0.95, lambda now: bridge.info_dtmf("x", now))  # not a digit
    sim.run(T0 + 1.0)
    digits = [m["dtmf"]["digit"] for m in sim.messages() if m["event"] == "dtmf"]
    assert digits == ["7", "7", "#"]
    assert bridge.stats().dtmf_in == 3


def test_agent_dtmf_becomes_rfc4733_packets_between_audio():
    bridge = make()
    bridge.start(T0)
    bridge.ws_text(media_message(b"\x33" * 1600), T0)
    bridge.tick(T0)
    bridge.ws_text(text({"event": "dtmf", "streamSid": "MZ1", "dtmf": {"digits": "1#"}}), T0)
    packets = [bridge.tick(T0 + SLOT * k).rtp[0] for k in range(1, 30)]
    kinds = "".join("e" if p.is_event else "a" for p in packets)
    assert kinds.startswith("e" * 7 + "aa" + "e" * 7 + "aa")
    first, second = packets[:7], packets[9:16]
    for event_packets, digit, slot in ((first, "1", 1), (second, "#", 10)):
        assert all(p.payload_type == EVENT_PT for p in event_packets)
        assert {p.timestamp for p in event_packets} == {(TS0 + 160 * slot) & 0xFFFFFFFF}
        events = [TelephoneEvent.parse(p.payload) for p in event_packets]
        assert {e.digit for e in events} == {digit}
        assert [p.marker for p in event_packets] == [True] + [False] * 6
        assert [e.end for e in events] == [False] * 4 + [True] * 3
        assert [e.duration for e in events] == [160, 320, 480, 640, 800, 800, 800]
    # The audio slots in between carry the audio's own timestamps; seq never skips.
    assert packets[7].timestamp == (TS0 + 160 * 8) & 0xFFFFFFFF
    assert packets[7].payload == b"\x33" * 160 and not packets[7].marker
    seqs = [p.sequence_number for p in packets]
    assert all((b - a) & 0xFFFF == 1 for a, b in zip(seqs, seqs[1:]))
    # A receiver's detector sees exactly the two digits.
    detector = DtmfDetector()
    got = [detector.push(p.timestamp, p.marker, p.payload) for p in packets if p.is_event]
    assert [d.digit for d in got if d] == ["1", "#"]
    assert bridge.stats().dtmf_out == 2
    # Playout paused for the digits: the agent's 10 frames all still play.
    assert sum(p.payload == b"\x33" * 160 for p in packets) == 9  # (one went before)


def test_agent_dtmf_without_telephone_event_is_counted_and_dropped():
    bridge = make(event_pt=None)
    bridge.start(T0)
    bridge.ws_text(text({"event": "dtmf", "dtmf": {"digits": "123"}}), T0)
    packets = [p for k in range(20) for p in bridge.tick(T0 + SLOT * k).rtp]
    assert not any(p.is_event for p in packets) and len(packets) == 20
    assert bridge.stats().dtmf_unsent == 3 and bridge.stats().dtmf_out == 0
    # and the caller's event packets are not mistaken for audio
    assert bridge.rtp_received(101, 1, 0, True, b"\x01\x0a\x00\xa0", T0).ws == ()
    assert bridge.stats().rtp_ignored == 1


# --- control ----------------------------------------------------------------------------

def test_hangup_waits_for_the_goodbye_to_be_sent_and_transfer_is_at_once():
    bridge = make()
    bridge.start(T0)
    bridge.ws_text(media_message(b"\x44" * 480), T0)
    out = bridge.ws_text(text({"event": "hangup", "hangup": {"reason": "done"}}), T0)
    assert out.actions == ()
    bridge.ws_text(text({"event": "hangup"}), T0)  # (once)
    actions = [bridge.tick(T0 + SLOT * k).actions for k in range(5)]
    assert actions == [(), (), (Hangup("done"),), (), ()]
    out = bridge.ws_text(text({"event": "transfer", "transfer": {"target": "+14155550199",
                                                                 "warm": True}}), T0 + 0.1)
    assert out.actions == (Transfer("+14155550199", True),)
    assert out.next_deadline == bridge.next_deadline()


def test_a_clear_after_hangup_hangs_up_at_once():
    bridge = make()
    bridge.start(T0)
    bridge.ws_text(media_message(b"\x44" * 4800), T0)
    bridge.ws_text(text({"event": "hangup"}), T0)
    out = bridge.ws_text(text({"event": "clear"}), T0)
    assert out.actions == (Hangup("agent"),)


def test_hangup_before_start_is_at_once():
    bridge = make("raw", sample_rate=16000)
    assert bridge.ws_text(text({"event": "hangup", "reason": "x"}), T0).actions == (Hangup("x"),)


@pytest.mark.parametrize("frame", [
    "nope", "[]", '{"event":"media"}', '{"event":"media","media":{"payload":"***"}}',
    '{"event":"dtmf","dtmf":{"digits":"x"}}', '{"event":"hangup","hangup":"x"}',
    '{"event":"transfer","transfer":{"warm":true}}', '{"event":"mark"}', b"\x00\x01",
])
def test_malformed_agent_frames_are_counted_and_ignored(frame):
    bridge = make()
    bridge.start(T0)
    bridge.ws_text(media_message(b"\x21" * 320), T0)
    if isinstance(frame, bytes):
        out = bridge.ws_binary(frame, T0)
    else:
        out = bridge.ws_text(frame, T0)
    assert out.errors and out.ws == () and out.actions == ()
    assert out.next_deadline == T0
    assert bridge.stats().profile_errors == 1
    assert bridge.tick(T0).rtp[0].payload == b"\x21" * 160  # and the call goes on
    assert bridge.ws_text('{"event":"somethingNew"}', T0) == Output(next_deadline=T0 + SLOT)
    assert bridge.stats().profile_errors == 1


# --- raw profile at 16 kHz ---------------------------------------------------------------

def test_raw_16k_carries_a_sine_both_ways_through_the_resamplers():
    bridge = make("raw", sample_rate=16000)
    sim = Sim(bridge)
    [start] = sim.start().ws
    assert json.loads(start)["format"]["sample_rate"] == 16000
    frames = 100
    caller = ulaw_sine(440, frames)
    coded = ulaw_encode(caller)
    sim.caller_packets(stream([coded[i * 160:(i + 1) * 160] for i in range(frames)]))
    agent = pcm_sine(600, 2.0, 16000)
    data = agent.astype("<i2").tobytes()
    pos, t = 0, T0 + 0.01
    for size in [1001, 37, 640, 2222] * 1000:  # odd sizes split samples
        if pos >= len(data):
            break
        sim.agent_binary(t, data[pos:pos + size])
        pos += size
        t += 0.01
    sim.agent_text(t, text({"event": "mark", "name": "end"}))
    sim.run(T0 + 3.0)

    # caller -> agent: one 640-byte frame (20 ms at 16 kHz) per slot, the sine preserved
    binary = [(t, f) for t, f in sim.ws if isinstance(f, bytes)]
    assert all(len(f) == 640 for _, f in binary)
    assert np.allclose(np.diff([t for t, _ in binary]), SLOT)
    heard = np.frombuffer(b"".join(f for _, f in binary), "<i2").astype(np.float64)
    # Silence from the answer while the first packet is held (4 slots), then the sine.
    heard = heard[4 * 320:]
    assert dominant_hz(heard[:frames * 320], 16000) == pytest.approx(440, abs=8)
    # The resampler's output is aligned: the sine comes out 30 ms (480 samples) later
    # (the filter's pre-ringing just before it is faint); past the filter's first
    # 10 ms it matches the ideal sine.
    assert np.all(heard[:320] == 0) and np.max(np.abs(heard[:470])) < 100
    assert np.max(np.abs(heard[480:500])) > 1000
    ideal = pcm_sine(440, frames / 50, 16000).astype(np.float64)
    got, want = heard[480 + 160:480 + 32000], ideal[160:32000]
    snr = 10 * np.log10(np.sum(want ** 2) / np.sum((got - want) ** 2))
    assert snr > 30  # µ-law's own is ~38 dB

    # agent -> caller: one 160-byte payload per slot, the sine preserved, nothing held
    packets = sim.audio_packets()
    assert all(len(p.payload) == 160 for p in packets)
    decoded = ulaw_decode(b"".join(p.payload for p in packets))
    lag, snr = best_match(pcm_sine(600, 2.0, 8000), decoded, max_lag=8000 // 5)
    assert snr > 25
    assert dominant_hz(decoded[lag:lag + 8000], 8000) == pytest.approx(600, abs=8)
    nonsilent = np.flatnonzero(np.abs(decoded) > 200)
    played_ms = (nonsilent[-1] - nonsilent[0]) / 8
    assert played_ms == pytest.approx(2000, abs=25)  # the tail was flushed, not held
    # The mark went out after the last of the agent's audio was sent.
    mark_time = next(t for t, f in sim.ws if isinstance(f, str) and '"mark"' in f)
    last_audio = max(t for t, p in sim.rtp if np.max(np.abs(ulaw_decode(p.payload))) > 200)
    assert last_audio <= mark_time < last_audio + 2 * SLOT


def test_raw_8k_is_decode_and_encode_only():
    bridge = make("raw", sample_rate=8000)
    bridge.start(T0)
    coded = ulaw_encode(ulaw_sine(300, 1))
    bridge.rtp_received(0, 1, 160, True, coded, T0)
    outs = [bridge.tick(T0 + SLOT * k) for k in range(4)]
    sent = [f for o in outs for f in o.ws if isinstance(f, bytes)]
    assert sent[:3] == [bytes(320)] * 3  # silence while the packet is held
    assert sent[3] == ulaw_decode(coded).astype("<i2").tobytes()
    bridge.ws_binary(ulaw_decode(coded).astype("<i2").tobytes(), T0)
    assert bridge.tick(T0 + SLOT * 4).rtp[0].payload == coded


# --- PCMA call, twilio profile: A-law <-> µ-law ------------------------------------------

def test_pcma_call_transcodes_both_ways_for_twilio():
    bridge = make(codec="PCMA")
    sim = Sim(bridge)
    sim.start()
    caller = alaw_encode(ulaw_sine(500, 20))
    sim.caller_packets(stream([caller[i * 160:(i + 1) * 160] for i in range(20)], pt=8))
    sim.caller_packets(stream([b"\xff" * 160], pt=0, start=T0 + 0.5))  # µ-law: not this call's
    agent = ulaw_encode(pcm_sine(700, 0.2, 8000))
    sim.agent_text(T0 + 0.001, media_message(agent))
    sim.run(T0 + 1.0)
    media = [base64.b64decode(m["media"]["payload"]) for m in sim.messages()
             if m["event"] == "media"]
    assert media[:4] == [alaw_to_ulaw(SILENCE_ALAW)] * 4  # silence until the hold is over
    assert b"".join(media[4:24]) == alaw_to_ulaw(caller)
    heard = ulaw_decode(b"".join(media[4:24])).astype(int)
    assert np.max(np.abs(heard - alaw_decode(caller))) < 8000 * 0.04
    packets = sim.audio_packets()
    assert all(p.payload_type == 8 for p in packets)
    played = b"".join(p.payload for p in packets)
    assert played[160:160 + len(agent)] == ulaw_to_alaw(agent)  # (slot 0 went before it)
    assert packets[0].payload == SILENCE_ALAW and packets[-1].payload == SILENCE_ALAW
    assert bridge.stats().rtp_ignored == 1


# --- OpenAI Realtime: barge-in and truncation -----------------------------------------

def delta(item, audio):
    return text({"type": "response.output_audio.delta", "item_id": item,
                 "delta": base64.b64encode(audio).decode()})


def test_openai_speech_started_clears_and_truncates_at_what_was_played():
    bridge = make("openai-realtime")
    [update] = bridge.start(T0).ws
    assert json.loads(update)["type"] == "session.update"
    for _ in range(10):
        bridge.ws_text(delta("item_a", b"\x50" * 800), T0)  # 1 s in 100 ms deltas
    for k in range(15):  # 300 ms played
        assert bridge.tick(T0 + SLOT * k).rtp[0].payload == b"\x50" * 160
    out = bridge.ws_text('{"type":"input_audio_buffer.speech_started","item_id":"u1"}',
                         T0 + 0.29)
    [truncate] = [json.loads(f) for f in out.ws]
    assert truncate == {"type": "conversation.item.truncate", "item_id": "item_a",
                        "content_index": 0, "audio_end_ms": 300}
    assert bridge.tick(T0 + SLOT * 15).rtp[0].payload == SILENCE_ULAW
    assert bridge.stats().clears == 1 and bridge.stats().cleared_ms == 700
    # caller audio goes out as input_audio_buffer.append
    bridge.rtp_received(0, 1, 0, True, frame_bytes(1), T0 + 0.31)
    sent = [json.loads(f) for k in range(16, 24) for f in bridge.tick(T0 + SLOT * k).ws]
    assert sent and all(m["type"] == "input_audio_buffer.append" for m in sent)


def test_openai_played_time_counts_from_where_the_new_response_starts_playing():
    bridge = make("openai-realtime")
    bridge.start(T0)
    bridge.ws_text(delta("item_a", b"\x50" * 3200), T0)  # 400 ms
    for k in range(5):
        bridge.tick(T0 + SLOT * k)  # 100 ms of item_a played
    bridge.ws_text(delta("item_b", b"\x60" * 1600), T0 + 0.1)  # queued behind item_a
    early = make("openai-realtime")  # (the same, barged in before item_b plays)
    early.start(T0)
    early.ws_text(delta("item_a", b"\x50" * 3200), T0)
    early.tick(T0)
    early.ws_text(delta("item_b", b"\x60" * 1600), T0)
    [cut] = early.ws_text('{"type":"input_audio_buffer.speech_started"}', T0).ws
    assert json.loads(cut)["audio_end_ms"] == 0 and json.loads(cut)["item_id"] == "item_b"
    for k in range(5, 25):  # 300 ms more of item_a, then 100 ms of item_b
        payload = bridge.tick(T0 + SLOT * k).rtp[0].payload
        assert payload == (b"\x50" if k < 20 else b"\x60") * 160
    [cut] = bridge.ws_text('{"type":"input_audio_buffer.speech_started"}', T0 + 0.5).ws
    assert json.loads(cut) == {"type": "conversation.item.truncate", "item_id": "item_b",
                               "content_index": 0, "audio_end_ms": 100}


def test_openai_tool_calls_become_actions():
    bridge = make("openai-realtime")
    bridge.start(T0)
    done = {"type": "response.function_call_arguments.done", "name": "transfer_call",
            "call_id": "c1", "arguments": json.dumps({"target": "+14155550100"})}
    assert bridge.ws_text(text(done), T0).actions == (Transfer("+14155550100"),)
    done.update(name="end_call", arguments='{"reason": "bye"}')
    bridge.ws_text(text(done), T0)
    assert bridge.tick(T0).actions == (Hangup("bye"),)


# --- the codec converters on their own ----------------------------------------------------

@pytest.mark.parametrize("rate", [16000, 24000])
def test_caller_frames_become_whole_agent_frames_from_the_first(rate):
    up = CallerToAgent(call_codec("PCMU"), AudioFormat("pcm16", rate))
    out = [up.convert(SILENCE_ULAW) for _ in range(10)]
    assert all(len(f) == rate // 50 * 2 for f in out)
    assert up.padded_bytes == rate * 30 // 1000 * 2  # the resampler's 30 ms, once


def test_codec_choices_are_checked():
    with pytest.raises(ValueError):
        call_codec("G729")
    with pytest.raises(ValueError):
        AgentToCaller(AudioFormat("pcm16", 44100), call_codec("PCMU"))
    with pytest.raises(ValueError):
        make(event_pt=0)  # the audio payload type
    assert isinstance(RtpOut(b"", 0, False, 0, 0, 0), RtpOut)


@pytest.mark.parametrize("rate", [16000, 24000])
def test_an_agent_streaming_in_real_time_is_resampled_as_one_stream(rate):
    """No flush between an agent's chunks when they come every 20 ms (a flush restarts
    the resampler's filter: every 20 ms that would be a 50 Hz buzz); its tail is
    flushed once it stops."""
    rng = random.Random(rate)
    bridge = make("raw", sample_rate=rate)
    sim = Sim(bridge)
    sim.start()
    agent = pcm_sine(600, 1.0, rate).astype("<i2").tobytes()
    chunk = rate // 50 * 2
    for k in range(50):
        sim.agent_binary(T0 + SLOT * (k + 1) - 0.007 + rng.uniform(-0.003, 0.003),
                         agent[k * chunk:(k + 1) * chunk])
    sim.run(T0 + 1.5)
    decoded = ulaw_decode(b"".join(p.payload for p in sim.audio_packets())).astype(float)
    sound = np.flatnonzero(np.abs(decoded) > 200)
    onset, end = int(sound[0]), int(sound[-1])
    # The first 5 ms come out alone (the resampler holds 15 ms back, so the first 20 ms
    # frame is 5 ms of audio padded by playout); from then on, one clean sine: a flush
    # every 20 ms would bring it down to ~20 dB.
    assert sine_snr(decoded[onset + 160:onset + 7800], 600, 8000) > 37  # µ-law's own: ~41
    # All of it, tail included: the hold-back's tail is flushed once the agent has been
    # quiet for AGENT_PAUSE (silence meanwhile), so it ends at most that much later.
    assert 1000 + 5 <= (end - onset) / 8 <= 1000 + 25 + AGENT_PAUSE * 1000 + 5


@pytest.mark.parametrize("stream_id", ["MZ1", 'odd "id" \\ with é'])
def test_twilio_media_messages_are_exactly_what_json_dumps_gives(stream_id):
    """(The Twilio profile formats its media messages directly, for speed.)"""
    from softswitch.agent.events import CallerAudio, CallStarted
    profile = make_profile("twilio")
    profile.encode(CallStarted(CallInfo("CA", stream_id, "AC", "a", "b")))
    audio = bytes(range(160))
    [message] = profile.encode(CallerAudio(audio, 40))
    assert message == json.dumps({
        "event": "media", "sequenceNumber": "2", "streamSid": stream_id,
        "media": {"track": "inbound", "chunk": "1", "timestamp": "40",
                  "payload": base64.b64encode(audio).decode()}}, separators=(",", ":"))


# -- latency counts ---------------------------------------------------------------------
def test_caller_audio_latency_counts_arrival_to_send_and_agent_latency_first_rtp():
    bridge = make()
    sim = Sim(bridge)
    sim.start()
    # The caller's packets arrive 3 ms into their slots; the jitter buffer holds 60 ms.
    sim.caller_packets([(T0 + 0.003 + k * SLOT, 0, 1000 + k, 160 * k, False, b"\x11" * 160)
                        for k in range(50)])
    # The agent sends 100 ms at T0 + 0.5 s, with nothing queued before it.
    sim.agent_text(T0 + 0.5005, media_message(b"\x22" * 800))
    sim.run(T0 + 1.2)
    caller = bridge.caller_latency
    assert caller.count == 50  # (the concealment after the last packet has no arrival)
    assert 0.04 <= caller.quantile(0.5) <= 0.08  # the hold, from arrival to the send
    agent = bridge.agent_latency
    assert agent.count == 1
    assert agent.max == pytest.approx(0.0195, abs=1e-6)  # to the next slot, T0 + 0.52
    stats = bridge.stats()
    assert stats.caller_audio_latency_ms["count"] == 50
    assert stats.agent_audio_latency_ms["max"] == pytest.approx(19.5)


def test_agent_audio_cleared_before_it_played_is_not_counted():
    bridge = make()
    sim = Sim(bridge)
    sim.start()
    sim.agent_text(T0 + 0.1, media_message(b"\x22" * 1600))  # 200 ms
    sim.agent_text(T0 + 0.101, media_message(b"\x33" * 1600))  # waits behind it
    sim.agent_text(T0 + 0.15, text({"event": "clear", "streamSid": "MZ1"}))
    sim.run(T0 + 0.5)
    assert bridge.agent_latency.count == 1  # the first chunk played; the second never
    assert bridge.agent_latency.max <= 0.0201


def test_frames_of_a_playout_filler_are_counted_as_ringback_not_silence():
    bridge = make()
    bridge.start(T0)
    bridge.tick(T0 + 0.05)  # three empty slots: silence
    bridge.playout.filler = lambda: b"\x7e" * 160  # a cold transfer rings
    out = bridge.tick(T0 + 0.11)
    assert [bytes(p)[12:] for p in out.rtp] == [b"\x7e" * 160] * 3
    stats = bridge.stats()
    assert (stats.silence_frames_sent, stats.ringback_frames_sent) == (3, 3)


def test_a_closed_socket_hangs_up_once_its_queued_audio_and_marks_have_played():
    bridge = make()
    bridge.start(T0)
    bridge.ws_text(media_message(b"\x01" * 400), T0)
    bridge.ws_text(text({"event": "mark", "mark": {"name": "last"}}), T0)
    assert bridge.finish("agent-closed", T0) == Output(next_deadline=T0)
    outs = [bridge.tick(T0 + SLOT * k) for k in range(4)]
    assert [marks_in(out) for out in outs] == [[], [], ["last"], []]
    assert [out.actions for out in outs] == [(), (), (Hangup("agent-closed"),), ()]
    assert b"".join(out.rtp[0].payload for out in outs[:3])[:400] == b"\x01" * 400
    assert bridge.stats().marks_played == 1


def test_a_socket_closed_with_nothing_queued_hangs_up_at_the_next_slot():
    bridge = make()
    bridge.start(T0)
    assert bridge.finish("agent-closed", T0).actions == ()
    assert bridge.tick(T0).actions == (Hangup("agent-closed"),)


# --- hold ------------------------------------------------------------------------------

@pytest.mark.parametrize("profile, hold, resume", [
    ("twilio", {"event": "hold", "sequenceNumber": "2", "streamSid": "MZ1"},
     {"event": "resume", "sequenceNumber": "3", "streamSid": "MZ1"}),
    ("raw", {"event": "hold"}, {"event": "resume"})])
def test_a_held_caller_gets_no_rtp_and_the_agent_is_told(profile, hold, resume):
    bridge = make(profile)
    bridge.start(T0)
    sent = bridge.tick(T0 + 0.1).rtp
    held = bridge.hold(True, T0 + 0.1)
    # (twilio: the caller's steady stream numbered the messages before the hold)
    assert [_unnumbered(json.loads(f)) for f in held.ws] == [_unnumbered(hold)] and bridge.held
    assert bridge.hold(True, T0 + 0.2) == Output(next_deadline=bridge.next_deadline())
    assert bridge.tick(T0 + 1.0).rtp == ()  # 45 slots go by, nothing is sent
    resumed = [json.loads(f) for f in bridge.hold(False, T0 + 1.0).ws]
    assert [_unnumbered(m) for m in resumed] == [_unnumbered(resume)]
    if profile == "twilio":
        assert int(resumed[0]["sequenceNumber"]) > int(json.loads(held.ws[0])["sequenceNumber"])
    [after] = bridge.tick(T0 + 1.02).rtp
    # The sequence goes on from the last packet sent; the timestamp shows the pause.
    assert after.sequence_number == (sent[-1].sequence_number + 1) & 0xFFFF and after.marker
    assert (after.timestamp - sent[-1].timestamp) & 0xFFFFFFFF == 160 * 46
    assert bridge.stats().rtp_packets == len(sent) + 1


def _unnumbered(message: dict) -> dict:
    return {k: v for k, v in message.items() if k != "sequenceNumber"}


def test_openai_realtime_is_not_told_of_a_hold():
    bridge = make("openai-realtime")
    bridge.start(T0)
    assert bridge.hold(True, T0).ws == ()
    assert bridge.tick(T0 + 0.1).rtp == ()


# --- recording --------------------------------------------------------------------------

class _Recorder:
    """Collects what the bridge's tap writes: (channel, slot, frame)."""

    def __init__(self):
        self.writes = []

    def write(self, channel, slot, payload):
        self.writes.append((channel, slot, bytes(payload)))


def test_the_recording_tap_gets_each_slots_caller_frame_and_the_frame_sent_to_the_caller():
    bridge = make()
    recorder = bridge.recorder = _Recorder()
    bridge.start(T0)
    caller = [bytes([0x10 + k]) * 160 for k in range(3)]
    for k, payload in enumerate(caller):
        bridge.rtp_received(0, k + 1, k * 160, k == 0, payload, T0)
    agent = bytes(range(200)) + bytes(range(120))  # two frames' worth
    bridge.ws_text(media_message(agent), T0)
    sent = []
    for k in range(8):
        sent += [(k, p.payload) for p in bridge.tick(T0 + SLOT * k).rtp]
    heard = {slot: frame for channel, slot, frame in recorder.writes if channel == 0}
    played = {slot: frame for channel, slot, frame in recorder.writes if channel == 1}
    assert sorted(heard) == sorted(played) == list(range(8))
    spoken = [heard[s] for s in range(8) if heard[s] != SILENCE_ULAW]
    assert spoken[:3] == caller  # (then the jitter buffer's concealment, fading)
    assert [played[slot] for slot, _ in sent] == [payload for _, payload in sent]
    assert played[0] + played[1] == agent


@pytest.mark.parametrize("profile, message", [
    ("twilio", {"event": "recording", "streamSid": "MZ1", "recording": {"action": "pause"}}),
    ("raw", {"event": "recording", "action": "pause"}),
])
def test_an_agents_recording_message_is_a_record_action(profile, message):
    from softswitch.agent.bridge import Record
    bridge = make(profile, **({"sample_rate": 16000} if profile == "raw" else {}))
    bridge.start(T0)
    assert bridge.ws_text(text(message), T0).actions == (Record("pause"),)
    bad = dict(message, **({"recording": {"action": "erase"}} if profile == "twilio"
                          else {"action": "erase"}))
    out = bridge.ws_text(text(bad), T0)
    assert out.actions == () and out.errors and bridge.stats().profile_errors == 1
