"""Streaming resampling: frequency and level preserved, chunking does not matter, the
hold-back is small and constant, aliasing is filtered, pass-through, flush and reset."""

import numpy as np
import pytest

from softswitch.media.resample import Resampler

PAIRS = [(8000, 16000), (8000, 24000), (16000, 8000), (24000, 8000)]
# Constant hold-back of the default ("steady") engine per direction, in ms.
STEADY_LATENCY_MS = {(8000, 16000): 30.0, (8000, 24000): 30.0,
                     (16000, 8000): 15.0, (24000, 8000): 25.0}


def tone(freq, rate, seconds=1.0, amplitude=10000.0):
    t = np.arange(int(rate * seconds)) / rate
    return np.rint(amplitude * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def frames(signal, rate, ms=20):
    n = rate * ms // 1000
    return [signal[i:i + n] for i in range(0, len(signal), n)]


def run(resampler, chunks):
    out = [resampler.process(c) for c in chunks]
    out.append(resampler.flush())
    return np.concatenate(out)


def level_db(x):
    """Level relative to the test tone's (-inf-safe: a perfect filter gives zeros)."""
    rms = np.sqrt(np.mean(x.astype(np.float64) ** 2))
    return 20 * np.log10(max(rms, 1e-6) / (10000 / np.sqrt(2)))


def peak_hz(x, rate):
    spectrum = np.abs(np.fft.rfft(x.astype(np.float64) * np.hanning(len(x))))
    return np.fft.rfftfreq(len(x), 1 / rate)[np.argmax(spectrum)]


@pytest.mark.parametrize("in_rate,out_rate", PAIRS)
@pytest.mark.parametrize("freq", [300, 1000, 2000, 3000, 3400])
def test_a_tone_keeps_its_frequency_and_level(in_rate, out_rate, freq):
    out = run(Resampler(in_rate, out_rate), frames(tone(freq, in_rate), in_rate))
    assert len(out) == out_rate  # one second in, one second out, once flushed
    steady = out[out_rate // 10: -out_rate // 10]
    assert abs(peak_hz(steady, out_rate) - freq) <= out_rate / len(steady)
    assert abs(level_db(steady)) < 1.0  # within 1 dB in the telephone passband
    assert abs(level_db(steady)) < 0.1  # (in fact within 0.1 dB)


@pytest.mark.parametrize("in_rate,out_rate", PAIRS)
def test_output_does_not_depend_on_the_chunking(in_rate, out_rate):
    rng = np.random.default_rng(7)
    signal = np.clip(rng.normal(0, 4000, in_rate * 2), -32768, 32767).astype(np.int16)
    by_frame = run(Resampler(in_rate, out_rate), frames(signal, in_rate))
    cuts = np.sort(rng.choice(np.arange(1, len(signal)), size=150, replace=False))
    by_random = run(Resampler(in_rate, out_rate), np.split(signal, cuts))
    whole = run(Resampler(in_rate, out_rate), [signal])
    assert np.array_equal(by_frame, by_random)
    assert np.array_equal(by_frame, whole)
    assert len(by_frame) == len(signal) * out_rate // in_rate


@pytest.mark.parametrize("in_rate,out_rate", PAIRS)
def test_the_hold_back_is_small_and_the_same_on_every_frame(in_rate, out_rate):
    resampler = Resampler(in_rate, out_rate)
    expected = STEADY_LATENCY_MS[(in_rate, out_rate)]
    per_frame = out_rate // 50
    latencies, sizes = [], []
    for frame in frames(tone(1000, in_rate, 2.0), in_rate):
        sizes.append(len(resampler.process(frame)))
        latencies.append(resampler.latency_ms)
    assert max(latencies) <= 30.0
    assert latencies[5:] == [pytest.approx(expected)] * len(latencies[5:])
    assert set(sizes[5:]) == {per_frame}  # whole frames out as soon as it is primed


@pytest.mark.parametrize("in_rate,out_rate", PAIRS)
def test_output_is_aligned_so_the_hold_back_is_the_whole_delay(in_rate, out_rate):
    signal = np.zeros(in_rate // 2, np.int16)
    signal[in_rate // 10] = 20000  # an impulse at 100 ms
    out = run(Resampler(in_rate, out_rate), frames(signal, in_rate))
    assert abs(int(np.argmax(np.abs(out))) - out_rate // 10) <= 2


@pytest.mark.parametrize("in_rate", [16000, 24000])
@pytest.mark.parametrize("freq", [4500, 6000, 7000])
def test_downsampling_filters_what_would_alias(in_rate, freq):
    out = run(Resampler(in_rate, 8000), frames(tone(freq, in_rate), in_rate))
    assert level_db(out[800:-800]) < -60


@pytest.mark.parametrize("out_rate", [16000, 24000])
def test_upsampling_leaves_no_image_above_the_old_band(out_rate):
    out = run(Resampler(8000, out_rate), frames(tone(3000, 8000), 8000))[out_rate // 10:]
    spectrum = np.abs(np.fft.rfft(out.astype(np.float64) * np.hanning(len(out))))
    freqs = np.fft.rfftfreq(len(out), 1 / out_rate)
    assert 20 * np.log10(spectrum[freqs > 4200].max() / spectrum.max()) < -60


def test_full_scale_input_does_not_wrap():
    square = np.where(np.arange(16000) % 40 < 20, 32767, -32768).astype(np.int16)
    out = run(Resampler(16000, 8000), frames(square, 16000))
    assert out.dtype == np.int16
    assert out.max() <= 32767 and out.min() >= -32768
    assert np.all(np.abs(np.diff(out[100:-100].astype(np.int32))) < 65535)


def test_equal_rates_pass_through():
    resampler = Resampler(8000, 8000)
    chunk = tone(1000, 8000, 0.02)
    assert resampler.passthrough
    assert resampler.process(chunk) is chunk
    assert len(resampler.flush()) == 0 and resampler.latency_ms == 0.0


def test_flush_returns_the_tail_and_the_stream_goes_on():
    resampler = Resampler(8000, 16000)
    first = [resampler.process(f) for f in frames(tone(500, 8000, 0.2), 8000)]
    tail = resampler.flush()
    assert sum(map(len, first)) + len(tail) == 3200
    assert resampler.latency_ms == 0.0
    again = run(resampler, frames(tone(500, 8000, 0.2), 8000))
    assert np.array_equal(again, np.concatenate(first + [tail]))  # fresh start, same result


def test_reset_drops_what_is_held():
    resampler = Resampler(16000, 8000)
    for frame in frames(tone(500, 16000, 0.2), 16000):
        resampler.process(frame)
    resampler.reset()
    silence = run(resampler, frames(np.zeros(1600, np.int16), 16000))
    assert len(silence) == 800 and not silence.any()


@pytest.mark.parametrize("quality", ["QQ", "LQ", "MQ", "HQ", "VHQ"])
def test_the_fixed_rate_engines_are_available(quality):
    out = run(Resampler(8000, 16000, quality), frames(tone(1000, 8000), 8000))
    assert len(out) == 16000
    assert abs(peak_hz(out[1600:-1600], 16000) - 1000) <= 2


def test_the_block_engines_hold_back_far_more_than_the_steady_one():
    """Why "steady" is the default: HQ releases output in ~100 ms blocks."""
    resampler = Resampler(8000, 16000, "HQ")
    worst = 0.0
    for frame in frames(tone(1000, 8000, 2.0), 8000):
        resampler.process(frame)
        worst = max(worst, resampler.latency_ms)
    assert worst > 60.0


def test_bad_arguments():
    with pytest.raises(ValueError):
        Resampler(8000, 16000, "best")
    with pytest.raises(ValueError):
        Resampler(0, 16000)
    with pytest.raises(TypeError):
        Resampler(8000, 16000).process(np.zeros(160, np.float32))
    with pytest.raises(TypeError):
        Resampler(8000, 16000).process(b"\x00" * 320)
