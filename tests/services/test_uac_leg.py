"""The switch as UAC for one call (services.calls.uac_leg): the INVITE it sends, provisional
and final responses as typed events, one digest challenge answered, ACK for the 2xx
and its retransmissions, CANCEL only after a provisional, BYE either way, and the far
end's in-dialog requests reaching the leg through AgentCalls. The SIP stack is the
real endpoint and transaction layer on a Clock with an in-memory wire."""

import pytest
from memory_proxy import ProxyHarness

from softswitch.services.agent_calls import AgentCalls
from softswitch.services.routing import RoutingSnapshot
from softswitch.services.calls.events import (
    Answered,
    Ended,
    Failed,
    Reoffered,
    Ringing,
    outcome_of,
)
from softswitch.services.calls.uac_leg import CONFIRMED, TERMINATED, UacLeg
from softswitch.sip import digest
from softswitch.sip.transport import Peer

GATEWAY = Peer("udp", "203.0.113.1", 5060)
PHONE = Peer("udp", "203.0.113.9", 5070)  # the far end's Contact
OFFER = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" \
        b"m=audio 30000 RTP/AVP 0 8 101\r\n"
ANSWER = "v=0\r\no=- 2 2 IN IP4 203.0.113.9\r\ns=-\r\nc=IN IP4 203.0.113.9\r\nt=0 0\r\n" \
         "m=audio 40000 RTP/AVP 0 101\r\n"


class Owner:
    def __init__(self):
        self.events = []

    def leg_event(self, leg, event):
        self.events.append(event)


class Switch(ProxyHarness):
    def __init__(self):
        super().__init__(RoutingSnapshot(), agents=lambda h: AgentCalls(
            h.endpoint, h.clock, sessions=None, **h.shared))
        self.owner = Owner()

    def leg(self, **options) -> UacLeg:
        options.setdefault("ring_timeout", 30.0)
        return UacLeg(self.endpoint, self.clock, self.owner, destination=GATEWAY,
                      request_uri="sip:+14155550100@203.0.113.1:5060",
                      from_uri="sip:+12125550123@127.0.0.1", to_uri="sip:+14155550100@203.0.113.1",
                      offer_sdp=OFFER, legs=self.agents.legs, **options)

    def requests(self):
        return [(m, peer) for m, peer in self.wire.take() if m.is_request]


def reply(request, status, *, to_tag="far1", body="", contact="sip:bob@203.0.113.9:5070",
          extra=""):
    """A response text from the far end to a request the switch sent."""
    lines = [f"SIP/2.0 {status} Whatever"]
    lines += [f"Via: {v}" for v in request.headers.values("Via")]
    to = request.headers.get("To")
    if status > 100 and ";tag=" not in to:
        to = f"{to};tag={to_tag}"
    lines += [f"From: {request.headers.get('From')}", f"To: {to}",
              f"Call-ID: {request.call_id}", f"CSeq: {request.headers.get('CSeq')}"]
    if contact and status < 300:
        lines.append(f"Contact: <{contact}>")
    if extra:
        lines.append(extra.rstrip("\n"))
    if body:
        lines.append("Content-Type: application/sdp")
    lines += [f"Content-Length: {len(body.encode())}", "", body]
    return "\r\n".join(lines)


def far_request(leg, method, cseq=1, body="", extra=""):
    """A request the far end sends within the leg's dialog."""
    lines = [f"{method} sip:softswitch@127.0.0.1:5060 SIP/2.0",
             "Via: SIP/2.0/UDP 203.0.113.9:5070;branch=z9hG4bKfar" + method.lower() + str(cseq),
             "Max-Forwards: 70", f"From: {leg.dialog.remote_uri}", f"To: {leg.dialog.local_uri}",
             f"Call-ID: {leg.call_id}", f"CSeq: {cseq} {method}"]
    if extra:
        lines.append(extra.rstrip("\n"))
    if body:
        lines.append("Content-Type: application/sdp")
    lines += [f"Content-Length: {len(body.encode())}", "", body]
    return "\r\n".join(lines)


@pytest.fixture
def switch():
    return Switch()


def started(switch, **options):
    leg = switch.leg(**options).start()
    [(invite, peer)] = switch.requests()
    return leg, invite, peer


def answer(switch, leg, invite, **options):
    sent = switch.receive(reply(invite, 200, body=ANSWER, **options), GATEWAY)
    return [(m, peer) for m, peer in sent if m.is_request]


def test_the_invite_carries_our_identity_offer_and_contact(switch):
    leg, invite, peer = started(switch)
    assert peer == GATEWAY and invite.method == "INVITE"
    assert invite.uri == "sip:+14155550100@203.0.113.1:5060"
    assert invite.from_tag == leg.local_tag and invite.to_tag is None
    assert invite.call_id == leg.call_id and str(invite.cseq) == "1 INVITE"
    assert invite.headers.get("Contact") == "<sip:127.0.0.1:5060>"
    assert invite.top_via.branch.startswith("z9hG4bK")
    assert invite.body == OFFER and invite.headers.get("Content-Type") == "application/sdp"
    assert len(switch.agents.legs) == 1


def test_provisionals_are_ringing_events_and_100_is_not(switch):
    leg, invite, _ = started(switch)
    switch.receive(reply(invite, 100), GATEWAY)
    switch.receive(reply(invite, 180), GATEWAY)
    switch.receive(reply(invite, 183, body=ANSWER), GATEWAY)
    assert switch.owner.events == [Ringing(180), Ringing(183, ANSWER.encode())]


def test_the_2xx_is_acked_at_the_contact_and_answers_with_the_sdp(switch):
    leg, invite, _ = started(switch)
    [(ack, peer)] = answer(switch, leg, invite)
    assert switch.owner.events == [Answered(ANSWER.encode())]
    assert leg.state == CONFIRMED and leg.remote_tag == "far1"
    assert (ack.method, ack.uri, peer) == ("ACK", "sip:bob@203.0.113.9:5070", PHONE)
    assert str(ack.cseq) == "1 ACK" and ack.to_tag == "far1" and ack.from_tag == leg.local_tag
    assert ack.top_via.branch != invite.top_via.branch


def test_a_resent_2xx_is_acked_again(switch):
    leg, invite, _ = started(switch)
    [(ack, _)] = answer(switch, leg, invite)
    again = answer(switch, leg, invite)
    assert [(m.method, str(m.cseq)) for m, _ in again] == [("ACK", "1 ACK")]
    assert again[0][0].to_bytes() == ack.to_bytes()
    assert switch.owner.events == [Answered(ANSWER.encode())]  # told once


def test_record_route_makes_the_route_set_of_the_ack_and_bye(switch):
    leg, invite, _ = started(switch)
    rr = "Record-Route: <sip:198.51.100.50:5060;lr>\r\nRecord-Route: <sip:198.51.100.60;lr>"
    [(ack, peer)] = answer(switch, leg, invite, extra=rr)
    assert ack.headers.values("Route") == ["<sip:198.51.100.60;lr>",
                                           "<sip:198.51.100.50:5060;lr>"]
    assert peer == Peer("udp", "198.51.100.60", 5060)
    leg.bye()
    [(bye, peer)] = switch.requests()
    assert bye.method == "BYE" and bye.uri == "sip:bob@203.0.113.9:5070"
    assert bye.headers.values("Route") == ack.headers.values("Route")
    assert str(bye.cseq) == "2 BYE" and bye.to_tag == "far1"
    assert leg.state == TERMINATED and len(switch.agents.legs) == 0
    assert switch.owner.events == [Answered(ANSWER.encode())]  # bye() is not reported


def test_a_challenge_is_answered_once_with_the_trunk_credentials(switch):
    leg, invite, _ = started(switch, credentials=("acct", "secret"))
    challenge = 'Proxy-Authenticate: Digest realm="carrier", nonce="abc123", qop="auth"'
    sent = switch.receive(reply(invite, 407, extra=challenge), GATEWAY)
    [ack_407] = [m for m, _ in sent if m.method == "ACK"]  # the transaction's own ACK
    [again] = [m for m, _ in sent if m.method == "INVITE"]
    assert str(again.cseq) == "2 INVITE" and again.call_id == invite.call_id
    assert again.from_tag == invite.from_tag and again.top_via.branch != invite.top_via.branch
    credentials = digest.parse_credentials(again.headers.get("Proxy-Authorization"))
    assert (credentials.username, credentials.realm, credentials.uri) == (
        "acct", "carrier", invite.uri)
    switch.receive(reply(again, 407, extra=challenge), GATEWAY)
    assert switch.owner.events == [Failed(407, "failed")]


def test_the_ack_of_an_authenticated_invite_carries_its_credentials(switch):
    leg, invite, _ = started(switch, credentials=("acct", "secret"))
    sent = switch.receive(reply(invite, 401, extra='WWW-Authenticate: Digest realm="c", '
                                                   'nonce="n1"'), GATEWAY)
    [again] = [m for m, _ in sent if m.method == "INVITE"]
    [(ack, _)] = answer(switch, leg, again)
    assert str(ack.cseq) == "2 ACK"
    assert ack.headers.get("Authorization") == again.headers.get("Authorization")


def test_busy_and_other_failures_carry_their_outcome(switch):
    leg, invite, _ = started(switch)
    sent = switch.receive(reply(invite, 486), GATEWAY)
    assert [m.method for m, _ in sent] == ["ACK"]
    assert switch.owner.events == [Failed(486, "busy")] and leg.finished
    assert len(switch.agents.legs) == 0
    assert [outcome_of(c) for c in (600, 480, 408, 404, 503)] == [
        "busy", "no-answer", "no-answer", "failed", "failed"]


def test_no_answer_in_time_cancels_and_reports_no_answer(switch):
    leg, invite, _ = started(switch, ring_timeout=20.0)
    switch.receive(reply(invite, 180), GATEWAY)
    switch.clock.advance(20.0)
    [(cancel, peer)] = switch.requests()
    assert (cancel.method, str(cancel.cseq), peer) == ("CANCEL", "1 CANCEL", GATEWAY)
    assert cancel.top_via.branch == invite.top_via.branch
    assert switch.owner.events == [Ringing(180), Failed(408, "no-answer")]
    switch.receive(reply(invite, 487), GATEWAY)
    assert switch.owner.events[-1] == Failed(408, "no-answer")  # nothing more


def test_cancel_waits_for_a_provisional_and_a_crossing_2xx_is_hung_up(switch):
    leg, invite, _ = started(switch)
    leg.cancel()
    assert switch.requests() == []  # RFC 3261 §9.1: no provisional yet
    sent = switch.receive(reply(invite, 180), GATEWAY)
    assert [m.method for m, _ in sent] == ["CANCEL"]
    sent = answer(switch, leg, invite)  # the 200 crossed the CANCEL
    assert [(m.method, str(m.cseq), p) for m, p in sent] == [
        ("ACK", "1 ACK", GATEWAY), ("BYE", "2 BYE", GATEWAY)]
    assert [m.method for m, _ in answer(switch, leg, invite)] == ["ACK"]  # only re-ACKed
    assert switch.owner.events == []  # the owner asked; it is not told


def test_cancel_after_answer_is_a_bye(switch):
    leg, invite, _ = started(switch)
    answer(switch, leg, invite)
    leg.cancel()
    assert [m.method for m, _ in switch.requests()] == ["BYE"]


def test_a_second_fork_answering_is_acked_and_hung_up(switch):
    leg, invite, _ = started(switch)
    answer(switch, leg, invite)
    sent = answer(switch, leg, invite, to_tag="far2", contact="sip:other@203.0.113.10")
    assert [(m.method, m.to_tag) for m, _ in sent] == [("ACK", "far2"), ("BYE", "far2")]
    assert leg.remote_tag == "far1" and leg.state == CONFIRMED


def test_no_response_at_all_fails(switch):
    leg, invite, _ = started(switch, ring_timeout=None)
    switch.clock.pump([0.5] * 80)  # Timer B
    assert switch.owner.events == [Failed(408, "failed")]
    assert len(switch.agents.legs) == 0


def test_the_far_end_hangs_up(switch):
    leg, invite, _ = started(switch)
    answer(switch, leg, invite)
    sent = switch.receive(far_request(leg, "BYE"), PHONE)
    assert [m.status for m, _ in sent] == [200]
    assert switch.owner.events[-1] == Ended("remote", "bye")
    assert leg.state == TERMINATED and len(switch.agents.legs) == 0
    again = switch.receive(far_request(leg, "BYE", cseq=2), PHONE)
    assert [m.status for m, _ in again] == [481]


def test_re_invite_gets_our_sdp_and_info_and_options_get_200(switch):
    leg, invite, _ = started(switch)
    answer(switch, leg, invite)
    [(ok, _)] = switch.receive(far_request(leg, "INVITE", cseq=2, body=ANSWER), PHONE)
    assert ok.status == 200 and ok.body == OFFER and ok.headers.get("Contact")
    ack = far_request(leg, "ACK", cseq=2)
    assert switch.receive(ack, PHONE) == []
    for method in ("INFO", "OPTIONS"):
        [(response, _)] = switch.receive(far_request(leg, method, cseq=3), PHONE)
        assert response.status == 200, method
    [(refused, _)] = switch.receive(far_request(leg, "MESSAGE", cseq=4), PHONE)
    assert refused.status == 405
    assert switch.owner.events == [Answered(ANSWER.encode()),
                                   Reoffered(ANSWER.encode(), False)]


def test_requests_with_tags_of_no_dialog_are_not_the_legs(switch):
    leg, invite, _ = started(switch)
    answer(switch, leg, invite)
    forged = far_request(leg, "BYE").replace(f";tag={leg.local_tag}", ";tag=other")
    assert [m.status for m, _ in switch.receive(forged, PHONE)] == [481]
    assert leg.state == CONFIRMED


def test_follow_contact_off_keeps_in_dialog_requests_on_the_invite_destination(switch):
    leg, invite, _ = started(switch, follow_contact=False)
    [(ack, peer)] = answer(switch, leg, invite)
    assert peer == GATEWAY and ack.uri == "sip:bob@203.0.113.9:5070"
