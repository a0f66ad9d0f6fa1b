"""Call progress tones as 20 ms G.711 frames: the ringback a caller hears while the
human of a cold transfer rings.

A cadence is one or two frequencies gated on and off in a repeating pattern:

    us   440 + 480 Hz   2 s on, 4 s off                     (North America, ANSI T1.401)
    uk   400 + 450 Hz   0.4 on, 0.2 off, 0.4 on, 2 off      (BT SIN 350)
    eu   425 Hz         1 s on, 4 s off                     (ETSI ES 201 970, CEPT)

One whole cycle is synthesised once per (cadence, codec), with numpy, and kept as a
tuple of encoded frames (`cadence_frames`, cached): a `ToneSource` then hands out one
frame per call, a tuple index, with no arithmetic per frame. The oscillator runs
through the off periods (the bursts are gates on one continuous tone) and each
frequency makes a whole number of periods per cycle (f * cycle length is an integer
for every cadence here, which the synthesis checks), so the tone is phase-continuous
across frames, bursts and cycles. Each burst starts and ends with a 4 ms raised-cosine
ramp so the gating does not click. Every segment is a whole number of 20 ms frames,
so a frame is either all tone or all silence, bar the ramps.

Level: the tone's total power is `LEVEL_DBM0` (-13 dBm0; a two-frequency tone puts
each frequency 3 dB lower), well clear of G.711's overload (+3.17 dBm0).
"""

import functools
from dataclasses import dataclass

import numpy as np

from softswitch.media.codecs.g722 import SAMPLE_RATE as G722_RATE
from softswitch.media.codecs.g722 import G722Encoder
from softswitch.media.codecs.opus import SAMPLE_RATE as OPUS_RATE
from softswitch.media.g711 import FRAME_SAMPLES, SAMPLE_RATE, alaw_encode, ulaw_encode
from softswitch.media.resample import Resampler

LEVEL_DBM0 = -13.0
# Peak of a 0 dBm0 sine in 16-bit linear G.711 samples (µ-law: 32636 at +3.17 dBm0;
# A-law: 32768 at +3.14 dBm0; the two agree within 0.05 dB).
DBM0_PEAK = 22_660.0
RAMP_SAMPLES = 32  # 4 ms raised-cosine at each end of a burst



def _g722_encode(samples: np.ndarray) -> bytes:
    """8 kHz tone samples as G.722 (16 kHz inside; a tone cycle is coded from a fresh
    encoder, so the cycle restarts cleanly at each loop)."""
    wide = Resampler(SAMPLE_RATE, G722_RATE)
    pcm = np.concatenate([wide.process(samples), wide.flush()])[:len(samples) * 2]
    return G722Encoder().encode(pcm)


def _opus_playout(samples: np.ndarray) -> bytes:
    """8 kHz tone samples as the L16 48 kHz an Opus call's playout holds (the bridge
    codes each frame to Opus as it sends it)."""
    wide = Resampler(SAMPLE_RATE, OPUS_RATE)
    pcm = np.concatenate([wide.process(samples), wide.flush()])[:len(samples) * 6]
    return pcm.astype("<i2").tobytes()


_ENCODERS = {"PCMU": ulaw_encode, "PCMA": alaw_encode, "G722": _g722_encode,
             "OPUS": _opus_playout}
_FRAME_BYTES = {"OPUS": OPUS_RATE // 50 * 2}  # else 160


@dataclass(frozen=True)
class Cadence:
    frequencies: tuple[float, ...]
    pattern: tuple[float, ...]  # seconds: on, off, on, off...

    @property
    def cycle_seconds(self) -> float:
        return sum(self.pattern)


RINGBACK = {
    "us": Cadence((440.0, 480.0), (2.0, 4.0)),
    "uk": Cadence((400.0, 450.0), (0.4, 0.2, 0.4, 2.0)),
    "eu": Cadence((425.0,), (1.0, 4.0)),
}
RINGBACK_CHOICES = tuple(RINGBACK) + ("silence",)  # [agents] transfer_ringback


def synthesise(cadence: Cadence, level_dbm0: float = LEVEL_DBM0) -> np.ndarray:
    """One cycle of `cadence` as int16 samples at 8 kHz."""
    segments = [round(seconds * SAMPLE_RATE) for seconds in cadence.pattern]
    if any(n % FRAME_SAMPLES for n in segments) or len(segments) % 2:
        raise ValueError(f"cadence {cadence.pattern} is not whole 20 ms frames on/off")
    total = sum(segments)
    for f in cadence.frequencies:
        if abs(f * total / SAMPLE_RATE - round(f * total / SAMPLE_RATE)) > 1e-9:
            raise ValueError(f"{f} Hz makes no whole number of periods per cycle")
    amplitude = DBM0_PEAK * 10 ** ((level_dbm0 - 10 * np.log10(len(cadence.frequencies)))
                                   / 20)
    t = np.arange(total) / SAMPLE_RATE
    tone = sum(amplitude * np.sin(2 * np.pi * f * t) for f in cadence.frequencies)
    gate = np.zeros(total)
    ramp = 0.5 - 0.5 * np.cos(np.pi * (np.arange(RAMP_SAMPLES) + 0.5) / RAMP_SAMPLES)
    start = 0
    for i, n in enumerate(segments):
        if i % 2 == 0:
            burst = gate[start:start + n]
            burst[:] = 1.0
            burst[:RAMP_SAMPLES] = ramp
            burst[-RAMP_SAMPLES:] = ramp[::-1]
        start += n
    return np.rint(tone * gate).astype(np.int16)


@functools.cache
def cadence_frames(name: str, codec: str) -> tuple[bytes, ...]:
    """One cycle of the ringback `name` ("us", "uk", "eu") in `codec` ("PCMU",
    "PCMA", "G722") as 160-byte frames, or for "OPUS" as the L16 48 kHz frames of its
    playout; computed once per pair."""
    try:
        cadence, encode = RINGBACK[name], _ENCODERS[codec.upper()]
    except KeyError:
        raise ValueError(f"no ringback {name!r} in {codec!r}") from None
    coded = encode(synthesise(cadence))
    size = _FRAME_BYTES.get(codec.upper(), FRAME_SAMPLES)
    return tuple(coded[i:i + size] for i in range(0, len(coded), size))


class ToneSource:
    """An endless cadence, one frame per `next_frame()` (a `Playout` filler)."""

    __slots__ = ("_frames", "_index")

    def __init__(self, frames: tuple[bytes, ...], index: int = 0):
        if not frames:
            raise ValueError("a tone needs at least one frame")
        self._frames = frames
        self._index = index % len(frames)

    def next_frame(self) -> bytes:
        i = self._index
        frames = self._frames
        self._index = i + 1 if i + 1 < len(frames) else 0
        return frames[i]

    @property
    def position(self) -> int:
        """Index of the next frame in the cycle."""
        return self._index


def ringback_tone(name: str, codec: str) -> ToneSource | None:
    """A ringback source from its start, or None for "silence"."""
    if name == "silence":
        return None
    return ToneSource(cadence_frames(name, codec))
