"""Micro-benchmark: per-frame cost of the wideband codecs, ours against the bare
library calls in the same run.

    python bench/bench_codecs.py [--frames 3000] [--repeat 3]

Each row is µs per 20 ms frame (best of --repeat runs, a 300-3400 Hz sweep at 16 kHz
and 48 kHz):

- G.722 bare: `G722.G722.encode` / `.decode` on 320 samples / 160 bytes.
- G.722 ours: `media.codecs.g722` encoder / decoder (the same calls plus the numpy view).
- G.722 caller -> 16 kHz agent: `CallerToAgent` (decode only, no resampling).
- G.722 caller -> µ-law agent and back (`CallerToAgent` / `AgentToCaller` with a µ-law
  8 kHz agent): G.722 <-> PCMU transcoding (decode, resample 16 <-> 8 kHz, µ-law).
- PCMU caller -> 16 kHz agent, for comparison (the narrowband path of today).
- Opus bare: `opuslib.Encoder.encode` / `Decoder.decode` (48 kHz mono, 960 samples),
  with the library's defaults and with the encoder set as ours (32 kbit/s, in-band FEC,
  10 % expected loss: FEC makes the encoder work harder).
- Opus ours: `media.codecs.opus` (the same, with FEC on and the numpy conversion).
- Opus with PyAV (ffmpeg's libopus through `av.CodecContext`), when `av` is installed:
  the candidate measured against opuslib.
"""

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import opuslib  # noqa: E402
from opuslib.api import ctl  # noqa: E402
from opuslib.api.encoder import encoder_ctl  # noqa: E402
from G722 import G722 as G722Library  # noqa: E402

from softswitch.agent.codec import AgentToCaller, CallerToAgent, call_codec  # noqa: E402
from softswitch.agent.events import MULAW_8K, AudioFormat  # noqa: E402
from softswitch.media.codecs.g722 import G722Decoder, G722Encoder  # noqa: E402
from softswitch.media.codecs.opus import OpusDecoder, OpusEncoder  # noqa: E402
from softswitch.media.g711 import ulaw_encode  # noqa: E402


def sweep(rate, frames):
    n = rate // 50 * frames
    t = np.arange(n) / rate
    phase = 2 * np.pi * (300 * t + (3400 - 300) * t * t / (2 * t[-1]))
    return np.rint(8000 * np.sin(phase)).astype(np.int16)


def best(fn, items, repeat):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        for item in items:
            fn(item)
        times.append(time.perf_counter() - start)
    return min(times) / len(items) * 1e6


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    n, r = args.frames, args.repeat
    rows = []

    wide = sweep(16000, n)
    pcm16 = [wide[i * 320:(i + 1) * 320] for i in range(n)]
    bare = G722Library(16000, 64000)
    g722 = [bare.encode(f) for f in pcm16]
    lib_enc, lib_dec = G722Library(16000, 64000), G722Library(16000, 64000)
    rows.append(("G.722 encode, bare library", best(lib_enc.encode, pcm16, r)))
    rows.append(("G.722 encode, media.codecs.g722", best(G722Encoder().encode, pcm16, r)))
    rows.append(("G.722 decode, bare library", best(lib_dec.decode, g722, r)))
    rows.append(("G.722 decode, media.codecs.g722", best(G722Decoder().decode, g722, r)))
    up16 = CallerToAgent(call_codec("G722"), AudioFormat("pcm16", 16000))
    rows.append(("G.722 caller -> 16 kHz agent (CallerToAgent)", best(up16.convert, g722, r)))
    up_mu = CallerToAgent(call_codec("G722"), MULAW_8K)
    rows.append(("G.722 -> PCMU (decode, 16->8 kHz, µ-law)", best(up_mu.convert, g722, r)))
    narrow = sweep(8000, n)
    pcmu = [ulaw_encode(narrow[i * 160:(i + 1) * 160]) for i in range(n)]
    down_mu = AgentToCaller(MULAW_8K, call_codec("G722"))
    rows.append(("PCMU -> G.722 (µ-law, 8->16 kHz, encode)", best(down_mu.convert, pcmu, r)))
    up_narrow = CallerToAgent(call_codec("PCMU"), AudioFormat("pcm16", 16000))
    rows.append(("PCMU caller -> 16 kHz agent (for comparison)",
                 best(up_narrow.convert, pcmu, r)))

    full = sweep(48000, n)
    pcm48 = [full[i * 960:(i + 1) * 960] for i in range(n)]
    pcm48_bytes = [f.tobytes() for f in pcm48]
    lib_oenc = opuslib.Encoder(48000, 1, opuslib.APPLICATION_VOIP)
    lib_odec = opuslib.Decoder(48000, 1)
    opus = [OpusEncoder().encode(f) for f in pcm48]
    rows.append(("Opus encode, bare opuslib", best(lambda b: lib_oenc.encode(b, 960),
                                                   pcm48_bytes, r)))
    fec = opuslib.Encoder(48000, 1, opuslib.APPLICATION_VOIP)
    fec.bitrate = 32000
    encoder_ctl(fec.encoder_state, ctl.set_inband_fec, 1)
    encoder_ctl(fec.encoder_state, ctl.set_packet_loss_perc, 10)
    rows.append(("Opus encode, bare opuslib, FEC on, 10% loss", best(
        lambda b: fec.encode(b, 960), pcm48_bytes, r)))
    rows.append(("Opus encode, media.codecs.opus (FEC on)", best(OpusEncoder().encode,
                                                                 pcm48, r)))
    rows.append(("Opus decode, bare opuslib", best(lambda p: lib_odec.decode(p, 960),
                                                   opus, r)))
    rows.append(("Opus decode, media.codecs.opus", best(OpusDecoder().decode, opus, r)))
    try:
        import av
    except ImportError:
        av = None
    if av is not None:
        enc = av.CodecContext.create("libopus", "w")
        enc.sample_rate, enc.layout, enc.format, enc.bit_rate = 48000, "mono", "s16", 32000
        enc.open()
        dec = av.CodecContext.create("libopus", "r")
        dec.sample_rate, dec.layout = 48000, "mono"
        dec.open()
        pts = iter(range(0, 10**9, 960))

        def av_encode(samples):
            frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16",
                                               layout="mono")
            frame.sample_rate, frame.pts = 48000, next(pts)
            return [bytes(p) for p in enc.encode(frame)]

        def av_decode(payload):
            return [f.to_ndarray() for f in dec.decode(av.Packet(payload))]
        rows.append(("Opus encode, PyAV (libopus)", best(av_encode, pcm48, r)))
        rows.append(("Opus decode, PyAV (libopus)", best(av_decode, opus, r)))

    width = max(len(name) for name, _ in rows)
    print(f"{n} frames of 20 ms, best of {r}; µs per frame (one core)")
    for name, us in rows:
        print(f"  {name:<{width}}  {us:8.1f}")


if __name__ == "__main__":
    main()
