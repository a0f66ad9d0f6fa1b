"""Handing a call in progress over from its agent to another (docs/agents.md
"Handoff"), asked by the admin API (`POST /v1/calls/{call_id}/handoff`) or by the
agent itself (its profile's handoff message). The agent leg's session does the work
(edge.agent.handoff); this is what the call allows and how a refusal is told."""

from twisted.internet import defer
from twisted.logger import Logger

log = Logger()
MAX_REASON = 128  # characters of a handoff's reason kept (the call record, the start)


class HandoffFailed(Exception):
    """A handoff that did not happen; `status` is the admin API's answer (404: no such
    agent, 409: not now, 502: the new agent could not be reached)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def hand_off(call, agent, reason: str):
    """A Deferred that fires once `agent` (services.routing.Agent, None: unknown) has
    taken `call` (calls.call.Call) over; it fails with HandoffFailed."""
    if agent is None:
        return defer.fail(HandoffFailed(404, "no agent of that name"))
    if call.ended or call.agent is None or call.agent.left:
        return defer.fail(HandoffFailed(409, "the call has no agent any more"))
    if call.transfer is not None:
        return defer.fail(HandoffFailed(409, "the call is being transferred"))
    handoff = getattr(call.session, "handoff", None)
    if handoff is None:
        return defer.fail(HandoffFailed(409, "this call's agent cannot hand over"))
    reason = "".join(c for c in str(reason)[:MAX_REASON] if c.isprintable()) or "api"
    return handoff(agent, reason)


def asked_by_agent(call, agent, reason: str) -> None:
    """The agent asked for another agent: a failure leaves it on the call (logged)."""
    d = hand_off(call, agent, reason)
    d.addErrback(lambda f: log.info("handoff of {call_id} asked by its agent: {why}",
                                    call_id=call.call_id, why=f.getErrorMessage()))
