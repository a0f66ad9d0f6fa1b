"""Symmetric RTP latching: SDP address preferred, NAT'd sources learned after N packets
or T seconds, strict source once latched, re-learning on a new SDP address."""

import pytest

from softswitch.media.latch import LATCHED, LEARNING, Latch, LatchPolicy, normalize_address

SDP = ("192.0.2.10", 4000)
NAT = ("203.0.113.7", 61000)
ATTACKER = ("198.51.100.66", 5555)


def test_packet_from_the_sdp_address_latches_at_once():
    latch = Latch(SDP)
    assert latch.state == LEARNING and latch.destination == SDP
    assert latch.accept(SDP, 0.0)
    assert latch.state == LATCHED and latch.peer == SDP


def test_strict_source_after_latching():
    latch = Latch(SDP)
    latch.accept(SDP, 0.0)
    assert not latch.accept(ATTACKER, 0.01)
    assert not latch.accept(("192.0.2.10", 4002), 0.02)  # same host, other port
    assert latch.accept(SDP, 0.03)
    assert latch.dropped == 2 and latch.peer == SDP


def test_nat_source_latches_after_n_packets():
    latch = Latch(SDP, LatchPolicy(learn_packets=3, learn_seconds=10.0))
    assert not latch.accept(NAT, 0.00)
    assert not latch.accept(NAT, 0.02)
    assert latch.accept(NAT, 0.04)
    assert latch.peer == NAT and latch.destination == NAT
    assert latch.dropped_learning == 2
    assert not latch.accept(SDP, 0.06)  # strict: even the SDP address is now foreign


def test_nat_source_latches_after_t_seconds():
    latch = Latch(SDP, LatchPolicy(learn_packets=100, learn_seconds=0.5))
    assert not latch.accept(NAT, 0.0)
    assert not latch.accept(NAT, 0.3)
    assert latch.accept(NAT, 0.5)
    assert latch.state == LATCHED


def test_one_packet_policy_latches_the_first_source():
    latch = Latch(SDP, LatchPolicy(learn_packets=1))
    assert latch.accept(NAT, 0.0) and latch.peer == NAT


def test_sdp_address_wins_over_a_nat_candidate():
    latch = Latch(SDP, LatchPolicy(learn_packets=3))
    assert not latch.accept(NAT, 0.0)
    assert latch.accept(SDP, 0.01)
    assert latch.peer == SDP


def test_a_single_injected_packet_cannot_capture_the_leg():
    latch = Latch(SDP, LatchPolicy(learn_packets=3, learn_seconds=0.5))
    assert not latch.accept(ATTACKER, 0.0)
    # The attacker's candidacy blocks the NAT'd phone only until it goes stale.
    assert not latch.accept(NAT, 0.1)
    assert not latch.accept(NAT, 0.6)  # attacker quiet for 0.5 s: NAT becomes candidate
    assert not latch.accept(NAT, 0.62)
    assert latch.accept(NAT, 0.64)
    assert latch.peer == NAT


def test_reopen_with_a_new_address_learns_again_and_keeps_the_old_peer_meanwhile():
    latch = Latch(SDP, LatchPolicy(learn_packets=2))
    latch.accept(SDP, 0.0)
    new = ("192.0.2.20", 5000)
    assert latch.reopen(new)
    assert latch.state == LEARNING and latch.previous == SDP and latch.destination == new
    assert latch.accept(SDP, 0.1)  # the old peer is still heard...
    assert not latch.accept(ATTACKER, 0.12)  # ...a stranger is not
    assert latch.accept(new, 0.14)
    assert latch.peer == new and latch.previous is None
    assert not latch.accept(SDP, 0.16)


def test_reopen_with_the_same_address_keeps_the_latch():
    latch = Latch(SDP, LatchPolicy(learn_packets=1))
    latch.accept(NAT, 0.0)
    assert not latch.reopen(("192.0.2.10", 4000))
    assert latch.peer == NAT


def test_nat_phone_that_moves_its_private_address_relatches_to_the_same_public_one():
    latch = Latch(SDP, LatchPolicy(learn_packets=3))
    for t in (0.0, 0.02, 0.04):
        latch.accept(NAT, t)
    assert latch.peer == NAT
    latch.reopen(("192.0.2.11", 4000))
    assert all(latch.accept(NAT, t) for t in (1.0, 1.02, 1.04))
    assert latch.state == LATCHED and latch.peer == NAT


def test_hold_with_unspecified_address_stops_sending():
    latch = Latch(SDP)
    latch.accept(SDP, 0.0)
    latch.reopen(("0.0.0.0", 4000))
    assert latch.advertised is None and latch.destination is None


@pytest.mark.parametrize("given,expected", [
    (("2001:DB8::1", 4000), ("2001:db8::1", 4000)),
    (("192.0.2.1", 0), None),
    (("0.0.0.0", 4000), None),
    (("::", 4000), None),
    (("media.example.com", 4000), ("media.example.com", 4000)),
    (None, None),
])
def test_normalize_address(given, expected):
    assert normalize_address(given) == expected


def test_ipv6_sdp_address_matches_the_socket_form():
    latch = Latch(("2001:DB8:0::10", 4000))
    assert latch.accept(("2001:db8::10", 4000), 0.0)


def test_policy_validation():
    with pytest.raises(ValueError):
        LatchPolicy(learn_packets=0)
    with pytest.raises(ValueError):
        LatchPolicy(learn_seconds=-1)


def test_reopen_for_another_party_forgets_the_old_peer():
    latch = Latch(SDP)
    latch.accept(SDP, 0.0)
    assert latch.reopen(SDP, keep_previous=False)  # even with the same address
    assert latch.state == LEARNING and latch.previous is None
    assert not latch.accept(NAT, 0.1)
    assert latch.accept(SDP, 0.2)
