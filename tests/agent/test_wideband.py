"""G.722 calls through the agent bridge: the caller's 16 kHz audio reaches a 16 kHz
`raw` agent without passing through 8 kHz (a 6 kHz tone, above the telephone band,
arrives), 24 kHz agents and µ-law agents get it resampled once, the agent's audio is
coded back to G.722 at 16 kHz, openai-realtime takes audio/pcm at 24 kHz from a
wideband caller, and the call record names both legs' audio."""

import base64
import dataclasses
import json

import numpy as np
import pytest

from softswitch.agent.bridge import AgentBridge
from softswitch.agent.codec import AgentToCaller, CallerToAgent, call_codec, is_wideband
from softswitch.agent.events import MULAW_8K, AudioFormat, CallInfo, CallStarted
from softswitch.agent.profiles import make_agent_profile, make_profile
from softswitch.media.codecs.g722 import G722Decoder, G722Encoder
from softswitch.media.codecs.opus import OpusDecoder, OpusEncoder
from softswitch.media.g711 import ulaw_decode, ulaw_encode

from test_bridge import T0, Sim, key_press, stream

INFO = CallInfo("CA1", "MZ1", "AC1", "+12125550123", "+14155550100")


def sine(freq, seconds, rate, amplitude=8000):
    t = np.arange(int(seconds * rate)) / rate
    return np.rint(amplitude * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def g722_frames(samples):
    encoder = G722Encoder()
    return [encoder.encode(samples[i:i + 320]) for i in range(0, len(samples), 320)]


def band_energy(samples, rate, low, high):
    spectrum = np.abs(np.fft.rfft(samples.astype(float))) ** 2
    freqs = np.fft.rfftfreq(len(samples), 1 / rate)
    return spectrum[(freqs >= low) & (freqs < high)].sum() / spectrum.sum()


def dominant(samples, rate):
    spectrum = np.abs(np.fft.rfft(samples.astype(float) * np.hanning(len(samples))))
    return np.fft.rfftfreq(len(samples), 1 / rate)[spectrum.argmax()]


def test_g722_is_wideband_and_fresh_per_call():
    assert is_wideband("G722") and is_wideband("g722")
    assert not is_wideband("PCMU") and not is_wideband("PCMA")
    first, second = call_codec("G722"), call_codec("G722")
    assert (first.name, first.payload_type, first.sample_rate) == ("G722", 9, 16000)
    assert first.decode is not second.decode  # ADPCM state is per call
    assert call_codec("PCMU") is call_codec("PCMU")
    with pytest.raises(ValueError, match="G722"):
        call_codec("GSM")


@pytest.mark.parametrize("rate", [16000, 24000])
def test_a_6_khz_tone_from_a_g722_caller_reaches_a_wideband_agent(rate):
    up = CallerToAgent(call_codec("G722"), AudioFormat("pcm16", rate))
    frames = g722_frames(sine(6000, 1.0, 16000))
    out = b"".join(up.convert(f) for f in frames)
    assert len(out) == len(frames) * rate // 50 * 2  # one whole agent frame per frame
    pcm = np.frombuffer(out, "<i2")[rate // 5:]  # past the codec's start-up
    assert dominant(pcm, rate) == pytest.approx(6000, abs=15)
    assert band_energy(pcm, rate, 4000, 8000) > 0.95


def test_a_16_khz_agent_gets_the_decoded_g722_samples_as_they_are():
    """No resampler on the way: the agent's frames are the library's decode, exactly."""
    up = CallerToAgent(call_codec("G722"), AudioFormat("pcm16", 16000))
    frames = g722_frames(sine(1000, 0.2, 16000))
    decoder = G722Decoder()
    for frame in frames:
        assert up.convert(frame) == decoder.decode(frame).astype("<i2").tobytes()


def test_a_mulaw_agent_on_a_g722_call_gets_8_khz_mulaw_of_the_band_it_can_carry():
    up = CallerToAgent(call_codec("G722"), MULAW_8K)
    frames = g722_frames(sine(1000, 1.0, 16000) + sine(6000, 1.0, 16000, 4000))
    out = [up.convert(f) for f in frames]
    assert {len(f) for f in out} == {160}
    pcm = ulaw_decode(b"".join(out))[1600:]
    assert dominant(pcm, 8000) == pytest.approx(1000, abs=10)  # 6 kHz filtered out


@pytest.mark.parametrize("fmt", [AudioFormat("pcm16", 16000), AudioFormat("pcm16", 24000),
                                 MULAW_8K])
def test_agent_audio_is_coded_to_g722_for_the_caller(fmt):
    freq = 6000 if fmt.sample_rate > 8000 else 1000
    if fmt.encoding == "mulaw":
        audio = ulaw_encode(sine(freq, 1.0, 8000))
    else:
        audio = sine(freq, 1.0, fmt.sample_rate).astype("<i2").tobytes()
    down = AgentToCaller(fmt, call_codec("G722"))
    coded = down.convert(audio) + down.flush()
    assert abs(len(coded) - 8000) <= 400  # 1 s of G.722 is 8000 bytes (64 kbit/s)
    pcm = G722Decoder().decode(coded)[3200:]
    assert dominant(pcm, 16000) == pytest.approx(freq, abs=15)


def test_a_g722_call_through_the_bridge_to_a_raw_16_khz_agent_and_back():
    bridge = AgentBridge(make_profile("raw", sample_rate=16000), INFO, codec="G722",
                         rtp_event_pt=101, now=T0)
    sim = Sim(bridge)
    sim.start()
    sim.caller_packets(stream(g722_frames(sine(6000, 1.0, 16000)), pt=9))
    reply = sine(5000, 0.6, 16000).astype("<i2").tobytes()
    sim.agent_binary(T0 + 0.1, reply)
    sim.run(T0 + 1.3)
    audio = b"".join(f for _, f in sim.ws if isinstance(f, bytes))
    pcm = np.frombuffer(audio, "<i2")
    assert len(pcm) >= 60 * 320
    heard = pcm[10 * 320:55 * 320]
    assert band_energy(heard, 16000, 4000, 8000) > 0.95
    assert dominant(heard, 16000) == pytest.approx(6000, abs=15)
    packets = sim.audio_packets()
    assert {p.payload_type for p in packets} == {9}
    assert {len(p.payload) for p in packets} == {160}
    steps = {(b.timestamp - a.timestamp) & 0xFFFFFFFF for a, b in zip(packets, packets[1:])}
    assert steps == {160}  # G.722's RTP clock is 8000 Hz (RFC 3551 §4.5.2)
    back = G722Decoder().decode(b"".join(p.payload for p in packets))
    played = back[5 * 320:30 * 320]
    assert dominant(played, 16000) == pytest.approx(5000, abs=15)
    stats = bridge.stats()
    assert (stats.caller_codec, stats.agent_format) == ("G722", "pcm16/16000")
    assert dataclasses.asdict(stats)["caller_codec"] == "G722"


def test_a_g722_caller_dtmf_on_the_8000_hz_clock_reaches_the_agent():
    bridge = AgentBridge(make_profile("raw", sample_rate=16000), INFO, codec="G722",
                         rtp_event_pt=101, now=T0)
    sim = Sim(bridge)
    sim.start()
    sim.caller_packets(key_press("7", T0 + 0.1, 10, 8000))
    sim.run(T0 + 0.5)
    assert [m for m in sim.messages() if m.get("event") == "dtmf"] == \
        [{"event": "dtmf", "digit": "7"}]


def test_openai_realtime_takes_24_khz_pcm_from_a_wideband_caller_only():
    wide = make_agent_profile("openai-realtime", 8000, {}, wideband=True)
    narrow = make_agent_profile("openai-realtime", 8000, {})
    assert wide.audio_format == AudioFormat("pcm16", 24000)
    assert narrow.audio_format == MULAW_8K
    [update] = wide.encode(CallStarted(INFO))
    audio = json.loads(update)["session"]["audio"]
    assert audio["input"]["format"] == {"type": "audio/pcm", "rate": 24000}
    assert audio["output"]["format"] == {"type": "audio/pcm", "rate": 24000}
    [update] = narrow.encode(CallStarted(INFO))
    assert json.loads(update)["session"]["audio"]["input"]["format"] == {"type": "audio/pcmu"}
    # twilio stays µ-law 8 kHz whatever the caller's codec
    assert make_agent_profile("twilio", 8000, {}, wideband=True).audio_format == MULAW_8K


def test_a_g722_call_to_openai_realtime_sends_24_khz_pcm_appends():
    profile = make_agent_profile("openai-realtime", 8000, {}, wideband=True)
    bridge = AgentBridge(profile, INFO, codec="G722", rtp_event_pt=None, now=T0)
    sim = Sim(bridge)
    sim.start()
    sim.caller_packets(stream(g722_frames(sine(7000, 0.5, 16000)), pt=9))
    sim.run(T0 + 0.7)
    appends = [m for m in sim.messages() if m.get("type") == "input_audio_buffer.append"]
    pcm = np.frombuffer(b"".join(base64.b64decode(m["audio"]) for m in appends), "<i2")
    assert len(pcm) == len(appends) * 480  # 20 ms at 24 kHz
    assert dominant(pcm[5 * 480:25 * 480], 24000) == pytest.approx(7000, abs=20)


# --- Opus (RFC 7587): 48 kHz RTP clock, packets of any size, coded a frame at a time ----

def opus_packets(samples):
    encoder = OpusEncoder()
    return [encoder.encode(samples[i:i + 960]) for i in range(0, len(samples), 960)]


def opus_stream(payloads, start=T0 + 0.005, pt=111):
    return [(start + 0.02 * k, pt, 2000 + k, (7000 + 960 * k) & 0xFFFFFFFF, k == 0, p)
            for k, p in enumerate(payloads)]


def test_opus_both_ways_with_a_raw_16_khz_agent():
    bridge = AgentBridge(make_profile("raw", sample_rate=16000), INFO, codec="OPUS",
                         payload_type=111, rtp_event_pt=110, now=T0)
    assert bridge.codec.payload_type == 111
    sim = Sim(bridge)
    sim.start()
    sim.caller_packets(opus_stream(opus_packets(sine(6000, 1.0, 48000))))
    sim.agent_binary(T0 + 0.1, sine(5000, 0.6, 16000).astype("<i2").tobytes())
    sim.run(T0 + 1.3)
    pcm = np.frombuffer(b"".join(f for _, f in sim.ws if isinstance(f, bytes)), "<i2")
    assert len(pcm) % 320 == 0 and len(pcm) >= 60 * 320  # whole 20 ms frames at 16 kHz
    heard = pcm[10 * 320:55 * 320]
    assert dominant(heard, 16000) == pytest.approx(6000, abs=15)
    assert band_energy(heard, 16000, 4000, 8000) > 0.9
    packets = sim.audio_packets()
    assert {p.payload_type for p in packets} == {111}
    steps = {(b.timestamp - a.timestamp) & 0xFFFFFFFF for a, b in zip(packets, packets[1:])}
    assert steps == {960}
    decoder = OpusDecoder()
    back = np.concatenate([decoder.decode(p.payload) for p in packets])
    assert len(back) == 960 * len(packets)
    assert dominant(back[10 * 960:35 * 960], 48000) == pytest.approx(5000, abs=15)
    stats = bridge.stats()
    assert (stats.caller_codec, stats.agent_format) == ("OPUS", "pcm16/16000")
    assert stats.agent_audio_ms == pytest.approx(600, abs=25)


def test_garbage_opus_packets_are_concealed_not_raised():
    bridge = AgentBridge(make_profile("raw", sample_rate=16000), INFO, codec="OPUS",
                         payload_type=111, now=T0)
    sim = Sim(bridge)
    sim.start()
    long_packet = OpusEncoder().encode(sine(440, 0.06, 48000))  # 60 ms in one packet
    sim.caller_packets(opus_stream([b"\xff\xff\xff"] * 10 + [b""] * 3 + [long_packet] * 10))
    sim.run(T0 + 0.6)
    pcm = np.frombuffer(b"".join(f for _, f in sim.ws if isinstance(f, bytes)), "<i2")
    assert len(pcm) % 320 == 0 and len(pcm) // 320 >= 29 and not sim.errors
    assert len(bridge._up._pending) < 2 * 320 * 2  # nothing piles up


def test_opus_dtmf_to_the_caller_runs_on_the_48000_hz_clock():
    bridge = AgentBridge(make_profile("raw", sample_rate=16000), INFO, codec="OPUS",
                         payload_type=111, rtp_event_pt=110, now=T0)
    sim = Sim(bridge)
    sim.start()
    sim.agent_text(T0 + 0.05, json.dumps({"event": "dtmf", "digits": "1"}))
    sim.run(T0 + 0.4)
    events = [p for _, p in sim.rtp if p.is_event]
    assert events and {p.payload_type for p in events} == {110}
    durations = [int.from_bytes(p.payload[2:4], "big") for p in events]
    assert durations[0] == 960 and max(durations) == 4800  # 100 ms at 48 kHz
