"""The typed events a SIP leg (calls.sip_leg: the caller's side of an agent call, a
UAC leg of an outbound call or of a transfer) reports to its owner, and how a final
failure code reads in a call record.

    Ringing(status, sdp)   UAC: a provisional other than 100 (180, 183 with early SDP)
    Answered(sdp)          UAC: the 2xx, with the far end's SDP answer. UAS: the ACK of
                           a delayed-offer call, with the caller's answer to our offer
    Failed(code, outcome)  UAC: a final non-2xx, no answer before the ring timeout, no
                           response at all (Timer B, 408) or a transport failure (503)
    Reoffered(sdp, held)   new SDP from the far end inside the dialog (hold, resume)
    Dtmf(digit)            a digit the far end sent in an INFO (RFC 6086)
    Ended(side, reason)    the dialog ended without the owner asking: "remote" (the far
                           end's BYE) or "local" (the leg sent BYE itself: no ACK for
                           our 2xx, a session timer that expired)
"""

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
class Dtmf:
    digit: str


@dataclass(frozen=True, slots=True)
class Ended:
    side: str  # "remote" | "local"
    reason: str  # "bye", "no-ack", "session-expired"

    def __post_init__(self):
        if self.side not in ("remote", "local"):
            raise ValueError(f"unknown side {self.side!r}")


LegEvent = Ringing | Answered | Failed | Reoffered | Dtmf | Ended


def outcome_of(code: int) -> str:
    """How a final failure code reads in a call record."""
    if code in BUSY_CODES:
        return "busy"
    if code in NO_ANSWER_CODES:
        return "no-answer"
    return "failed"


def moves_on(event: Failed, rang: bool) -> bool:
    """Whether a failed attempt lets the next gateway (or trunk) try: the gateway, not
    the far end, failed (5xx, no response, transport failure) and nothing rang yet."""
    return not rang and event.outcome == "failed" and (event.code >= 500 or event.code == 408)


class LegOwner(Protocol):
    def leg_event(self, leg, event: LegEvent) -> None: ...
