"""Mid-call handoff for `AgentBridge` (agent.bridge): the call moves from one agent's
socket to another's while the caller stays on the line (docs/agents.md "Handoff").

`begin_handoff(now)` gates the bridge as a gated start does (agent.bridge "Gate"): the
caller's frames are held from the next slot on, with their media times, as the call's
own G.711 (the new agent's audio format may differ from the old one's), the newest
`MAX_HANDOFF_SLOTS` of them; an older frame pushed out is counted in
`held_dropped`. The old agent's queued audio keeps playing to the caller meanwhile.

`complete_handoff(profile, info, now)`: `profile` (the new agent's) takes over; what
the old agent had queued is dropped with its marks (as on `resume`), and the new agent
gets its start (`info`, which names the agent handing over), then every held event in
order, the audio converted to its format with its original timestamp.

`cancel_handoff(now)`: the new agent could not be reached; the old one keeps the call
and gets the held frames, so it loses nothing either."""

from collections import deque

from softswitch.agent.bridge_output import Handoff, Output
from softswitch.agent.codec import AgentToCaller, CallerToAgent
from softswitch.agent.events import AgentHandoff, CallerAudio, CallInfo, CallStarted

MAX_HANDOFF_SLOTS = 500  # caller audio held while the new agent connects: 10 s


class _AsIs:
    """The caller -> agent conversion while handing off: the G.711 frame itself."""

    holding = False

    @staticmethod
    def convert(frame: bytes) -> bytes:
        return frame


class HandoffControl:
    """The handoff half of `AgentBridge` (which holds the state these methods use)."""

    held_dropped = 0  # held frames pushed out by newer ones (a slow new agent)
    handoffs = 0
    _saved_up = None  # the old agent's converter, while handing off

    def _on_handoff(self, event: AgentHandoff, now: float, ws, actions: list) -> None:
        actions.append(Handoff(event.agent, event.reason))

    @property
    def handing_off(self) -> bool:
        return self._saved_up is not None

    def begin_handoff(self, now: float) -> Output:
        """Hold the caller's frames (and events) from now until the handoff ends.
        Refused (False in `handing_off`) before the start, after the stop, while a
        gated start waits or another handoff runs."""
        if self._started_at is None or self._closed or self._gated is not None:
            return self._quiet
        self._saved_up, self._up = self._up, _AsIs()
        self._gated = deque(maxlen=MAX_HANDOFF_SLOTS)
        return self._quiet

    def complete_handoff(self, profile, info: CallInfo, now: float) -> Output:
        """The new agent's socket is open: it takes the call over."""
        if self._saved_up is None or self._closed:
            return self._quiet
        self._saved_up = None
        self.handoffs += 1
        self.profile, self.info = profile, info
        self._up = CallerToAgent(self.codec, profile.audio_format)
        self._down = AgentToCaller(profile.audio_format, self.codec)
        self._chunk_arrivals.clear()
        self.playout.clear()
        self._boundaries = 0
        self._hangup_requested = False
        return self._release_held(self._encode(CallStarted(info)))

    def cancel_handoff(self, now: float) -> Output:
        """The new agent could not be reached: the old one gets the held frames."""
        if self._saved_up is None or self._closed:
            return self._quiet
        self._up, self._saved_up = self._saved_up, None
        return self._release_held([])

    def _release_held(self, ws: list) -> Output:
        held, self._gated = self._gated, None
        convert = self._up.convert
        for event in held:
            if type(event) is CallerAudio:
                event = CallerAudio(convert(event.audio), event.timestamp_ms)
            ws += self._encode(event)
        return self._output(ws)

    def _hold(self, event) -> tuple:
        """`encode` while gated: the event waits, to be encoded after the start."""
        held = self._gated
        if len(held) == held.maxlen:
            self.held_dropped += 1
        held.append(event)
        return ()
