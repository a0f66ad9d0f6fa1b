"""The answering-machine detector and the beep detector on synthetic signals (the
spoken case set is tests/media/test_amd_cases.py)."""

import numpy as np
import pytest

from softswitch.media.amd import AmdDecided, AmdParams, AnsweringMachineDetector, MachineEnded
from softswitch.media.beep import BeepDetector

RATE = 8000


def tone(hz: float, seconds: float, level: float = 0.25) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return level * np.sin(2 * np.pi * hz * t)


def babble(seconds: float, seed: int = 1) -> np.ndarray:
    """Speech-like: a moving pitch with many harmonics, modulated at syllable rate."""
    t = np.arange(int(seconds * RATE)) / RATE
    pitch = 120 + 30 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(pitch) / RATE
    voice = sum(np.sin(k * phase) / k for k in range(1, 15))
    syllables = 0.5 + 0.5 * np.sin(2 * np.pi * 4 * t) ** 2
    rng = np.random.default_rng(seed)
    return 0.05 * voice * syllables + 0.002 * rng.standard_normal(len(t))


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * RATE))


def run(signal: np.ndarray, params: AmdParams | None = None) -> list:
    pcm = np.clip(np.round(signal * 32767), -32768, 32767).astype(np.int16)
    detector = AnsweringMachineDetector(params)
    events = []
    for k in range(len(pcm) // 160):
        events += detector.push(pcm[k * 160:(k + 1) * 160], k * 20)
    return events


def frames(signal: np.ndarray):
    pcm = np.clip(np.round(signal * 32767), -32768, 32767).astype(np.int16)
    for k in range(len(pcm) // 160):
        yield pcm[k * 160:(k + 1) * 160], k * 20


def test_a_steady_1khz_tone_of_200ms_is_a_beep_reported_when_it_stops():
    detector = BeepDetector()
    signal = np.concatenate([silence(0.3), tone(1000, 0.2), silence(0.2)])
    beeps = [(ms, b) for pcm, ms in frames(signal) if (b := detector.push(pcm, ms))]
    assert len(beeps) == 1
    at, beep = beeps[0]
    assert beep.start_ms == 300 and beep.end_ms == 500 and at == 500
    assert abs(beep.frequency - 1000) <= 32


def test_a_tone_shorter_than_140ms_or_too_quiet_is_not_a_beep():
    for signal in (tone(1000, 0.1), tone(1000, 0.4, level=0.003)):
        detector = BeepDetector()
        padded = np.concatenate([signal, silence(0.2)])
        assert [b for pcm, ms in frames(padded) if (b := detector.push(pcm, ms))] == []


def test_speech_like_sound_is_not_a_beep_nor_is_a_gliding_tone():
    detector = BeepDetector()
    t = np.arange(int(0.6 * RATE)) / RATE
    glide = 0.25 * np.sin(2 * np.pi * (600 * t + 800 * t * t))  # 600 Hz rising fast
    signal = np.concatenate([babble(3.0), glide, silence(0.2)])
    assert [b for pcm, ms in frames(signal) if (b := detector.push(pcm, ms))] == []


def test_a_tone_that_never_stops_is_reported_at_max_ms():
    detector = BeepDetector(max_ms=1000)
    beeps = [b for pcm, ms in frames(tone(1400, 2.0)) if (b := detector.push(pcm, ms))]
    assert len(beeps) == 1 and beeps[0].end_ms - beeps[0].start_ms == 1000


def test_a_short_answer_then_silence_is_a_human_after_the_end_threshold():
    events = run(np.concatenate([silence(0.4), babble(0.8), silence(3.0)]))
    assert events == [AmdDecided("human", 1200 + 1200, "end-silence")]


def test_a_long_greeting_is_a_machine_at_the_speech_threshold_then_its_beep_ends_it():
    signal = np.concatenate([silence(0.5), babble(4.0), silence(0.5), tone(1000, 0.4),
                             silence(1.0)])
    events = run(signal)
    assert [type(e) for e in events] == [AmdDecided, MachineEnded]
    decided, ended = events
    assert decided.result == "machine" and decided.reason == "long-greeting"
    assert 2800 <= decided.at_ms <= 3000  # 0.5 s lead + 2.4 s of speech
    assert ended.cause == "beep" and ended.at_ms == 5400 and ended.beep_hz == pytest.approx(
        1000, abs=32)


def test_a_greeting_without_beep_ends_after_the_greeting_end_silence():
    params = AmdParams(greeting_end_silence=2000)
    events = run(np.concatenate([silence(0.5), babble(3.0), silence(3.0)]), params)
    assert events[0].result == "machine"
    assert events[1] == MachineEnded(3500 + 2000, "silence")


def test_nothing_said_is_unknown_at_the_silence_timeout_and_steady_noise_too():
    assert run(silence(6.0)) == [AmdDecided("unknown", 5000, "silence")]
    rng = np.random.default_rng(7)
    assert run(0.02 * rng.standard_normal(6 * RATE)) == [AmdDecided("unknown", 5000,
                                                                     "silence")]


def test_a_beep_alone_is_a_machine_whose_greeting_is_over():
    events = run(np.concatenate([silence(1.0), tone(1000, 0.5), silence(0.5)]))
    assert events == [AmdDecided("machine", 1500, "beep"),
                      MachineEnded(1500, "beep", events[1].beep_hz)]


def test_expire_decides_unknown_or_ends_a_machine_by_timeout():
    detector = AnsweringMachineDetector()
    assert detector.expire(30000) == [AmdDecided("unknown", 30000, "timeout")]
    assert detector.done and detector.push(np.zeros(160, np.int16), 0) == []
    detector = AnsweringMachineDetector()
    for pcm, ms in frames(np.concatenate([silence(0.2), babble(3.0)])):
        detector.push(pcm, ms)
    assert detector.result == "machine"
    assert detector.expire(9000) == [MachineEnded(9000, "timeout")]


def test_the_timeout_is_media_time_too():
    params = AmdParams(timeout=4.0, silence_timeout=5000)
    assert run(silence(5.0), params) == [AmdDecided("unknown", 4000, "timeout")]


def test_many_words_make_a_machine_before_the_speech_threshold():
    words = [np.concatenate([babble(0.25, seed=k), silence(0.15)]) for k in range(8)]
    events = run(np.concatenate([silence(0.3)] + words + [silence(2.0)]),
                 AmdParams(max_words=4, speech_threshold=5000))
    assert events[0].result == "machine" and events[0].reason == "words"


@pytest.mark.parametrize("name, value", [("timeout", 0.5), ("speech_threshold", 100),
                                         ("speech_end_threshold", 6000),
                                         ("silence_timeout", 500), ("max_words", 1),
                                         ("greeting_end_silence", 20000)])
def test_parameters_out_of_range_are_refused(name, value):
    with pytest.raises(ValueError, match=name):
        AmdParams(**{name: value})


def test_a_word_broken_by_a_short_gap_is_one_word_however_the_gap_falls():
    # 80 ms, 40 ms of silence (under word_gap), 40 ms: one 160 ms word, then silence
    signal = np.concatenate([silence(0.3), babble(0.08), silence(0.04), babble(0.04),
                             silence(2.0)])
    detector = AnsweringMachineDetector()
    events = []
    for pcm, ms in frames(signal):
        events += detector.push(pcm, ms)
    assert detector.words == 1
    assert events == [AmdDecided("human", 460 + 1200, "end-silence")]
