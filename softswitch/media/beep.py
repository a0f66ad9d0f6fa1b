"""The beep at the end of a voicemail greeting: a steady pure tone.

`BeepDetector.push(samples, media_ms)` takes one 20 ms frame of 8 kHz linear PCM and
returns a `Beep` once a tone has ended (or has lasted `max_ms`): a run of frames whose
spectrum is one narrow peak inside `band` (most of the frame's energy within a few
bins of it), at the same frequency from frame to frame, for at least `min_ms`.

Speech is not a beep: a voiced sound spreads its energy over many harmonics and its
pitch moves, so no single peak holds most of the energy for 150 ms. Frame energy must
also be above `min_dbfs` (a quiet hum on the line is not a beep).

Cost: a sine obeys x[n-1] + x[n+1] = 2 cos(w) x[n]; a frame that this two-tap
prediction leaves more than `PREDICTION_RESIDUE` of its energy unexplained is no
tone, and needs no FFT (most speech frames end there, at a fraction of the cost).
"""

from dataclasses import dataclass

import numpy as np

SAMPLE_RATE = 8000
FFT_SIZE = 160  # one frame: 50 Hz bins (a power-of-two pad costs more than it tells)
_WINDOW = np.hanning(160)
_BIN_HZ = SAMPLE_RATE / FFT_SIZE
PEAK_BINS = 2  # a tone's energy lands on its bin and the next ones (Hann main lobe)
PREDICTION_RESIDUE = 0.25  # of the energy; a clean tone leaves ~0, speech far more


@dataclass(frozen=True, slots=True)
class Beep:
    start_ms: int
    end_ms: int  # media time after its last frame
    frequency: float  # Hz


class BeepDetector:
    def __init__(self, *, band: tuple[float, float] = (350.0, 2600.0), min_ms: int = 140,
                 max_ms: int = 3000, purity: float = 0.9, min_dbfs: float = -45.0,
                 frame_ms: int = 20):
        if not 0 < band[0] < band[1] < SAMPLE_RATE / 2:
            raise ValueError(f"beep band {band}")
        self._low = int(band[0] / _BIN_HZ)
        self._high = int(band[1] / _BIN_HZ) + 1
        self.min_ms = min_ms
        self.max_ms = max_ms
        self.purity = purity
        self._min_power = 10 ** (min_dbfs / 10) * 160 * 32768.0 ** 2
        self.frame_ms = frame_ms
        self._run_start: int | None = None
        self._run_bin = 0
        self._run_end = 0
        self._reported = False

    def push(self, samples: np.ndarray, media_ms: int,
             energy: float | None = None) -> Beep | None:
        """One frame; `energy` is its sum of squares if the caller has it already."""
        peak = self._tone_bin(samples, energy)
        if peak is not None and self._run_start is not None \
                and abs(peak - self._run_bin) <= 1:
            self._run_end = media_ms + self.frame_ms
            if not self._reported and self._run_end - self._run_start >= self.max_ms:
                self._reported = True
                return self._beep()
            return None
        ended = self._ended()
        if peak is not None:
            self._run_start, self._run_bin = media_ms, peak
            self._run_end = media_ms + self.frame_ms
        else:
            self._run_start = None
        self._reported = False
        return ended

    def _ended(self) -> Beep | None:
        if self._run_start is None or self._reported:
            return None
        if self._run_end - self._run_start >= self.min_ms:
            return self._beep()
        return None

    def _beep(self) -> Beep:
        return Beep(self._run_start, self._run_end, round(self._run_bin * _BIN_HZ, 1))

    def _tone_bin(self, samples: np.ndarray, energy: float | None = None) -> int | None:
        """The spectral peak's bin if this frame is a pure tone in the band, else None."""
        if samples.dtype != np.float64:
            samples = samples.astype(np.float64)  # (int16 sums would overflow)
        if energy is None:
            energy = float(np.dot(samples, samples))
        if energy < self._min_power:
            return None
        middle, sides = samples[1:-1], samples[:-2] + samples[2:]
        inner = float(np.dot(middle, middle))
        if inner <= 0:
            return None
        gain = float(np.dot(middle, sides)) / inner  # 2 cos(w), least squares
        residue = sides - gain * middle
        if float(np.dot(residue, residue)) > PREDICTION_RESIDUE * 4 * inner:
            return None
        coefficients = np.fft.rfft(samples * _WINDOW)
        spectrum = coefficients.real ** 2 + coefficients.imag ** 2
        peak = self._low + int(spectrum[self._low:self._high].argmax())
        around = float(spectrum[max(0, peak - PEAK_BINS):peak + PEAK_BINS + 1].sum())
        if around < self.purity * float(spectrum.sum()):
            return None
        return peak
