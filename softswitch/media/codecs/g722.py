"""G.722 at 64 kbit/s (ITU-T G.722 mode 1) on the `G722` package (sippy's libg722, a C
implementation): 16 kHz int16 samples <-> one byte per two samples, so a 20 ms frame is
320 samples <-> 160 bytes. Encoder and decoder are ADPCM and keep state across frames:
one of each per call direction, fed in order."""

import numpy as np
from G722 import G722 as _Library

SAMPLE_RATE = 16000
BIT_RATE = 64000
FRAME_BYTES_20MS = 160


class G722Encoder:
    __slots__ = ("_codec",)

    def __init__(self):
        self._codec = _Library(SAMPLE_RATE, BIT_RATE)

    def encode(self, samples: np.ndarray) -> bytes:
        """int16 samples at 16 kHz (an even count) to G.722 bytes."""
        if not len(samples):
            return b""
        return self._codec.encode(np.ascontiguousarray(samples, np.int16))


class G722Decoder:
    __slots__ = ("_codec",)

    def __init__(self):
        self._codec = _Library(SAMPLE_RATE, BIT_RATE)

    def decode(self, payload: bytes) -> np.ndarray:
        """G.722 bytes to int16 samples at 16 kHz (two per byte)."""
        if not payload:
            return np.zeros(0, np.int16)
        return np.frombuffer(self._codec.decode(payload), np.int16)


def silence_frame() -> bytes:
    """20 ms of silence as a fresh encoder codes it (what a quiet slot sends)."""
    return G722Encoder().encode(np.zeros(FRAME_BYTES_20MS * 2, np.int16))
