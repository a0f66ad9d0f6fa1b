"""/v1/calls with AI agents on a real switch in memory: POST places an outbound
call (201, Location), GET lists it with the agent and inbound agent calls too, DELETE
cancels it while it rings, takes it out of the queue, or hangs up an agent call."""

from urllib.parse import quote

from twisted.internet import defer
from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import Clock

from admin_harness import ApiTestCase
from memory_proxy import DOMAIN, ProxyHarness, invite
from softswitch.admin.calls_view import CallsView
from softswitch.services.agent_calls import AgentCalls
from softswitch.services.limits import TrunkLimiter
from softswitch.services.outbound_calls import OutboundCalls
from softswitch.services.routing import (
    Agent,
    Gateway,
    Number,
    OutboundRoute,
    RoutingSnapshot,
    Target,
    Trunk,
)
from softswitch.sip.transport import Peer

CARRIER = Peer("udp", "198.51.100.7", 5060)
GATEWAY = Peer("udp", "203.0.113.1", 5060)
OFFER = b"v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 36000 RTP/AVP 0 8 101\r\n"


class Session:
    answer_sdp = offer_sdp = OFFER
    media_id = "x;agent"

    def __init__(self):
        self.stopped = []

    def begin(self, on_end, on_transfer):
        self.on_end = on_end

    def connect(self):
        return Deferred()

    def stop(self, reason):
        self.stopped.append(reason)
        return succeed({})


class Sessions:
    def __init__(self):
        self.inbound = []

    def open(self, call_id, agent, info, offer_sdp):
        d = Deferred()
        self.inbound.append(d)
        return d

    def open_outbound(self, call_id, agent, info):
        return succeed(Session())


def snapshot():
    carrier = Trunk("carrier", (Gateway("carrier", CARRIER.host, 5060, "udp", None, 1, 10),),
                    number_format="nanp")
    out = Trunk("out", (Gateway("out", GATEWAY.host, 5060, "udp", None, 1, 10),), max_cps=1)
    return RoutingSnapshot(
        trunks=[carrier, out], agents=[Agent("sales-bot", "ws://127.0.0.1:9/", "twilio", 8000)],
        numbers=[Number("+14155550100", (Target("agent", "sales-bot"),))],
        outbound=[OutboundRoute("1", ("out",))])


class OutboundCallsApiTests(ApiTestCase):
    def calls_view(self):
        clock = Clock()
        clock.advance(1_700_000_000)
        self.sessions = Sessions()
        self.switch = ProxyHarness(snapshot(), clock=clock, agents=lambda h: AgentCalls(
            h.endpoint, clock, self.sessions, on_call_end=h.records.append, **h.shared))
        self.agents = self.switch.agents
        self.outbound = OutboundCalls(self.switch.endpoint, clock, self.switch.holder,
                                      self.sessions, self.agents.legs, domain=DOMAIN,
                                      limiter=TrunkLimiter(clock),
                                      on_call_end=self.switch.records.append)
        return CallsView(self.switch.proxy, self.outbound)

    def requests(self):
        return [(m, p) for m, p in self.switch.wire.take() if m.is_request]

    @defer.inlineCallbacks
    def test_post_places_the_call_and_delete_cancels_it_while_it_rings(self):
        response = yield self.post("/v1/calls", {
            "to": "+1 (202) 555-0150", "from": "+14155550100", "agent": "sales-bot",
            "custom_parameters": {"lead": "42"}})
        self.assertEqual(response.status, 201, response.json)
        call = response.json
        self.assertEqual((call["state"], call["direction"], call["callee"], call["caller"],
                          call["agent"], call["trunk"]),
                         ("trying", "outbound", "+12025550150", "+14155550100", "sales-bot",
                          "out"))
        self.assertEqual(response.header("Location"),
                         "/v1/calls/" + quote(call["call_id"], safe="+"))
        [(out, peer)] = self.requests()
        self.assertEqual((out.method, peer, out.call_id), ("INVITE", GATEWAY, call["call_id"]))

        ringing = (f"SIP/2.0 180 Ringing\r\nVia: {out.headers.get('Via')}\r\n"
                   f"From: {out.headers.get('From')}\r\nTo: {out.headers.get('To')};tag=c1\r\n"
                   f"Call-ID: {out.call_id}\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n")
        self.switch.receive(ringing, GATEWAY)
        listed = yield self.get("/v1/calls")
        [item] = listed.json["items"]
        self.assertEqual((item["call_id"], item["state"]), (call["call_id"], "ringing"))
        got = yield self.get(response.header("Location"))
        self.assertEqual(got.json["agent"], "sales-bot")

        deleted = yield self.delete(response.header("Location"))
        self.assertEqual(deleted.status, 204)
        self.assertEqual([m.method for m, _ in self.requests()], ["CANCEL"])
        [record] = self.switch.records
        self.assertEqual((record.disconnect_side, record.disconnect_reason, record.final_code),
                         ("switch", "api", 487))
        gone = yield self.get(response.header("Location"))
        self.assertEqual(gone.status, 404)

    @defer.inlineCallbacks
    def test_post_with_amd_options_places_a_detecting_call(self):
        response = yield self.post("/v1/calls", {
            "to": "+12025550150", "from": "+14155550100", "agent": "sales-bot",
            "amd": {"mode": "wait", "machine_action": "hangup", "timeout": 20,
                    "speech_threshold": 3000}})
        self.assertEqual(response.status, 201, response.json)
        self.assertEqual(response.json["amd"], {
            "mode": "wait", "result": None, "decision_ms": None, "answered_by": None,
            "machine_end": None, "machine_end_ms": None})
        call = self.outbound.calls[response.json["call_id"]]
        self.assertEqual((call.amd.mode, call.amd.machine_action, call.amd.params.timeout,
                          call.amd.params.speech_threshold,
                          call.amd.params.speech_end_threshold), ("wait", "hangup", 20.0,
                                                                  3000, 1200))
        for amd, field in (({"mode": "later"}, "amd.mode"), ({"timeout": 0.5}, "amd.timeout"),
                           ({"max_words": 1}, "amd.max_words"), ({"beep": True}, "amd.beep")):
            refused = yield self.post("/v1/calls", {
                "to": "+12025550150", "from": "+14155550100", "agent": "sales-bot",
                "amd": amd})
            self.assertEqual(refused.status, 422, amd)
            self.assertEqual(refused.json["error"]["field"], field, refused.json)

    @defer.inlineCallbacks
    def test_a_call_over_the_trunks_rate_is_queued_and_can_be_dequeued(self):
        body = {"to": "+12025550150", "from": "+14155550100", "agent": "sales-bot"}
        first = yield self.post("/v1/calls", body)
        second = yield self.post("/v1/calls", body)
        self.assertEqual((first.json["state"], second.json["state"]), ("trying", "queued"))
        deleted = yield self.delete(second.header("Location"))
        self.assertEqual(deleted.status, 204)
        self.assertEqual(self.switch.records[0].call_id, second.json["call_id"])

    @defer.inlineCallbacks
    def test_a_draining_switch_refuses_new_calls_with_503_and_fails_the_queued(self):
        body = {"to": "+12025550150", "from": "+14155550100", "agent": "sales-bot"}
        first = yield self.post("/v1/calls", body)
        queued = yield self.post("/v1/calls", body)
        self.assertEqual((first.json["state"], queued.json["state"]), ("trying", "queued"))
        self.outbound.drain()
        refused = yield self.post("/v1/calls", body)
        self.assertEqual(refused.status, 503)
        self.assertEqual(refused.json, {"error": {
            "status": 503, "message": "the switch is shutting down: it places no new calls"}})
        self.assertEqual(refused.header("Retry-After"), "30")
        [record] = self.switch.records
        self.assertEqual((record.call_id, record.disconnect_side, record.disconnect_reason,
                          record.final_code),
                         (queued.json["call_id"], "switch", "shutdown", 503))
        listed = yield self.get("/v1/calls")
        self.assertEqual([(c["call_id"], c["state"]) for c in listed.json["items"]],
                         [(first.json["call_id"], "trying")])  # dialling: it goes on

    @defer.inlineCallbacks
    def test_refusals_name_the_field(self):
        cases = [
            ({"to": "+12025550150", "from": "+14155550100", "agent": "nobody"}, "agent"),
            ({"to": "+12025550150", "from": "+14155550100", "agent": "sales-bot",
              "trunk": "nope"}, "trunk"),
            ({"to": "+33123456789", "from": "+14155550100", "agent": "sales-bot"}, "to"),
            ({"to": "2025550150", "from": "+14155550100", "agent": "sales-bot"}, "to"),
            ({"to": "+12025550150", "agent": "sales-bot"}, "from"),
        ]
        for body, field in cases:
            response = yield self.post("/v1/calls", body)
            self.assertEqual((response.status, response.error.get("field")), (422, field),
                             body)
        python_name = yield self.post("/v1/calls", {"to": "+12025550150", "agent": "sales-bot",
                                                    "from_": "+14155550100"})
        self.assertEqual(python_name.status, 422)
        self.assertIn("did you mean 'from'", python_name.error["message"])
        self.assertEqual(self.requests(), [])

    @defer.inlineCallbacks
    def test_an_answered_inbound_agent_call_is_listed_and_hung_up(self):
        self.switch.receive(invite("sip:4155550100@127.0.0.1", body=(
            "v=0\no=- 1 1 IN IP4 198.51.100.7\ns=-\nc=IN IP4 198.51.100.7\nt=0 0\n"
            "m=audio 20000 RTP/AVP 0\n")), CARRIER)
        session = Session()
        self.sessions.inbound[0].callback(session)
        self.switch.wire.take()
        listed = yield self.get("/v1/calls")
        [item] = listed.json["items"]
        self.assertEqual((item["call_id"], item["state"], item["agent"], item["direction"]),
                         ("call-1@carrier", "answered", "sales-bot", "inbound"))
        deleted = yield self.delete("/v1/calls/call-1@carrier")
        self.assertEqual(deleted.status, 204)
        self.assertEqual([(m.method, p) for m, p in self.requests()], [("BYE", CARRIER)])
        [record] = self.switch.records
        self.assertEqual((record.disconnect_side, record.disconnect_reason), ("switch", "api"))
        self.assertEqual(session.stopped, ["api"])


class NoSwitchOriginateTests(ApiTestCase):
    @defer.inlineCallbacks
    def test_an_api_without_a_switch_places_no_calls(self):
        response = yield self.post("/v1/calls", {"to": "+12025550150", "from": "+14155550100",
                                                 "agent": "sales-bot"})
        self.assertEqual(response.status, 409)
        self.assertIn("no switch", response.error["message"])
