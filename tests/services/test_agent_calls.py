"""Agent targets: the switch answers as the UA once the agent's socket is up, fails
over when it is not, and owns the dialog afterwards (BYE, INFO, re-INVITE, agent
hang-up)."""

import pytest
from memory_proxy import ProxyHarness, invite
from twisted.internet.defer import Deferred

from softswitch.services.agent_calls import AgentCalls
from softswitch.services.calls.legs import SipLegs
from softswitch.services.in_dialog import InDialogRouter
from softswitch.services.routing import Agent, Number, RoutingSnapshot, Target
from softswitch.sip.dialog import Dialog as SipDialog
from softswitch.sip.transport import Peer
from test_outbound_calls import RecordedEvents

CARRIER = Peer("udp", "198.51.100.7", 5060)
BOB_NAT = Peer("udp", "192.0.2.20", 40000)
ANSWER = b"v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 40000 RTP/AVP 0 101\r\n"


class FakeSession:
    answer_sdp = ANSWER
    media_id = "call-1@carrier;agent"  # as the edge names the relay call of an agent

    def __init__(self):
        self.digits, self.stopped, self.began = [], [], False

    def begin(self, on_end, on_transfer):
        self.began, self.on_end, self.on_transfer = True, on_end, on_transfer

    def dtmf(self, digit):
        self.digits.append(digit)

    def stop(self, reason):
        from twisted.internet.defer import succeed
        self.stopped.append(reason)
        return succeed({"frames_to_agent": 10})


class FakeSessions:
    def __init__(self):
        self.pending = []

    def open(self, call_id, agent, info, offer_sdp):
        d = Deferred()
        self.pending.append((call_id, agent, info, offer_sdp, d))
        return d


def snapshot():
    from softswitch.services.routing import Gateway, Trunk
    carrier = Trunk("carrier", (Gateway("carrier", "198.51.100.7", 5060, "udp", None, 1, 10),),
                    number_format="nanp")
    return RoutingSnapshot(
        trunks=[carrier], users=["bob"],
        agents=[Agent("support-bot", "ws://127.0.0.1:9/", "twilio", 8000)],
        numbers=[Number("+14155550100", (Target("agent", "support-bot"), Target("user", "bob")))])


@pytest.fixture
def switch():
    sessions = FakeSessions()
    harness = ProxyHarness(snapshot(), users={"bob": "b"}, agents=lambda h: AgentCalls(
        h.endpoint, h.clock, sessions, on_call_end=h.records.append, connect_timeout=5.0,
        **h.shared))
    harness.bind("bob", "sip:bob@10.0.0.2:5062", "udp:192.0.2.20:40000")
    harness.sessions = sessions
    return harness


CALLER_SDP = ("v=0\no=- 1 1 IN IP4 198.51.100.7\ns=-\nc=IN IP4 198.51.100.7\nt=0 0\n"
              "m=audio 20000 RTP/AVP 0 101\n")


def call(switch):
    return switch.receive(invite("sip:4155550100@127.0.0.1", body=CALLER_SDP), CARRIER)


def test_rings_then_answers_when_the_agent_socket_is_up(switch):
    sent = call(switch)
    assert [m.status for m, _ in sent] == [100, 180]
    call_id, agent, info, offer, d = switch.sessions.pending[0]
    assert agent.name == "support-bot" and b"198.51.100.7" in offer
    assert info["did"] == "+14155550100" and info["caller"] == "+12125550123"
    session = FakeSession()
    d.callback(session)
    [ok] = [m for m, _ in switch.wire.take()]
    assert ok.status == 200 and ok.body == ANSWER and ok.to_tag
    assert ok.headers.get("Contact") and session.began
    assert len(switch.agents) == 1


def test_caller_bye_stops_the_agent_and_writes_the_record(switch):
    call(switch)
    session = FakeSession()
    switch.sessions.pending[0][-1].callback(session)
    [ok] = [m for m, _ in switch.wire.take()]
    bye = (f"BYE sip:x@127.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bKb\n"
           f"Max-Forwards: 70\nTo: {ok.headers.get('To')}\nFrom: {ok.headers.get('From')}\n"
           "Call-ID: call-1@carrier\nCSeq: 2 BYE\nContent-Length: 0\n\n")
    [answer] = [m for m, _ in switch.receive(bye, CARRIER)]
    assert answer.status == 200
    assert session.stopped == ["bye"] and len(switch.agents) == 0
    [record] = switch.records
    assert (record.agent, record.profile, record.final_code) == ("support-bot", "twilio", 200)
    assert record.disconnect_side == "caller" and record.agent_stats == {"frames_to_agent": 10}


def test_agent_hangup_sends_bye_to_the_caller(switch):
    call(switch)
    session = FakeSession()
    switch.sessions.pending[0][-1].callback(session)
    switch.wire.take()
    session.on_end("done")
    [(bye, peer)] = switch.wire.take()
    assert bye.method == "BYE" and peer == CARRIER
    assert switch.records[0].disconnect_side == "agent"


class FinishingSession(FakeSession):
    """A session that plays what the agent queued before ending (finish)."""

    agent_left = False

    def finish(self, reason):
        self.finishing = reason
        return True


def test_an_agents_rest_hang_up_plays_its_queue_then_byes_the_caller(switch):
    call(switch)
    session = FinishingSession()
    switch.sessions.pending[0][-1].callback(session)
    switch.wire.take()
    assert switch.agents.finish("call-1@carrier", "twilio-api")
    assert session.finishing == "twilio-api" and switch.wire.take() == []  # playing out
    session.on_end("twilio-api")  # the queue has played
    [(bye, _)] = switch.wire.take()
    assert bye.method == "BYE"
    [record] = switch.records
    assert (record.disconnect_side, record.disconnect_reason) == ("agent", "twilio-api")
    assert not switch.agents.finish("call-1@carrier", "twilio-api")  # ended


def test_an_agent_a_transfer_took_off_the_call_cannot_end_it(switch):
    call(switch)
    session = FinishingSession()
    session.agent_left = True
    switch.sessions.pending[0][-1].callback(session)
    switch.wire.take()
    assert not switch.agents.finish("call-1@carrier", "twilio-api")
    assert switch.wire.take() == [] and not hasattr(session, "finishing")


def test_info_dtmf_reaches_the_agent(switch):
    call(switch)
    session = FakeSession()
    switch.sessions.pending[0][-1].callback(session)
    [ok] = [m for m, _ in switch.wire.take()]
    body = "Signal=5\r\nDuration=160\r\n"
    info = (f"INFO sip:x@127.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bKi\n"
            f"Max-Forwards: 70\nTo: {ok.headers.get('To')}\nFrom: {ok.headers.get('From')}\n"
            "Call-ID: call-1@carrier\nCSeq: 3 INFO\nContent-Type: application/dtmf-relay\n"
            f"Content-Length: {len(body)}\n\n{body}")
    [answer] = [m for m, _ in switch.receive(info, CARRIER)]
    assert answer.status == 200 and session.digits == ["5"]


def test_unreachable_agent_fails_over_to_the_next_target(switch):
    call(switch)
    switch.sessions.pending[0][-1].errback(Exception("connection refused"))
    sent = switch.wire.take()
    assert [(m.method, p) for m, p in sent if m.is_request] == [("INVITE", BOB_NAT)]


def test_a_route_of_unreachable_agents_only_is_refused_with_503():
    sessions = FakeSessions()
    from softswitch.services.routing import Gateway, Trunk
    carrier = Trunk("carrier", (Gateway("carrier", "198.51.100.7", 5060, "udp", None, 1, 10),),
                    number_format="nanp")
    only_agents = RoutingSnapshot(
        trunks=[carrier],
        agents=[Agent("first", "ws://127.0.0.1:9/", "twilio", 8000),
                Agent("second", "ws://127.0.0.1:9/", "twilio", 8000)],
        numbers=[Number("+14155550100", (Target("agent", "first"), Target("agent", "second")))])
    harness = ProxyHarness(only_agents, agents=lambda h: AgentCalls(
        h.endpoint, h.clock, sessions, on_call_end=h.records.append, **h.shared))
    call(harness)
    sessions.pending[0][-1].errback(Exception("connection refused"))
    assert len(sessions.pending) == 2  # the second agent was tried
    sessions.pending[1][-1].errback(Exception("connection refused"))
    finals = [m.status for m, _ in harness.wire.take() if not m.is_request and m.status >= 200]
    assert finals == [503]


def test_agent_too_slow_to_connect_fails_over(switch):
    call(switch)
    switch.clock.advance(5.0)
    sent = switch.wire.take()
    assert [p for m, p in sent if m.is_request and m.method == "INVITE"] == [BOB_NAT]


def test_caller_cancel_while_connecting_stops_the_session_when_it_opens(switch):
    call(switch)
    cancel = ("CANCEL sip:4155550100@127.0.0.1 SIP/2.0\n"
              "Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bKinv1\nMax-Forwards: 70\n"
              "To: <sip:4155550100@127.0.0.1>\nFrom: <sip:+12125550123@198.51.100.7>;tag=caller1\n"
              "Call-ID: call-1@carrier\nCSeq: 1 CANCEL\nContent-Length: 0\n\n")
    sent = switch.receive(cancel, CARRIER)
    assert sorted(m.status for m, _ in sent) == [200, 487]
    session = FakeSession()
    switch.sessions.pending[0][-1].callback(session)
    assert session.stopped == ["caller-cancelled"] and not session.began
    assert switch.wire.take() == []


def test_the_200_is_resent_until_the_ack_and_the_call_ends_without_one(switch):
    call(switch)
    switch.sessions.pending[0][-1].callback(FakeSession())
    [ok] = [m for m, _ in switch.wire.take()]
    switch.clock.advance(0.5)
    switch.clock.advance(1.0)
    resent = [m for m, _ in switch.wire.take()]
    assert [m.status for m in resent] == [200, 200]
    switch.clock.pump([1.0] * 40)  # Timer H without an ACK: the switch hangs up
    assert any(m.is_request and m.method == "BYE" for m, _ in switch.wire.take())
    record = switch.records[0]
    assert (record.disconnect_side, record.disconnect_reason) == ("switch", "no-ack")
    assert len(switch.agents.legs) == 0  # the caller's leg is gone with its dialog


def test_an_agent_call_is_not_answered_when_no_dialog_fits_and_the_next_target_rings():
    sessions = FakeSessions()
    harness = ProxyHarness(snapshot(), users={"bob": "b"}, agents=lambda h: AgentCalls(
        h.endpoint, h.clock, sessions, on_call_end=h.records.append,
        media_owners=h.shared["media_owners"],
        legs=SipLegs(InDialogRouter(h.endpoint, max_dialogs=1))))
    harness.bind("bob", "sip:bob@10.0.0.2:5062", "udp:192.0.2.20:40000")
    harness.agents.legs._router.register(
        SipDialog("other@carrier", "a", "b", "<sip:a>;tag=a", "<sip:b>;tag=b", "sip:b"),
        object())  # (the table's one place is taken)
    harness.receive(invite("sip:4155550100@127.0.0.1", body=CALLER_SDP), CARRIER)
    harness.wire.take()
    session = FakeSession()
    sessions.pending[0][-1].callback(session)
    sent = harness.wire.take()
    assert session.stopped == ["switch-full"]
    assert not any(not m.is_request and m.status == 200 for m, _ in sent)
    assert any(m.is_request and m.method == "INVITE" and peer == BOB_NAT for m, peer in sent)
    assert len(harness.agents.legs) == 0 and harness.agents.calls == {}


def test_the_ack_stops_the_resending(switch):
    call(switch)
    switch.sessions.pending[0][-1].callback(FakeSession())
    [ok] = [m for m, _ in switch.wire.take()]
    ack = (f"ACK sip:x@127.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bKa\n"
           f"Max-Forwards: 70\nTo: {ok.headers.get('To')}\nFrom: {ok.headers.get('From')}\n"
           "Call-ID: call-1@carrier\nCSeq: 1 ACK\nContent-Length: 0\n\n")
    assert switch.receive(ack, CARRIER) == []
    switch.clock.pump([1.0] * 40)
    assert switch.wire.take() == [] and len(switch.agents) == 1


def test_media_inactivity_ends_an_agent_call(switch):
    from softswitch.services.media_control import MediaTimedOut
    call(switch)
    session = FakeSession()
    switch.sessions.pending[0][-1].callback(session)
    switch.wire.take()
    switch.proxy.media_timed_out(MediaTimedOut("call-1@carrier;agent", 60.0))
    [(bye, peer)] = switch.wire.take()
    assert bye.method == "BYE" and peer == CARRIER
    assert switch.records[0].disconnect_reason == "media-timeout"
    assert switch.records[0].disconnect_side == "switch"


def test_the_agents_bye_takes_the_callers_record_route_in_order_and_a_stale_cseq_is_500(switch):
    # RFC 3261 §12.1.1: a UAS's route set is the Record-Route of the request, in order.
    routes = "Record-Route: <sip:edge-1.example;lr>\nRecord-Route: <sip:edge-2.example;lr>\n"
    switch.receive(invite("sip:4155550100@127.0.0.1", body=CALLER_SDP, extra=routes), CARRIER)
    session = FakeSession()
    switch.sessions.pending[0][-1].callback(session)
    [ok] = [m for m, _ in switch.wire.take()]
    info = (f"INFO sip:x@127.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bKold\n"
            f"Max-Forwards: 70\nTo: {ok.headers.get('To')}\nFrom: {ok.headers.get('From')}\n"
            "Call-ID: call-1@carrier\nCSeq: 0 INFO\nContent-Length: 0\n\n")
    assert [m.status for m, _ in switch.receive(info, CARRIER)] == [500]
    session.on_end("agent-hangup")
    [(bye, peer)] = switch.wire.take()
    assert bye.method == "BYE" and peer == CARRIER
    assert bye.headers.values("Route") == ["<sip:edge-1.example;lr>", "<sip:edge-2.example;lr>"]
    assert bye.uri == "sip:+12125550123@198.51.100.7:5060" and bye.cseq.number == 1
    assert bye.headers.get("From") == ok.headers.get("To")


# -- re-INVITE: hold, resume, delayed offer ------------------------------------------------
OUR_ANSWER = (b"v=0\r\no=softswitch 1 1 IN IP4 127.0.0.1\r\ns=softswitch\r\n"
              b"c=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0 101\r\n"
              b"a=rtpmap:0 PCMU/8000\r\na=ptime:20\r\na=sendrecv\r\n")


class HoldingSession(FakeSession):
    answer_sdp = OUR_ANSWER

    def __init__(self):
        super().__init__()
        self.holds, self.offers = [], []

    def hold(self, held):
        self.holds.append(held)

    def reoffer(self, sdp):
        from twisted.internet.defer import succeed
        self.offers.append(sdp)
        return succeed(None)


def answered(switch):
    call(switch)
    session = HoldingSession()
    switch.sessions.pending[0][-1].callback(session)
    [ok] = [m for m, _ in switch.wire.take()]
    return session, ok


def in_dialog(ok, method, cseq, body="", branch="z9hG4bKr"):
    content = f"Content-Type: application/sdp\n" if body else ""
    return (f"{method} sip:x@127.0.0.1 SIP/2.0\n"
            f"Via: SIP/2.0/UDP 198.51.100.7:5060;branch={branch}{cseq}\n"
            f"Max-Forwards: 70\nTo: {ok.headers.get('To')}\nFrom: {ok.headers.get('From')}\n"
            f"Call-ID: call-1@carrier\nCSeq: {cseq} {method}\n{content}"
            f"Content-Length: {len(body)}\n\n{body}")


def caller_sdp(direction, version):
    return (f"v=0\r\no=- 7 {version} IN IP4 198.51.100.7\r\ns=-\r\nc=IN IP4 198.51.100.7\r\n"
            f"t=0 0\r\nm=audio 20000 RTP/AVP 0 101\r\na={direction}\r\n")


def test_hold_and_resume_re_invites_are_answered_by_direction_and_told_to_the_session(switch):
    from softswitch.sdp import parse_sdp
    session, ok = answered(switch)
    directions = []
    for cseq, (offered, version) in enumerate(
            [("sendonly", 2), ("inactive", 3), ("sendrecv", 4)], 2):
        [reply] = [m for m, _ in switch.receive(
            in_dialog(ok, "INVITE", cseq, caller_sdp(offered, version)), CARRIER)]
        assert reply.status == 200 and "UPDATE" in reply.headers.get("Allow")
        answer = parse_sdp(reply.body)
        directions.append((answer.direction_of(answer.media[0]), answer.origin.version))
    assert directions == [("recvonly", 2), ("inactive", 3), ("sendrecv", 4)]
    assert session.holds == [True, False]
    assert [b"a=sendonly" in o for o in session.offers] == [True, False, False]


def test_a_re_invite_without_sdp_gets_our_offer_and_its_ack_the_answer(switch):
    from softswitch.sdp import parse_sdp
    session, ok = answered(switch)
    switch.receive(in_dialog(ok, "INVITE", 2, caller_sdp("inactive", 2)), CARRIER)
    [reply] = [m for m, _ in switch.receive(in_dialog(ok, "INVITE", 3), CARRIER)]
    offer = parse_sdp(reply.body)
    assert reply.status == 200 and offer.media[0].direction == "sendrecv"
    assert session.holds == [True]
    assert switch.receive(in_dialog(ok, "ACK", 3, caller_sdp("sendrecv", 3)), CARRIER) == []
    assert session.holds == [True, False] and b"a=sendrecv" in session.offers[-1]


def test_an_offer_that_cannot_be_answered_is_refused_with_488_and_the_call_goes_on(switch):
    session, ok = answered(switch)
    two = caller_sdp("sendrecv", 2) + "m=video 20002 RTP/AVP 96\r\n"
    [reply] = [m for m, _ in switch.receive(in_dialog(ok, "INVITE", 2, two), CARRIER)]
    assert reply.status == 488 and reply.headers.get("Warning")
    assert session.holds == [] and len(switch.agents) == 1


def test_update_is_accepted_in_the_dialog(switch):
    session, ok = answered(switch)
    [reply] = [m for m, _ in switch.receive(in_dialog(ok, "UPDATE", 2), CARRIER)]
    assert reply.status == 200


# -- delayed offer -------------------------------------------------------------------------
class DelayedSession(HoldingSession):
    answer_sdp = OUR_ANSWER  # (our offer, when the INVITE had none)

    def __init__(self, accept=True):
        super().__init__()
        self.answers, self.accept = [], accept

    def take_answer(self, sdp):
        from twisted.internet.defer import fail, succeed
        self.answers.append(sdp)
        return succeed(None) if self.accept else fail(ValueError("no PCMU or PCMA"))


def delayed_call(switch, session):
    sent = switch.receive(invite("sip:4155550100@127.0.0.1", body=""), CARRIER)
    assert [m.status for m, _ in sent] == [100, 180]
    call_id, agent, info, offer, d = switch.sessions.pending[0]
    assert offer == b""
    d.callback(session)
    [ok] = [m for m, _ in switch.wire.take()]
    return ok


def test_an_invite_without_sdp_gets_our_offer_and_the_agent_starts_on_the_acks_answer(switch):
    session = DelayedSession()
    ok = delayed_call(switch, session)
    assert ok.status == 200 and ok.body == OUR_ANSWER and not session.began
    answer = caller_sdp("sendrecv", 1)
    assert switch.receive(in_dialog(ok, "ACK", 1, answer), CARRIER) == []
    assert session.answers == [answer.encode()] and session.began
    switch.clock.pump([1.0] * 40)
    assert switch.wire.take() == []  # the ACK stopped the 200's retransmissions


@pytest.mark.parametrize("body, accept, reason", [
    ("", True, "no-answer-sdp"), (caller_sdp("sendrecv", 1), False, "bad-sdp")])
def test_a_delayed_offer_call_without_a_usable_answer_in_the_ack_is_ended(
        switch, body, accept, reason):
    session = DelayedSession(accept)
    ok = delayed_call(switch, session)
    sent = switch.receive(in_dialog(ok, "ACK", 1, body), CARRIER)
    assert [m.method for m, _ in sent if m.is_request] == ["BYE"]
    assert not session.began and session.stopped == [reason]
    assert switch.records[0].disconnect_reason == reason


def test_an_agent_calls_ringing_and_answer_reach_the_webhooks(switch):
    hooks = switch.agents.webhooks = RecordedEvents()
    call(switch)
    *_, d = switch.sessions.pending[0]
    d.callback(FakeSession())
    assert [(event, agent) for event, _, _, agent in hooks.events] == [
        ("call.ringing", "support-bot"), ("call.answered", "support-bot")]
    assert hooks.events[1][2]["did"] == "+14155550100"
