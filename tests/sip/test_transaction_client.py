"""Client transactions (RFC 3261 §17.1, RFC 6026): exact retransmission schedules,
timeouts, ACK generation and the Accepted state, driven with explicit `now`."""

import pytest

from softswitch.sip.errors import LocalProtocolError
from softswitch.sip.timers import TimerConfig
from softswitch.sip.transaction import (
    MessageAbsorbed,
    ResponseReceived,
    StrayResponse,
    TransactionTerminated,
    TransactionTimedOut,
    TransportFailed,
    new_branch,
)
from test_transaction_wire import TCP_PEER, Wire, build_request, reply


def test_non_invite_over_udp_retransmits_with_timer_e_and_times_out_with_f():
    wire = Wire()
    key = wire.send_request(build_request("OPTIONS"), 0.0)
    wire.run_until(100.0)
    # E: 0.5, 1, 2, 4, then capped at T2 = 4.
    assert wire.send_times() == [0.0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    assert wire.tu == [(32.0, TransactionTimedOut(key)), (32.0, TransactionTerminated(key))]
    assert len(wire.layer) == 0
    assert wire.layer.get_timer() is None


def test_invite_over_udp_doubles_timer_a_without_cap_and_times_out_with_b():
    wire = Wire()
    key = wire.send_request(build_request("INVITE"), 0.0)
    wire.run_until(100.0)
    assert wire.send_times() == [0.0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
    assert wire.tu == [(32.0, TransactionTimedOut(key)), (32.0, TransactionTerminated(key))]
    assert len(wire.layer) == 0


@pytest.mark.parametrize("method", ["INVITE", "OPTIONS"])
def test_no_retransmissions_over_reliable_transports(method):
    wire = Wire()
    key = wire.send_request(build_request(method, transport="TCP"), 0.0,
                            peer=TCP_PEER, reliable=True)
    assert wire.layer.get_timer() == 32.0  # only B or F
    wire.run_until(100.0)
    assert wire.send_times() == [0.0]
    assert wire.sent[0][1].reliable and wire.sent[0][1].destination == TCP_PEER
    assert [event for _, event in wire.tu] == [TransactionTimedOut(key),
                                               TransactionTerminated(key)]


def test_timers_scale_with_t1():
    wire = Wire(TimerConfig(t1=1.0, t2=4.0))
    wire.send_request(build_request("OPTIONS"), 10.0)
    wire.run_until(200.0)
    assert wire.send_times() == [10.0, 11.0, 13.0, 17.0, 21.0, 25.0, 29.0, 33.0, 37.0,
                                 41.0, 45.0, 49.0, 53.0, 57.0, 61.0, 65.0, 69.0, 73.0]
    assert wire.tu[0] == (74.0, wire.tu[0][1])


def test_provisional_stops_timer_a_and_b():
    wire = Wire()
    invite = build_request("INVITE")
    key = wire.send_request(invite, 0.0)
    wire.run_until(1.0)
    wire.receive_response(reply(invite, 180), 1.0)
    assert wire.layer.state(key) == "PROCEEDING"
    assert wire.layer.get_timer() is None
    wire.run_until(1000.0)
    assert wire.send_times() == [0.0, 0.5]
    assert [type(event) for _, event in wire.tu] == [ResponseReceived]


def test_provisional_moves_timer_e_to_t2_intervals():
    wire = Wire()
    key = wire.send_request(build_request("REGISTER"), 0.0)
    wire.run_until(0.7)
    wire.receive_response(reply(wire.layer._transactions[key].request, 100), 0.7)
    assert wire.layer.state(key) == "PROCEEDING"
    wire.run_until(100.0)
    # The E armed before the 100 still fires at 1.5; from then on every T2.
    assert wire.send_times() == [0.0, 0.5, 1.5, 5.5, 9.5, 13.5, 17.5, 21.5, 25.5, 29.5]
    assert wire.tu[-2:] == [(32.0, TransactionTimedOut(key)),
                            (32.0, TransactionTerminated(key))]


def test_non_invite_final_is_delivered_once_then_timer_k():
    wire = Wire()
    request = build_request("OPTIONS")
    key = wire.send_request(request, 0.0)
    ok = reply(request, 200)
    wire.receive_response(ok, 0.2)
    assert wire.layer.state(key) == "COMPLETED"
    assert wire.receive_response(reply(request, 200), 0.3) == []  # retransmission absorbed
    assert wire.layer.get_timer() == pytest.approx(5.2)  # K = T4
    wire.run_until(100.0)
    assert wire.send_times() == [0.0]
    assert wire.tu == [(0.2, ResponseReceived(key, ok)), (5.2, TransactionTerminated(key))]


def test_non_invite_final_over_reliable_terminates_at_once():
    wire = Wire()
    request = build_request("OPTIONS", transport="TCP")
    key = wire.send_request(request, 0.0, peer=TCP_PEER, reliable=True)
    ok = reply(request, 200)
    events = wire.receive_response(ok, 0.2)
    assert events == [ResponseReceived(key, ok), TransactionTerminated(key)]
    assert len(wire.layer) == 0 and wire.layer.get_timer() is None


def test_invite_non_2xx_is_acked_by_the_transaction_and_re_acked_on_retransmission():
    wire = Wire()
    invite = build_request("INVITE")
    key = wire.send_request(invite, 0.0)
    busy = reply(invite, 486)
    wire.receive_response(busy, 0.1)
    assert wire.layer.state(key) == "COMPLETED"
    [ack] = wire.sent_messages(b"ACK")
    assert ack.top_via.branch == invite.top_via.branch
    assert ack.cseq.number == invite.cseq.number and ack.cseq.method == "ACK"
    assert ack.to_tag == "bob-tag" and ack.uri == invite.uri
    assert wire.sent[-1][1].destination == wire.sent[0][1].destination
    assert wire.receive_response(reply(invite, 486), 0.6)[0].data.startswith(b"ACK")
    assert wire.send_times(b"ACK") == [0.1, 0.6]
    assert wire.layer.get_timer() == pytest.approx(32.1)  # D
    wire.run_until(100.0)
    assert wire.tu == [(0.1, ResponseReceived(key, busy)),
                       (pytest.approx(32.1), TransactionTerminated(key))]
    assert wire.send_times(b"INVITE") == [0.0]


def test_invite_non_2xx_over_reliable_terminates_at_once_after_the_ack():
    wire = Wire()
    invite = build_request("INVITE", transport="TCP")
    key = wire.send_request(invite, 0.0, peer=TCP_PEER, reliable=True)
    events = wire.receive_response(reply(invite, 603), 1.0)
    assert [type(event).__name__ for event in events] == [
        "SendMessage", "ResponseReceived", "TransactionTerminated"]
    assert events[0].data.startswith(b"ACK ")
    assert wire.layer.state(key) is None


def test_invite_2xx_enters_accepted_and_passes_every_2xx_up_until_timer_m():
    wire = Wire()
    invite = build_request("INVITE")
    key = wire.send_request(invite, 0.0)
    wire.receive_response(reply(invite, 180), 0.1)
    ok = reply(invite, 200)
    wire.receive_response(ok, 2.0)
    assert wire.layer.state(key) == "ACCEPTED"
    assert wire.layer.get_timer() == 34.0  # M
    # A retransmission and a 2xx from another fork: both to the TU, which ACKs them.
    again, fork = reply(invite, 200), reply(invite, 200, to_tag="fork-2")
    wire.receive_response(again, 3.0)
    wire.receive_response(fork, 4.0)
    late_ringing = reply(invite, 180)
    [absorbed] = wire.receive_response(late_ringing, 5.0)
    assert absorbed == MessageAbsorbed(key, late_ringing, "1xx response in ACCEPTED")
    wire.run_until(100.0)
    assert wire.send_times(b"ACK") == []  # ACK for 2xx is the TU's
    assert [(now, type(event).__name__) for now, event in wire.tu] == [
        (0.1, "ResponseReceived"), (2.0, "ResponseReceived"), (3.0, "ResponseReceived"),
        (4.0, "ResponseReceived"), (5.0, "MessageAbsorbed"),
        (34.0, "TransactionTerminated")]


def test_late_responses_are_absorbed_and_reported_never_raised():
    wire = Wire()
    invite = build_request("INVITE")
    key = wire.send_request(invite, 0.0)
    wire.receive_response(reply(invite, 404), 0.1)
    for status in (100, 183, 200):
        [event] = wire.receive_response(reply(invite, status), 0.2)
        assert isinstance(event, MessageAbsorbed) and event.key == key


def test_transport_error_informs_the_tu_and_terminates():
    wire = Wire()
    key = wire.send_request(build_request("INVITE", transport="TCP"), 0.0,
                            peer=TCP_PEER, reliable=True)
    assert wire.layer.transport_error(key, 0.1) == [TransportFailed(key),
                                                    TransactionTerminated(key)]
    assert len(wire.layer) == 0 and wire.layer.get_timer() is None
    assert wire.layer.transport_error(key, 0.2) == []


def test_cancel_is_its_own_transaction_on_the_invite_branch():
    wire = Wire()
    invite = build_request("INVITE")
    invite_key = wire.send_request(invite, 0.0)
    wire.receive_response(reply(invite, 180), 0.1)
    cancel = build_request("CANCEL", branch=invite.top_via.branch)
    cancel_key = wire.send_request(cancel, 1.0)
    assert cancel_key != invite_key
    cancel_ok = reply(cancel, 200)
    assert wire.receive_response(cancel_ok, 1.1)[0] == ResponseReceived(cancel_key, cancel_ok)
    terminated = reply(invite, 487)
    events = wire.receive_response(terminated, 1.2)
    assert ResponseReceived(invite_key, terminated) in events


def test_responses_to_unknown_transactions_are_stray():
    wire = Wire()
    invite = build_request("INVITE")
    wire.send_request(invite, 0.0)
    stray = reply(build_request("INVITE"), 200)
    assert wire.receive_response(stray, 0.1) == [StrayResponse(stray)]
    wrong_method = reply(build_request("BYE", branch=invite.top_via.branch), 200)
    assert wire.receive_response(wrong_method, 0.1) == [StrayResponse(wrong_method)]


def test_misuse_is_a_local_protocol_error():
    wire = Wire()
    with pytest.raises(LocalProtocolError):
        wire.send_request(build_request("ACK"), 0.0)
    with pytest.raises(LocalProtocolError):
        wire.send_request(build_request("OPTIONS", branch="1234"), 0.0)
    request = build_request("OPTIONS")
    wire.send_request(request, 0.0)
    with pytest.raises(LocalProtocolError):
        wire.send_request(request, 0.0)


def test_new_branch_has_the_magic_cookie_and_is_unique():
    branches = {new_branch() for _ in range(1000)}
    assert len(branches) == 1000
    assert all(b.startswith("z9hG4bK") and len(b) > 20 for b in branches)


def test_stop_retransmissions_keeps_the_timeout():
    wire = Wire()
    key = wire.send_request(build_request("OPTIONS"), 0.0)
    wire.layer.stop_retransmissions(key)
    wire.run_until(100.0)
    assert wire.send_times() == [0.0]
    assert wire.tu == [(32.0, TransactionTimedOut(key)), (32.0, TransactionTerminated(key))]


def test_terminate_drops_the_transaction_and_its_timers():
    wire = Wire()
    key = wire.send_request(build_request("INVITE"), 0.0)
    assert wire.layer.terminate(key) == [TransactionTerminated(key)]
    assert wire.layer.terminate(key) == []
    assert wire.layer.get_timer() is None and len(wire.layer) == 0
