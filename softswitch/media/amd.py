"""Answering-machine detection (AMD) on the first seconds of an answered call.

`AnsweringMachineDetector(params).push(samples, media_ms)` takes one 20 ms frame of
8 kHz linear PCM (int16) with its media time (ms since the answer) and returns the
events it decided on that frame:

    AmdDecided(result, at_ms, reason)   once: "human", "machine" or "unknown"
    MachineEnded(at_ms, cause)          after "machine": the greeting is over —
                                        "beep", "silence" (no speech for
                                        `greeting_end_silence` ms) or "timeout"

How it decides (the cadence a person and a recorded greeting differ by):
- a voice-activity detector on frame energy against an adaptive noise floor (it falls
  at once to a quieter frame and rises slowly, so steady noise or hum is not speech);
  a frame is speech above floor + `on_db` and stays so down to floor + `off_db`;
- speech runs shorter than `min_word` are clicks; runs split by less than
  `word_gap` of silence are one word; words split by less than
  `speech_end_threshold` of silence are one utterance (the greeting);
- "human": an utterance shorter than `speech_threshold`, then `speech_end_threshold`
  of silence ("hello?" ... waiting for an answer); "machine": the utterance reaches
  `speech_threshold` ms, or holds `max_words` words (a greeting reads a sentence), or a
  beep is heard; "unknown": no speech for `silence_timeout` ms from the answer, or
  nothing decided within `timeout` ms.

The parameters follow Twilio's AMD (MachineDetectionTimeout, -SpeechThreshold,
-SpeechEndThreshold, -SilenceTimeout); times are in ms except `timeout` (s). Nothing
here reads a clock: media time is the caller's (frames missing from the network are
the edge's to fill with silence).
"""

import math
from dataclasses import dataclass

import numpy as np

from .beep import Beep, BeepDetector

FRAME_MS = 20
RESULTS = ("human", "machine", "unknown")
_FLOOR_DBFS = -80.0  # digital silence is this quiet, not -inf
_FULL_SCALE_POWER = 32768.0 ** 2


@dataclass(frozen=True, slots=True)
class AmdParams:
    timeout: float = 30.0  # s: no decision by then is "unknown" (and no end: "timeout")
    speech_threshold: int = 2400  # ms of greeting that make a machine
    speech_end_threshold: int = 1200  # ms of silence that end an utterance
    silence_timeout: int = 5000  # ms of silence from the answer: "unknown"
    greeting_end_silence: int = 1500  # ms of silence after a machine's words: its end
    max_words: int = 6  # words in one utterance that make a machine
    min_word: int = 100  # ms: shorter speech is a click
    word_gap: int = 60  # ms: a shorter pause is inside a word
    on_db: float = 14.0  # dB above the noise floor where speech begins
    off_db: float = 8.0  # dB above the floor where it ends
    min_speech_dbfs: float = -50.0  # quieter is never speech
    floor_rise_db: float = 2.0  # per second, while the frames stay louder

    def __post_init__(self):
        checks = {"timeout": 1.0 <= self.timeout <= 120.0,
                  "speech_threshold": 500 <= self.speech_threshold <= 10000,
                  "speech_end_threshold": 300 <= self.speech_end_threshold <= 5000,
                  "silence_timeout": 1000 <= self.silence_timeout <= 20000,
                  "greeting_end_silence": 300 <= self.greeting_end_silence <= 10000,
                  "max_words": 2 <= self.max_words <= 50}
        for name, ok in checks.items():
            if not ok:
                raise ValueError(f"{name} {getattr(self, name)!r} is out of range")


@dataclass(frozen=True, slots=True)
class AmdDecided:
    result: str  # "human" | "machine" | "unknown"
    at_ms: int  # media time of the decision (after the frame that made it)
    reason: str  # "end-silence" | "long-greeting" | "words" | "beep" | "silence" | "timeout"


@dataclass(frozen=True, slots=True)
class MachineEnded:
    at_ms: int
    cause: str  # "beep" | "silence" | "timeout"
    beep_hz: float | None = None


class AnsweringMachineDetector:
    def __init__(self, params: AmdParams | None = None):
        self.params = p = params or AmdParams()
        self._beeps = BeepDetector()
        self._floor: float | None = None
        self._rise = p.floor_rise_db * FRAME_MS / 1000
        self._speaking = False
        self._run_ms = 0  # current speech run (short gaps inside it included)
        self._run_counted = False  # the run is long enough to be a word, and counted
        self._quiet_ms = 0  # silence since the last speech frame
        self._first_word_at: int | None = None  # the utterance's start
        self._last_word_end: int | None = None
        self.words = 0  # in the current utterance
        self.speech_ms = 0  # speech frames heard in all
        self.result: str | None = None
        self.decided_at: int | None = None
        self.ended: MachineEnded | None = None
        self._done = False

    @property
    def done(self) -> bool:
        """Nothing more to decide: the result is in, and a machine's end too."""
        return self._done

    def push(self, samples: np.ndarray, media_ms: int) -> list:
        if self._done:
            return []
        end_ms = media_ms + FRAME_MS
        events: list = []
        x = samples.astype(np.float64)
        energy = float(np.dot(x, x))
        beep = self._beeps.push(x, media_ms, energy)
        if beep is not None:
            self._beep(beep, events)
            return events
        self._vad(self._level(energy, len(x)), end_ms)
        if self.result is None:
            self._decide(end_ms, events)
        elif self.result == "machine" and self._quiet_ms >= self.params.greeting_end_silence \
                and self.words_heard:
            self._end(MachineEnded(end_ms, "silence"), events)
        if not self._done and end_ms >= self.params.timeout * 1000:
            self.expire(end_ms, events)
        return events

    def expire(self, at_ms: int, events: list | None = None) -> list:
        """The detection time is up (the edge's timer when media stops coming)."""
        events = [] if events is None else events
        if self.result is None:
            self._decided("unknown", at_ms, "timeout", events)
        if self.result == "machine" and not self._done:
            self._end(MachineEnded(at_ms, "timeout"), events)
        self._done = True
        return events

    @property
    def words_heard(self) -> bool:
        return self._last_word_end is not None

    # -- internals ---------------------------------------------------------------------
    @staticmethod
    def _level(energy: float, samples: int) -> float:
        """dBFS of a frame from its sum of squares."""
        power = energy / max(1, samples) / _FULL_SCALE_POWER
        return max(_FLOOR_DBFS, 10 * math.log10(power) if power > 0 else _FLOOR_DBFS)

    def _vad(self, level: float, end_ms: int) -> None:
        """Update the speech state (runs, words, the utterance) with one frame's level."""
        p = self.params
        floor = self._floor
        if floor is None or level < floor:
            self._floor = floor = level
        elif not self._speaking or level < floor + p.on_db:
            self._floor = floor = floor + self._rise
        threshold = p.off_db if self._speaking else p.on_db
        if level < max(floor + threshold, p.min_speech_dbfs):
            self._speaking = False
            self._quiet_ms += FRAME_MS
            return
        self.speech_ms += FRAME_MS
        if self._quiet_ms >= p.word_gap:  # a new run; a shorter gap continues the last one
            self._run_ms, self._run_counted = 0, False
        else:
            self._run_ms += self._quiet_ms
        self._speaking = True
        self._run_ms += FRAME_MS
        self._quiet_ms = 0
        if self._run_ms >= p.min_word:
            if not self._run_counted:
                self._run_counted = True
                self._word_started(end_ms - self._run_ms)
            self._last_word_end = end_ms

    def _word_started(self, start_ms: int) -> None:
        p = self.params
        if self._first_word_at is None or (self._last_word_end is not None and start_ms
                                           - self._last_word_end >= p.speech_end_threshold):
            self._first_word_at = start_ms
            self.words = 0
        self.words += 1

    def _decide(self, end_ms: int, events: list) -> None:
        p = self.params
        if self._first_word_at is None:
            if end_ms >= p.silence_timeout:
                self._decided("unknown", end_ms, "silence", events)
            return
        greeting = (self._last_word_end or end_ms) - self._first_word_at
        if greeting >= p.speech_threshold:
            self._decided("machine", end_ms, "long-greeting", events)
        elif self.words >= p.max_words:
            self._decided("machine", end_ms, "words", events)
        elif not self._speaking and self._quiet_ms >= p.speech_end_threshold:
            self._decided("human", end_ms, "end-silence", events)

    def _beep(self, beep: Beep, events: list) -> None:
        if self.result is None:
            self._decided("machine", beep.end_ms, "beep", events)
        if self.result == "machine":
            self._end(MachineEnded(beep.end_ms, "beep", beep.frequency), events)

    def _decided(self, result: str, at_ms: int, reason: str, events: list) -> None:
        self.result, self.decided_at = result, at_ms
        events.append(AmdDecided(result, at_ms, reason))
        if result != "machine":
            self._done = True

    def _end(self, ended: MachineEnded, events: list) -> None:
        self.ended = ended
        self._done = True
        events.append(ended)
