"""The transaction manager: request matching (RFC 3261 §17.2.3 and the RFC 2543
fallback), CANCEL lookup, stray messages, timer ordering over many transactions and
memory that returns to zero."""

import gc
import random

import pytest

from softswitch.sip.headers import Headers
from softswitch.sip.message import Request, make_response
from softswitch.sip.transaction import (
    AckReceived,
    MessageAbsorbed,
    RequestReceived,
    SendMessage,
    StrayResponse,
    TransactionLayer,
    new_branch,
)
from test_transaction_wire import UDP_PEER, Wire, build_ack, build_request, reply


def received_key(events):
    [event] = [e for e in events if isinstance(e, RequestReceived)]
    return event.key


# -- RFC 3261 matching ----------------------------------------------------------------

def test_branch_sent_by_and_method_identify_a_server_transaction():
    wire = Wire()
    branch = new_branch()
    first = received_key(wire.receive_request(build_request("INVITE", branch=branch), 0.0))
    # Same branch from another sent-by: another transaction.
    other_host = build_request("INVITE", branch=branch, sent_by="192.0.2.99:5060")
    assert received_key(wire.receive_request(other_host, 0.0)) != first
    # Same branch and sent-by, other method (a CANCEL): another transaction.
    cancel = build_request("CANCEL", branch=branch)
    assert received_key(wire.receive_request(cancel, 0.0)).method == "CANCEL"
    # Host case does not matter; it is the same INVITE again.
    upper = build_request("INVITE", branch=branch, sent_by="192.0.2.10:5060".upper())
    assert wire.receive_request(upper, 0.1) == []
    assert len(wire.layer) == 3


def test_cancel_has_its_own_transaction_and_finds_the_invite_it_targets():
    wire = Wire()
    invite = build_request("INVITE")
    invite_key = received_key(wire.receive_request(invite, 0.0))
    cancel = build_request("CANCEL", branch=invite.top_via.branch)
    cancel_key = received_key(wire.receive_request(cancel, 0.5))
    assert wire.layer.find_invite_server_for_cancel(cancel) == invite_key
    ok = reply(cancel, 200)
    wire.send_response(cancel_key, ok, 0.5)
    # A retransmitted CANCEL is answered from the transaction, not the TU.
    assert wire.receive_request(cancel, 0.9) == [SendMessage(bytes(ok), UDP_PEER, False,
                                                             cancel_key)]
    wire.send_response(invite_key, reply(invite, 487), 0.6)
    assert wire.layer.state(invite_key) == "COMPLETED"


def test_cancel_for_nothing_finds_nothing():
    wire = Wire()
    invite = build_request("INVITE")
    wire.receive_request(invite, 0.0)
    layer = wire.layer
    assert layer.find_invite_server_for_cancel(build_request("CANCEL")) is None
    elsewhere = build_request("CANCEL", branch=invite.top_via.branch, sent_by="10.9.9.9:5060")
    assert layer.find_invite_server_for_cancel(elsewhere) is None
    assert layer.find_invite_server_for_cancel(Request("CANCEL", "sip:x@y")) is None


def test_ack_for_a_2xx_matches_no_transaction_and_goes_to_the_tu():
    wire = Wire()
    invite = build_request("INVITE")
    key = received_key(wire.receive_request(invite, 0.0))
    ok = reply(invite, 200)
    wire.send_response(key, ok, 0.1)
    ack = build_ack(invite, ok, branch=new_branch())
    assert wire.receive_request(ack, 0.2, peer=("UDP", "192.0.2.10", 5070)) == [
        AckReceived(None, ack, ("UDP", "192.0.2.10", 5070))]
    # With no transaction at all, too.
    assert Wire().receive_request(ack, 0.0) == [AckReceived(None, ack, UDP_PEER)]


def test_unmatchable_messages_are_absorbed_and_reported():
    layer = TransactionLayer()
    naked = Request("OPTIONS", "sip:bob@example.com", Headers())
    [event] = layer.receive_request(naked, UDP_PEER, 0.0)
    assert isinstance(event, MessageAbsorbed) and event.key is None
    assert "Via" in event.reason
    response = make_response(naked, 200)
    [event] = layer.receive_response(response, 0.0)
    assert isinstance(event, MessageAbsorbed) and event.key is None
    assert len(layer) == 0


def test_stray_responses_are_returned_for_stateless_forwarding():
    layer = TransactionLayer()
    response = reply(build_request("INVITE"), 200)
    assert layer.receive_response(response, 0.0) == [StrayResponse(response)]
    no_branch = reply(build_request("INVITE", branch=""), 200)
    assert layer.receive_response(no_branch, 0.0) == [StrayResponse(no_branch)]


# -- RFC 2543 fallback -------------------------------------------------------------

@pytest.mark.parametrize("branch", ["", "1234-old-style"])
def test_rfc2543_retransmission_and_ack_matching(branch):
    wire = Wire()
    invite = build_request("INVITE", branch=branch)
    key = received_key(wire.receive_request(invite, 0.0))
    assert key.branch is None
    assert wire.receive_request(build_request("INVITE", branch=branch), 0.1) == []
    busy = reply(invite, 486, to_tag="uas-tag")
    wire.send_response(key, busy, 0.2)
    [resent] = wire.receive_request(build_request("INVITE", branch=branch), 0.3)
    assert resent.data == bytes(busy)
    # The ACK carries our To tag, which the INVITE did not: it still matches.
    wrong_tag = build_ack(invite, reply(invite, 486, to_tag="other"), branch=branch)
    assert wire.receive_request(wrong_tag, 0.4) == [AckReceived(None, wrong_tag, UDP_PEER)]
    assert wire.receive_request(build_ack(invite, busy, branch=branch), 0.4) == []
    assert wire.layer.state(key) == "CONFIRMED"


def test_rfc2543_match_uses_uri_tags_call_id_cseq_and_via():
    wire = Wire()
    base = dict(branch="")
    key = received_key(wire.receive_request(build_request("INVITE", **base), 0.0))
    variants = [
        dict(uri="sip:carol@example.com"), dict(call_id="call-2"), dict(cseq=2),
        dict(from_tag="other-from"), dict(sent_by="192.0.2.10:5061"),
    ]
    for n, change in enumerate(variants):
        events = wire.receive_request(build_request("INVITE", **base, **change), 0.1 + n)
        assert received_key(events) != key, change
    different_to_tag = build_request("INVITE", **base, to_tag="someone")
    [event] = wire.receive_request(different_to_tag, 1.0)
    assert isinstance(event, MessageAbsorbed)


def test_rfc2543_cancel_finds_its_invite():
    wire = Wire()
    invite = build_request("INVITE", branch="")
    invite_key = received_key(wire.receive_request(invite, 0.0))
    cancel = build_request("CANCEL", branch="")
    cancel_key = received_key(wire.receive_request(cancel, 0.1))
    assert cancel_key != invite_key
    assert wire.layer.find_invite_server_for_cancel(cancel) == invite_key
    tagged = build_request("CANCEL", branch="", to_tag="x")
    assert wire.layer.find_invite_server_for_cancel(tagged) is None


# -- timers over many transactions ---------------------------------------------------

def test_due_timers_fire_in_deadline_order_and_never_early():
    wire = Wire()
    early = wire.send_request(build_request("OPTIONS"), 0.0)
    late = wire.send_request(build_request("OPTIONS"), 0.25)
    assert wire.layer.handle_timer(0.4999) == []
    events = wire.layer.handle_timer(2.0)  # called late: both E fire, oldest first
    assert [event.key for event in events] == [early, late]
    assert wire.layer.get_timer() == 3.0  # re-armed from when they actually fired


def expected_non_invite_sends(start, provisional, final, t1=0.5, t2=4.0):
    """Send times of a non-INVITE client over UDP, computed from RFC 3261 §17.1.2.2."""
    sends, fire, interval = [start], start + t1, t1
    while fire < start + 64 * t1 and (final is None or fire < final):
        sends.append(fire)
        interval = t2 if provisional is not None and provisional < fire \
            else min(2 * interval, t2)
        fire = fire + interval
    return sends


def test_get_timer_over_thousands_of_interleaved_transactions():
    rng = random.Random(3261)
    layer = TransactionLayer()
    plans, inputs = {}, []
    for _ in range(3000):
        start = rng.uniform(0, 10)
        provisional = start + rng.uniform(0.01, 20) if rng.random() < 0.3 else None
        final = start + rng.uniform(0.01, 40) if rng.random() < 0.5 else None
        request = build_request("OPTIONS")
        inputs.append((start, "send", request))
        if provisional is not None:
            inputs.append((provisional, 100, request))
        if final is not None:
            inputs.append((final, 200, request))
        plans[request.top_via.branch] = (start, provisional, final)
    inputs.sort(key=lambda item: item[0])
    sends: dict[str, list[float]] = {}

    def record(now, events):
        for event in events:
            if isinstance(event, SendMessage):
                sends.setdefault(event.key.branch, []).append(now)

    step = 0
    while True:
        deadline = layer.get_timer()
        if step % 97 == 0:  # against a brute-force minimum
            live = [entry[0] for txn in layer._transactions.values()
                    for entry in txn.timers.values()]
            assert deadline == (min(live) if live else None)
        step += 1
        if inputs and (deadline is None or inputs[0][0] < deadline):
            now, what, request = inputs.pop(0)
            if what == "send":
                record(now, layer.send_request(request, UDP_PEER, False, now)[1])
            else:
                record(now, layer.receive_response(make_response(request, what), now))
        elif deadline is not None:
            assert layer.handle_timer(deadline - 1e-9) == []
            fired = layer.handle_timer(deadline)
            assert fired
            record(deadline, fired)
        else:
            break
    for branch, (start, provisional, final) in plans.items():
        assert sends[branch] == expected_non_invite_sends(start, provisional, final), branch
    assert len(layer) == 0


def quick_request(method: str, call_id: str, branch: str | None = None) -> Request:
    """A request built in memory (no parse): keeps the 100,000-transaction run fast."""
    return Request(method, "sip:bob@example.com", Headers.from_pairs([
        ("Via", f"SIP/2.0/UDP 192.0.2.10:5060;branch={branch or new_branch()}"),
        ("From", "<sip:alice@example.com>;tag=a"),
        ("To", "<sip:bob@example.com>" + (";tag=t" if method == "ACK" else "")),
        ("Call-ID", call_id),
        ("CSeq", f"1 {method}"),
    ]))


def test_a_hundred_thousand_transactions_leave_nothing_behind():
    layer = TransactionLayer()
    peer = UDP_PEER
    events = 0
    for i in range(25_000):
        now = i * 0.004  # 100 s of traffic at 1,000 transactions a second
        events += len(layer.handle_timer(now))
        # Non-INVITE server: answered at once, kept for Timer J.
        request = quick_request("OPTIONS", f"nist-{i}")
        key = layer.receive_request(request, peer, now)[0].key
        layer.send_response(key, make_response(request, 200, to_tag="t"), now)
        # INVITE server: rejected, ACKed, kept for Timer I.
        invite = quick_request("INVITE", f"ist-{i}")
        key = layer.receive_request(invite, peer, now)[0].key
        layer.send_response(key, make_response(invite, 486, to_tag="t"), now)
        ack = quick_request("ACK", f"ist-{i}", invite.top_via.branch)
        assert layer.receive_request(ack, peer, now) == []
        # Non-INVITE client: answered, kept for Timer K.
        request = quick_request("OPTIONS", f"nict-{i}")
        layer.send_request(request, peer, False, now)
        layer.receive_response(make_response(request, 200, to_tag="t"), now)
        # INVITE client: answered with 2xx, kept in Accepted for Timer M.
        invite = quick_request("INVITE", f"ict-{i}")
        layer.send_request(invite, peer, False, now)
        layer.receive_response(make_response(invite, 200, to_tag="t"), now)
        if i == 20_000:
            # Steady state: about 32 s of transactions alive, not all 80,000 so far.
            assert len(layer) < 4 * 33 * 250
            # Cancelled timers (F, B, H of answered transactions) are swept, not hoarded.
            assert len(layer._timers) < 3 * len(layer)
    while (deadline := layer.get_timer()) is not None:
        events += len(layer.handle_timer(deadline))
    assert len(layer) == 0
    assert len(layer._timers) == 0
    assert events >= 100_000  # one TransactionTerminated each, at least


def test_finished_transactions_are_freed_without_the_cycle_collector():
    gc.collect()
    gc.disable()
    try:
        layer = TransactionLayer()
        for i in range(200):
            request = quick_request("OPTIONS", f"s-{i}")
            key = layer.receive_request(request, UDP_PEER, 0.0)[0].key
            layer.send_response(key, make_response(request, 200, to_tag="t"), 0.0)
            invite = quick_request("INVITE", f"c-{i}")
            layer.send_request(invite, UDP_PEER, False, 0.0)
            layer.receive_response(make_response(invite, 486, to_tag="t"), 0.1)
        while (deadline := layer.get_timer()) is not None:
            layer.handle_timer(deadline)
        assert len(layer) == 0
        assert gc.collect() == 0  # no reference cycles left behind
    finally:
        gc.enable()
