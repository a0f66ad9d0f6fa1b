"""The answering-machine detection case set: a manifest of answers (people picking up,
voicemail greetings with and without a beep, silence, noise) and their deterministic
generation as 8 kHz µ-law audio, as the far end of an outbound call would send it.

Speech is synthesised with espeak-ng (voice, speed and pitch fixed per case), resampled
to 8 kHz; noise comes from numpy generators with fixed seeds; everything goes through
G.711 µ-law and back as on the wire. `espeak_path()` is None when espeak-ng is missing
(the tests fail under CI then, and skip loudly otherwise).

`run_case(case)` feeds a case to the detector frame by frame and returns what it said;
`confusion(results)` counts expected against detected.
"""

import shutil
import subprocess
import tempfile
import wave
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soxr

from softswitch.media.amd import AmdDecided, AmdParams, AnsweringMachineDetector, MachineEnded
from softswitch.media.g711 import ulaw_decode, ulaw_encode

RATE = 8000
FRAME = 160

# -- the manifest ---------------------------------------------------------------------------
# A part is ("say", text, voice, speed wpm, pitch), ("pause", seconds),
# ("beep", hz, seconds) or ("noise" / "hum" handled as a bed under the whole case).

GREETINGS = [
    "Hi, you've reached John Smith. I can't come to the phone right now. "
    "Please leave your name and number after the tone and I will call you back.",
    "The person you are calling is not available. At the tone, please record your "
    "message. When you have finished recording, you may hang up.",
    "Hello, this is Maria. Sorry I missed your call. Leave me a message and I'll get "
    "back to you as soon as I can.",
    "Thank you for calling Acme Dental. Our office is currently closed. Our hours are "
    "Monday through Friday, eight to five. Please leave a message.",
    "Hey, it's Dave. Leave a message.  Bye.",
    "You have reached the voicemail of extension four two one. Please leave a message "
    "after the beep.",
]

HUMAN_ANSWERS = [
    ["Hello?"],
    ["Hello?", 1.6, "Hello?"],
    ["Hi."],
    ["Yeah, hello?"],
    ["Hello, this is Mark."],
    ["Mark speaking."],
    ["Good morning."],
    ["Hello, who is this?"],
    ["Yes?"],
    ["Speaking."],
    ["Hi, this is Sarah."],
    ["Hello?", 1.9, "Anyone there?"],
]

VOICES = [("en-us", 165, 50), ("en", 175, 40), ("en-us+f3", 160, 60), ("en+m3", 180, 45)]


@dataclass(frozen=True)
class AmdCase:
    name: str
    expected: str  # "human" | "machine" | "unknown"
    parts: tuple  # ("say", text, voice, wpm, pitch) | ("pause", s) | ("beep", hz, s)
    lead: float = 0.5  # seconds of silence after the answer
    tail: float = 6.0  # seconds of silence (or noise) at the end
    noise_dbfs: float | None = None  # a white/pink noise bed under the whole case
    noise_kind: str = "white"
    seed: int = 0
    expected_end: str | None = None  # a machine's: "beep" | "silence"
    level_dbfs: float = -20.0  # speech level (RMS)


def _human_cases() -> list[AmdCase]:
    cases = []
    for i, answer in enumerate(HUMAN_ANSWERS):
        voice, wpm, pitch = VOICES[i % len(VOICES)]
        parts = tuple(("pause", p) if isinstance(p, float) else ("say", p, voice, wpm, pitch)
                      for p in answer)
        cases.append(AmdCase(f"human-{i:02d}", "human", parts, lead=0.3 + 0.1 * (i % 6),
                             seed=i, level_dbfs=-18.0 - 2 * (i % 5)))
    for i, answer in enumerate(HUMAN_ANSWERS[:8]):  # with a noisy line or room behind
        voice, wpm, pitch = VOICES[(i + 1) % len(VOICES)]
        parts = tuple(("pause", p) if isinstance(p, float) else ("say", p, voice, wpm, pitch)
                      for p in answer)
        cases.append(AmdCase(f"human-noisy-{i:02d}", "human", parts, lead=0.4 + 0.1 * (i % 4),
                             noise_dbfs=-48.0 + 3 * (i % 4),
                             noise_kind="pink" if i % 2 else "white", seed=100 + i))
    for i, answer in enumerate(HUMAN_ANSWERS[8:11]):  # quiet speakers on a noisy line
        voice, wpm, pitch = VOICES[(i + 2) % len(VOICES)]
        parts = tuple(("pause", p) if isinstance(p, float) else ("say", p, voice, wpm, pitch)
                      for p in answer)
        cases.append(AmdCase(f"human-quiet-{i:02d}", "human", parts, lead=0.6,
                             noise_dbfs=-44.0, noise_kind="pink", seed=150 + i,
                             level_dbfs=-32.0))
    # A person who answers with a whole sentence: known to be taken for a machine.
    cases.append(AmdCase("human-long-00", "human", (
        ("say", "Hello, this is Mark from accounting, how can I help you today?",
         *VOICES[0]),), lead=0.5, seed=160))
    return cases


def _machine_cases() -> list[AmdCase]:
    cases = []
    beeps = [(1000, 0.4), (1400, 0.3), (850, 0.5), (440, 0.6), (1800, 0.25), (950, 0.35)]
    for i, text in enumerate(GREETINGS):
        voice, wpm, pitch = VOICES[i % len(VOICES)]
        hz, seconds = beeps[i]
        say = ("say", text, voice, wpm, pitch)
        cases.append(AmdCase(f"machine-beep-{i:02d}", "machine",
                             (say, ("pause", 0.4 + 0.1 * i), ("beep", hz, seconds)),
                             lead=0.4 + 0.15 * i, seed=200 + i, expected_end="beep"))
        cases.append(AmdCase(f"machine-silent-{i:02d}", "machine", (say,),
                             lead=0.6 + 0.1 * i, seed=210 + i, expected_end="silence"))
        other = VOICES[(i + 2) % len(VOICES)]
        cases.append(AmdCase(f"machine-noisy-{i:02d}", "machine",
                             (("say", text, *other), ("pause", 0.5), ("beep", hz, seconds)),
                             lead=0.3, noise_dbfs=-45.0, noise_kind="pink" if i % 2 else "white",
                             seed=220 + i, expected_end="beep"))
    for i, text in enumerate(GREETINGS[:2]):  # a quiet recording on a noisy line
        cases.append(AmdCase(f"machine-quiet-{i:02d}", "machine",
                             (("say", text, *VOICES[3 - i]), ("pause", 0.6),
                              ("beep", 1000, 0.4)), lead=0.5, noise_dbfs=-44.0,
                             noise_kind="white", seed=240 + i, expected_end="beep",
                             level_dbfs=-30.0))
    return cases


def _unknown_cases() -> list[AmdCase]:
    cases = [AmdCase("silence-digital", "unknown", (), lead=0.0, tail=8.0)]
    for i in range(7):
        kind = ("white", "pink")[i % 2]
        cases.append(AmdCase(f"noise-{kind}-{i}", "unknown", (), lead=0.0, tail=8.0,
                             noise_dbfs=-50.0 + 4 * i, noise_kind=kind, seed=300 + i))
    return cases


CASES: list[AmdCase] = _human_cases() + _machine_cases() + _unknown_cases()

# -- generation -----------------------------------------------------------------------------


def espeak_path() -> str | None:
    return shutil.which("espeak-ng")


def _say(text: str, voice: str, wpm: int, pitch: int, cache: dict) -> np.ndarray:
    key = (text, voice, wpm, pitch)
    if key not in cache:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "say.wav"
            subprocess.run([espeak_path(), "-v", voice, "-s", str(wpm), "-p", str(pitch),
                            "-w", str(path), text], check=True, capture_output=True)
            with wave.open(str(path)) as w:
                rate = w.getframerate()
                pcm = np.frombuffer(w.readframes(w.getnframes()), np.int16)
        audio = soxr.resample(pcm.astype(np.float32) / 32768.0, rate, RATE)
        cache[key] = _trim(audio)
    return cache[key]


def _trim(audio: np.ndarray) -> np.ndarray:
    """espeak-ng pads its output with silence: keep from the first sound to the last."""
    loud = np.flatnonzero(np.abs(audio) > 0.01)
    return audio[loud[0]:loud[-1] + 1] if len(loud) else audio


def _noise(kind: str, n: int, dbfs: float, rng: np.random.Generator) -> np.ndarray:
    white = rng.standard_normal(n)
    if kind == "pink":  # 1/f by shaping the spectrum
        spectrum = np.fft.rfft(white)
        spectrum[1:] /= np.sqrt(np.arange(1, len(spectrum)))
        white = np.fft.irfft(spectrum, n)
    return white / np.sqrt(np.mean(white ** 2)) * 10 ** (dbfs / 20)


def synthesise(case: AmdCase, cache: dict | None = None) -> bytes:
    """The case's audio as 8 kHz µ-law, from the answer on."""
    cache = {} if cache is None else cache
    pieces = [np.zeros(int(case.lead * RATE))]
    for part in case.parts:
        if part[0] == "say":
            speech = _say(*part[1:], cache)
            rms = np.sqrt(np.mean(speech ** 2)) or 1.0
            pieces.append(speech / rms * 10 ** (case.level_dbfs / 20))
        elif part[0] == "pause":
            pieces.append(np.zeros(int(part[1] * RATE)))
        elif part[0] == "beep":
            t = np.arange(int(part[2] * RATE)) / RATE
            pieces.append(0.25 * np.sin(2 * np.pi * part[1] * t))
    pieces.append(np.zeros(int(case.tail * RATE)))
    audio = np.concatenate(pieces)
    if case.noise_dbfs is not None:
        rng = np.random.default_rng(case.seed)
        audio = audio + _noise(case.noise_kind, len(audio), case.noise_dbfs, rng)
    audio = audio[:len(audio) // FRAME * FRAME]
    pcm = np.clip(np.round(audio * 32767), -32768, 32767).astype(np.int16)
    return ulaw_encode(pcm)


# -- running --------------------------------------------------------------------------------


@dataclass
class CaseResult:
    case: AmdCase
    result: str | None = None
    decided_ms: int | None = None
    reason: str | None = None
    end: str | None = None
    end_ms: int | None = None
    events: list = field(default_factory=list)

    @property
    def correct(self) -> bool:
        return self.result == self.case.expected


def run_case(case: AmdCase, params: AmdParams | None = None,
             cache: dict | None = None) -> CaseResult:
    audio = synthesise(case, cache)
    detector = AnsweringMachineDetector(params)
    out = CaseResult(case)
    for k in range(len(audio) // FRAME):
        frame = ulaw_decode(audio[k * FRAME:(k + 1) * FRAME])
        for event in detector.push(frame, k * 20):
            out.events.append(event)
            if isinstance(event, AmdDecided):
                out.result, out.decided_ms, out.reason = event.result, event.at_ms, event.reason
            elif isinstance(event, MachineEnded):
                out.end, out.end_ms = event.cause, event.at_ms
        if detector.done:
            break
    if not detector.done:  # the audio ran out: the edge's timer would expire it
        for event in detector.expire(len(audio) // 8):
            if isinstance(event, AmdDecided):
                out.result, out.decided_ms, out.reason = event.result, event.at_ms, event.reason
            elif isinstance(event, MachineEnded):
                out.end, out.end_ms = event.cause, event.at_ms
    return out


def confusion(results: list[CaseResult]) -> dict:
    """{expected: {detected: count}} over human, machine, unknown (None: undecided)."""
    table = {e: {d: 0 for d in ("human", "machine", "unknown")} for e in
             ("human", "machine", "unknown")}
    for r in results:
        table[r.case.expected][r.result or "unknown"] += 1
    return table


def format_confusion(table: dict) -> str:
    names = ("human", "machine", "unknown")
    lines = ["expected \\ detected " + "".join(f"{n:>9}" for n in names)]
    for e in names:
        lines.append(f"{e:<20}" + "".join(f"{table[e][d]:>9}" for d in names))
    return "\n".join(lines)
