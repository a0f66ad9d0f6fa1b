"""A relayed call's legs, offer/answer, hold and activity (softswitch.media.relay_call),
driven by SDP and `now` alone."""

import pytest

from softswitch.media.relay_call import AnswerMismatch, RelayCall, UnknownLeg
from softswitch.sdp import parse_sdp


def sdp(direction="sendrecv", host="192.0.2.10", port=40000, media="audio"):
    return parse_sdp((f"v=0\r\no=- 1 1 IN IP4 {host}\r\ns=-\r\nc=IN IP4 {host}\r\nt=0 0\r\n"
                      f"m={media} {port} RTP/AVP 0\r\na={direction}\r\n").encode())


def offered(call, tag="caller", body=None):
    leg = call.offerer(tag)
    body = body or sdp()
    call.sdp_applied(leg, body, 1.0)
    call.offer = body
    return leg


def test_the_first_answer_names_the_callee_and_starts_the_activity_count():
    call = RelayCall("c1", "caller", now=0.0)
    offered(call)
    answerer, new_party = call.take_answer("caller", "callee-1", sdp(), now=5.0)
    assert answerer is call.callee and call.callee.tag == "callee-1" and not new_party
    assert (call.answered, call.activity_floor) == (5.0, 5.0)
    assert call.leg("callee-1") is call.callee and call.leg("nobody") is None


def test_another_fork_answering_is_a_new_party():
    call = RelayCall("c1", "caller", now=0.0)
    offered(call)
    call.take_answer("caller", "fork-1", sdp(), now=5.0)
    answerer, new_party = call.take_answer("caller", "fork-2", sdp(), now=6.0)
    assert answerer.tag == "fork-2" and new_party and call.answered == 5.0


def test_unknown_tags_and_mismatched_answers_are_refused():
    call = RelayCall("c1", "caller", now=0.0)
    offered(call)
    call.take_answer("caller", "callee", sdp(), now=1.0)
    with pytest.raises(UnknownLeg, match="'stranger' is not a leg of call 'c1'"):
        call.offerer("stranger")
    # The callee re-offers; an answer must come from the caller's tag.
    call.offer = sdp()
    with pytest.raises(UnknownLeg):
        call.take_answer("callee", "someone-else", sdp(), now=2.0)
    with pytest.raises(AnswerMismatch):
        call.take_answer("caller", "callee", sdp(media="video"), now=2.0)


def test_hold_and_resume_move_the_activity_floor():
    call = RelayCall("c1", "caller", now=0.0)
    caller = offered(call)
    call.take_answer("caller", "callee", sdp(), now=2.0)
    call.sdp_applied(call.callee, sdp(), 2.0)
    call.sdp_applied(caller, sdp("sendonly"), 10.0)
    assert call.on_hold and call.activity_floor == 2.0
    call.sdp_applied(caller, sdp(), 300.0)
    assert not call.on_hold and call.activity_floor == 300.0


def test_a_side_that_first_names_an_address_after_the_answer_counts_from_then():
    call = RelayCall("c1", "caller", now=0.0)
    offered(call)
    call.take_answer("caller", "callee", sdp(), now=2.0)
    call.sdp_applied(call.callee, sdp(host="0.0.0.0"), 2.0)
    assert not call.callee.addressed and call.activity_floor == 2.0
    call.sdp_applied(call.callee, sdp(host="192.0.2.20"), 40.0)
    assert call.callee.addressed and call.activity_floor == 40.0
