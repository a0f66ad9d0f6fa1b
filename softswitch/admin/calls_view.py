"""The admin API's view of the calls in progress: the running proxy's, not the database's.

``build_api(calls=...)`` takes any object with ``active_calls()`` and
``hang_up(call_id)``; ``CallsView`` is that object over a services ``Proxy``.
Everything here runs on the reactor thread, like the proxy itself.
"""

from enum import Enum

HANG_UP_REASON = "api"  # the call record's disconnect_reason


class HangUp(Enum):
    """What asking to hang up a call by its Call-ID came to."""

    ENDED = "ended"  # it was answered: the switch sent BYE to both sides
    NOT_ANSWERED = "not answered"  # still trying or ringing: left alone
    UNKNOWN = "unknown"  # no call in progress has this Call-ID


class CallsView:
    """The proxy's calls for the API: each a dict with call_id, state (trying,
    ringing, answered), direction, caller, callee, trunk, duration and
    started_at (the proxy's clock, epoch seconds)."""

    def __init__(self, proxy):
        self._proxy = proxy

    def active_calls(self) -> list[dict]:
        now = self._proxy.clock.seconds()
        return [{**call, "started_at": now - call["duration"]}
                for call in self._proxy.active_calls()]

    def hang_up(self, call_id: str) -> HangUp:
        dialog = self._proxy.dialogs.get(call_id)
        if dialog is not None and not dialog.ended:
            self._proxy.hang_up(dialog, HANG_UP_REASON)
            return HangUp.ENDED
        if any(call["call_id"] == call_id for call in self._proxy.active_calls()):
            return HangUp.NOT_ANSWERED
        return HangUp.UNKNOWN


class NoCalls:
    """The calls of an API with no switch behind it (tests, tools): none."""

    def active_calls(self) -> list[dict]:
        return []

    def hang_up(self, call_id: str) -> HangUp:
        return HangUp.UNKNOWN
