"""The call's inputs to `AgentBridge` (agent.bridge) besides its media: the start
(gated or not) and its release, events reported to the agent, a new socket after one
was lost, the agent's finish, the call's end and the caller's hold. None of it runs
per audio frame; `bridge.py` keeps the per-frame paths."""

from collections import deque

from softswitch.agent.bridge_output import Output
from softswitch.agent.codec import AgentToCaller
from softswitch.agent.events import (
    AgentHangup,
    CallEnded,
    CallerHeld,
    CallerResumed,
    CallInfo,
    CallStarted,
)

MAX_GATED_SLOTS = 500  # caller audio held for a gated start: the last 10 s


class CallLifecycle:
    """The call's half of `AgentBridge` (which holds the state these methods use)."""

    def start(self, now: float, gated: bool = False) -> Output:
        """The call is answered: tell the agent (unless `gated`: at `release`), and
        start the 20 ms schedule."""
        if self._started_at is not None or self._closed:
            return self._idle()
        self._started_at = now
        self.pacer.begin(now)
        self._quiet = Output(next_deadline=self.pacer.next_deadline())
        if gated:
            self._gated = deque(maxlen=MAX_GATED_SLOTS)
            return self._quiet
        return self._output(self._encode(CallStarted(self.info)))

    def release(self, info: CallInfo, events, now: float) -> Output:
        """A gated start goes ahead: the agent's start (`info`), `events`, then the
        caller's frames held meanwhile."""
        if self._gated is None or self._closed or self.handing_off:
            return self._quiet
        held, self._gated = self._gated, None
        self.info = info
        ws = self._encode(CallStarted(info))
        for event in events:
            ws += self._encode(event)
        for event in held:
            ws += self._encode(event)
        return self._output(ws)

    def report(self, event, now: float) -> Output:
        """Tell a started agent of `event` (held in order while the start is gated)."""
        if self._started_at is None or self._closed:
            return self._quiet
        if self._gated is not None:
            self._gated.append(event)
            return self._quiet
        return self._output(self._encode(event))

    @property
    def gated(self) -> bool:
        return self._gated is not None

    def resume(self, profile, now: float) -> Output:
        """The agent's socket was lost and a new one is open: `profile`, a fresh
        instance of the call's profile, starts over on it with its start messages,
        while the caller's side goes on without a break. What the lost socket had
        queued for the caller is dropped, and its marks with it (they can no longer be
        acknowledged)."""
        if self._started_at is None or self._closed:
            return self._idle()
        self.profile = profile
        self._down = AgentToCaller(profile.audio_format, self.codec)
        self._chunk_arrivals.clear()
        self.playout.clear()
        self._boundaries = 0
        if self._gated is not None:  # the start is still to come (release)
            return self._quiet
        return self._output(self._encode(CallStarted(self.info)))

    def finish(self, reason: str, now: float) -> Output:
        """The agent is done (it closed its socket, or asked over the REST API): a
        hangup once the audio it queued has played (its marks reached on the way)."""
        if self._closed:
            return Output()
        actions: list = []
        self._on_hangup(AgentHangup(reason), now, None, actions)
        return self._output((), actions)

    def stop(self, reason: str, now: float) -> Output:
        """The call is over (either side): the profile's goodbye; later inputs are ignored."""
        if self._closed:
            return Output()
        self._closed = True
        self._quiet = Output()
        told = self._started_at is not None and self._gated is None  # (a gated agent: not)
        ws = self._encode(CallEnded(reason)) if told else []
        return Output(ws=tuple(ws))

    def hold(self, held: bool, now: float) -> Output:
        """The caller put the call on hold (a sendonly or inactive re-offer) or took
        it off: the agent is told (`CallerHeld` / `CallerResumed`), and while held no
        RTP is sent to the caller."""
        if self._closed or held == self._held:
            return self._quiet
        self._held = held
        return self.report(CallerHeld() if held else CallerResumed(), now)

    @property
    def held(self) -> bool:
        return self._held
