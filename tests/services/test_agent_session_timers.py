"""RFC 4028 session timers on agent calls (the switch is the UAS), on the injected
clock: negotiation in the 200, 422, refreshes by the caller, our own refreshes when
the caller cannot, and the BYE when a refresher goes silent."""

import pytest
from memory_proxy import ProxyHarness, invite, response_to
from twisted.internet.defer import succeed

from softswitch.services.agent_calls import AgentCalls
from softswitch.services.routing import Agent, Gateway, Number, RoutingSnapshot, Target, Trunk
from softswitch.sip.session_timer import SessionTimerConfig
from softswitch.sip.transport import Peer

CARRIER = Peer("udp", "198.51.100.7", 5060)
ANSWER = (b"v=0\r\no=softswitch 1 1 IN IP4 127.0.0.1\r\ns=softswitch\r\n"
          b"c=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n"
          b"a=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n")
CALLER_SDP = ("v=0\no=- 1 1 IN IP4 198.51.100.7\ns=-\nc=IN IP4 198.51.100.7\nt=0 0\n"
              "m=audio 20000 RTP/AVP 0 101\n")


class Session:
    answer_sdp = ANSWER
    media_id = "relay-1"

    def __init__(self):
        self.stopped = []

    def begin(self, on_end, on_transfer):
        pass

    def hold(self, held):
        pass

    def reoffer(self, sdp):
        return succeed(None)

    def stop(self, reason):
        self.stopped.append(reason)
        return succeed({})


class Sessions:
    def open(self, call_id, agent, info, offer_sdp):
        return succeed(Session())


@pytest.fixture
def switch():
    carrier = Trunk("carrier", (Gateway("carrier", "198.51.100.7", 5060, "udp", None, 1, 10),),
                    number_format="nanp")
    snapshot = RoutingSnapshot(
        trunks=[carrier], agents=[Agent("bot", "ws://127.0.0.1:9/", "twilio", 8000)],
        numbers=[Number("+14155550100", (Target("agent", "bot"),))])
    harness = ProxyHarness(snapshot, agents=lambda h: AgentCalls(
        h.endpoint, h.clock, Sessions(), on_call_end=h.records.append,
        session_timers=SessionTimerConfig(1800, 90), **h.shared))
    return harness


def call(switch, extra=""):
    sent = switch.receive(invite("sip:4155550100@127.0.0.1", body=CALLER_SDP, extra=extra),
                          CARRIER)
    final = [m for m, _ in sent if not m.is_request and m.status >= 200][-1]
    if final.status == 200:
        ack = in_dialog(final, "ACK", 1)
        switch.receive(ack, CARRIER)
    return final


def in_dialog(ok, method, cseq, extra=""):
    return (f"{method} sip:x@127.0.0.1 SIP/2.0\n"
            f"Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK{method}{cseq}\n"
            f"Max-Forwards: 70\nTo: {ok.headers.get('To')}\nFrom: {ok.headers.get('From')}\n"
            f"Call-ID: call-1@carrier\nCSeq: {cseq} {method}\n{extra}Content-Length: 0\n\n")


def requests(switch):
    return [(m, p) for m, p in switch.wire.take() if m.is_request]


def test_the_callers_interval_and_refresher_are_granted_in_the_200(switch):
    ok = call(switch, "Supported: timer\nSession-Expires: 600;refresher=uac\nMin-SE: 90\n")
    assert ok.headers.get("Session-Expires") == "600;refresher=uac"
    assert ok.headers.get("Require") == "timer" and "timer" in ok.headers.get("Supported")
    assert "UPDATE" in ok.headers.get("Allow")


def test_a_caller_whose_refreshes_stop_gets_a_bye_before_the_interval_ends(switch):
    ok = call(switch, "Supported: timer\nSession-Expires: 90\n")
    assert ok.headers.get("Session-Expires") == "90;refresher=uac"
    switch.clock.advance(50)  # the caller refreshes with an UPDATE
    [(reply, _)] = switch.receive(in_dialog(ok, "UPDATE", 2, "Supported: timer\n"
                                            "Session-Expires: 90;refresher=uac\n"), CARRIER)
    assert reply.status == 200 and reply.headers.get("Session-Expires") == "90;refresher=uac"
    switch.clock.advance(59)  # 50 + 60 = 110 is the end of the refreshed interval
    assert requests(switch) == []
    switch.clock.advance(1)
    [(bye, peer)] = requests(switch)
    assert bye.method == "BYE" and peer == CARRIER
    [record] = switch.records
    assert (record.disconnect_side, record.disconnect_reason) == ("switch", "session-expired")


def test_a_re_invite_refreshes_too(switch):
    ok = call(switch, "Supported: timer\nSession-Expires: 90\n")
    switch.clock.advance(55)
    [(reply, _)] = switch.receive(in_dialog(ok, "INVITE", 2), CARRIER)
    assert reply.status == 200 and reply.body  # our SDP, the refresh granted
    switch.clock.advance(59)
    assert requests(switch) == [] and not switch.records


def test_an_interval_below_our_min_se_is_refused_with_422(switch):
    final = call(switch, "Supported: timer\nSession-Expires: 60\n")
    assert final.status == 422 and final.headers.get("Min-SE") == "90"


def test_a_malformed_session_expires_is_a_400(switch):
    final = call(switch, "Session-Expires: soon\n")
    assert final.status == 400


def test_we_refresh_a_caller_without_timer_support_by_re_invite_and_ack_the_200(switch):
    ok = call(switch)
    assert ok.headers.get("Session-Expires") == "1800;refresher=uas"
    assert ok.headers.get("Require") is None
    switch.clock.advance(900)
    [(refresh, peer)] = requests(switch)
    assert refresh.method == "INVITE" and peer == CARRIER and refresh.body == ANSWER
    assert refresh.headers.get("Session-Expires") == "1800;refresher=uac"
    [(ack, _)] = switch.receive(response_to(refresh, 200, to_tag="caller1"), CARRIER)
    assert ack.method == "ACK" and ack.cseq.number == refresh.cseq.number
    switch.clock.advance(899)
    assert requests(switch) == []
    switch.clock.advance(1)
    assert [m.method for m, _ in requests(switch)] == ["INVITE"]


def test_we_refresh_by_update_when_the_caller_allows_it(switch):
    call(switch, "Allow: INVITE, ACK, BYE, CANCEL, UPDATE\n")
    switch.clock.advance(900)
    [(refresh, _)] = requests(switch)
    assert refresh.method == "UPDATE" and refresh.body == b""


def test_a_refresh_answered_481_ends_the_call(switch):
    call(switch)
    switch.clock.advance(900)
    [(refresh, _)] = requests(switch)
    sent = switch.receive(response_to(refresh, 481, to_tag="caller1"), CARRIER)
    assert [m.method for m, _ in sent if m.is_request] == ["ACK", "BYE"]  # (ACK: 3xx-6xx)
    assert switch.records[0].disconnect_reason == "session-expired"


def test_a_refresh_never_answered_ends_the_call_at_expiry(switch):
    call(switch)
    switch.clock.pump([1.0] * 1801)
    methods = [m.method for m, _ in requests(switch)]
    assert methods[0] == "INVITE" and methods[-1] == "BYE"
    assert switch.records[0].disconnect_reason == "session-expired"


def test_a_refresh_in_glare_is_tried_again(switch):
    call(switch)
    switch.clock.advance(900)
    [(refresh, _)] = requests(switch)
    sent = switch.receive(response_to(refresh, 491, to_tag="caller1"), CARRIER)
    assert [m.method for m, _ in sent if m.is_request] == ["ACK"]
    switch.clock.advance(3)
    [(again, _)] = requests(switch)
    assert again.method == "INVITE" and again.cseq.number == refresh.cseq.number + 1
    assert not switch.records
