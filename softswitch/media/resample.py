"""Streaming sample-rate conversion between the phone side (8 kHz) and an agent's rate
(16 or 24 kHz), on libsoxr through `soxr.ResampleStream`.

`Resampler(in_rate, out_rate).process(samples)` takes int16 samples in any chunking and
returns the int16 samples ready so far; feeding the same signal in any chunking gives
the same output (bit for bit) once the stream's own hold-back is flushed. `flush()`
returns what the stream still holds (end of a response, end of the call) and leaves it
ready for new audio; `reset()` drops it (barge-in). Equal rates pass the samples through.

Choice of engine (measured, see tests/media/test_resample.py and the report in
bench/bench_agent_media.py):

- `quality="steady"` (the default) runs libsoxr's variable-rate engine at a fixed
  ratio. It emits output as input arrives, after a constant hold-back: 30 ms from 8 kHz
  to 16 or 24 kHz, 15 ms from 16 kHz and 25 ms from 24 kHz down to 8 kHz, the same on
  every 20 ms frame. Passband flat (within 0.1 dB) to 3.4 kHz, aliasing and images below
  -80 dB. python-soxr marks `vr=True` experimental; the tests pin its behaviour.
- `"LQ"`, `"MQ"`, `"HQ"`, `"VHQ"`: libsoxr's fixed-rate engines. python-soxr cannot set
  their DFT block size, so they release output in blocks of ~100 ms: from 8 to 16 kHz
  the hold-back swings between 12 and 115 ms (mean 64) at HQ, and LQ (3.75-61 ms)
  attenuates 3.4 kHz by 8 dB. Fine for files, too slow for a conversation.
- `"QQ"` (cubic interpolation) holds back 0.25 ms but has no anti-aliasing filter: it
  folds 4-8 kHz energy from a 16 kHz agent straight into the telephone band.

Samples go through libsoxr as float32 and are rounded back to int16 here: its int16
path adds TPDF dither, which makes the output random (±2 LSB from run to run) and so
neither reproducible nor independent of the chunking.
"""

import numpy as np
import soxr

QUALITIES = ("steady", "QQ", "LQ", "MQ", "HQ", "VHQ")
_SCALE_IN = np.float32(1.0 / 32768.0)
_SCALE_OUT = np.float32(32768.0)
_EMPTY = np.zeros(0, np.int16)


class Resampler:
    __slots__ = ("in_rate", "out_rate", "quality", "samples_in", "samples_out",
                 "_stream", "_ratio")

    def __init__(self, in_rate: int, out_rate: int, quality: str = "steady"):
        if in_rate <= 0 or out_rate <= 0:
            raise ValueError(f"sample rates must be positive, not {in_rate} and {out_rate}")
        if quality not in QUALITIES:
            raise ValueError(f"quality {quality!r} is not one of {', '.join(QUALITIES)}")
        self.in_rate = in_rate
        self.out_rate = out_rate
        self.quality = quality
        self.samples_in = 0
        self.samples_out = 0
        self._ratio = out_rate / in_rate
        self._stream = None
        if in_rate != out_rate:
            if quality == "steady":
                self._stream = soxr.ResampleStream(in_rate, out_rate, 1, dtype="float32",
                                                   quality="HQ", vr=True)
            else:
                self._stream = soxr.ResampleStream(in_rate, out_rate, 1, dtype="float32",
                                                   quality=quality)

    @property
    def passthrough(self) -> bool:
        return self._stream is None

    def process(self, pcm: np.ndarray) -> np.ndarray:
        """Resample int16 samples; returns the int16 samples that are ready (possibly
        none, and not necessarily len(pcm) * ratio of them)."""
        if not isinstance(pcm, np.ndarray) or pcm.dtype != np.int16 or pcm.ndim != 1:
            raise TypeError("Resampler.process takes a 1-D int16 array")
        self.samples_in += len(pcm)
        if self._stream is None:
            self.samples_out += len(pcm)
            return pcm
        out = self._stream.resample_chunk(pcm.astype(np.float32) * _SCALE_IN)
        return self._to_int16(out)

    def flush(self) -> np.ndarray:
        """Everything the stream still holds, as if the input had ended; the stream
        then starts afresh (its filter history is cleared) for the next audio."""
        if self._stream is None:
            return _EMPTY
        out = self._stream.resample_chunk(np.zeros(0, np.float32), last=True)
        self._stream.clear()
        result = self._to_int16(out)
        self.samples_in = self.samples_out = 0
        return result

    def reset(self) -> None:
        """Drop what the stream holds (barge-in): nothing of the old audio comes out."""
        if self._stream is not None:
            self._stream.clear()
        self.samples_in = self.samples_out = 0

    @property
    def latency_ms(self) -> float:
        """Audio taken in but not yet given out, in milliseconds: the stream's hold-back
        at this moment (its output is aligned, so this is the added delay)."""
        held = self.samples_in * self._ratio - self.samples_out
        return max(0.0, held) * 1000.0 / self.out_rate

    def _to_int16(self, out: np.ndarray) -> np.ndarray:
        if not len(out):
            return _EMPTY
        np.multiply(out, _SCALE_OUT, out=out)
        np.rint(out, out=out)
        np.maximum(out, -32768.0, out=out)  # (two ufuncs: np.clip costs more here)
        np.minimum(out, 32767.0, out=out)
        self.samples_out += len(out)
        return out.astype(np.int16)
