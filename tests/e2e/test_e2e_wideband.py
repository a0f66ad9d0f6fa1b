"""Wideband callers against the running switch, with SIPp as the caller: its INVITE
offers G.722 (payload 9, RTP clock 8000), PCMU and telephone-event, and it replays a
pcap of G.722 RTP made here with the G722 library (a 6 kHz tone, above what 8 kHz
sampling can carry, then an RFC 4733 key press on the 8000 Hz clock).

A `raw` agent at 16 kHz (a `websockets` server) records the binary audio it gets and
says a 5 kHz tone back. The agent's audio has its energy above 4 kHz at 6 kHz (proof
that nothing passed through 8 kHz), the caller receives G.722 (payload 9, 160 bytes,
timestamps 160 apart) that decodes to the agent's 5 kHz, the key press arrives, and the
call record and /metrics name both legs' audio."""

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

WIDE_DID = "+14155550150"  # -> agent wide (raw, 16 kHz)
CALLER = "+12125550123"
NO_PROBES = 86400.0
CALLER_TONE_HZ, AGENT_TONE_HZ = 6000, 5000
EVENT_PT = 101


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


def caller_packets():
    """1 s of G.722 (the 6 kHz tone), then digit 5 as RFC 4733 events: a start with
    the marker, updates every 20 ms, the end three times; durations in 8000 Hz ticks."""
    encoder, samples = G722Encoder(), tone(CALLER_TONE_HZ, 1.0)
    packets = [(i * 20, i + 1, i * 160, 9, encoder.encode(samples[i * 320:(i + 1) * 320]),
                i == 0) for i in range(50)]
    start = 50 * 160
    for k in range(6):
        end = k >= 3
        duration = min(k + 1, 4) * 160
        payload = struct.pack("!BBH", 5, (0x80 if end else 0) | 10, duration)
        packets.append((1000 + min(k, 3) * 20, 51 + k, start, EVENT_PT, payload, k == 0))
    return packets


class RawAgent:
    """Records every binary frame; says the agent tone once the start message is in."""

    def __init__(self):
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


@pytest.fixture(scope="module")
def g722_call(lab, sipp, tmp_path_factory):
    switch, agent = lab
    workdir = tmp_path_factory.mktemp("g722")
    write_rtp_pcap(workdir / "caller.pcap", caller_packets())
    base, sink = caller_media(CARRIER_IP)
    keys = {"dialled": WIDE_DID.removeprefix("+1"), "domain": switch.domain,
            "caller": CALLER}
    try:
        result = run_call(switch.sip_target, "wideband_uac_g722.xml", workdir,
                          ip=CARRIER_IP, keys=keys, timeout=15,
                          extra=("-d", 2000, "-mi", CARRIER_IP, "-mp", base))
        time.sleep(0.1)
    finally:
        sink.close()
    assert result.ok, result.describe()
    wait_until(lambda: agent.closed, 5.0, message="the agent's socket to close")
    call_id = call_id_of(result)
    return result, sink, agent, wait_cdr(switch, call_id)


@pytest.mark.sipp
def test_the_switch_answers_g722_with_telephone_event_at_8000(g722_call):
    result, _, _, _ = g722_call
    ok = next(m for m in result.responses(200) if m.header("CSeq").endswith("INVITE"))
    body = ok.text.replace("\r\n", "\n")  # (SIPp's log keeps the message's line ends)
    assert " RTP/AVP 9 101\n" in body, body
    assert "a=rtpmap:9 G722/8000\n" in body and \
        "a=rtpmap:101 telephone-event/8000\n" in body, body


@pytest.mark.sipp
def test_a_raw_16_khz_agent_hears_the_callers_6_khz_tone(g722_call):
    _, _, agent, _ = g722_call
    [start] = [m for m in agent.texts if m.get("event") == "start"]
    assert start["format"] == {"encoding": "pcm_s16le", "sample_rate": 16000, "channels": 1}
    pcm = np.frombuffer(bytes(agent.audio), "<i2")
    loud = np.flatnonzero(np.abs(pcm) > 2000)
    assert loud[-1] - loud[0] > 16000 * 0.9, "less than 0.9 s of the caller's tone"
    heard = pcm[loud[0] + 1600:loud[0] + 1600 + 8000]  # 0.5 s inside the tone
    assert dominant(heard, 16000) == pytest.approx(CALLER_TONE_HZ, abs=10)
    assert above_4k(heard, 16000) > 0.95


@pytest.mark.sipp
def test_the_caller_hears_the_agent_in_g722(g722_call):
    _, sink, _, _ = g722_call
    audio = [p for p in sink.packets if p.payload_type == 9]
    assert len(audio) >= 80, f"{len(audio)} G.722 packets"
    assert not [p for p in sink.packets if p.payload_type not in (9, EVENT_PT)]
    assert {len(p.payload) for p in audio} == {160}
    steps = {(b.timestamp - a.timestamp) & 0xFFFFFFFF for a, b in zip(audio, audio[1:])}
    assert steps == {160}, steps
    pcm = G722Decoder().decode(b"".join(p.payload for p in audio))
    loud = np.flatnonzero(np.abs(pcm) > 2000)
    assert loud[-1] - loud[0] > 16000 * 0.9, "less than 0.9 s of the agent's tone"
    heard = pcm[loud[0] + 1600:loud[0] + 1600 + 8000]
    assert dominant(heard, 16000) == pytest.approx(AGENT_TONE_HZ, abs=10)
    assert above_4k(heard, 16000) > 0.95


@pytest.mark.sipp
def test_the_key_press_on_the_8000_hz_clock_reaches_the_agent(g722_call):
    _, _, agent, _ = g722_call
    assert [m for m in agent.texts if m.get("event") == "dtmf"] == \
        [{"event": "dtmf", "digit": "5"}]


@pytest.mark.sipp
def test_the_call_record_and_metrics_name_each_legs_audio(lab, g722_call):
    switch, _ = lab
    _, _, _, record = g722_call
    stats = record["agent_stats"]
    assert (stats["caller_codec"], stats["agent_format"]) == ("G722", "pcm16/16000"), stats
    assert switch.metric("softswitch_agent_calls_by_codec_total", codec="G722",
                         agent_format="pcm16/16000") == 1.0
