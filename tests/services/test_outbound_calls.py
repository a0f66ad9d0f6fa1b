"""Outbound AI calls (services.outbound_calls), Clock-driven: the media first, the
INVITE through the outbound routes or a named trunk, the agent's socket opened while
it rings, the agent session on answer; busy, no answer and failures in the record;
gateway failover; campaign pacing by the trunk's max_cps and max_concurrent; hang-up
in any state; a transfer of the answered call to a human."""

import pytest
from memory_proxy import DOMAIN, ProxyHarness
from test_transfers import FakeMedia, FakeSession
from test_uac_leg import far_request, reply
from twisted.internet.defer import Deferred, succeed

from softswitch.services.agent_calls import AgentCalls
from softswitch.services.limits import TrunkLimiter
from softswitch.services.outbound_calls import OriginateRefused, OutboundCalls
from softswitch.services.routing import (
    Agent,
    Gateway,
    Number,
    OutboundRoute,
    RoutingSnapshot,
    Target,
    Trunk,
)
from softswitch.agent.amd_watch import AmdOptions
from softswitch.media.amd import AmdDecided, MachineEnded
from softswitch.services.calls.bridged import BridgedSession
from softswitch.services.transfers import Transfers
from softswitch.sip.transport import Peer

GW_A = Peer("udp", "203.0.113.1", 5060)
GW_B = Peer("udp", "203.0.113.2", 5060)
GW_C = Peer("udp", "203.0.113.3", 5060)
HUMANS = Peer("udp", "203.0.113.50", 5060)
OUR_OFFER = (b"v=0\r\no=softswitch 1 1 IN IP4 127.0.0.1\r\ns=softswitch\r\n"
             b"c=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 36000 RTP/AVP 0 8 101\r\n"
             b"a=rtpmap:101 telephone-event/8000\r\n")
FAR_SDP = ("v=0\r\no=- 9 9 IN IP4 198.51.100.80\r\ns=-\r\nc=IN IP4 198.51.100.80\r\n"
           "t=0 0\r\nm=audio 44000 RTP/AVP 8 101\r\na=rtpmap:101 telephone-event/8000\r\n")


class OutboundSession(FakeSession):
    offer_sdp = OUR_OFFER
    answer_sdp = OUR_OFFER

    def __init__(self, call_id):
        super().__init__()
        self.media_id = f"{call_id};agent"
        self.connects = []
        self.answers = []
        self.digits = []
        self.began = False

    def dtmf(self, digit):
        self.digits.append(digit)

    def connect(self):
        d = Deferred()
        self.connects.append(d)
        return d

    def take_answer(self, sdp):
        self.answers.append(sdp)
        return succeed(None)

    def begin(self, on_end, on_transfer, **amd):
        super().begin(on_end, on_transfer)
        self.began = True
        self.amd = amd  # answering-machine detection: {"amd": options, "on_amd": ...}


class OutboundSessions:
    def __init__(self):
        self.opened = []  # (call_id, agent, info, session)

    def open_outbound(self, call_id, agent, info):
        session = OutboundSession(call_id)
        self.opened.append((call_id, agent, info, session))
        return succeed(session)


def snapshot(**limits):
    first = Trunk("first", (Gateway("first", GW_A.host, 5060, "udp", None, 1, 10),
                            Gateway("first", GW_B.host, 5060, "udp", None, 2, 10)),
                  auth_username="acct", auth_password="pw", **limits)
    second = Trunk("second", (Gateway("second", GW_C.host, 5060, "udp", None, 1, 10),))
    humans = Trunk("humans", (Gateway("humans", HUMANS.host, 5060, "udp", None, 1, 10),))
    return RoutingSnapshot(
        trunks=[first, second, humans],
        agents=[Agent("sales-bot", "ws://127.0.0.1:9/", "twilio", 8000)],
        outbound=[OutboundRoute("1", ("first", "second")), OutboundRoute("1415", ("humans",))],
        numbers=[Number("+14155550100", (Target("agent", "sales-bot"),))])  # (a snapshot
    # without numbers is falsy, and SnapshotHolder would replace it with an empty one)


class Switch(ProxyHarness):
    def __init__(self, **limits):
        super().__init__(snapshot(**limits), agents=lambda h: AgentCalls(
            h.endpoint, h.clock, sessions=None, **h.shared))
        self.sessions = OutboundSessions()
        self.limiter = TrunkLimiter(self.clock)
        self.media = FakeMedia()
        self.transfers = Transfers(self.endpoint, self.clock, self.holder, self.media,
                                   self.agents.legs, domain=DOMAIN, limiter=self.limiter)
        self.outbound = OutboundCalls(self.endpoint, self.clock, self.holder, self.sessions,
                                      self.agents.legs, domain=DOMAIN, limiter=self.limiter,
                                      on_call_end=self.records.append, ring_timeout=30.0,
                                      transfers=self.transfers,
                                      media_owners=self.proxy.media_owners)

    def originate(self, to="+12025550150", **options):
        options.setdefault("agent_name", "sales-bot")
        call_id = self.outbound.originate(to, "+14155550100", **options)
        return call_id, self.invites()

    def invites(self):
        """The INVITEs sent since last asked, retransmissions left out."""
        seen, invites = set(), []
        for m, p in self.wire.take():
            if m.is_request and m.method == "INVITE" and m.top_via.branch not in seen:
                seen.add(m.top_via.branch)
                invites.append((m, p))
        return invites

    def session(self, index=-1):
        return self.sessions.opened[index][3]


@pytest.fixture
def switch():
    return Switch()


def test_the_invite_carries_the_agents_offer_through_the_first_trunk(switch):
    call_id, [(out, peer)] = switch.originate(custom_parameters={"campaign": "spring"})
    assert peer == GW_A and out.uri == "sip:+12025550150@203.0.113.1:5060"
    assert out.call_id == call_id and out.from_.uri.user == "+14155550100"
    assert out.body == OUR_OFFER
    _, agent, info, session = switch.sessions.opened[0]
    assert agent.name == "sales-bot" and info["direction"] == "outbound"
    assert info["custom_parameters"] == {"campaign": "spring"}
    assert session.connects == []  # the agent's socket waits for the ringing
    [row] = switch.outbound.active_calls()
    assert (row["state"], row["trunk"], row["agent"], row["callee"]) == (
        "trying", "first", "sales-bot", "+12025550150")


def test_ringing_opens_the_agents_socket_and_the_answer_begins_the_session(switch):
    call_id, [(out, _)] = switch.originate()
    session = switch.session()
    switch.receive(reply(out, 180), GW_A)
    assert len(session.connects) == 1 and switch.outbound.active_calls()[0]["state"] == "ringing"
    switch.receive(reply(out, 183, body=FAR_SDP), GW_A)
    assert len(session.connects) == 1  # asked once
    sent = switch.receive(reply(out, 200, body=FAR_SDP), GW_A)
    assert [m.method for m, _ in sent if m.is_request] == ["ACK"]
    assert session.answers == [FAR_SDP.encode()] and not session.began
    session.connects[0].callback(None)  # the socket is up
    assert session.began
    assert switch.outbound.active_calls()[0]["state"] == "answered"
    session.on_end("goodbye")
    [(bye, peer)] = [(m, p) for m, p in switch.wire.take() if m.is_request]
    assert (bye.method, peer) == ("BYE", Peer("udp", "203.0.113.9", 5070))  # its Contact
    [record] = switch.records
    assert (record.direction, record.final_code, record.disconnect_side,
            record.disconnect_reason) == ("outbound", 200, "agent", "goodbye")
    assert (record.agent, record.trunk, record.gateway) == ("sales-bot", "first",
                                                             "udp:203.0.113.1:5060")
    assert record.agent_stats == {"frames_to_agent": 10} and record.ring_at is not None
    assert switch.outbound.active_calls() == [] and len(switch.agents.legs) == 0


def test_an_answer_without_ringing_opens_the_socket_then_begins(switch):
    _, [(out, _)] = switch.originate()
    session = switch.session()
    switch.receive(reply(out, 200, body=FAR_SDP), GW_A)
    assert len(session.connects) == 1 and not session.began
    session.connects[0].callback(None)
    assert session.began


def test_the_far_end_hangs_up(switch):
    _, [(out, _)] = switch.originate()
    session = switch.session()
    switch.receive(reply(out, 200, body=FAR_SDP), GW_A)
    session.connects[0].callback(None)
    leg = next(iter(switch.agents.legs))
    sent = switch.receive(far_request(leg, "BYE"), GW_A)
    assert [m.status for m, _ in sent] == [200]
    assert session.stopped == ["bye"]
    [record] = switch.records
    assert (record.disconnect_side, record.disconnect_reason) == ("callee", "bye")


def test_the_far_ends_info_digits_reach_the_agent_as_an_agent_calls_do(switch):
    _, [(out, _)] = switch.originate()
    session = switch.session()
    switch.receive(reply(out, 200, body=FAR_SDP), GW_A)
    session.connects[0].callback(None)
    leg = next(iter(switch.agents.legs))
    body = "Signal=5\r\nDuration=160\r\n"
    info = far_request(leg, "INFO", cseq=2).replace(
        "Content-Length: 0\r\n\r\n",
        f"Content-Type: application/dtmf-relay\r\nContent-Length: {len(body)}\r\n\r\n{body}")
    sent = switch.receive(info, GW_A)
    assert [m.status for m, _ in sent] == [200]
    assert session.digits == ["5"]


@pytest.mark.parametrize("status,outcome", [(486, "busy"), (600, "busy"), (480, "no-answer"),
                                            (404, "failed"), (403, "failed")])
def test_final_refusals_end_the_call_with_their_outcome(switch, status, outcome):
    _, [(out, _)] = switch.originate()
    switch.receive(reply(out, 180), GW_A)
    sent = switch.receive(reply(out, status), GW_A)
    assert [m.method for m, _ in sent if m.is_request] == ["ACK"]  # no next gateway
    [record] = switch.records
    assert (record.final_code, record.disconnect_reason, record.disconnect_side) == (
        status, outcome, "callee")
    assert switch.session().stopped == [outcome]
    assert switch.limiter.active("first", "outbound") == 0


def test_no_answer_in_time_is_cancelled(switch):
    _, [(out, _)] = switch.originate()
    switch.receive(reply(out, 180), GW_A)
    switch.clock.advance(30.0)
    assert [m.method for m, _ in switch.wire.take() if m.is_request] == ["CANCEL"]
    [record] = switch.records
    assert (record.final_code, record.disconnect_reason) == (408, "no-answer")


def test_a_ring_timeout_before_any_provisional_fails_over_and_a_late_487_is_not_recorded(
        switch):
    _, [(out, _)] = switch.originate(trunk_name="first")
    switch.clock.pump([0.5] * 60)  # GW_A says nothing, not even 100 Trying, for 30 s
    [(second, peer)] = [(m, p) for m, p in switch.invites() if p == GW_B]
    assert switch.records == []  # not an outcome yet: the next gateway is tried
    switch.receive(reply(second, 100), GW_B)
    switch.clock.advance(30.0)
    cancels = [(m, p) for m, p in switch.wire.take() if m.is_request and m.method == "CANCEL"]
    assert [p for _, p in cancels] == [GW_B]  # none to GW_A: nothing came from it
    switch.receive(reply(second, 487), GW_B)  # the answer to our CANCEL
    [record] = switch.records
    assert (record.final_code, record.disconnect_side, record.disconnect_reason,
            record.attempts) == (408, "callee", "no-answer", 2)


def test_a_failing_gateway_moves_on_then_the_next_trunk(switch):
    _, [(out, _)] = switch.originate()
    sent = switch.receive(reply(out, 503), GW_A)
    [(second, peer)] = [(m, p) for m, p in sent if m.method == "INVITE"]
    assert peer == GW_B and second.body == OUR_OFFER
    switch.clock.pump([0.5] * 80)  # GW_B never answers, not even 100 Trying
    [(third, peer)] = [(m, p) for m, p in switch.invites() if p != GW_B]
    assert peer == GW_C and third.uri == "sip:+12025550150@203.0.113.3:5060"
    assert switch.limiter.active("first", "outbound") == 0
    assert switch.limiter.active("second", "outbound") == 1
    sent = switch.receive(reply(third, 500), GW_C)
    [record] = switch.records
    assert (record.final_code, record.disconnect_reason, record.attempts) == (500, "failed", 3)


def test_a_gateway_that_rang_is_not_left_for_another(switch):
    _, [(out, _)] = switch.originate()
    switch.receive(reply(out, 180), GW_A)
    sent = switch.receive(reply(out, 503), GW_A)
    assert [m for m, _ in sent if m.method == "INVITE"] == []
    assert switch.records[0].final_code == 503


def test_the_trunk_credentials_answer_a_challenge(switch):
    _, [(out, _)] = switch.originate()
    sent = switch.receive(reply(out, 401, extra='WWW-Authenticate: Digest realm="c", '
                                                'nonce="n"'), GW_A)
    [again] = [m for m, _ in sent if m.method == "INVITE"]
    assert 'username="acct"' in again.headers.get("Authorization")
    assert str(again.cseq) == "2 INVITE"


def test_a_named_trunk_is_used_instead_of_the_routes(switch):
    _, [(out, peer)] = switch.originate(trunk_name="second")
    assert peer == GW_C


def test_refusals_name_the_field_at_fault(switch):
    for kwargs, field in (({"agent_name": "nobody"}, "agent"),
                          ({"trunk_name": "nope"}, "trunk"),
                          ({"to": "+33123456789"}, "to")):
        to = kwargs.pop("to", "+12025550150")
        with pytest.raises(OriginateRefused) as caught:
            switch.outbound.originate(to, "+14155550100", **{"agent_name": "sales-bot",
                                                            **kwargs})
        assert caught.value.field == field
    assert switch.outbound.active_calls() == [] and switch.sessions.opened == []


def test_calls_are_paced_by_the_trunks_max_cps():
    switch = Switch(max_cps=1)
    ids, sent = [], []
    for _ in range(3):
        call_id, invites = switch.originate(trunk_name="first")
        ids.append(call_id)
        sent += [m.call_id for m, _ in invites]
    assert sent == ids[:1]  # the rest wait for the bucket (no 503 to anyone)
    states = [row["state"] for row in switch.outbound.active_calls()]
    assert sorted(states) == ["queued", "queued", "trying"]
    for second in (1, 2):
        switch.clock.advance(1.0)
        sent += [m.call_id for m, _ in switch.invites() if m.call_id not in sent]
        assert sent == ids[:second + 1]
        assert len(switch.sessions.opened) == second + 1  # media only once admitted


def test_calls_wait_for_a_concurrency_slot(switch):
    switch = Switch(max_concurrent=1)
    first, [(out, _)] = switch.originate()
    second, nothing = switch.originate(to="+12025550151")
    # "second" may overflow to the next trunk of the route: the route lists two.
    assert [p for _, p in nothing] == [GW_C]
    third, queued = switch.originate(trunk_name="first")
    assert queued == []
    switch.receive(reply(out, 486), GW_A)  # the first ends: a slot is free
    switch.clock.advance(5.0)
    [(m, peer)] = [(m, p) for m, p in switch.invites() if m.call_id == third]
    assert (m.call_id, peer) == (third, GW_A)


def test_a_call_not_admitted_in_time_fails():
    switch = Switch(max_cps=1)
    switch.outbound.max_queue_wait = 1.5
    switch.originate(trunk_name="first")
    late, _ = switch.originate(trunk_name="first")
    switch.originate(trunk_name="first")
    switch.clock.advance(1.0)
    switch.clock.advance(1.0)
    [record] = switch.records  # the third: the second got the token at 1 s
    assert (record.disconnect_reason, record.final_code) == ("limit:cps", 503)
    assert record.call_id != late and record.start_at == switch.clock.seconds() - 2.0


def test_hang_up_in_every_state(switch):
    queued_switch = Switch(max_cps=1)
    queued_switch.originate(trunk_name="first")
    queued, _ = queued_switch.originate(trunk_name="first")
    assert queued_switch.outbound.hang_up(queued)
    assert queued_switch.records[0].disconnect_reason == "api"
    queued_switch.clock.advance(5)
    assert [m for m, _ in queued_switch.invites() if m.call_id == queued] == []

    ringing, [(out, _)] = switch.originate()
    switch.receive(reply(out, 180), GW_A)
    assert switch.outbound.hang_up(ringing)
    assert [m.method for m, _ in switch.wire.take() if m.is_request] == ["CANCEL"]
    assert (switch.records[0].final_code, switch.records[0].disconnect_side) == (487, "switch")

    answered, [(out, _)] = switch.originate()
    switch.receive(reply(out, 200, body=FAR_SDP), GW_A)
    assert switch.outbound.hang_up(answered)
    assert [m.method for m, _ in switch.wire.take() if m.is_request] == ["BYE"]
    assert switch.records[1].final_code == 200
    assert not switch.outbound.hang_up("unknown@x")


def test_no_media_from_the_far_end_hangs_up_like_an_inbound_agent_call(switch):
    from softswitch.services.media_control import MediaTimedOut
    call_id, [(out, _)] = switch.originate()
    session = switch.session()
    switch.receive(reply(out, 200, body=FAR_SDP), GW_A)
    session.connects[0].callback(None)
    switch.wire.take()
    switch.proxy.media_timed_out(MediaTimedOut(session.media_id, 60.0))
    [(bye, peer)] = [(m, p) for m, p in switch.wire.take() if m.is_request]
    assert (bye.method, bye.call_id, peer) == ("BYE", call_id, Peer("udp", "203.0.113.9", 5070))
    assert session.stopped == ["media-timeout"]  # the agent's stop carries the reason
    [record] = switch.records
    assert (record.final_code, record.disconnect_side, record.disconnect_reason) == (
        200, "switch", "media-timeout")
    assert switch.outbound.active_calls() == []
    switch.proxy.media_timed_out(MediaTimedOut(session.media_id, 61.0))  # late: ignored
    assert switch.wire.take() == [] and len(switch.records) == 1


def test_an_agent_that_cannot_be_reached_cancels_the_call(switch):
    _, [(out, _)] = switch.originate()
    switch.receive(reply(out, 180), GW_A)
    switch.session().connects[0].errback(Exception("refused"))
    assert [m.method for m, _ in switch.wire.take() if m.is_request] == ["CANCEL"]
    [record] = switch.records
    assert (record.disconnect_reason, record.final_code) == ("agent-unavailable", 487)


def test_the_agent_transfers_the_answered_call_to_a_human(switch):
    call_id, [(out, _)] = switch.originate()
    session = switch.session()
    switch.receive(reply(out, 200, body=FAR_SDP), GW_A)
    session.connects[0].callback(None)
    session.on_transfer("+14155550199", False)
    [(human, peer)] = switch.invites()
    # The agent presents one of its caller IDs (services.caller_id), not the person called.
    assert peer == HUMANS and human.from_.uri.user == "+14155550100"
    assert human.headers.get("P-Asserted-Identity").startswith("<sip:+14155550100@")
    assert switch.media.commands[0] == ("offer", f"{call_id};agent", "caller",
                                        FAR_SDP.encode())
    assert session.agent_ended == ["transfer"]
    sent = switch.receive(reply(human, 200, body=FAR_SDP.replace("198.51.100.80",
                                                                 "203.0.113.70"),
                                to_tag="h1", contact="sip:h@203.0.113.50"), HUMANS)
    assert [m.method for m, _ in sent if m.is_request] == ["ACK"]
    call = switch.outbound.calls[call_id]
    assert isinstance(call.session, BridgedSession) and session.released
    leg = next(leg for leg in switch.agents.legs if leg.call_id == call_id)
    sent = switch.receive(far_request(leg, "BYE"), GW_A)  # the person hangs up
    assert [(m.method, p) for m, p in sent if m.is_request] == [("BYE", HUMANS)]
    [record] = switch.records
    assert record.transfer_target == "+14155550199" and record.disconnect_side == "callee"
    assert record.agent_stats["media"] == {"region": "default", "caller": "stats"}


# -- answering-machine detection (services.amd_calls) --------------------------------------
def answered_with_amd(switch, options):
    call_id, [(out, _)] = switch.originate(amd=options)
    session = switch.session()
    switch.receive(reply(out, 200, body=FAR_SDP), GW_A)
    session.connects[0].callback(None)
    return call_id, session


def test_a_call_without_amd_begins_as_before(switch):
    _, session = answered_with_amd(switch, None)
    assert session.amd == {}
    assert switch.outbound.active_calls()[0]["amd"] is None


def test_the_session_detects_and_the_record_and_the_api_keep_the_result(switch):
    options = AmdOptions(mode="wait")
    call_id, session = answered_with_amd(switch, options)
    assert session.amd["amd"] is options
    on_amd = session.amd["on_amd"]
    [row] = switch.outbound.active_calls()
    assert row["amd"] == {"mode": "wait", "result": None, "decision_ms": None,
                          "answered_by": None, "machine_end": None, "machine_end_ms": None}
    on_amd(AmdDecided("machine", 2980, "long-greeting"))
    on_amd(MachineEnded(7260, "beep", 1000.0))
    [row] = switch.outbound.active_calls()
    assert row["amd"] == {"mode": "wait", "result": "machine", "decision_ms": 2980,
                          "answered_by": "machine_end_beep", "machine_end": "beep",
                          "machine_end_ms": 7260}
    session.on_end("voicemail-left")
    [record] = switch.records
    assert (record.amd_result, record.amd_decision_ms) == ("machine", 2980)
    assert record.amd == {"options": options.to_dict(), "reason": "long-greeting",
                          "answered_by": "machine_end_beep", "machine_end": "beep",
                          "machine_end_ms": 7260, "beep_hz": 1000.0}
    assert record.disconnect_reason == "voicemail-left"


def test_a_machine_is_hung_up_on_when_asked(switch):
    call_id, session = answered_with_amd(switch, AmdOptions(machine_action="hangup"))
    session.amd["on_amd"](AmdDecided("machine", 3100, "long-greeting"))
    assert [m.method for m, _ in switch.wire.take() if m.is_request] == ["BYE"]
    [record] = switch.records
    assert (record.disconnect_side, record.disconnect_reason, record.amd_result) == (
        "switch", "machine", "machine")
    session.amd["on_amd"](MachineEnded(5000, "silence"))  # (after the end: ignored)
    assert record.amd.get("machine_end") is None


def test_a_person_is_not_hung_up_on(switch):
    _, session = answered_with_amd(switch, AmdOptions(machine_action="hangup"))
    session.amd["on_amd"](AmdDecided("human", 2100, "end-silence"))
    assert switch.records == [] and switch.outbound.active_calls()[0]["amd"]["result"] == \
        "human"


# -- webhooks (services.webhooks) ------------------------------------------------------------
class RecordedEvents:
    def __init__(self):
        self.events = []

    def emit(self, event, call_id, data, agent=None):
        self.events.append((event, call_id, data, agent))


def test_an_outbound_calls_events_reach_the_webhooks(switch):
    hooks = RecordedEvents()
    switch.outbound.webhooks = switch.transfers.webhooks = hooks
    call_id, [(out, _)] = switch.originate(amd=AmdOptions())
    session = switch.session()
    switch.receive(reply(out, 180), GW_A)
    switch.receive(reply(out, 200, body=FAR_SDP), GW_A)
    session.connects[0].callback(None)
    session.amd["on_amd"](AmdDecided("human", 2100, "end-silence"))
    session.on_transfer("+14155550199", False)
    [(human, _)] = switch.invites()
    switch.receive(reply(human, 200, body=FAR_SDP.replace("198.51.100.80", "203.0.113.70"),
                         to_tag="h1", contact="sip:h@203.0.113.50"), HUMANS)
    assert [(e, c, a) for e, c, _, a in hooks.events] == [
        ("call.ringing", call_id, "sales-bot"), ("call.answered", call_id, "sales-bot"),
        ("call.amd", call_id, "sales-bot"), ("call.transferred", call_id, "sales-bot")]
    ringing, answered, amd, transferred = (data for _, _, data, _ in hooks.events)
    assert (ringing["direction"], ringing["callee"], ringing["trunk"]) == (
        "outbound", "+12025550150", "first")
    assert answered["answer_at"] is not None and amd["amd"]["result"] == "human"
    assert (transferred["target"], transferred["warm"]) == ("+14155550199", False)
