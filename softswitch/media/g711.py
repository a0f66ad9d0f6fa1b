"""G.711 µ-law and A-law (ITU-T G.711) with numpy lookup tables built once at import.

Decoding indexes a 256-entry int16 table with the code bytes; encoding indexes a
65536-entry uint8 table with the 16-bit linear sample reinterpreted as uint16. Both
tables are bit-exact with the ITU-T reference software (G.191 STL `g711.c`): 16-bit
left-justified input, and a negative sample x is quantised by the magnitude of its
one's complement (-x - 1), so the quantiser is symmetric about -0.5 and encoding is
the exact inverse of decoding on every reconstruction level. (The widespread Sun
`g711.c`, and Python's `audioop`, take the two's-complement magnitude of x >> 2 for
µ-law instead, which puts negative inputs on a boundary into the next step; their
A-law agrees with this one.)

Transcoding between the two laws (`ulaw_to_alaw`, `alaw_to_ulaw`) and a fixed gain on
coded audio (`ulaw_attenuator`, `alaw_attenuator`) are 256-byte `bytes.translate`
tables: no numpy round trip for audio that never needs to be linear.
"""

import numpy as np

SAMPLE_RATE = 8000
FRAME_MS = 20
FRAME_SAMPLES = SAMPLE_RATE * FRAME_MS // 1000  # 160 samples = 160 bytes of G.711

ULAW_SILENCE_CODE = 0xFF  # decodes to 0
ALAW_SILENCE_CODE = 0xD5  # decodes to +8, the smallest A-law level
SILENCE_ULAW = bytes([ULAW_SILENCE_CODE]) * FRAME_SAMPLES
SILENCE_ALAW = bytes([ALAW_SILENCE_CODE]) * FRAME_SAMPLES

_ULAW_BIAS = 33  # in 14-bit units: shifts the µ-law segments onto powers of two
_ULAW_MAX = 0x1FFF


def _one_complement_magnitude(x: np.ndarray, shift: int) -> np.ndarray:
    return np.where(x < 0, ~x, x) >> shift


def _segment(value: np.ndarray) -> np.ndarray:
    """Position of the leading one bit (0 for 0 and 1), vectorised."""
    seg = np.zeros(value.shape, np.int32)
    v = value.copy()
    while np.any(v > 1):
        above = v > 1
        seg[above] += 1
        v[above] >>= 1
    return seg


def _build_ulaw_encode() -> np.ndarray:
    x = np.arange(-32768, 32768, dtype=np.int32)
    absno = np.minimum(_one_complement_magnitude(x, 2) + _ULAW_BIAS, _ULAW_MAX)
    segno = np.maximum(_segment(absno) - 4, 1)  # 1..8: absno >> 6 has segno - 1 bits
    high = 8 - segno
    low = 0x0F - ((absno >> segno) & 0x0F)
    code = (high << 4) | low | np.where(x >= 0, 0x80, 0)
    table = np.empty(65536, np.uint8)
    table[x.astype(np.int16).view(np.uint16)] = code  # index = sample as uint16
    return table


def _build_ulaw_decode() -> np.ndarray:
    code = np.arange(256, dtype=np.int32)
    inverted = ~code & 0xFF
    exponent = (inverted >> 4) & 0x07
    mantissa = inverted & 0x0F
    step = 4 << (exponent + 1)
    magnitude = (0x80 << exponent) + step * mantissa + step // 2 - 4 * _ULAW_BIAS
    return np.where(code >= 0x80, magnitude, -magnitude).astype(np.int16)


def _build_alaw_encode() -> np.ndarray:
    x = np.arange(-32768, 32768, dtype=np.int32)
    ix = _one_complement_magnitude(x, 4)  # 0..2047
    exponent = np.maximum(_segment(ix) - 3, 0)  # 0 for ix <= 15, else 1..7
    mantissa = np.where(exponent == 0, ix, (ix >> np.maximum(exponent - 1, 0)) - 16)
    code = ((exponent << 4) + mantissa) | np.where(x >= 0, 0x80, 0)
    table = np.empty(65536, np.uint8)
    table[x.astype(np.int16).view(np.uint16)] = code ^ 0x55
    return table


def _build_alaw_decode() -> np.ndarray:
    code = np.arange(256, dtype=np.int32)
    ix = (code ^ 0x55) & 0x7F
    exponent = ix >> 4
    mantissa = (ix & 0x0F) + np.where(exponent > 0, 16, 0)
    magnitude = ((mantissa << 4) + 8) << np.maximum(exponent - 1, 0)
    return np.where(code >= 0x80, magnitude, -magnitude).astype(np.int16)


ULAW_DECODE = _build_ulaw_decode()
ULAW_ENCODE = _build_ulaw_encode()
ALAW_DECODE = _build_alaw_decode()
ALAW_ENCODE = _build_alaw_encode()
for _table in (ULAW_DECODE, ULAW_ENCODE, ALAW_DECODE, ALAW_ENCODE):
    _table.flags.writeable = False
del _table

_ULAW_TO_ALAW = ALAW_ENCODE[ULAW_DECODE.view(np.uint16)].tobytes()
_ALAW_TO_ULAW = ULAW_ENCODE[ALAW_DECODE.view(np.uint16)].tobytes()


def _samples(pcm: np.ndarray) -> np.ndarray:
    if not isinstance(pcm, np.ndarray) or pcm.dtype != np.int16:
        raise TypeError(f"G.711 encodes int16 samples, not {getattr(pcm, 'dtype', type(pcm))}")
    return pcm.view(np.uint16)


def ulaw_decode(data: bytes) -> np.ndarray:
    """µ-law bytes to int16 samples (a new array)."""
    return ULAW_DECODE[np.frombuffer(data, np.uint8)]


def ulaw_encode(pcm: np.ndarray) -> bytes:
    """int16 samples to µ-law bytes."""
    return ULAW_ENCODE[_samples(pcm)].tobytes()


def alaw_decode(data: bytes) -> np.ndarray:
    """A-law bytes to int16 samples (a new array)."""
    return ALAW_DECODE[np.frombuffer(data, np.uint8)]


def alaw_encode(pcm: np.ndarray) -> bytes:
    """int16 samples to A-law bytes."""
    return ALAW_ENCODE[_samples(pcm)].tobytes()


def ulaw_to_alaw(data: bytes) -> bytes:
    """Transcode through the linear level each code stands for (one table lookup)."""
    return data.translate(_ULAW_TO_ALAW)


def alaw_to_ulaw(data: bytes) -> bytes:
    return data.translate(_ALAW_TO_ULAW)


def _attenuator(decode: np.ndarray, encode: np.ndarray, gain_db: float):
    if gain_db > 0:
        raise ValueError(f"gain {gain_db} dB would amplify; attenuators take gain <= 0")
    scaled = np.rint(decode.astype(np.float64) * 10 ** (gain_db / 20)).astype(np.int16)
    table = encode[scaled.view(np.uint16)].tobytes()

    def attenuate(data: bytes) -> bytes:
        return data.translate(table)

    return attenuate


def ulaw_attenuator(gain_db: float = -6.0):
    """A function that scales µ-law audio by `gain_db` (<= 0) without leaving the code
    domain: one 256-byte translate table, built here once."""
    return _attenuator(ULAW_DECODE, ULAW_ENCODE, gain_db)


def alaw_attenuator(gain_db: float = -6.0):
    return _attenuator(ALAW_DECODE, ALAW_ENCODE, gain_db)
