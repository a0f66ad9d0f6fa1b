"""The agent's side of a call: its live connection (WebSocket, relay port pair and
audio bridge, built at the edge) behind the `AgentSession` port, as a leg a call
(calls.call) joins to a SIP leg.

The leg keeps what the call tells the agent only once: the hold state (the agent
hears `hold(True)` when the far end holds and `hold(False)` when it resumes, not at
every re-offer). After a transfer bridges the customer to a human, the session is
the relay bridge (calls.bridged.BridgedSession) and the agent is gone."""

from typing import Protocol

from twisted.logger import Logger

from ..routing import Agent

log = Logger()


class AgentSession(Protocol):
    """One call's live connection to its agent (edge: WebSocket + RTP + bridge)."""

    answer_sdp: bytes  # our SDP answer to the caller's offer

    def begin(self, on_end, on_transfer) -> None:
        """The caller is connected: start the audio; on_end(reason) when the agent
        hangs up or is lost, on_transfer(target, warm) when it asks for a transfer."""

    def dtmf(self, digit: str) -> None: ...

    def finish(self, reason: str) -> bool:
        """The agent asked to end the call: on_end(reason) once what it queued has
        played (bounded); False if the audio has not begun (end it at once)."""

    agent_left: bool  # a transfer (or a close) took the agent off the call

    def take_answer(self, sdp: bytes):
        """Delayed offer: the caller's SDP answer (in the ACK) to `answer_sdp`, which
        was then our offer; a Deferred (failure: unusable)."""

    def hold(self, held: bool) -> None:
        """The caller held (or resumed) the call: tell the agent, send no audio."""

    def reoffer(self, sdp: bytes):
        """The caller's new SDP (hold, resume, moved address) for the media; a Deferred."""

    def stop(self, reason: str):
        """Say goodbye to the agent and free the media; a Deferred of stats dict."""

    # For transfers (services.transfers):
    media_id: str  # the relay call carrying the caller's audio (MediaControl call id)

    def end_agent(self, reason: str) -> None:
        """Say goodbye to the agent and close its socket; the caller hears what the
        agent had queued, then silence (or `ring_caller`'s ringback), until `stop`."""

    def ring_caller(self) -> None:
        """A cold transfer is dialling: once the queued audio has played, the caller
        hears ringback."""

    def early_media(self):
        """The human has early media: a Deferred that fires once the queued audio has
        been sent, when the relay is to be pointed at the human; from then on the
        session falls silent when the human's RTP arrives (until `ring_caller`)."""

    def release_media(self) -> None:
        """Stop terminating the caller's audio here: the relay's other side goes back
        to its socket (bridged to whoever was answered on it); `stop` then leaves
        the relay call alone."""

    def transfer_failed(self, target: str, code: int, outcome: str) -> None:
        """Tell the agent its transfer did not go through (warm transfers)."""


class AgentSessions(Protocol):
    def open(self, call_id: str, agent: Agent, info: dict, offer_sdp: bytes):
        """A Deferred AgentSession, or a failure if the agent or media is unavailable.
        An empty `offer_sdp` (delayed offer): the session's `answer_sdp` is our offer
        and `take_answer` takes the caller's answer."""


class AgentLeg:
    def __init__(self, session: AgentSession, call_id: str):
        self.session = session
        self.call_id = call_id
        self.held = False  # what the agent was last told

    @property
    def media_id(self) -> str:
        return self.session.media_id

    @property
    def left(self) -> bool:
        """A transfer (or a close) took the agent off the call."""
        return self.session.agent_left

    def begin(self, on_end, on_transfer, **options) -> None:
        self.session.begin(on_end, on_transfer, **options)

    def far_sdp(self, sdp: bytes, held: bool) -> None:
        """The far end's new SDP (hold, resume, a moved address): the media follows
        it, and the agent hears of a hold or resume."""
        d = self.session.reoffer(sdp)
        d.addErrback(lambda f: log.info("media of {call_id} did not take the far end's new "
                                        "SDP: {why}", call_id=self.call_id,
                                        why=f.getErrorMessage()))
        if held != self.held:
            self.held = held
            self.session.hold(held)

    def dtmf(self, digit: str) -> None:
        self.session.dtmf(digit)

    def finish(self, reason: str) -> bool:
        return self.session.finish(reason)

    def stop(self, reason: str):
        return self.session.stop(reason)
