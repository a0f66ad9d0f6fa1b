"""/v1/calls: the calls in progress, from the proxy through CallsView; a fake proxy
for the API's rules, then the real Proxy on an in-memory wire."""

import json
from urllib.parse import quote

from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

import test_cli
from admin_harness import ApiTestCase
from memory_proxy import ProxyHarness, invite, response_to
from softswitch.admin.calls_view import CallsView, HangUp
from softswitch.admin.handlers.calls import following
from softswitch.services.routing import Gateway, Number, RoutingSnapshot, Target, Trunk
from softswitch.sip.transport import Peer

STRANGE_CALL_ID = "a/b%c?d#e@host.example"  # '@' and what a path must percent-encode


class FakeDialog:
    def __init__(self, call_id: str):
        self.call_id = call_id
        self.ended = False


class FakeProxy:
    """What CallsView uses of a Proxy: clock, active_calls(), dialogs, hang_up()."""

    def __init__(self):
        self.clock = Clock()
        self.clock.advance(1_700_000_100)
        self.calls = {}
        self.dialogs = {}
        self.hung_up = []

    def add(self, call_id: str, state: str, started_at: float, **fields):
        self.calls[call_id] = {
            "call_id": call_id, "state": state, "direction": "inbound",
            "caller": "+12125550123", "callee": "+14155550100", "trunk": "carrier",
            "started_at": started_at, **fields}
        if state == "answered":
            self.dialogs[call_id] = FakeDialog(call_id)

    def end(self, call_id: str):
        del self.calls[call_id]
        self.dialogs.pop(call_id, None)

    def active_calls(self) -> list[dict]:
        now = self.clock.seconds()
        return [{key: value for key, value in call.items() if key != "started_at"}
                | {"duration": now - call["started_at"]} for call in self.calls.values()]

    def hang_up(self, dialog, reason: str):
        self.hung_up.append((dialog.call_id, reason))
        dialog.ended = True
        self.end(dialog.call_id)


class FakeProxyCallsTests(ApiTestCase):
    def calls_view(self):
        self.proxy = FakeProxy()
        return CallsView(self.proxy)

    @defer.inlineCallbacks
    def test_list_oldest_first_with_the_call_fields(self):
        self.proxy.add("late@x", "trying", 1_700_000_090)
        self.proxy.add("early@x", "answered", 1_700_000_000, direction="outbound", trunk=None)
        self.proxy.add("middle@x", "ringing", 1_700_000_050)
        response = yield self.get("/v1/calls")
        self.assertEqual(response.status, 200)
        self.assertEqual([c["call_id"] for c in response.json["items"]],
                         ["early@x", "middle@x", "late@x"])
        self.assertIsNone(response.json["next"])
        self.assertEqual(response.json["items"][0], {
            "call_id": "early@x", "state": "answered", "direction": "outbound",
            "caller": "+12125550123", "callee": "+14155550100", "trunk": None,
            "agent": None, "started_at": "2023-11-14T22:13:20.000Z", "duration": 100,
            "amd": None})

    @defer.inlineCallbacks
    def test_pages_neither_repeat_nor_skip_calls_that_stay_up(self):
        for i in range(5):
            self.proxy.add(f"call-{i}@x", "answered", 1_700_000_000 + i)
        self.proxy.add("same-start@x", "ringing", 1_700_000_002)  # ties sort by Call-ID
        first = yield self.get("/v1/calls?limit=2")
        self.assertEqual([c["call_id"] for c in first.json["items"]], ["call-0@x", "call-1@x"])
        self.proxy.clock.advance(7)
        second = yield self.get(f"/v1/calls?limit=2&after={first.json['next']}")
        self.assertEqual([c["call_id"] for c in second.json["items"]],
                         ["call-2@x", "same-start@x"])
        self.proxy.end("same-start@x")  # the cursor's call ends: paging goes on from its place
        self.proxy.add("new@x", "trying", self.proxy.clock.seconds())
        third = yield self.get(f"/v1/calls?limit=2&after={second.json['next']}")
        self.assertEqual([c["call_id"] for c in third.json["items"]], ["call-3@x", "call-4@x"])
        last = yield self.get(f"/v1/calls?limit=2&after={third.json['next']}")
        self.assertEqual(([c["call_id"] for c in last.json["items"]], last.json["next"]),
                         (["new@x"], None))

    @defer.inlineCallbacks
    def test_a_cursor_from_elsewhere_is_refused(self):
        for after in ("bm90LWEtY3Vyc29y", "1700000000.5", "1700000000/", "x/call"):
            response = yield self.get(f"/v1/calls?after={after}")
            self.assertEqual((response.status, response.error["field"]), (422, "after"), after)

    @defer.inlineCallbacks
    def test_get_by_a_call_id_with_characters_a_path_must_encode(self):
        self.proxy.add(STRANGE_CALL_ID, "ringing", 1_700_000_000)
        self.proxy.add("plain@192.0.2.1", "trying", 1_700_000_000)
        response = yield self.get(f"/v1/calls/{quote(STRANGE_CALL_ID, safe='')}")
        self.assertEqual((response.status, response.json["call_id"]), (200, STRANGE_CALL_ID))
        plain = yield self.get("/v1/calls/plain@192.0.2.1")  # '@' needs no encoding
        self.assertEqual((plain.status, plain.json["state"]), (200, "trying"))

    @defer.inlineCallbacks
    def test_unknown_and_impossible_call_ids_are_404(self):
        for path in ("/v1/calls/nobody@x", "/v1/calls/with%20space", "/v1/calls/tab%09x",
                     "/v1/calls/" + "x" * 257, "/v1/calls/%FF"):
            response = yield self.get(path)
            self.assertEqual(response.status, 404, path)
        longest = yield self.get("/v1/calls/" + "x" * 256)
        self.assertEqual(longest.error["message"], "call '" + "x" * 256 + "' does not exist")

    @defer.inlineCallbacks
    def test_hang_up_an_answered_call(self):
        self.proxy.add(STRANGE_CALL_ID, "answered", 1_700_000_000)
        response = yield self.delete(f"/v1/calls/{quote(STRANGE_CALL_ID, safe='')}")
        self.assertEqual((response.status, response.raw), (204, b""))
        self.assertEqual(self.proxy.hung_up, [(STRANGE_CALL_ID, "api")])
        gone = yield self.get(f"/v1/calls/{quote(STRANGE_CALL_ID, safe='')}")
        self.assertEqual(gone.status, 404)
        self.assertEqual(self.changes, [])  # nothing in the database changed

    @defer.inlineCallbacks
    def test_a_call_not_answered_yet_is_409_and_left_alone(self):
        self.proxy.add("ringing@x", "ringing", 1_700_000_000)
        self.proxy.add("trying@x", "trying", 1_700_000_000)
        for call_id in ("ringing@x", "trying@x"):
            response = yield self.delete(f"/v1/calls/{call_id}")
            self.assertEqual(response.status, 409)
            self.assertEqual(response.error["message"],
                             f"call '{call_id}' is not answered yet; "
                             "it can be hung up once answered")
        self.assertEqual(self.proxy.hung_up, [])
        listed = yield self.get("/v1/calls")
        self.assertEqual(len(listed.json["items"]), 2)

    @defer.inlineCallbacks
    def test_hanging_up_an_unknown_call_is_404(self):
        response = yield self.delete("/v1/calls/nobody@x")
        self.assertEqual((response.status, response.error["message"]),
                         (404, "call 'nobody@x' does not exist"))


class CallsCliTests(ApiTestCase):
    cli = test_cli.CliTests.cli  # the module, not the class: its tests run once

    def calls_view(self):
        self.proxy = FakeProxy()
        return CallsView(self.proxy)

    @defer.inlineCallbacks
    def test_list_get_and_hang_up_from_the_terminal(self):
        self.proxy.add("up@192.0.2.1", "answered", 1_700_000_000)
        self.proxy.add("ringing@192.0.2.1", "ringing", 1_700_000_090, trunk=None)
        code, out, _ = yield self.cli("calls", "list")
        self.assertEqual([line.split() for line in out.splitlines()], [
            ["CALL_ID", "STATE", "DIRECTION", "CALLER", "CALLEE", "TRUNK", "DURATION"],
            ["up@192.0.2.1", "answered", "inbound", "+12125550123", "+14155550100", "carrier",
             "100s"],
            ["ringing@192.0.2.1", "ringing", "inbound", "+12125550123", "+14155550100", "-",
             "10s"]])
        code, out, _ = yield self.cli("calls", "get", "up@192.0.2.1")
        self.assertEqual(json.loads(out)["state"], "answered")
        code, out, err = yield self.cli("calls", "hangup", "ringing@192.0.2.1")
        self.assertEqual((code, err), (1, "softswitch-admin: call 'ringing@192.0.2.1' is not "
                                          "answered yet; it can be hung up once answered [HTTP 409]\n"))
        code, out, err = yield self.cli("calls", "hangup", "up@192.0.2.1")
        self.assertEqual((code, out, err), (0, "", ""))
        self.assertEqual(self.proxy.hung_up, [("up@192.0.2.1", "api")])


class NoSwitchTests(ApiTestCase):
    @defer.inlineCallbacks
    def test_an_api_without_a_switch_has_no_calls(self):
        listed = yield self.get("/v1/calls")
        self.assertEqual(listed.json, {"items": [], "next": None})
        for method in ("GET", "DELETE"):
            response = yield self.request(method, "/v1/calls/x@y")
            self.assertEqual(response.status, 404)


class FollowingTests(SynchronousTestCase):
    def test_a_call_id_twice_continues_after_the_nearest_start(self):
        calls = [{"call_id": "c", "started_at": 10.0}, {"call_id": "c", "started_at": 10.001},
                 {"call_id": "d", "started_at": 11.0}]
        self.assertEqual(following(calls, 10.0000004, "c"), calls[1:])
        self.assertEqual(following(calls, 10.001, "c"), calls[2:])
        self.assertEqual(following(calls, 10.5, "gone"), calls[2:])


CARRIER = Peer("udp", "198.51.100.7", 5060)
GATEWAY = Peer("udp", "203.0.113.1", 5060)
DID = "+14155550102"


class RealProxyTests(ApiTestCase):
    """A DID routed to a trunk on the real Proxy: trying, ringing (409), answered, hung up."""

    def calls_view(self):
        carrier = Trunk("carrier", (Gateway("carrier", CARRIER.host, 5060, "udp", None, 1, 10),),
                        number_format="nanp")
        out = Trunk("out", (Gateway("out", GATEWAY.host, 5060, "udp", None, 1, 10),))
        self.switch = ProxyHarness(RoutingSnapshot(
            trunks=[carrier, out], numbers=[Number(DID, (Target("trunk", "out"),))]))
        return CallsView(self.switch.proxy)

    @defer.inlineCallbacks
    def test_a_call_through_its_states_then_hung_up(self):
        sent = self.switch.receive(invite("sip:4155550102@127.0.0.1", call_id="real-1@carrier"),
                                   CARRIER)
        [forwarded] = [m for m, peer in sent if m.is_request and peer == GATEWAY]
        call = yield self.get("/v1/calls/real-1@carrier")
        self.assertEqual((call.json["state"], call.json["direction"], call.json["callee"]),
                         ("trying", "inbound", DID))

        self.switch.clock.advance(2)
        self.switch.receive(response_to(forwarded, 180), GATEWAY)
        ringing = yield self.get("/v1/calls")
        [item] = ringing.json["items"]
        self.assertEqual((item["state"], item["trunk"], item["duration"]), ("ringing", "out", 2))
        refused = yield self.delete("/v1/calls/real-1@carrier")
        self.assertEqual(refused.status, 409)

        self.switch.receive(response_to(forwarded, 200, contact="sip:+14155550102@203.0.113.1"),
                            GATEWAY)
        answered = yield self.get("/v1/calls/real-1@carrier")
        self.assertEqual(answered.json["state"], "answered")
        response = yield self.delete("/v1/calls/real-1@carrier")
        self.assertEqual(response.status, 204)
        byes = [(m.method, peer) for m, peer in self.switch.wire.take() if m.is_request]
        self.assertEqual(sorted(byes, key=str), sorted([("BYE", CARRIER), ("BYE", GATEWAY)],
                                                       key=str))
        [record] = self.switch.records
        self.assertEqual((record.disconnect_side, record.disconnect_reason), ("switch", "api"))
        listed = yield self.get("/v1/calls")
        self.assertEqual(listed.json["items"], [])
        again = yield self.delete("/v1/calls/real-1@carrier")
        self.assertEqual(again.status, 404)


class CallsViewTests(SynchronousTestCase):
    def test_hang_up_outcomes(self):
        proxy = FakeProxy()
        proxy.add("up@x", "answered", 1_700_000_000)
        proxy.add("ringing@x", "ringing", 1_700_000_000)
        view = CallsView(proxy)
        self.assertEqual([c["started_at"] for c in view.active_calls()],
                         [1_700_000_000, 1_700_000_000])
        self.assertIs(view.hang_up("ringing@x"), HangUp.NOT_ANSWERED)
        self.assertIs(view.hang_up("up@x"), HangUp.ENDED)
        self.assertIs(view.hang_up("up@x"), HangUp.UNKNOWN)
        self.assertEqual(proxy.hung_up, [("up@x", "api")])


class FakeAgentCalls:
    """What CallsView uses of AgentCalls for a handoff: calls and handoff()."""

    def __init__(self):
        self.calls = {}
        self.outcomes = {}  # agent name -> a HandoffFailed status, or None: done
        self.asked = []

    def active_calls(self):
        return []

    def handoff(self, call_id, agent, reason):
        from softswitch.services.calls.handoff import HandoffFailed
        if call_id not in self.calls:
            return None
        self.asked.append((call_id, agent, reason))
        status = self.outcomes.get(agent)
        if status is not None:
            return defer.fail(HandoffFailed(status, "refused"))
        return defer.succeed(None)


class HandoffApiTests(ApiTestCase):
    def calls_view(self):
        from types import SimpleNamespace
        self.proxy = FakeProxy()
        self.proxy.agent_calls = self.agents = FakeAgentCalls()
        session = SimpleNamespace(agent_name="front-desk")
        self.agents.calls["a1@x"] = SimpleNamespace(session=session,
                                                    record=SimpleNamespace(agent="front-desk"))
        return CallsView(self.proxy)

    @defer.inlineCallbacks
    def test_a_handoff_answers_with_both_agents(self):
        done = yield self.post("/v1/calls/a1@x/handoff", {"agent": "billing",
                                                          "reason": "invoice"})
        self.assertEqual(done.status, 200, done.json)
        self.assertEqual(done.json, {"call_id": "a1@x", "agent": "billing",
                                     "previous_agent": "front-desk", "reason": "invoice"})
        plain = yield self.post("/v1/calls/a1@x/handoff", {"agent": "billing"})
        self.assertEqual(plain.json["reason"], "api")
        self.assertEqual(self.agents.asked[-1], ("a1@x", "billing", "api"))

    @defer.inlineCallbacks
    def test_failures_are_json_errors_with_the_handoffs_status(self):
        self.agents.outcomes.update({"down": 502, "busy": 409, "nobody": 404})
        for agent, status in (("down", 502), ("busy", 409), ("nobody", 404)):
            reply = yield self.post("/v1/calls/a1@x/handoff", {"agent": agent})
            self.assertEqual(reply.status, status, reply.json)
            self.assertEqual(reply.json["error"]["status"], status)
        unknown = yield self.post("/v1/calls/zz@x/handoff", {"agent": "billing"})
        self.assertEqual(unknown.status, 404)
        for body in ({}, {"agent": ""}, {"agent": "b", "reason": "a\nb"}):
            refused = yield self.post("/v1/calls/a1@x/handoff", body)
            self.assertEqual(refused.status, 422, body)
