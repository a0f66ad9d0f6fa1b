"""The admin API's view of the calls in progress: the running switch's, not the
database's.

``build_api(calls=...)`` takes any object with ``active_calls()``,
``hang_up(call_id)`` and ``originate(...)``; ``CallsView`` is that object over a
services ``Proxy`` (its proxied calls, and the agent calls of its ``agent_calls``)
and the ``OutboundCalls`` service. Everything here runs on the reactor thread, like
the services themselves.
"""

from enum import Enum

from softswitch.admin.errors import ApiError
from softswitch.services.outbound_calls import OriginateRefused, SwitchDraining

HANG_UP_REASON = "api"  # the call record's disconnect_reason
DRAINING_RETRY_AFTER = "30"  # seconds, as the 503 to a new INVITE while draining says


class HangUp(Enum):
    """What asking to hang up a call by its Call-ID came to."""

    ENDED = "ended"  # answered: BYE sent; or an outbound call cancelled or dequeued
    NOT_ANSWERED = "not answered"  # a proxied call still trying or ringing: left alone
    UNKNOWN = "unknown"  # no call in progress has this Call-ID


def no_switch() -> ApiError:
    return ApiError(409, "no switch runs behind this API: it cannot place calls")


class CallsView:
    """The switch's calls for the API: each a dict with call_id, state (queued,
    trying, ringing, answered), direction, caller, callee, trunk, agent, duration and
    started_at (the switch's clock, epoch seconds)."""

    def __init__(self, proxy, outbound=None):
        self._proxy = proxy
        self._outbound = outbound

    @property
    def _agent_calls(self):
        return getattr(self._proxy, "agent_calls", None)

    def active_calls(self) -> list[dict]:
        now = self._proxy.clock.seconds()
        rows = list(self._proxy.active_calls())
        if self._agent_calls is not None:
            rows += self._agent_calls.active_calls()
        if self._outbound is not None:
            rows += self._outbound.active_calls()
        return [{"agent": None, **row, "started_at": now - row["duration"]} for row in rows]

    def hang_up(self, call_id: str) -> HangUp:
        dialog = self._proxy.dialogs.get(call_id)
        if dialog is not None and not dialog.ended:
            self._proxy.hang_up(dialog, HANG_UP_REASON)
            return HangUp.ENDED
        agents = self._agent_calls
        if agents is not None and agents.hang_up(call_id, HANG_UP_REASON, side="switch"):
            return HangUp.ENDED
        if self._outbound is not None and self._outbound.hang_up(call_id, HANG_UP_REASON):
            return HangUp.ENDED
        if any(call["call_id"] == call_id for call in self._proxy.active_calls()):
            return HangUp.NOT_ANSWERED
        return HangUp.UNKNOWN

    def handoff(self, call_id: str, agent: str, reason: str):
        """Hand an answered agent call (inbound or outbound) over to `agent`: a
        Deferred of the API's answer; ApiError 404/409/502 (HandoffFailed's status)."""
        for service in (self._agent_calls, self._outbound):
            handoff = getattr(service, "handoff", None)
            if handoff is None:  # (outbound calls: not yet)
                continue
            previous = _agent_of(service, call_id)
            d = handoff(call_id, agent, reason)
            if d is not None:
                return d.addCallbacks(
                    lambda _: {"call_id": call_id, "agent": agent,
                               "previous_agent": previous, "reason": reason},
                    _handoff_error, errbackArgs=(call_id, agent))
        raise ApiError(404, f"no answered agent call {call_id!r}")

    def finish(self, call_id: str, reason: str) -> HangUp:
        """An agent call ended by its agent (the Twilio-compatible REST API): what the
        agent queued plays, then BYE (`disconnect_side` agent)."""
        agents = self._agent_calls
        if agents is not None and agents.finish(call_id, reason):
            return HangUp.ENDED
        if self._outbound is not None and self._outbound.finish(call_id, reason):
            return HangUp.ENDED
        return HangUp.UNKNOWN

    def originate(self, to: str, from_: str, agent: str, trunk: str | None = None,
                  custom_parameters: dict | None = None, amd=None) -> dict:
        """Place an outbound AI call; the new call's row. ApiError 422 naming the field
        when the agent, the trunk or a route is missing; 503 while the switch drains."""
        if self._outbound is None:
            raise no_switch()
        try:
            call_id = self._outbound.originate(to, from_, agent, trunk, custom_parameters,
                                               amd=amd)
        except OriginateRefused as exc:
            raise ApiError(422, f"{exc.field}: {exc.message}", exc.field) from None
        except SwitchDraining as exc:
            raise ApiError(503, str(exc), headers={"Retry-After": DRAINING_RETRY_AFTER}) \
                from None
        for row in self.active_calls():
            if row["call_id"] == call_id:
                return row
        # Ended already (its trunk refused it outright): shown as it was asked for.
        return {"call_id": call_id, "state": "queued", "direction": "outbound",
                "caller": from_, "callee": to, "trunk": trunk, "agent": agent,
                "started_at": self._proxy.clock.seconds(), "duration": 0.0,
                "amd": None if amd is None else {
                    "mode": amd.mode, "result": None, "decision_ms": None,
                    "answered_by": None, "machine_end": None, "machine_end_ms": None}}


class NoCalls:
    """The calls of an API with no switch behind it (tests, tools): none."""

    def active_calls(self) -> list[dict]:
        return []

    def hang_up(self, call_id: str) -> HangUp:
        return HangUp.UNKNOWN

    def handoff(self, call_id: str, agent: str, reason: str):
        raise no_switch()

    def finish(self, call_id: str, reason: str) -> HangUp:
        return HangUp.UNKNOWN

    def originate(self, to: str, from_: str, agent: str, trunk: str | None = None,
                  custom_parameters: dict | None = None, amd=None) -> dict:
        raise no_switch()


def _agent_of(service, call_id: str) -> str | None:
    call = getattr(service, "calls", {}).get(call_id)
    agent = getattr(getattr(call, "session", None), "agent_name", None)
    return agent if agent is not None else getattr(getattr(call, "record", None), "agent", None)


def _handoff_error(failure, call_id: str, agent: str):
    from softswitch.services.calls.handoff import HandoffFailed
    error = failure.value
    if not isinstance(error, HandoffFailed):
        return failure
    if error.status == 404:
        raise ApiError(404, f"no agent {agent!r}", "agent")
    raise ApiError(error.status, f"call {call_id!r} not handed over to {agent!r}: {error}")
