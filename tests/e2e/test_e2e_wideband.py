"""Wideband callers against the running switch, with SIPp as the caller. Its INVITE
offers G.722 (payload 9, RTP clock 8000) or Opus (opus/48000/2 on payload 111), PCMU
and telephone-event at the codec's clock, and it replays a pcap of RTP made here with
the codec library (G722, or libopus through opuslib): a 6 kHz tone, above what 8 kHz
sampling can carry, then an RFC 4733 key press on the codec's clock (8000 Hz for G.722,
48000 for Opus).

A `raw` agent at 16 kHz (a `websockets` server) records the binary audio it gets and
says a 5 kHz tone back. The agent's audio has its energy above 4 kHz at 6 kHz (proof
that nothing passed through 8 kHz), the caller receives the codec (G.722: 160 bytes,
timestamps 160 apart; Opus: timestamps 960 apart) decoding to the agent's 5 kHz, the
key press arrives, and the call record and /metrics name both legs' audio."""

import asyncio
import json
import struct
import time

import numpy as np
import pytest
from websockets.exceptions import ConnectionClosed
from ws_agent_server import AgentServer

from agents_support import AgentRow, caller_media, seed_agents, write_rtp_pcap
from calls_support import (
    CARRIER_IP,
    CallSwitch,
    GatewayRow,
    Routing,
    TrunkRow,
    call_id_of,
    run_call,
    seed_routing,
    wait_cdr,
)
from e2e_switch import wait_until
from softswitch.media.codecs.g722 import G722Decoder, G722Encoder
from softswitch.media.codecs.opus import OpusDecoder, OpusEncoder

WIDE_DID = "+14155550150"  # -> agent wide (raw, 16 kHz)
CALLER = "+12125550123"
NO_PROBES = 86400.0
CALLER_TONE_HZ, AGENT_TONE_HZ = 6000, 5000


class Codec:
    """What the test needs of a codec: its scenario, payload types, clock, coders."""

    def __init__(self, name, scenario, pt, event_pt, clock, rate, encoder, decoder, rtpmap):
        self.name, self.scenario, self.pt, self.event_pt = name, scenario, pt, event_pt
        self.clock, self.rate, self.rtpmap = clock, rate, rtpmap
        self.encoder, self.decoder = encoder, decoder

    @property
    def step(self):  # RTP clock ticks per 20 ms
        return self.clock // 50


CODECS = {
    "g722": Codec("G722", "wideband_uac_g722.xml", 9, 101, 8000, 16000, G722Encoder,
                  G722Decoder, "G722/8000"),
    "opus": Codec("OPUS", "wideband_uac_opus.xml", 111, 110, 48000, 48000, OpusEncoder,
                  OpusDecoder, "opus/48000/2"),
}


def tone(freq: float, seconds: float, rate: int = 16000, amplitude: int = 8000):
    t = np.arange(int(seconds * rate)) / rate
    return np.rint(amplitude * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def dominant(samples, rate):
    spectrum = np.abs(np.fft.rfft(samples.astype(float) * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[spectrum.argmax()])


def above_4k(samples, rate):
    spectrum = np.abs(np.fft.rfft(samples.astype(float))) ** 2
    freqs = np.fft.rfftfreq(len(samples), 1 / rate)
    return float(spectrum[freqs >= 4000].sum() / spectrum.sum())


def caller_packets(codec):
    """1 s of the codec (the 6 kHz tone), then digit 5 as RFC 4733 events: a start with
    the marker, updates every 20 ms, the end three times; durations in the codec's
    RTP clock ticks."""
    encoder, samples = codec.encoder(), tone(CALLER_TONE_HZ, 1.0, codec.rate)
    size = codec.rate // 50
    packets = [(i * 20, i + 1, i * codec.step, codec.pt,
                encoder.encode(samples[i * size:(i + 1) * size]), i == 0) for i in range(50)]
    start = 50 * codec.step
    for k in range(6):
        end = k >= 3
        duration = min(k + 1, 4) * codec.step
        payload = struct.pack("!BBH", 5, (0x80 if end else 0) | 10, duration)
        packets.append((1000 + min(k, 3) * 20, 51 + k, start, codec.event_pt, payload,
                        k == 0))
    return packets


class RawAgent:
    """Records every binary frame; says the agent tone once the start message is in."""

    def __init__(self):
        self.reset()

    def reset(self):
        self.audio = bytearray()
        self.texts: list[dict] = []
        self.closed = False

    async def __call__(self, websocket) -> None:
        try:
            async for frame in websocket:
                if isinstance(frame, bytes):
                    self.audio += frame
                    continue
                message = json.loads(frame)
                self.texts.append(message)
                if message.get("event") == "start":
                    await asyncio.sleep(0.2)
                    await websocket.send(tone(AGENT_TONE_HZ, 1.0).astype("<i2").tobytes())
        except ConnectionClosed:
            pass
        finally:
            self.closed = True


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    agent = RawAgent()
    with AgentServer(agent) as server:
        switch = CallSwitch(tmp_path_factory.mktemp("wideband"),
                            sections={"trunks": {"probe_interval": NO_PROBES}})
        seed_routing(switch.db_url, Routing(trunks=[
            TrunkRow("carrier", (GatewayRow(CARRIER_IP, 5060),),
                     allowed_sources=(CARRIER_IP,), number_format="nanp")]))
        seed_agents(switch.db_url, [
            AgentRow("wide", f"ws://127.0.0.1:{server.port}/wide", profile="raw",
                     sample_rate=16000)], [(WIDE_DID, (("agent", "wide"),))])
        switch.start()
        try:
            yield switch, agent
        finally:
            switch.close()


@pytest.fixture(scope="module", params=sorted(CODECS))
def wide_call(request, lab, sipp, tmp_path_factory):
    """One SIPp call in the codec, with what the caller received and the agent heard."""
    switch, agent = lab
    codec = CODECS[request.param]
    agent.reset()
    workdir = tmp_path_factory.mktemp(request.param)
    write_rtp_pcap(workdir / "caller.pcap", caller_packets(codec))
    base, sink = caller_media(CARRIER_IP)
    keys = {"dialled": WIDE_DID.removeprefix("+1"), "domain": switch.domain,
            "caller": CALLER}
    try:
        result = run_call(switch.sip_target, codec.scenario, workdir,
                          ip=CARRIER_IP, keys=keys, timeout=15,
                          extra=("-d", 2000, "-mi", CARRIER_IP, "-mp", base))
        time.sleep(0.1)
    finally:
        sink.close()
    assert result.ok, result.describe()
    wait_until(lambda: agent.closed, 5.0, message="the agent's socket to close")
    call_id = call_id_of(result)
    return codec, result, sink, agent, wait_cdr(switch, call_id)


@pytest.mark.sipp
def test_the_switch_answers_the_codec_with_telephone_event_at_its_clock(wide_call):
    codec, result, _, _, _ = wide_call
    ok = next(m for m in result.responses(200) if m.header("CSeq").endswith("INVITE"))
    body = ok.text.replace("\r\n", "\n")  # (SIPp's log keeps the message's line ends)
    assert f" RTP/AVP {codec.pt} {codec.event_pt}\n" in body, body
    assert f"a=rtpmap:{codec.pt} {codec.rtpmap}\n" in body, body
    assert f"a=rtpmap:{codec.event_pt} telephone-event/{codec.clock}\n" in body, body


@pytest.mark.sipp
def test_a_raw_16_khz_agent_hears_the_callers_6_khz_tone(wide_call):
    _, _, _, agent, _ = wide_call
    [start] = [m for m in agent.texts if m.get("event") == "start"]
    assert start["format"] == {"encoding": "pcm_s16le", "sample_rate": 16000, "channels": 1}
    pcm = np.frombuffer(bytes(agent.audio), "<i2")
    loud = np.flatnonzero(np.abs(pcm) > 2000)
    assert loud[-1] - loud[0] > 16000 * 0.9, "less than 0.9 s of the caller's tone"
    heard = pcm[loud[0] + 1600:loud[0] + 1600 + 8000]  # 0.5 s inside the tone
    assert dominant(heard, 16000) == pytest.approx(CALLER_TONE_HZ, abs=10)
    assert above_4k(heard, 16000) > 0.95


@pytest.mark.sipp
def test_the_caller_hears_the_agent_in_its_codec(wide_call):
    codec, _, sink, _, _ = wide_call
    audio = [p for p in sink.packets if p.payload_type == codec.pt]
    assert len(audio) >= 80, f"{len(audio)} {codec.name} packets"
    assert not [p for p in sink.packets if p.payload_type not in (codec.pt, codec.event_pt)]
    if codec.name == "G722":
        assert {len(p.payload) for p in audio} == {160}
    steps = {(b.timestamp - a.timestamp) & 0xFFFFFFFF for a, b in zip(audio, audio[1:])}
    assert steps == {codec.step}, steps
    decoder = codec.decoder()
    pcm = np.concatenate([decoder.decode(p.payload) for p in audio])
    rate = codec.rate
    loud = np.flatnonzero(np.abs(pcm) > 2000)
    assert loud[-1] - loud[0] > rate * 0.9, "less than 0.9 s of the agent's tone"
    heard = pcm[loud[0] + rate // 10:loud[0] + rate // 10 + rate // 2]
    assert dominant(heard, rate) == pytest.approx(AGENT_TONE_HZ, abs=10)
    assert above_4k(heard, rate) > 0.95


@pytest.mark.sipp
def test_the_key_press_on_the_codecs_clock_reaches_the_agent(wide_call):
    _, _, _, agent, _ = wide_call
    assert [m for m in agent.texts if m.get("event") == "dtmf"] == \
        [{"event": "dtmf", "digit": "5"}]


@pytest.mark.sipp
def test_the_call_record_and_metrics_name_each_legs_audio(lab, wide_call):
    switch, _ = lab
    codec, _, _, _, record = wide_call
    stats = record["agent_stats"]
    assert (stats["caller_codec"], stats["agent_format"]) == (codec.name, "pcm16/16000"), stats
    assert switch.metric("softswitch_agent_calls_by_codec_total", codec=codec.name,
                         agent_format="pcm16/16000") == 1.0
