"""Opus (RFC 6716, RTP per RFC 7587) on libopus through `opuslib` (ctypes over the
system's libopus0). Chosen over PyAV's libopus after measuring both in one run
(bench/bench_codecs.py): the same per-frame cost, plain bytes in and out, and the
decoder's in-band FEC and loss concealment reachable (PyAV exposes neither).

We encode mono at 48 kHz with the VoIP application, 20 ms frames, in-band FEC on; the
decoder always gives 48 kHz mono (Opus decodes any stream at any rate)."""

import numpy as np
import opuslib
from opuslib.api import ctl
from opuslib.api.encoder import encoder_ctl

SAMPLE_RATE = 48000
FRAME_SAMPLES_20MS = 960
MAX_FRAME_SAMPLES = 5760  # 120 ms, the longest an Opus packet can carry
BIT_RATE = 32000
EXPECTED_LOSS_PCT = 10  # tells the encoder to put FEC in (RFC 7587 useinbandfec)


class OpusEncoder:
    __slots__ = ("_codec",)

    def __init__(self, bit_rate: int = BIT_RATE):
        self._codec = opuslib.Encoder(SAMPLE_RATE, 1, opuslib.APPLICATION_VOIP)
        self._codec.bitrate = bit_rate
        # (opuslib's own properties for these two pass the value wrongly: set directly)
        state = self._codec.encoder_state
        encoder_ctl(state, ctl.set_inband_fec, 1)
        encoder_ctl(state, ctl.set_packet_loss_perc, EXPECTED_LOSS_PCT)

    def encode(self, samples: np.ndarray) -> bytes:
        """One frame (2.5-60 ms) of int16 samples at 48 kHz to one Opus packet."""
        pcm = np.ascontiguousarray(samples, np.int16)
        return self._codec.encode(pcm.tobytes(), len(pcm))


class OpusDecoder:
    __slots__ = ("_codec",)

    def __init__(self):
        self._codec = opuslib.Decoder(SAMPLE_RATE, 1)

    def decode(self, payload: bytes) -> np.ndarray:
        """One Opus packet to int16 samples at 48 kHz. Raises `ValueError` for a packet
        libopus refuses (the peer sent garbage)."""
        try:
            pcm = self._codec.decode(payload, MAX_FRAME_SAMPLES)
        except opuslib.OpusError as exc:
            raise ValueError(f"Opus packet refused: {exc}") from None
        return np.frombuffer(pcm, np.int16)

    def conceal(self, samples: int = FRAME_SAMPLES_20MS) -> np.ndarray:
        """A lost frame: libopus's concealment (decode of no packet)."""
        return np.frombuffer(self._codec.decode(b"", samples), np.int16)
