"""calls.handoff: what a call allows before its agent's session hands it over, and
the agent's own request (a failure leaves it on the call)."""

from types import SimpleNamespace

from twisted.internet import defer
from twisted.trial import unittest

from softswitch.services.calls.handoff import HandoffFailed, asked_by_agent, hand_off
from softswitch.services.routing import Agent

BILLING = Agent("billing", "ws://b/", "twilio", 8000)


class Session:
    def __init__(self, outcome=None):
        self.asked = []
        self.outcome = outcome

    def handoff(self, agent, reason):
        self.asked.append((agent.name, reason))
        return defer.fail(self.outcome) if self.outcome else defer.succeed(None)


def call(agent_session, **state):
    values = {"call_id": "c1", "ended": False, "transfer": None, "session": agent_session,
              "agent": SimpleNamespace(left=False), **state}
    return SimpleNamespace(**values)


class HandOffTests(unittest.TestCase):
    def status(self, d) -> int:
        return self.failureResultOf(d, HandoffFailed).value.status

    def test_the_session_hands_over_with_a_clean_reason(self):
        session = Session()
        self.successResultOf(hand_off(call(session), BILLING, "a\r\nb" + "x" * 200))
        self.assertEqual(session.asked, [("billing", "ab" + "x" * 124)])

    def test_refused_when_the_call_cannot_be_handed_over(self):
        session = Session()
        self.assertEqual(self.status(hand_off(call(session), None, "r")), 404)
        for state in ({"ended": True}, {"transfer": object()},
                      {"agent": SimpleNamespace(left=True)}, {"agent": None},
                      {"session": object()}):
            self.assertEqual(self.status(hand_off(call(session, **state), BILLING, "r")), 409)
        self.assertEqual(session.asked, [])

    def test_an_agents_request_that_fails_leaves_it_on_the_call(self):
        session = Session(HandoffFailed(502, "unreachable"))
        asked_by_agent(call(session), BILLING, "escalate")  # (logged, nothing raised)
        self.assertEqual(session.asked, [("billing", "escalate")])
        asked_by_agent(call(session), None, "escalate")
