"""Ringback tones (media.tones): the frequencies (FFT of the decoded frames), the
cadence's on/off timing, the level, phase continuity across frames, bursts and
cycles, in µ-law and A-law; the cycle is computed once and a frame is a lookup."""

import numpy as np
import pytest

from softswitch.media.codecs.g722 import G722Decoder
from softswitch.media.g711 import (
    SILENCE_ALAW,
    SILENCE_ULAW,
    alaw_decode,
    ulaw_decode,
)
from softswitch.media.tones import (
    DBM0_PEAK,
    RAMP_SAMPLES,
    RINGBACK,
    RINGBACK_CHOICES,
    Cadence,
    ToneSource,
    cadence_frames,
    ringback_tone,
    synthesise,
)

DECODE = {"PCMU": ulaw_decode, "PCMA": alaw_decode}
SILENCE = {"PCMU": SILENCE_ULAW, "PCMA": SILENCE_ALAW}
CASES = [(name, codec) for name in RINGBACK for codec in DECODE]
EXPECTED = {  # frequencies, then (on, off) pairs in 20 ms frames
    "us": ((440.0, 480.0), [(100, 200)]),
    "uk": ((400.0, 450.0), [(20, 10), (20, 100)]),
    "eu": ((425.0,), [(50, 200)]),
}


def decoded(frames, codec):
    return DECODE[codec](b"".join(frames)).astype(np.float64)


def level_dbm0(samples):
    rms = np.sqrt(np.mean(samples ** 2))
    return 20 * np.log10(rms / (DBM0_PEAK / np.sqrt(2)))


def bursts(name):
    """(first, last + 1) frame of each burst in one cycle."""
    out, frame = [], 0
    for on, off in EXPECTED[name][1]:
        out.append((frame, frame + on))
        frame += on + off
    return out


def ideal(name, start, count):
    """The continuous, ungated tone over samples [start, start + count)."""
    cadence = RINGBACK[name]
    amplitude = DBM0_PEAK * 10 ** ((-13.0 - 10 * np.log10(len(cadence.frequencies))) / 20)
    t = np.arange(start, start + count) / 8000
    return sum(amplitude * np.sin(2 * np.pi * f * t) for f in cadence.frequencies)


@pytest.mark.parametrize("name,codec", CASES)
def test_the_frequencies_are_the_cadences_and_nothing_else(name, codec):
    first, last = bursts(name)[0]
    samples = decoded(cadence_frames(name, codec)[first:last], codec)
    samples = samples[RAMP_SAMPLES:-RAMP_SAMPLES]
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples)), 8 * 8000))
    hz = np.fft.rfftfreq(8 * 8000, 1 / 8000)
    wanted = EXPECTED[name][0]
    peaks = []
    masked = spectrum.copy()
    for _ in wanted:
        peak = int(np.argmax(masked))
        peaks.append(hz[peak])
        masked[max(0, peak - 80):peak + 80] = 0  # the peak's main lobe (10 Hz)
    assert sorted(peaks) == pytest.approx(sorted(wanted), abs=0.5)
    # What is left (quantisation noise) is far below the tone.
    assert masked.max() < spectrum.max() / 100


@pytest.mark.parametrize("name,codec", CASES)
def test_the_cadence_is_on_and_off_in_whole_frames(name, codec):
    frames = cadence_frames(name, codec)
    cycle = sum(on + off for on, off in EXPECTED[name][1])
    assert len(frames) == cycle
    on_frames = set()
    for first, last in bursts(name):
        on_frames.update(range(first, last))
    silence = SILENCE[codec]
    for index, frame in enumerate(frames):
        assert len(frame) == 160
        if index in on_frames:
            assert level_dbm0(decoded([frame], codec)) > -20, index
        else:
            assert frame == silence, index


@pytest.mark.parametrize("name,codec", CASES)
def test_the_level_is_about_minus_13_dbm0_and_never_clips(name, codec):
    frames = cadence_frames(name, codec)
    for first, last in bursts(name):
        samples = decoded(frames[first:last], codec)[RAMP_SAMPLES:-RAMP_SAMPLES]
        assert level_dbm0(samples) == pytest.approx(-13.0, abs=0.3)
    peak = np.abs(decoded(frames, codec)).max()
    assert peak < 8000  # G.711's largest level is 32124 (µ-law), 32256 (A-law)


@pytest.mark.parametrize("name,codec", CASES)
def test_one_oscillator_runs_through_frames_bursts_and_cycles(name, codec):
    """Every sample is the continuous tone (gated), within G.711's quantisation: no
    phase jump at a frame boundary, at a burst's start or at the cycle's wrap."""
    source = ToneSource(cadence_frames(name, codec))
    cycle = len(cadence_frames(name, codec))
    frames = [source.next_frame() for _ in range(2 * cycle + 7)]
    samples = decoded(frames, codec)
    for repeat in range(2):
        for first, last in bursts(name):
            start = (repeat * cycle + first) * 160 + RAMP_SAMPLES
            count = (last - first) * 160 - 2 * RAMP_SAMPLES
            got = samples[start:start + count]
            want = ideal(name, start, count)
            # µ-law / A-law steps at this level are at most 256: half a step, plus a
            # little for the encoder's one's-complement rounding.
            assert np.abs(got - want).max() <= 260, (repeat, first)
            assert np.corrcoef(got, want)[0, 1] > 0.999
    assert frames[cycle:cycle + 7] == frames[:7]  # the cycle wraps seamlessly


@pytest.mark.parametrize("codec", DECODE)
def test_bursts_ramp_in_and_out(codec):
    frames = cadence_frames("eu", codec)
    samples = decoded(frames[:50], codec)
    body = np.abs(samples[RAMP_SAMPLES:-RAMP_SAMPLES]).max()
    assert np.abs(samples[:RAMP_SAMPLES // 4]).max() < body / 5  # no click at the start
    assert np.abs(samples[-RAMP_SAMPLES // 4:]).max() < body / 5  # ...nor at the end


def test_a_cycle_is_computed_once_and_a_frame_is_a_lookup():
    assert cadence_frames("us", "PCMU") is cadence_frames("us", "pcmu".upper())
    source = ToneSource(cadence_frames("uk", "PCMA"), index=149)
    assert source.next_frame() is cadence_frames("uk", "PCMA")[149]
    assert source.position == 0
    assert ToneSource((b"a" * 160,), index=5).position == 0


def test_ringback_tone_names():
    assert RINGBACK_CHOICES == ("us", "uk", "eu", "silence")
    assert ringback_tone("silence", "PCMU") is None
    tone = ringback_tone("eu", "PCMA")
    assert tone.next_frame() == cadence_frames("eu", "PCMA")[0]
    with pytest.raises(ValueError):
        ringback_tone("fr", "PCMU")
    with pytest.raises(ValueError):
        ringback_tone("us", "GSM")


def test_g722_ringback_is_the_tone_at_16_khz():
    """A G.722 call's ringback: the same cadence, 160-byte frames, decoding to the
    tone's 440/480 Hz (US) and nothing of note above 4 kHz."""
    frames = cadence_frames("us", "G722")
    assert len(frames) == len(cadence_frames("us", "PCMU"))
    assert {len(f) for f in frames} == {160}
    pcm = G722Decoder().decode(b"".join(frames[:50]))  # the first second: tone on
    spectrum = np.abs(np.fft.rfft(pcm[1600:16000]))
    freqs = np.fft.rfftfreq(len(pcm[1600:16000]), 1 / 16000)
    peak = freqs[spectrum.argmax()]
    assert peak in (440.0, 480.0) or abs(peak - 440) < 5 or abs(peak - 480) < 5
    assert spectrum[freqs > 4000].max() < spectrum.max() / 100
    with pytest.raises(ValueError):
        ToneSource(())


def test_cadences_that_cannot_be_seamless_are_refused():
    with pytest.raises(ValueError, match="20 ms"):
        synthesise(Cadence((440.0,), (0.33, 1.0)))
    with pytest.raises(ValueError, match="periods"):
        synthesise(Cadence((440.3,), (1.0, 1.0)))
