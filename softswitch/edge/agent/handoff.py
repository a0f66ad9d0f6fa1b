"""Mid-call handoff of a live agent call (edge.agent.sessions.LiveAgentSession) from
one agent's socket to another's (docs/agents.md "Handoff").

`handoff(agent, reason)` gates the bridge (agent.bridge_handoff: the caller's frames
are held), opens the new agent's socket while the caller stays on the line and the
old agent's queued audio plays, then says goodbye to the old agent (its profile's
stop, reason "handoff") and closes its socket, and lets the new one take the call
with a start message naming the agent handing over, followed by the held frames. If
the new agent cannot be reached the old one keeps the call (and the held frames);
the Deferred fails with `HandoffFailed`.

Recovery: a socket that drops is gated at once, so nothing the caller says while we
reconnect is lost; a reconnect to the same agent takes the held frames as a handoff
to itself would. When the reconnect fails too, the call goes to the route target's
backup agent (a handoff, reason "agent-lost"); without one, or if it cannot be
reached either, the call ends as before ("agent-lost").

Every completed handoff is noted (`handoffs`: from, to, reason, at) for the call
record's agent statistics."""

import dataclasses
import os

from twisted.internet import defer

from ...agent.events import CallEnded
from ...services.calls.handoff import HandoffFailed

LOST = "agent-lost"  # the reason of a recovery handoff, and of the call's end after one


class SessionHandoffs:
    """The handoff half of `LiveAgentSession` (which holds the state used here)."""

    backup = None  # the route target's backup agent (services.routing.Agent), if any
    call_parameters: dict = {}  # the call's own custom parameters (not the agent's)
    on_handoff = None  # on_handoff(name, reason): the agent asked for another agent
    connector_for = None  # connector_for(agent) -> connect(timeout) (the factory's)

    @property
    def agent_name(self) -> str:
        """The agent on the call now."""
        return self._agent.name

    def handoff(self, agent, reason: str):
        """A Deferred that fires once `agent` has the call (fails with HandoffFailed)."""
        bridge = self._bridge
        if bridge is None or self._stopping or self._agent_gone or self._drain_timer is not None:
            return defer.fail(HandoffFailed(409, "the call has no agent to hand over from"))
        if self._handing_off:
            return defer.fail(HandoffFailed(409, "a handoff of this call is under way"))
        if agent.name == self._agent.name and not self._old_lost:
            return defer.fail(HandoffFailed(409, f"agent {agent.name!r} has the call already"))
        self._handing_off = True
        if not bridge.handing_off:
            self._apply(bridge.begin_handoff(self._reactor.seconds()))
            if not bridge.handing_off:  # (a start gated by answering-machine detection)
                self._handing_off = False
                return defer.fail(HandoffFailed(409, "the agent has not started yet"))
        connect = self.connector_for(agent)
        d = connect(self._connect_timeout)
        return d.addCallbacks(self._handed_over, self._not_handed_over,
                              callbackArgs=(agent, connect, reason),
                              errbackArgs=(agent,))

    def _handed_over(self, socket, agent, connect, reason: str) -> None:
        self._handing_off = False
        if self._stopping:
            socket.close()
            raise HandoffFailed(409, "the call ended during the handoff")
        old, self._socket = self._socket, socket
        if old is not None:
            old.listener = None  # (its close is not a drop)
            if not self._old_lost:
                old.send_frames(self._bridge.profile.encode(CallEnded("handoff")))
            old.close()
        previous = self._agent.name
        now = self._reactor.seconds()
        self._agent, self._connect = agent, connect
        self._reconnected = self._old_lost = False
        self._info = dataclasses.replace(
            self._info, stream_id="MZ" + os.urandom(16).hex(), handoff_from=previous,
            handoff_reason=reason,
            custom_parameters={**dict(agent.custom_parameters), **self.call_parameters})
        socket.listener = self
        self._apply(self._bridge.complete_handoff(self._new_profile(), self._info, now))
        self.handoffs.append({"from": previous, "to": agent.name, "reason": reason, "at": now})
        if self._metrics is not None:
            self._metrics.agent_handoffs.labels("done").inc()

    def _not_handed_over(self, failure, agent):
        self._handing_off = False
        if self._metrics is not None:
            self._metrics.agent_handoffs.labels("failed").inc()
        if not self._stopping:
            self._apply(self._bridge.cancel_handoff(self._reactor.seconds()))
            if self._old_lost:  # nobody is left to talk to the caller
                self._end(LOST)
        raise HandoffFailed(502, f"agent {agent.name!r} could not be reached: "
                                 f"{failure.getErrorMessage()}")

    def _handoff_requested(self, name: str, reason: str) -> None:
        """The agent asked (its profile's handoff message) for agent `name`."""
        if self.on_handoff is not None:
            self.on_handoff(name, reason)

    def _dropped(self) -> None:
        """The socket dropped (not a close on purpose): hold the caller's frames while
        one reconnect is tried, then the backup agent, else the call ends."""
        self._old_lost = True
        if self._handing_off:  # the handoff under way decides
            return
        bridge = self._bridge
        if not bridge.handing_off:
            self._apply(bridge.begin_handoff(self._reactor.seconds()))
        if self._reconnected:
            self._recover()
            return
        self._reconnected = True
        d = self._connect(min(self._reconnect_timeout, self._connect_timeout))
        d.addCallbacks(self._reopened, lambda f: self._recover())

    def _reopened(self, socket) -> None:
        if self._stopping:
            socket.close()
            return
        self._socket = socket
        self._old_lost = False
        socket.listener = self
        now, bridge = self._reactor.seconds(), self._bridge
        if bridge.handing_off:
            self._apply(bridge.complete_handoff(self._new_profile(), self._info, now))
        else:  # (a start still gated: the start comes with its release)
            self._apply(bridge.resume(self._new_profile(), now))

    def _recover(self) -> None:
        backup = self.backup
        if self._stopping:
            return
        if backup is None or backup.name == self._agent.name:
            self._end(LOST)
            return
        self.handoff(backup, LOST).addErrback(lambda f: None)  # (a failure ends the call)
