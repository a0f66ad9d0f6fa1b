"""What an agent asks of the call besides its audio, for `AgentBridge` (agent.bridge):
marks, clear (barge-in), the Realtime speech and response events, DTMF to the
caller, hangup and transfer. None of it runs per audio frame; `bridge.py` keeps the
per-frame paths. The playout markers below are queued like marks and never reach the
agent."""

from dataclasses import dataclass

from softswitch.agent.bridge_output import Hangup, Transfer
from softswitch.agent.events import (
    DTMF_DIGITS,
    AgentDtmf,
    AgentHangup,
    AgentMark,
    AgentTransfer,
)


@dataclass(frozen=True, slots=True, eq=False)
class ResponseBoundary:
    """Where a new response's audio begins in the playout queue."""


@dataclass(frozen=True, slots=True, eq=False)
class HangupWhenPlayed:
    reason: str
    headers: tuple = ()  # the agent's, for the BYE


class AgentControl:
    """The control half of `AgentBridge` (which holds the state these methods use)."""

    def _on_mark(self, event: AgentMark, now: float, ws, actions) -> None:
        self.marks_received += 1
        self._flush_down()
        self.playout.add_mark(event.name)

    def _on_clear(self, event, now: float, ws: list, actions: list) -> None:
        self._clear(ws, actions)

    def _on_dtmf(self, event: AgentDtmf, now: float, ws, actions) -> None:
        digits = event.digits.upper()
        if not digits or not set(digits) <= DTMF_DIGITS:
            raise ValueError(f"DTMF digits {event.digits!r}")
        if self.rtp_event_pt is None:
            self.dtmf_unsent += len(digits)
            return
        self._dtmf_digits.extend(digits)

    def _on_hangup(self, event: AgentHangup, now: float, ws, actions: list) -> None:
        if self._hangup_requested:
            return
        self._hangup_requested = True
        if self._started_at is None:
            actions.append(Hangup(event.reason, event.headers))
            return
        self._flush_down()
        self.playout.add_mark(HangupWhenPlayed(event.reason, event.headers))

    def _on_transfer(self, event: AgentTransfer, now: float, ws, actions: list) -> None:
        actions.append(Transfer(event.target, event.warm, event.mode, event.headers))

    def _on_speech_started(self, event, now: float, ws: list, actions: list) -> None:
        heard_ms = 0 if self._boundaries else self.playout.played_ms
        self._clear(ws, actions)
        truncate = getattr(self.profile, "truncate", None)
        if truncate is not None:
            ws += self._count(truncate(round(heard_ms)))

    def _on_response_started(self, event, now: float, ws, actions) -> None:
        self._flush_down()
        if self._boundaries or self.playout.queued_ms() > 0:
            self._boundaries += 1
            self.playout.add_mark(ResponseBoundary())
        else:
            self.playout.reset_played()

    def _clear(self, ws: list, actions: list) -> None:
        self.clears += 1
        self._chunk_arrivals.clear()
        self._down.reset()
        self._reached(self.playout.clear(), ws, actions)

