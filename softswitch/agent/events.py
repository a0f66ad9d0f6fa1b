"""The typed events between a call and its AI agent, whatever the wire profile.

To the agent: the call started, caller audio, caller DTMF, a mark was played, the
caller held or resumed the call, a transfer it asked for failed, the call ended. From
the agent: audio for the caller, a mark, clear (barge-in), DTMF to play, hang up,
transfer, and the caller started speaking (server-side VAD)."""

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class AudioFormat:
    encoding: str  # "mulaw" (8 kHz G.711 u-law) or "pcm16" (signed 16-bit little-endian)
    sample_rate: int

    @property
    def bytes_per_20ms(self) -> int:
        samples = self.sample_rate // 50
        return samples if self.encoding == "mulaw" else samples * 2


MULAW_8K = AudioFormat("mulaw", 8000)


@dataclass(frozen=True, slots=True)
class CallInfo:
    """What the agent is told when the call starts."""

    call_id: str  # our id for the call (also the Twilio callSid)
    stream_id: str
    account: str
    caller: str
    callee: str
    did: str | None = None
    direction: str = "inbound"
    custom_parameters: dict = field(default_factory=dict)
    # STIR/SHAKEN of a call from a trunk: TN-Validation-Passed, TN-Validation-Failed or
    # No-TN-Validation, and the attestation (A, B, C) its PASSporT claimed.
    verstat: str | None = None
    attestation: str | None = None
    # An outbound call that waited for answering-machine detection before starting
    # the agent: what answered (AmdReported.answered_by).
    answered_by: str | None = None
    sip_headers: dict = field(default_factory=dict)  # the INVITE's, as the agent asked
    # A call handed over from another agent mid-call (docs/agents.md "Handoff"): that
    # agent's name and why ("agent-lost" when its socket failed, else the reason given).
    handoff_from: str | None = None
    handoff_reason: str | None = None


# -- to the agent ---------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class CallStarted:
    info: CallInfo


@dataclass(frozen=True, slots=True)
class CallerAudio:
    audio: bytes  # 20 ms in the profile's audio format
    timestamp_ms: int  # media time since the stream started


@dataclass(frozen=True, slots=True)
class CallerDtmf:
    digit: str


@dataclass(frozen=True, slots=True)
class MarkPlayed:
    name: str


@dataclass(frozen=True, slots=True)
class CallerHeld:
    """The caller put the call on hold (RFC 3264 sendonly/inactive): no audio reaches
    the caller until `CallerResumed`."""


@dataclass(frozen=True, slots=True)
class CallerResumed:
    """The caller took the call off hold."""


@dataclass(frozen=True, slots=True)
class AmdReported:
    """Answering-machine detection on an outbound call (docs/amd.md): `result` is
    "human", "machine", "unknown" or "machine_end" (a machine's greeting is over: leave
    the message now); `answered_by` is the same in Twilio's AnsweredBy words (human,
    machine_start, machine_end_beep, machine_end_silence, machine_end_other, unknown)."""

    result: str
    answered_by: str
    at_ms: int  # media time after the answer
    reason: str  # why: end-silence, long-greeting, words, beep, silence, timeout


@dataclass(frozen=True, slots=True)
class CallEnded:
    reason: str


@dataclass(frozen=True, slots=True)
class TransferFailed:
    """A warm transfer the agent asked for did not go through: the agent stays on."""

    target: str
    code: int  # the SIP status of the human's side (486 busy, 408 no answer...)
    reason: str  # "busy" | "no-answer" | "failed"


# -- from the agent ---------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class AgentAudio:
    audio: bytes  # any length, in the profile's audio format


@dataclass(frozen=True, slots=True)
class AgentMark:
    name: str


@dataclass(frozen=True, slots=True)
class AgentClear:
    """Barge-in: drop everything queued for the caller now."""


@dataclass(frozen=True, slots=True)
class AgentDtmf:
    digits: str


@dataclass(frozen=True, slots=True)
class AgentHangup:
    reason: str = "agent"
    headers: tuple[tuple[str, str], ...] = ()  # for the BYE (agent.sip_headers checked)


@dataclass(frozen=True, slots=True)
class AgentRecording:
    """Start, pause, resume or stop the call's recording (docs/recording.md)."""

    action: str  # one of RECORDING_ACTIONS

    def __post_init__(self):
        if self.action not in RECORDING_ACTIONS:
            raise ValueError(f"recording action {self.action!r} is not one of "
                             + ", ".join(RECORDING_ACTIONS))


RECORDING_ACTIONS = ("start", "pause", "resume", "stop")


@dataclass(frozen=True, slots=True)
class AgentTransfer:
    target: str  # an E.164 number, "user:NAME", "trunk:NAME"; for refer also sip:/tel:
    warm: bool = False
    mode: str = "bridge"  # "bridge" (the switch dials and bridges) | "refer" (SIP REFER)
    # The agent's headers (agent.sip_headers): on the INVITE to the human, or (refer)
    # in the Refer-To.
    headers: tuple[tuple[str, str], ...] = ()


TRANSFER_MODES = ("bridge", "refer")


def transfer_mode(message: dict) -> str:
    """The `mode` of an agent's transfer message (every profile spells it the same);
    ValueError when it is not one of TRANSFER_MODES."""
    mode = message.get("mode") or "bridge"
    if mode not in TRANSFER_MODES:
        raise ValueError(f"transfer mode must be one of {', '.join(TRANSFER_MODES)}")
    return mode


@dataclass(frozen=True, slots=True)
class AgentHandoff:
    """Hand the call over to another configured agent (escalation)."""

    agent: str  # the agent's name
    reason: str = "agent"


@dataclass(frozen=True, slots=True)
class ResponseStarted:
    """The agent began a new response: the caller's heard time counts from here."""

    item_id: str


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    """The agent's VAD heard the caller: clear playout, then tell it what was heard."""

    item_id: str | None = None


DTMF_DIGITS = frozenset("0123456789*#ABCD")
