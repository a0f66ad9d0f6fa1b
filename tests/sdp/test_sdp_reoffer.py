"""A terminating endpoint's answer to a re-offer (RFC 3264 §6.1, §8)."""

import pytest

from softswitch.sdp import parse_sdp
from softswitch.sdp.reoffer import answer_reoffer, offer_from_answer, offer_holds

OURS = parse_sdp(b"v=0\r\no=softswitch 1 1 IN IP4 203.0.113.5\r\ns=softswitch\r\n"
                 b"c=IN IP4 203.0.113.5\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0 101\r\n"
                 b"a=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
                 b"a=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n")


def offer(direction: str | None, address: str = "198.51.100.7", session_level=False) -> bytes:
    lines = ["v=0", "o=- 7 2 IN IP4 198.51.100.7", "s=-", f"c=IN IP4 {address}", "t=0 0"]
    if direction and session_level:
        lines.append(f"a={direction}")
    lines += ["m=audio 20000 RTP/AVP 0 101", "a=rtpmap:0 PCMU/8000"]
    if direction and not session_level:
        lines.append(f"a={direction}")
    return parse_sdp(("\r\n".join(lines) + "\r\n").encode())


@pytest.mark.parametrize("offered, answered", [
    ("sendonly", "recvonly"), ("inactive", "inactive"), ("recvonly", "sendonly"),
    ("sendrecv", "sendrecv"), (None, "sendrecv")])
def test_each_direction_is_answered_as_rfc_3264_asks(offered, answered):
    answer = answer_reoffer(OURS, offer(offered))
    assert answer.direction_of(answer.media[0]) == answered
    assert answer.media[0].formats == ["0", "101"] and answer.media[0].port == 40000


def test_a_session_level_direction_is_answered_on_the_stream():
    answer = answer_reoffer(OURS, offer("sendonly", session_level=True))
    assert answer.media[0].direction == "recvonly" and answer.direction is None


def test_the_origin_version_moves_only_when_the_answer_changes():
    same = answer_reoffer(OURS, offer("sendrecv"))
    assert bytes(same) == bytes(OURS)
    held = answer_reoffer(OURS, offer("sendonly"))
    assert held.origin.version == 2 and held.origin.session_id == "1"
    assert answer_reoffer(held, offer("sendonly")).origin.version == 2
    assert answer_reoffer(held, offer("sendrecv")).origin.version == 3


@pytest.mark.parametrize("sdp, held", [
    (offer("sendonly"), True), (offer("inactive"), True), (offer(None, "0.0.0.0"), True),
    (offer("sendrecv"), False), (offer("recvonly"), False), (offer(None), False)])
def test_which_offers_hold(sdp, held):
    assert offer_holds(sdp) is held


def test_a_re_invite_without_sdp_gets_our_streams_sendrecv():
    held = answer_reoffer(OURS, offer("inactive"))
    ours = offer_from_answer(held)
    assert ours.media[0].direction == "sendrecv" and ours.origin.version == 3
    assert bytes(offer_from_answer(OURS)) == bytes(OURS)
