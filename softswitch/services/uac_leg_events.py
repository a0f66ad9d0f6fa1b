"""The typed events a UAC leg (services.uac_leg) reports to its owner, and how a final
failure code reads in a call record."""

from dataclasses import dataclass
from typing import Protocol

BUSY_CODES = frozenset({486, 600})
NO_ANSWER_CODES = frozenset({408, 480, 487})


@dataclass(frozen=True, slots=True)
class Ringing:
    status: int  # 180, 183...
    sdp: bytes | None = None  # early media SDP when the provisional carried one


@dataclass(frozen=True, slots=True)
class Answered:
    sdp: bytes  # the far end's SDP answer (b"" when the 2xx had none)


@dataclass(frozen=True, slots=True)
class Failed:
    code: int
    outcome: str  # "busy" | "no-answer" | "failed"

    def __post_init__(self):
        if self.outcome not in ("busy", "no-answer", "failed"):
            raise ValueError(f"unknown outcome {self.outcome!r}")


@dataclass(frozen=True, slots=True)
class Reoffered:
    """The far end sent new SDP in the dialog (a re-INVITE's offer, or the ACK's answer
    to ours): hold, resume, a moved address. `held`: it holds us."""

    sdp: bytes
    held: bool


@dataclass(frozen=True, slots=True)
class Ended:
    side: str  # "remote": the far end ended the dialog
    reason: str  # "bye"


LegEvent = Ringing | Answered | Failed | Reoffered | Ended


def outcome_of(code: int) -> str:
    """How a final failure code reads in a call record."""
    if code in BUSY_CODES:
        return "busy"
    if code in NO_ANSWER_CODES:
        return "no-answer"
    return "failed"


class LegOwner(Protocol):
    def leg_event(self, leg, event: LegEvent) -> None: ...
