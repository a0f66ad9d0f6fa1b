"""No reflection, bounded amplification (issue 12): answers go to the packet's source
whatever its Via says, and a challenge flood from a forged source gets one answer per
request, never Timer G copies (it was 14x: 13.5 MB in, 187 MB out)."""

from hostile_switch import hostile_switch

from softswitch.sip.message import parse_message
from softswitch.sip.transport import Peer

SOURCE = Peer("udp", "192.0.2.66", 5060)
THIRD = "198.51.100.200"


def invite(n: int, via_params: str = "") -> bytes:
    # 273 bytes, as the INVITE of the report.
    return (f"INVITE sip:+14155550100@127.0.0.1 SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 192.0.2.66:5060;branch=z9hG4bKfl{n:06d}{via_params}\r\n"
            f"Max-Forwards: 70\r\nTo: <sip:+14155550100@127.0.0.1>\r\n"
            f"From: <sip:x@192.0.2.66>;tag=f{n}\r\nCall-ID: flood-{n}@192.0.2.66\r\n"
            f"CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n").encode()


def test_an_invite_whose_via_names_a_third_address_is_answered_only_at_its_source():
    switch = hostile_switch()
    data = invite(1, f";received={THIRD};rport=5999")
    switch.endpoint.message_received(data, SOURCE)
    for _ in range(70):
        switch.clock.advance(1)
    assert switch.raw, "the source gets its answer"
    assert {peer for _, peer in switch.raw} == {SOURCE}
    # The client's received/rport were overwritten with what the packet shows.
    assert not any(THIRD.encode() in d or b"5999" in d for d, _ in switch.raw)


def test_a_challenge_flood_from_a_forged_source_is_answered_once_per_request():
    switch = hostile_switch()
    bytes_in = 0
    for n in range(2000):
        data = invite(n)
        bytes_in += len(data)
        switch.endpoint.message_received(data, SOURCE)
        if n % 100 == 99:
            switch.clock.advance(0.05)
    for _ in range(70):  # Timer H of the last ones: no ACK ever comes
        switch.clock.advance(1)
    statuses = [parse_message(d, validate=False).status for d, _ in switch.raw]
    assert statuses == [407] * 2000
    bytes_out = sum(len(d) for d, _ in switch.raw)
    assert bytes_out <= 3 * bytes_in, bytes_out / bytes_in
    assert len(switch.layer) == 0


def test_a_caller_that_missed_the_challenge_gets_it_again_on_its_retransmission():
    switch = hostile_switch()
    data = invite(7)
    switch.endpoint.message_received(data, SOURCE)
    switch.clock.advance(0.5)
    switch.endpoint.message_received(data, SOURCE)  # Timer A: the 407 was lost
    switch.clock.advance(40)
    first, again = switch.raw
    assert first == again and parse_message(first[0], validate=False).status == 407


def test_a_stray_2xx_of_no_call_of_ours_is_not_relayed_to_the_via_it_names():
    """A 2xx whose top Via is ours and whose next Via names a third party matches no
    transaction; relayed statelessly it would reflect to that third party."""
    switch = hostile_switch()
    response = (f"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKx.1\r\n"
                f"Via: SIP/2.0/UDP {THIRD}:5060;branch=z9hG4bKvictim\r\n"
                "From: <sip:a@x>;tag=1\r\nTo: <sip:b@x>;tag=2\r\nCall-ID: forged@x\r\n"
                "CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n").encode()
    switch.endpoint.message_received(response, SOURCE)
    assert switch.raw == []


def test_a_minimal_hand_made_request_gets_an_answer_within_three_times_its_size():
    """The smallest INVITE and REGISTER that parse: their challenges (two algorithms)
    would be 3.7x; over UDP they lose the second challenge and stay within 3x."""
    for tiny in (b"INVITE sip:+14155550100@a SIP/2.0\r\nv: SIP/2.0/UDP a;branch=z9hG4bKt\r\n"
                 b"f: <sip:a@a>;tag=1\r\nt: <sip:a@a>\r\ni: a\r\nCSeq: 1 INVITE\r\n\r\n",
                 b"REGISTER sip:example.com SIP/2.0\r\nv: SIP/2.0/UDP a;branch=z9hG4bKr\r\n"
                 b"f: <sip:a@example.com>;tag=1\r\nt: <sip:a@example.com>\r\ni: r\r\n"
                 b"CSeq: 1 REGISTER\r\n\r\n"):
        switch = hostile_switch()
        switch.endpoint.message_received(tiny, SOURCE)
        switch.clock.advance(40)
        [(data, peer)] = switch.raw
        answer = parse_message(data)
        assert answer.status in (401, 407) and peer == SOURCE
        assert len(data) <= 3 * len(tiny)
        assert len(answer.headers.values("WWW-Authenticate")
                   + answer.headers.values("Proxy-Authenticate")) == 1
