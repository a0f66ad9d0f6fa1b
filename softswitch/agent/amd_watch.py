"""Answering-machine detection on an outbound call's answered leg (docs/amd.md): the
options a call asks for, and the watch that feeds the far end's RTP to the detector.

`AmdOptions.from_request(dict)` checks the API's `amd` object (ValueError naming the
field at fault). `AmdWatch(options, codec).rtp(payload_type, timestamp, payload)`
takes each G.711 packet from the far end and returns the detector's events
(media.amd.AmdDecided, MachineEnded); media time follows the RTP timestamps from the
first packet, so reordered or duplicated packets are dropped (older than the last one)
and a gap (lost packets, or a far end pausing its stream) is silence, capped at
`MAX_GAP_FRAMES` frames; a jump of more than `MAX_JUMP_SAMPLES` either way (a new
timestamp base) just goes on. `expire()` is the edge's timer when the stream stops.

`reported(event)` is the event for the agent (events.AmdReported, in Twilio's
AnsweredBy words), and `AmdOptions.releases(event)` says whether an agent waiting for
the result (mode "wait") starts on it: on "human" or "unknown"; on "machine" unless
the call waits for the greeting's end (`detect_end`) or hangs up on machines.
"""

from dataclasses import dataclass, field, fields

from ..media.amd import AmdDecided, AmdParams, AnsweringMachineDetector, MachineEnded
from ..media.g711 import FRAME_SAMPLES, alaw_decode, ulaw_decode
from .events import AmdReported

MODES = ("wait", "async")
MACHINE_ACTIONS = ("agent", "hangup")
MAX_GAP_FRAMES = 50  # a longer gap in the stream counts as 1 s of silence
MAX_JUMP_SAMPLES = 8000 * 10  # a timestamp further off is a new base, not a gap
_DECODERS = {0: ulaw_decode, 8: alaw_decode}  # static payload types (RFC 3551)
_END_WORDS = {"beep": "machine_end_beep", "silence": "machine_end_silence",
              "timeout": "machine_end_other"}
# API names of AmdParams' fields that a request may set (ms unless noted)
PARAMS = ("timeout", "speech_threshold", "speech_end_threshold", "silence_timeout",
          "greeting_end_silence", "max_words")


@dataclass(frozen=True, slots=True)
class AmdOptions:
    mode: str = "async"  # "wait": the agent starts with the result; "async": at once
    machine_action: str = "agent"  # "hangup": a machine ends the call ("machine")
    detect_end: bool = True  # wait mode: a machine's agent starts at its greeting's end
    params: AmdParams = field(default_factory=AmdParams)

    @classmethod
    def from_request(cls, body: dict) -> "AmdOptions":
        """The API's `amd` object; ValueError("field: why") when something is wrong."""
        if not isinstance(body, dict):
            raise ValueError("amd: an object")
        known = {"mode", "machine_action", "detect_end", *PARAMS}
        unknown = sorted(set(body) - known)
        if unknown:
            raise ValueError(f"amd.{unknown[0]}: unknown option")
        mode = body.get("mode", "async")
        if mode not in MODES:
            raise ValueError(f"amd.mode: one of {', '.join(MODES)}")
        action = body.get("machine_action", "agent")
        if action not in MACHINE_ACTIONS:
            raise ValueError(f"amd.machine_action: one of {', '.join(MACHINE_ACTIONS)}")
        detect_end = body.get("detect_end", True)
        if not isinstance(detect_end, bool):
            raise ValueError("amd.detect_end: true or false")
        values = {}
        for name in PARAMS:
            if name in body:
                value = body[name]
                if isinstance(value, bool) or not isinstance(value, (int, float)) \
                        or (name != "timeout" and value != int(value)):
                    raise ValueError(f"amd.{name}: a number" if name == "timeout"
                                     else f"amd.{name}: a whole number")
                values[name] = float(value) if name == "timeout" else int(value)
        try:
            params = AmdParams(**values)
        except ValueError as exc:
            raise ValueError(f"amd.{str(exc).split()[0]}: {exc}") from None
        return cls(mode, action, detect_end, params)

    def to_dict(self) -> dict:
        params = {f.name: getattr(self.params, f.name) for f in fields(AmdParams)
                  if f.name in PARAMS}
        return {"mode": self.mode, "machine_action": self.machine_action,
                "detect_end": self.detect_end, **params}

    def releases(self, event) -> bool:
        """A waiting agent starts on this event."""
        if isinstance(event, MachineEnded):
            return self.machine_action == "agent" and self.detect_end
        if event.result != "machine":
            return True
        return self.machine_action == "agent" and not self.detect_end

    def hangs_up(self, event) -> bool:
        """This event ends the call (a machine, when machines are hung up on)."""
        return (isinstance(event, AmdDecided) and event.result == "machine"
                and self.machine_action == "hangup")


def reported(event) -> AmdReported:
    """The agent's event for a detector event."""
    if isinstance(event, MachineEnded):
        return AmdReported("machine_end", _END_WORDS[event.cause], event.at_ms, event.cause)
    words = "machine_start" if event.result == "machine" else event.result
    return AmdReported(event.result, words, event.at_ms, event.reason)


class AmdWatch:
    def __init__(self, options: AmdOptions):
        self.options = options
        self.detector = AnsweringMachineDetector(options.params)
        self._last_ts: int | None = None  # the latest packet's RTP timestamp
        self._next_ms = 0  # media time of the next frame

    @property
    def done(self) -> bool:
        return self.detector.done

    def rtp(self, payload_type: int, timestamp: int, payload: bytes) -> list:
        decode = _DECODERS.get(payload_type)
        if decode is None or len(payload) != FRAME_SAMPLES or self.detector.done:
            return []  # (DTMF, comfort noise, other packet times: not for the detector)
        if self._last_ts is None:
            at_ms = 0
        else:
            step = ((timestamp - self._last_ts + 0x80000000) & 0xFFFFFFFF) - 0x80000000
            if step <= 0 and -step < MAX_JUMP_SAMPLES:
                return []  # late or repeated
            if not 0 < step <= MAX_JUMP_SAMPLES:
                step = FRAME_SAMPLES  # a new timestamp base (a jump either way): go on
            at_ms = self._next_ms - 20 + step // 8
        self._last_ts = timestamp
        events: list = []
        gap = (at_ms - self._next_ms) // 20
        for k in range(min(gap, MAX_GAP_FRAMES)):  # lost packets: silence
            events += self.detector.push(_SILENCE, self._next_ms + 20 * k)
            if self.detector.done:
                return events
        events += self.detector.push(decode(payload), at_ms)
        self._next_ms = at_ms + 20
        return events

    def expire(self) -> list:
        """The time is up with the stream stopped (the edge's timer)."""
        return self.detector.expire(max(self._next_ms, int(self.options.params.timeout
                                                           * 1000)))


_SILENCE = ulaw_decode(b"\xff" * FRAME_SAMPLES)
