"""G.711 tables checked over every input against a reference written the slow way from
the standard's segment tables (G.711 Tables 1a and 2a), plus round-trip properties."""

import bisect
import warnings
from fractions import Fraction

import numpy as np
import pytest

from softswitch.media import g711

ALL_SAMPLES = np.arange(-32768, 32768, dtype=np.int16)
ALL_CODES = bytes(range(256))


# --- the reference: decision intervals and reconstruction values from the tables ---

def _ulaw_intervals():
    """(low, high, segment, step index, reconstruction) over the normalised µ-law
    magnitude 0..8159: segment 0 has a first interval of width 1 then steps of 2, each
    later segment doubles the step; reconstruction is the interval's middle (0 first)."""
    out = [(0, 1, 0, 0, 0)] + [(2 * q - 1, 2 * q + 1, 0, q, 2 * q) for q in range(1, 16)]
    low = 31
    for segment in range(1, 8):
        step = 2 ** (segment + 1)
        for q in range(16):
            out.append((low, low + step, segment, q, low + step // 2))
            low += step
    assert low == 8159
    return out


ULAW_INTERVALS = _ulaw_intervals()
ULAW_LOWS = [i[0] for i in ULAW_INTERVALS]


def _alaw_intervals():
    """A-law over the normalised magnitude 0..4096: segments 0 and 1 step by 2 from 0,
    each later segment doubles the step; reconstruction is the interval's middle."""
    out, low = [], 0
    for segment in range(8):
        step = 2 if segment < 2 else 2 ** segment
        for q in range(16):
            out.append((low, low + step, segment, q, low + step // 2))
            low += step
    assert low == 4096
    return out


ALAW_INTERVALS = _alaw_intervals()
ALAW_LOWS = [i[0] for i in ALAW_INTERVALS]


def _sign_and_magnitude(x: int, scale: int):
    """16-bit two's complement to sign and normalised magnitude; a negative sample is
    taken as its one's complement (-x - 1), as the ITU reference software does. The
    magnitude is exact (a Fraction): the tables' decision values are integers."""
    if x >= 0:
        return True, Fraction(x, scale)
    return False, Fraction(-x - 1, scale)


def _interval(intervals, lows, m):
    i = bisect.bisect_right(lows, m) - 1
    low, high, segment, q, _ = intervals[i]
    assert low <= m < high
    return segment, q


def reference_ulaw_encode(x: int) -> int:
    positive, m = _sign_and_magnitude(x, 4)  # 14-bit
    m = min(m, Fraction(8158))  # beyond the last decision value: the last interval
    segment, q = _interval(ULAW_INTERVALS, ULAW_LOWS, m)
    bits = ~((segment << 4) | q) & 0x7F  # µ-law characters are sent inverted
    return bits | (0x80 if positive else 0)


def reference_ulaw_decode(code: int) -> int:
    inverted = ~code & 0x7F
    segment, q = inverted >> 4, inverted & 0x0F
    value = next(r for _, _, s, k, r in ULAW_INTERVALS if (s, k) == (segment, q))
    return 4 * value if code & 0x80 else -4 * value


def reference_alaw_encode(x: int) -> int:
    positive, m = _sign_and_magnitude(x, 8)  # 13-bit
    segment, q = _interval(ALAW_INTERVALS, ALAW_LOWS, m)
    return ((0x80 if positive else 0) | (segment << 4) | q) ^ 0x55  # even bits inverted


def reference_alaw_decode(code: int) -> int:
    bits = code ^ 0x55
    segment, q = (bits >> 4) & 0x07, bits & 0x0F
    value = next(r for _, _, s, k, r in ALAW_INTERVALS if (s, k) == (segment, q))
    return 8 * value if bits & 0x80 else -8 * value


# --- bit-exact over every input ---

def test_ulaw_decode_matches_the_reference_for_all_256_codes():
    expected = [reference_ulaw_decode(c) for c in range(256)]
    assert g711.ulaw_decode(ALL_CODES).tolist() == expected
    assert g711.ULAW_DECODE.dtype == np.int16 and g711.ULAW_DECODE.shape == (256,)


def test_alaw_decode_matches_the_reference_for_all_256_codes():
    expected = [reference_alaw_decode(c) for c in range(256)]
    assert g711.alaw_decode(ALL_CODES).tolist() == expected


def test_ulaw_encode_matches_the_reference_for_all_65536_samples():
    expected = bytes(reference_ulaw_encode(x) for x in range(-32768, 32768))
    assert g711.ulaw_encode(ALL_SAMPLES) == expected
    assert g711.ULAW_ENCODE.dtype == np.uint8 and g711.ULAW_ENCODE.shape == (65536,)


def test_alaw_encode_matches_the_reference_for_all_65536_samples():
    expected = bytes(reference_alaw_encode(x) for x in range(-32768, 32768))
    assert g711.alaw_encode(ALL_SAMPLES) == expected


def test_known_values():
    assert g711.ulaw_decode(b"\x80\x00\xff\x7f").tolist() == [32124, -32124, 0, 0]
    assert g711.alaw_decode(b"\xaa\x2a\xd5\x55").tolist() == [32256, -32256, 8, -8]
    samples = np.array([0, -1, 32767, -32768, 100, -100], np.int16)
    # -100 is quantised as 99 (one's complement): 0x73, where the Sun code gives 0x72.
    assert g711.ulaw_encode(samples) == bytes([0xFF, 0x7F, 0x80, 0x00, 0xF2, 0x73])
    assert g711.alaw_encode(samples) == bytes([0xD5, 0x55, 0xAA, 0x2A, 0xD3, 0x53])


def test_the_tables_cannot_be_modified():
    with pytest.raises(ValueError):
        g711.ULAW_DECODE[0] = 1


# --- round trips and symmetry ---

@pytest.mark.parametrize("encode,decode", [(g711.ulaw_encode, g711.ulaw_decode),
                                           (g711.alaw_encode, g711.alaw_decode)])
def test_every_code_survives_decode_then_encode(encode, decode):
    codes = bytes(range(256))
    again = encode(decode(codes))
    if encode is g711.ulaw_encode:  # the two zeros, 0xFF and 0x7F, both decode to 0
        assert again == codes.replace(b"\x7f", b"\xff")
    else:
        assert again == codes


@pytest.mark.parametrize("encode,decode", [(g711.ulaw_encode, g711.ulaw_decode),
                                           (g711.alaw_encode, g711.alaw_decode)])
def test_encoding_is_idempotent_and_monotonic(encode, decode):
    once = decode(encode(ALL_SAMPLES))
    assert np.array_equal(decode(encode(once)), once)
    assert np.all(np.diff(once.astype(np.int32)) >= 0)  # quantising keeps order


@pytest.mark.parametrize("encode,decode,worst", [(g711.ulaw_encode, g711.ulaw_decode, 1024),
                                                 (g711.alaw_encode, g711.alaw_decode, 1024)])
def test_quantisation_error_is_within_half_a_step(encode, decode, worst):
    """Error stays under half the largest step except where the input is clipped."""
    error = np.abs(decode(encode(ALL_SAMPLES)).astype(np.int32) - ALL_SAMPLES)
    inside = np.abs(ALL_SAMPLES.astype(np.int32)) < 32000
    assert error[inside].max() <= worst // 2
    # Relative error of a logarithmic quantiser: under ~6.3 % above the first segments.
    loud = np.abs(ALL_SAMPLES.astype(np.int32)) > 1024
    assert np.max(error[loud & inside] / np.abs(ALL_SAMPLES[loud & inside])) < 0.065


@pytest.mark.parametrize("encode", [g711.ulaw_encode, g711.alaw_encode])
def test_the_quantiser_is_symmetric_about_minus_one_half(encode):
    x = np.arange(0, 32768, dtype=np.int16)
    positive = np.frombuffer(encode(x), np.uint8)
    negative = np.frombuffer(encode((-x.astype(np.int32) - 1).astype(np.int16)), np.uint8)
    assert np.array_equal(positive & 0x7F, negative & 0x7F) if encode is g711.ulaw_encode \
        else np.array_equal(positive ^ 0x80, negative)


def test_silence():
    assert g711.SILENCE_ULAW == b"\xff" * 160 and g711.SILENCE_ALAW == b"\xd5" * 160
    assert not g711.ulaw_decode(g711.SILENCE_ULAW).any()
    assert set(g711.alaw_decode(g711.SILENCE_ALAW).tolist()) == {8}
    assert g711.ulaw_encode(np.zeros(160, np.int16)) == g711.SILENCE_ULAW
    assert g711.alaw_encode(np.zeros(160, np.int16)) == g711.SILENCE_ALAW


def test_encode_refuses_anything_but_int16():
    with pytest.raises(TypeError):
        g711.ulaw_encode(np.zeros(4, np.int32))
    with pytest.raises(TypeError):
        g711.alaw_encode([0, 1, 2])


def test_decode_accepts_bytes_like_and_empty():
    assert g711.ulaw_decode(b"").shape == (0,)
    assert g711.alaw_decode(memoryview(b"\xd5\xd5")).tolist() == [8, 8]
    assert g711.ulaw_encode(np.zeros(0, np.int16)) == b""


def test_transcoding_goes_through_the_linear_level():
    codes = bytes(range(256))
    assert g711.ulaw_to_alaw(codes) == g711.alaw_encode(g711.ulaw_decode(codes))
    assert g711.alaw_to_ulaw(codes) == g711.ulaw_encode(g711.alaw_decode(codes))
    assert g711.ulaw_to_alaw(g711.SILENCE_ULAW) == g711.SILENCE_ALAW


@pytest.mark.parametrize("law", ["ulaw", "alaw"])
def test_attenuators_scale_in_the_code_domain(law):
    decode, encode = getattr(g711, f"{law}_decode"), getattr(g711, f"{law}_encode")
    attenuate = getattr(g711, f"{law}_attenuator")(-6.0)
    tone = (16000 * np.sin(np.arange(800) * 2 * np.pi / 40)).astype(np.int16)
    coded = encode(tone)
    quieter = decode(attenuate(coded)).astype(np.float64)
    ratio = np.sqrt(np.mean(quieter ** 2) / np.mean(decode(coded).astype(np.float64) ** 2))
    assert 20 * np.log10(ratio) == pytest.approx(-6.0, abs=0.3)
    assert getattr(g711, f"{law}_attenuator")(0.0)(coded) == coded
    with pytest.raises(ValueError):
        getattr(g711, f"{law}_attenuator")(3.0)


def test_agrees_with_audioop_where_the_sun_code_agrees_with_the_itu_reference():
    """Python's audioop follows the Sun code: identical A-law and decoding; µ-law
    encoding differs only for some negative samples (two's vs one's complement)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        audioop = pytest.importorskip("audioop")
    raw = ALL_SAMPLES.tobytes()
    assert g711.alaw_encode(ALL_SAMPLES) == audioop.lin2alaw(raw, 2)
    assert g711.alaw_decode(ALL_CODES).tobytes() == audioop.alaw2lin(ALL_CODES, 2)
    assert g711.ulaw_decode(ALL_CODES).tobytes() == audioop.ulaw2lin(ALL_CODES, 2)
    ours = np.frombuffer(g711.ulaw_encode(ALL_SAMPLES), np.uint8)
    theirs = np.frombuffer(audioop.lin2ulaw(raw, 2), np.uint8)
    assert np.array_equal(ours[32768:], theirs[32768:])
    differ = ALL_SAMPLES[ours != theirs]
    assert differ.max() < 0 and len(differ) < 1024
