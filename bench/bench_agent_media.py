"""Micro-benchmark: the per-frame cost of the agent bridge's media core, per direction.

    python bench/bench_agent_media.py [seconds of audio per call] [--profile]

caller -> agent, every 20 ms: jitter buffer push + pop, µ-law decode, resample from
8 kHz to the agent's rate, int16 to bytes.
agent -> caller, every 20 ms: bytes to int16, resample to 8 kHz, µ-law encode,
playout enqueue + next_frame.

Profiles: `raw16k` and `raw24k` (L16 agents: the full paths above) and `pcmu` (Twilio
Media Streams or a Realtime API with audio/pcmu: no decode or resampling, only the
jitter buffer one way and the playout queue the other). 100 calls run interleaved, each
with its own buffers and resamplers, so state is not all in cache as with a single
call. The last line of each profile is the number of concurrent calls one core could
carry at 50 frames/s each way (media core only: no sockets, WebSocket or JSON).
`--profile` prints the cProfile of the raw16k run.
"""

import cProfile
import os
import pstats
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from softswitch.media.g711 import ulaw_decode, ulaw_encode  # noqa: E402
from softswitch.media.jitter import JitterBuffer  # noqa: E402
from softswitch.media.playout import Playout  # noqa: E402
from softswitch.media.resample import Resampler  # noqa: E402

CALLS = 100
REPEAT = 3
FRAME_S = 0.02


def caller_audio(frames):
    t = np.arange(160 * frames) / 8000
    voice = 6000 * np.sin(2 * np.pi * 440 * t) + 2000 * np.sin(2 * np.pi * 1300 * t)
    coded = ulaw_encode(voice.astype(np.int16))
    return [coded[i * 160:(i + 1) * 160] for i in range(frames)]


def agent_audio(rate, frames):
    n = rate // 50
    t = np.arange(n * frames) / rate
    pcm = (5000 * np.sin(2 * np.pi * 300 * t)).astype(np.int16).tobytes()
    return [pcm[i * 2 * n:(i + 1) * 2 * n] for i in range(frames)]


class Call:
    __slots__ = ("jb", "up", "down", "playout")

    def __init__(self, rate):
        self.jb = JitterBuffer()
        self.up = Resampler(8000, rate) if rate != 8000 else None
        self.down = Resampler(rate, 8000) if rate != 8000 else None
        self.playout = Playout()


def caller_to_agent(calls, packets, decode):
    now = 100.0
    sent = 0
    start = time.perf_counter()
    for k, payload in enumerate(packets):
        now += FRAME_S
        seq, ts = k & 0xFFFF, (160 * k) & 0xFFFFFFFF
        for call in calls:
            call.jb.push(seq, ts, payload, now)
            frame = call.jb.pop(now + 0.005)
            if frame is None:
                continue
            if decode:
                out = call.up.process(ulaw_decode(frame.payload)).tobytes()
            else:
                out = frame.payload
            sent += len(out) > 0
    return time.perf_counter() - start, len(packets) * len(calls), sent


def agent_to_caller(calls, chunks, encode):
    sent = 0
    start = time.perf_counter()
    for chunk in chunks:
        for call in calls:
            if encode:
                call.playout.enqueue(ulaw_encode(call.down.process(np.frombuffer(chunk, np.int16))))
            else:
                call.playout.enqueue(chunk)
            frame, _marks = call.playout.next_frame()
            sent += len(frame) == 160
    return time.perf_counter() - start, len(chunks) * len(calls), sent


def run(profile, frames):
    rate = {"raw16k": 16000, "raw24k": 24000, "pcmu": 8000}[profile]
    resampling = rate != 8000
    calls = [Call(rate) for _ in range(CALLS)]
    packets = caller_audio(frames)
    chunks = agent_audio(rate, frames) if resampling else caller_audio(frames)
    up_time, up_frames, up_sent = caller_to_agent(calls, packets, resampling)
    down_time, down_frames, down_sent = agent_to_caller(calls, chunks, resampling)
    assert up_sent >= up_frames - 5 * CALLS and down_sent == down_frames
    up_us = up_time / up_frames * 1e6
    down_us = down_time / down_frames * 1e6
    per_call_s = 50 * (up_us + down_us) / 1e6  # CPU seconds per second of call
    return up_us, down_us, 1 / per_call_s


def resampler_delays():
    """The hold-back each resampler adds, measured on 2 s of 20 ms frames."""
    out = []
    for in_rate, out_rate in ((8000, 16000), (8000, 24000), (16000, 8000), (24000, 8000)):
        resampler = Resampler(in_rate, out_rate)
        frame = np.zeros(in_rate // 50, np.int16)
        held = []
        for _ in range(100):
            resampler.process(frame)
            held.append(resampler.latency_ms)
        out.append(f"{in_rate // 1000}k->{out_rate // 1000}k {max(held[5:]):.1f} ms"
                   f" (min {min(held[5:]):.1f})")
    return out


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    seconds = float(args[0]) if args else 10.0
    frames = int(seconds * 50)
    print(f"{CALLS} interleaved calls, {frames} frames each way per call, best of {REPEAT}")
    for profile in ("pcmu", "raw16k", "raw24k"):
        results = [run(profile, frames) for _ in range(REPEAT)]
        up_us = min(r[0] for r in results)
        down_us = min(r[1] for r in results)
        calls = 1e6 / (50 * (up_us + down_us))
        print(f"{profile:7} caller->agent {up_us:6.1f} us/frame   "
              f"agent->caller {down_us:6.1f} us/frame   -> {calls:7,.0f} calls per core")
    print("resampler hold-back: " + ", ".join(resampler_delays()))
    if "--profile" in sys.argv:
        profiler = cProfile.Profile()
        profiler.enable()
        run("raw16k", frames)
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(14)


if __name__ == "__main__":
    main()
