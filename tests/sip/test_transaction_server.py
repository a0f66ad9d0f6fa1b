"""Server transactions (RFC 3261 §17.2, RFC 6026): 100 Trying, response
retransmission with Timer G, ACK handling, Timers H/I/J/L, absorbed retransmissions."""

import pytest

from softswitch.sip.timers import TimerConfig
from softswitch.sip.transaction import (
    AckReceived,
    MessageAbsorbed,
    RequestReceived,
    SendMessage,
    TransactionTerminated,
    TransactionTimedOut,
    TransportFailed,
)
from test_transaction_wire import TCP_PEER, UDP_PEER, Wire, build_ack, build_request, reply


def start(wire: Wire, method: str = "INVITE", now: float = 0.0, **options):
    request = build_request(method, **options)
    peer = TCP_PEER if options.get("transport") == "TCP" else UDP_PEER
    [received] = wire.receive_request(request, now, peer=peer)
    assert received == RequestReceived(received.key, request, peer)
    wire.tu.clear()  # each test looks at what follows the request
    return received.key, request


def test_invite_server_sends_100_trying_after_200_ms_of_tu_silence():
    wire = Wire()
    key, invite = start(wire)
    assert wire.layer.get_timer() == 0.2
    wire.run_until(0.2)
    [trying] = wire.sent_messages()
    assert trying.status == 100 and trying.to_tag is None
    assert trying.top_via.branch == invite.top_via.branch
    assert wire.sent[0][1] == SendMessage(bytes(trying), UDP_PEER, False, key)
    assert wire.layer.state(key) == "PROCEEDING"


def test_no_100_trying_when_the_tu_answers_in_time():
    wire = Wire()
    key, invite = start(wire)
    wire.send_response(key, reply(invite, 180), 0.1)
    wire.run_until(10.0)
    assert [m.status for m in wire.sent_messages()] == [180]


def test_invite_retransmission_re_sends_the_last_provisional_and_never_reaches_tu():
    wire = Wire()
    key, invite = start(wire)
    assert wire.receive_request(invite, 0.1) == []  # nothing sent yet: nothing to re-send
    wire.send_response(key, reply(invite, 180), 0.15)
    [again] = wire.receive_request(build_request("INVITE", branch=invite.top_via.branch), 0.5)
    assert again.data == wire.sent[-2][1].data
    assert len(wire.tu) == 0


def test_non_2xx_final_is_retransmitted_with_timer_g_until_timer_h():
    wire = Wire()
    key, invite = start(wire)
    wire.send_response(key, reply(invite, 100), 0.0)
    wire.send_response(key, reply(invite, 486), 0.0)
    assert wire.layer.state(key) == "COMPLETED"
    wire.run_until(100.0)
    # G: 0.5, 1, 2, 4, then capped at T2 = 4; H = 64*T1 = 32.
    assert wire.send_times() == [0.0, 0.0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5,
                                 31.5]
    assert [m.status for m in wire.sent_messages()] == [100] + [486] * 11
    assert wire.tu == [(32.0, TransactionTimedOut(key)), (32.0, TransactionTerminated(key))]
    assert len(wire.layer) == 0


def test_a_final_sent_before_any_provisional_is_not_retransmitted_by_timer_g():
    """The client saw no provisional, so it still retransmits its INVITE (Timer A) and
    each copy gets the final again from Completed: one answer per request received,
    never more (a challenge to a forged source is not amplified)."""
    wire = Wire()
    key, invite = start(wire)
    wire.send_response(key, reply(invite, 407), 0.05)
    assert wire.layer.state(key) == "COMPLETED"
    [again] = wire.receive_request(invite, 0.55)
    assert again.data == wire.sent[0][1].data
    wire.run_until(100.0)
    assert wire.send_times() == [0.05, 0.55]
    assert wire.tu == [(32.05, TransactionTimedOut(key)), (32.05, TransactionTerminated(key))]
    assert len(wire.layer) == 0


def test_ack_confirms_and_timer_i_absorbs_further_acks():
    wire = Wire()
    key, invite = start(wire)
    busy = reply(invite, 486)
    wire.send_response(key, reply(invite, 180), 0.0)
    wire.send_response(key, busy, 0.0)
    wire.run_until(1.0)
    [_, (_, final)] = [(t, e) for t, e in wire.sent if t == 0.0]
    assert wire.receive_request(invite, 1.2) == [SendMessage(final.data, UDP_PEER, False, key)]
    ack = build_ack(invite, busy)
    assert wire.receive_request(ack, 1.3) == []
    assert wire.layer.state(key) == "CONFIRMED"
    assert wire.receive_request(ack, 1.4) == []  # absorbed
    assert wire.receive_request(invite, 1.45) == []  # a late INVITE copy: absorbed
    assert wire.layer.get_timer() == pytest.approx(6.3)  # I = T4
    wire.run_until(100.0)
    assert wire.send_times() == [0.0, 0.0, 0.5, 1.2]  # G stopped by the ACK
    assert wire.tu == [(pytest.approx(6.3), TransactionTerminated(key))]


def test_reliable_invite_server_has_no_g_and_terminates_on_ack():
    wire = Wire()
    key, invite = start(wire, transport="TCP")
    busy = reply(invite, 404)
    wire.send_response(key, busy, 0.05)
    assert wire.layer.get_timer() == pytest.approx(32.05)  # only H
    assert wire.receive_request(build_ack(invite, busy), 0.3, peer=TCP_PEER) == [
        TransactionTerminated(key)]
    assert wire.send_times() == [0.05]
    assert wire.sent[0][1].reliable


def test_ack_before_a_final_is_absorbed_and_reported():
    wire = Wire()
    key, invite = start(wire)
    ack = build_ack(invite, reply(invite, 486))
    [event] = wire.receive_request(ack, 0.1)
    assert event == MessageAbsorbed(key, ack, "ACK in PROCEEDING")


def test_2xx_enters_accepted_where_acks_go_to_the_tu_until_timer_l():
    wire = Wire()
    key, invite = start(wire)
    ok = reply(invite, 200)
    wire.send_response(key, ok, 1.0)
    assert wire.layer.state(key) == "ACCEPTED"
    assert wire.layer.get_timer() == 33.0  # L
    assert wire.receive_request(invite, 1.5) == []  # absorbed: 2xx retransmission is the TU's
    wire.run_until(2.0)
    assert wire.send_times() == [1.0]  # no G for a 2xx
    # The TU (dialog layer) re-sends its 2xx through the transaction.
    [resent] = wire.send_response(key, ok, 1.5)
    assert resent.data == bytes(ok)
    # ACK for a 2xx normally has its own branch: a stray for the dialog layer...
    ack = build_ack(invite, ok, branch="z9hG4bK-ack-2xx")
    assert wire.receive_request(ack, 2.0) == [AckReceived(None, ack, UDP_PEER)]
    # ...and one that reuses the INVITE branch is matched and still passed up.
    same_branch = build_ack(invite, ok)
    assert wire.receive_request(same_branch, 2.1) == [AckReceived(key, same_branch, UDP_PEER)]
    late = reply(invite, 486)
    assert wire.send_response(key, late, 3.0) == [
        MessageAbsorbed(key, late, "300-699 response from the TU in ACCEPTED")]
    wire.run_until(100.0)
    assert wire.tu[-1] == (33.0, TransactionTerminated(key))
    assert wire.layer.get_timer() is None


def test_non_invite_server_absorbs_retransmissions_and_re_sends_the_last_response():
    wire = Wire()
    key, request = start(wire, "REGISTER")
    assert wire.layer.get_timer() is None  # no 100 Trying for non-INVITE
    assert wire.receive_request(request, 0.5) == []  # TRYING: absorbed, nothing to re-send
    wire.send_response(key, reply(request, 100), 0.6)
    assert wire.layer.state(key) == "PROCEEDING"
    assert [e.data for e in wire.receive_request(request, 1.0)] == [wire.sent[-1][1].data]
    ok = reply(request, 200)
    wire.send_response(key, ok, 1.2)
    assert wire.layer.state(key) == "COMPLETED"
    assert [e.data for e in wire.receive_request(request, 2.0)] == [bytes(ok)]
    assert wire.layer.get_timer() == pytest.approx(33.2)  # J = 64*T1
    wire.run_until(100.0)
    assert wire.tu == [(pytest.approx(33.2), TransactionTerminated(key))]
    [new] = wire.receive_request(request, 40.0)  # the key is free again
    assert new == RequestReceived(key, request, UDP_PEER)


def test_non_invite_server_over_reliable_terminates_on_the_final():
    wire = Wire()
    key, request = start(wire, "OPTIONS", transport="TCP")
    ok = reply(request, 200)
    assert wire.send_response(key, ok, 0.1) == [
        SendMessage(bytes(ok), TCP_PEER, True, key), TransactionTerminated(key)]
    assert len(wire.layer) == 0


def test_explicit_reliable_overrides_the_via_transport():
    wire = Wire()
    request = build_request("OPTIONS")  # Via says UDP
    [received] = wire.receive_request(request, 0.0, reliable=True)
    assert wire.send_response(received.key, reply(request, 200), 0.1)[-1] == \
        TransactionTerminated(received.key)


def test_tu_responses_out_of_turn_are_absorbed_and_reported():
    wire = Wire()
    key, request = start(wire, "OPTIONS")
    wire.send_response(key, reply(request, 200), 0.1)
    second = reply(request, 404)
    assert wire.send_response(key, second, 0.2) == [
        MessageAbsorbed(key, second, "200-699 response from the TU in COMPLETED")]
    wire.layer.terminate(key)
    [gone] = wire.send_response(key, second, 0.3)
    assert gone == MessageAbsorbed(None, second, "no such server transaction")


def test_timer_h_is_a_transaction_failure_for_the_tu():
    wire = Wire(TimerConfig(t1=0.25))
    key, invite = start(wire)
    wire.send_response(key, reply(invite, 500), 0.0)
    wire.run_until(100.0)
    assert wire.tu == [(16.0, TransactionTimedOut(key)), (16.0, TransactionTerminated(key))]


def test_server_transport_error_informs_the_tu_and_terminates():
    wire = Wire()
    key, invite = start(wire, transport="TCP")
    assert wire.layer.transport_error(key, 0.1) == [TransportFailed(key),
                                                    TransactionTerminated(key)]
    assert wire.layer.get_timer() is None


def test_responses_go_to_the_destination_the_edge_computes():
    seen = []

    def via_received(request, source):
        seen.append((request.method, source))
        return ("UDP", "198.51.100.7", 40000)

    wire = Wire(response_destination=via_received)
    key, invite = start(wire)
    wire.receive_request(invite, 0.1)  # a retransmission does not ask again
    wire.run_until(0.2)
    assert wire.sent[0][1].destination == ("UDP", "198.51.100.7", 40000)
    assert seen == [("INVITE", UDP_PEER)]


def test_a_match_from_another_source_is_absorbed_not_answered():
    """Same branch and sent-by from another address is no retransmission: answering
    it would send our response to the first sender again (found by the fuzz target)."""
    wire = Wire()
    key, request = start(wire, "OPTIONS")
    wire.send_response(key, reply(request, 200), 0.0)
    other = ("UDP", "198.51.100.99", 5060)
    [absorbed] = wire.receive_request(request, 0.1, peer=other)
    assert isinstance(absorbed, MessageAbsorbed) and "another source" in absorbed.reason
    assert len(wire.receive_request(request, 0.2)) == 1  # the real source: answered
