"""Micro-benchmark: the per-call cost of one 20 ms slot of the agent bridge, both ways.

    python bench/bench_agent_bridge.py [seconds of audio per call] [--profile[=NAME]]

One slot is what a call costs every 20 ms in `AgentBridge`: the caller's RTP packet in
(`rtp_received`: jitter buffer push), the agent's 20 ms of audio in (`ws_text` of a
JSON media message, or `ws_binary` of L16 PCM: profile decode, conversion, playout
enqueue), and the `tick` (jitter pop, conversion, the profile's message to the agent;
playout frame and its RTP header out, serialised with `bytes(packet)`). Sockets,
WebSocket framing and the reactor are not included (see bench_agent_media.py for the
media core alone).

Setups: `pcmu/twilio` (Twilio Media Streams JSON and base64 both ways), `pcmu/openai`
(Realtime JSON), `pcmu/raw16k` (L16 at 16 kHz both ways through the resamplers). 100
calls run interleaved, each with its own bridge, so the state is not all in cache. The
last column is how many concurrent calls one core could carry at 50 slots/s each (this
layer only). Times are the process's CPU time (other processes on a shared machine
only disturb them through the caches), best of 5. `--profile` prints the cProfile of
one setup (default pcmu/twilio).

Measured (`python bench/bench_agent_bridge.py 10`, Python 3.11.7, a shared 2-vCPU VM):

    pcmu/twilio    8.8 us per call-slot  ->  ~2,260 concurrent calls per core
    pcmu/openai   11.5 us per call-slot  ->  ~1,740
    pcmu/raw16k   30.3 us per call-slot  ->    ~660 (soxr both ways is most of it)

cProfile of pcmu/twilio put the profile's JSON first: `json.dumps` of every media
message cost 3.7 us of the 12 us slot; the media message is now formatted directly
(0.7 us, byte-identical output), which took the slot from 11.9 to 8.8 us. What is left
is the bridge's tick, the jitter buffer, `json.loads` + base64 of the agent's media,
and the playout queue, in that order.
"""

import base64
import cProfile
import json
import os
import pstats
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from softswitch.agent.bridge import AgentBridge  # noqa: E402
from softswitch.agent.events import CallInfo  # noqa: E402
from softswitch.agent.profiles import make_profile  # noqa: E402
from softswitch.media.g711 import ulaw_encode  # noqa: E402

CALLS = 100
REPEAT = 5
SLOT = 0.02
INFO = CallInfo("CA0", "MZ0", "AC0", "+12125550123", "+14155550100", did="+14155550100")
SETUPS = {
    "pcmu/twilio": ("twilio", {}),
    "pcmu/openai": ("openai-realtime", {}),
    "pcmu/raw16k": ("raw", {"sample_rate": 16000}),
}


def caller_packets(frames):
    t = np.arange(160 * frames) / 8000
    voice = 6000 * np.sin(2 * np.pi * 440 * t) + 2000 * np.sin(2 * np.pi * 1300 * t)
    coded = ulaw_encode(voice.astype(np.int16))
    return [coded[i * 160:(i + 1) * 160] for i in range(frames)]


def agent_frames(setup, frames):
    """What the agent sends every 20 ms, already serialised (the agent's cost, not ours)."""
    if setup == "pcmu/raw16k":
        t = np.arange(320 * frames) / 16000
        pcm = (5000 * np.sin(2 * np.pi * 300 * t)).astype("<i2").tobytes()
        return [pcm[i * 640:(i + 1) * 640] for i in range(frames)]
    coded = caller_packets(frames)
    if setup == "pcmu/twilio":
        return [json.dumps({"event": "media", "streamSid": "MZ0",
                            "media": {"payload": base64.b64encode(c).decode()}})
                for c in coded]
    return [json.dumps({"type": "response.output_audio.delta", "response_id": "r1",
                        "item_id": "item_1", "output_index": 0, "content_index": 0,
                        "delta": base64.b64encode(c).decode()}) for c in coded]


def run(setup, frames):
    name, options = SETUPS[setup]
    now = 100.0
    bridges = [AgentBridge(make_profile(name, **options), INFO, codec="PCMU", rtp_event_pt=101,
                           now=now) for _ in range(CALLS)]
    for bridge in bridges:
        bridge.start(now)
    packets = caller_packets(frames)
    from_agent = agent_frames(setup, frames)
    binary = setup == "pcmu/raw16k"
    ws_out = rtp_out = 0
    start = time.process_time()
    for k in range(frames):
        now = 100.0 + SLOT * k
        seq, ts = k & 0xFFFF, (160 * k) & 0xFFFFFFFF
        payload, message = packets[k], from_agent[k]
        arrival, agent_at = now - 0.013, now - 0.007
        for bridge in bridges:
            bridge.rtp_received(0, seq, ts, False, payload, arrival)
            if binary:
                bridge.ws_binary(message, agent_at)
            else:
                bridge.ws_text(message, agent_at)
            out = bridge.tick(now + 0.0005)
            ws_out += len(out.ws)
            for packet in out.rtp:
                rtp_out += len(bytes(packet)) > 12
    elapsed = time.process_time() - start
    slots = frames * CALLS
    assert rtp_out == slots, (rtp_out, slots)
    assert ws_out >= slots - 5 * CALLS, (ws_out, slots)  # (the jitter buffer's hold)
    for bridge in bridges:
        stats = bridge.stats()
        assert stats.profile_errors == 0 and stats.slots_skipped == 0
    return elapsed / slots * 1e6


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    seconds = float(args[0]) if args else 10.0
    frames = int(seconds * 50)
    print(f"{CALLS} interleaved calls, {frames} slots each, best of {REPEAT}; one slot = "
          "rtp_received + ws_text/ws_binary (20 ms of agent audio) + tick + bytes(rtp)")
    for setup in SETUPS:
        us = min(run(setup, frames) for _ in range(REPEAT))
        calls = 1e6 / (50 * us)
        print(f"{setup:12} {us:7.1f} us per call-slot  ->  {calls:7,.0f} concurrent calls per core")
    profile = [a for a in sys.argv[1:] if a.startswith("--profile")]
    if profile:
        setup = profile[0].partition("=")[2] or "pcmu/twilio"
        profiler = cProfile.Profile()
        profiler.enable()
        run(setup, frames)
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(18)


if __name__ == "__main__":
    main()
