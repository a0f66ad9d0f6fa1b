"""Transfer by REFER, Clock-driven on the agent-call harness of test_transfers.

Sent (services.calls.refer): the agent asks for mode "refer", the switch sends REFER
on the caller's leg, answers each NOTIFY 200, ends its legs after a 200 sipfrag,
tells the agent of a failure, and bridges instead when the REFER is refused.
Received (services.calls.referred): a REFER from the caller's side is refused 403
unless its trunk allows it; allowed, it is answered 202, its target dialled through
the outbound routes with the agent's media, NOTIFYs 100/180/200 sent, and the target
replaces the referrer's leg (BYE to the referrer, the agent stays on)."""

from dataclasses import replace

import pytest
from test_transfers import CARRIER, HUMAN_SDP, HUMANS, OUR_ANSWER, Switch
from test_uac_leg import reply

from softswitch.services.calls.refer import bridge_target, refer_uri
from softswitch.services.routing import RoutingSnapshot
from softswitch.sip.refer import DEFAULT_NOTIFY_TIMEOUT


@pytest.fixture
def switch():
    return Switch()


def refer(switch, target="+14155550199", headers=()):
    switch.session.on_transfer(target, False, "refer", headers)
    sent = [(m, p) for m, p in switch.wire.take() if m.is_request]
    [(request, peer)] = sent
    assert request.method == "REFER" and peer == CARRIER
    return request


def notify(switch, cseq, sipfrag, state):
    ok = switch.ok
    body = sipfrag.replace("\n", "\r\n")
    text = (f"NOTIFY sip:x@127.0.0.1 SIP/2.0\n"
            f"Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bKn{cseq}\n"
            f"Max-Forwards: 70\nTo: {ok.headers.get('To')}\nFrom: {ok.headers.get('From')}\n"
            f"Call-ID: call-1@carrier\nCSeq: {cseq} NOTIFY\nEvent: refer\n"
            f"Subscription-State: {state}\nContent-Type: message/sipfrag;version=2.0\n"
            f"Content-Length: {len(body)}\n\n{body}")
    return switch.receive(text, CARRIER)


def statuses(sent):
    return [m.status for m, _ in sent if not m.is_request]


def requests(sent):
    return [m.method for m, _ in sent if m.is_request]


def test_refer_accepted_notifies_followed_then_bye(switch):
    session = switch.answered_call()
    request = refer(switch, headers=(("User-to-User", "abc;encoding=hex"),))
    assert request.headers.get("Refer-To") == \
        "<sip:+14155550199@198.51.100.7:5060?User-to-User=abc%3Bencoding%3Dhex>"
    assert request.headers.get("Referred-By") == "<sip:+14155550100@127.0.0.1>"
    assert request.headers.get("To") == switch.ok.headers.get("From")  # the caller's dialog
    assert switch.receive(reply(request, 202, to_tag="caller1"), CARRIER) == []
    assert statuses(notify(switch, 1, "SIP/2.0 100 Trying\n", "active;expires=60")) == [200]
    assert statuses(notify(switch, 2, "SIP/2.0 180 Ringing\n", "active;expires=60")) == [200]
    assert switch.records == []
    sent = notify(switch, 3, "SIP/2.0 200 OK\n", "terminated;reason=noresource")
    assert statuses(sent) == [200] and requests(sent) == ["BYE"]
    [record] = switch.records
    assert (record.disconnect_side, record.disconnect_reason) == ("switch", "refer")
    assert record.transfer_target == "+14155550199"
    assert session.stopped == ["refer"] and session.failures == []
    # The subscription is over: a late NOTIFY is for nothing of ours.
    assert statuses(notify(switch, 4, "SIP/2.0 200 OK\n", "terminated")) == [481]


@pytest.mark.parametrize("code", [405, 603])
def test_refused_refer_falls_back_to_bridging(switch, code):
    session = switch.answered_call()
    request = refer(switch)
    sent = switch.receive(reply(request, code), CARRIER)
    # The switch dials the human itself, as for a bridged transfer.
    invites = [(m, p) for m, p in sent + switch.wire.take() if m.is_request]
    assert [(m.method, p) for m, p in invites] == [("INVITE", HUMANS)]
    assert invites[0][0].uri.startswith("sip:+14155550199@")
    assert session.failures == []


def test_refused_refer_without_fallback_tells_the_agent(switch):
    switch.transfers.refer_fallback = False
    session = switch.answered_call()
    request = refer(switch)
    assert requests(switch.receive(reply(request, 603), CARRIER)) == []
    assert session.failures == [("+14155550199", 603, "failed")]
    assert switch.records == []  # the call goes on with the agent


def test_target_busy_after_202_tells_the_agent(switch):
    session = switch.answered_call()
    request = refer(switch)
    switch.receive(reply(request, 202, to_tag="caller1"), CARRIER)
    sent = notify(switch, 1, "SIP/2.0 486 Busy Here\n", "terminated;reason=noresource")
    assert statuses(sent) == [200] and requests(sent) == []
    assert session.failures == [("+14155550199", 486, "busy")]
    assert switch.records == []


def test_no_final_notify_times_out(switch):
    session = switch.answered_call()
    request = refer(switch)
    switch.receive(reply(request, 202, to_tag="caller1"), CARRIER)
    notify(switch, 1, "SIP/2.0 100 Trying\n", "active;expires=60")
    switch.clock.advance(DEFAULT_NOTIFY_TIMEOUT - 1)
    assert session.failures == []
    switch.clock.advance(1)
    assert session.failures == [("+14155550199", 408, "failed")]


def test_refer_to_a_sip_uri_and_bad_headers(switch):
    session = switch.answered_call()
    request = refer(switch, target="sip:sales@pbx.example.com")
    assert request.headers.get("Refer-To") == "<sip:sales@pbx.example.com>"
    switch.receive(reply(request, 501), CARRIER)
    # A SIP address the dialplan cannot dial: no bridge to fall back to.
    assert session.failures == [("sip:sales@pbx.example.com", 501, "failed")]
    session.on_transfer("+14155550199", False, "refer", (("Replaces", "x"),))
    assert [m for m, _ in switch.wire.take() if m.is_request] == []
    assert session.failures[-1] == ("+14155550199", 400, "failed")


def test_refer_to_our_own_address_is_not_sent(switch):
    session = switch.answered_call()
    session.on_transfer("sip:+14155550199@127.0.0.1:5060", False, "refer", ())
    assert [m for m, _ in switch.wire.take() if m.is_request] == []
    assert session.failures == [("sip:+14155550199@127.0.0.1:5060", 403, "failed")]


def test_notify_without_refer_is_481(switch):
    switch.answered_call()
    assert statuses(notify(switch, 1, "SIP/2.0 200 OK\n", "terminated")) == [481]


def test_refer_from_the_caller_is_refused(switch):
    switch.answered_call()
    ok = switch.ok
    text = (f"REFER sip:x@127.0.0.1 SIP/2.0\n"
            f"Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bKr1\n"
            f"Max-Forwards: 70\nTo: {ok.headers.get('To')}\nFrom: {ok.headers.get('From')}\n"
            f"Call-ID: call-1@carrier\nCSeq: 2 REFER\n"
            f"Refer-To: <sip:+14155550199@198.51.100.7>\nContent-Length: 0\n\n")
    assert statuses(switch.receive(text, CARRIER)) == [403]


# -- a REFER from the caller's side (calls.referred) ------------------------------------------
def allowing_refer(switch):
    """The carrier's trunk gets allow_refer."""
    current = switch.holder()
    trunks = [replace(t, allow_refer=True) if t.name == "carrier" else t
              for t in current.trunks.values()]
    switch.holder.replace(RoutingSnapshot(
        trunks=trunks, users=current.users, agents=current.agents.values(),
        numbers=current.numbers.values(), outbound=current.outbound))


def caller_refer(switch, refer_to, cseq=2):
    ok = switch.ok
    text = (f"REFER sip:x@127.0.0.1 SIP/2.0\n"
            f"Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bKr{cseq}\n"
            f"Max-Forwards: 70\nTo: {ok.headers.get('To')}\nFrom: {ok.headers.get('From')}\n"
            f"Call-ID: call-1@carrier\nCSeq: {cseq} REFER\n"
            f"Refer-To: {refer_to}\nReferred-By: <sip:pbx@198.51.100.7>\n"
            f"Content-Length: 0\n\n")
    return switch.receive(text, CARRIER)


def sipfrags(sent):
    return [(m.body.decode().strip(), m.headers.get("Subscription-State"))
            for m, _ in sent if m.is_request and m.method == "NOTIFY"]


def test_refer_received_replaces_the_referrer(switch):
    session = switch.answered_call()
    allowing_refer(switch)
    sent = caller_refer(switch, "<sip:+14155550199@198.51.100.7>")
    assert statuses(sent) == [202]
    sent += switch.wire.take()
    assert sipfrags(sent) == [("SIP/2.0 100 Trying", "active;expires=60")]
    [(invite, peer)] = [(m, p) for m, p in sent if m.is_request and m.method == "INVITE"]
    assert peer == HUMANS and invite.uri.startswith("sip:+14155550199@")
    assert invite.body == OUR_ANSWER  # the agent's media, as the referrer had it
    sent = switch.receive(reply(invite, 180, to_tag="t1"), HUMANS)
    assert sipfrags(sent) == [("SIP/2.0 180 Ringing", "active;expires=60")]
    sent = switch.receive(reply(invite, 200, body=HUMAN_SDP, to_tag="t1",
                                contact=f"sip:t@{HUMANS.host}"), HUMANS)
    assert sipfrags(sent) == [("SIP/2.0 200 OK", "terminated;reason=noresource")]
    assert [(m.method, p) for m, p in sent if m.is_request and m.method != "NOTIFY"] == \
        [("ACK", HUMANS), ("BYE", CARRIER)]
    assert session.reoffers == [HUMAN_SDP.encode()]  # the relay follows the target
    assert session.stopped == [] and switch.records == []  # the agent stays on
    # The target hangs up: the call ends, its record names it.
    bye = (f"BYE sip:x@127.0.0.1 SIP/2.0\n"
           f"Via: SIP/2.0/UDP {HUMANS.host}:5060;branch=z9hG4bKtb\n"
           f"Max-Forwards: 70\nFrom: {invite.headers.get('To')};tag=t1\n"
           f"To: {invite.headers.get('From')}\nCall-ID: {invite.call_id}\nCSeq: 9 BYE\n"
           f"Content-Length: 0\n\n")
    assert statuses(switch.receive(bye, HUMANS)) == [200]
    [record] = switch.records
    assert record.transfer_target == "+14155550199"
    assert session.stopped


def test_refer_received_target_busy_notifies_the_failure(switch):
    session = switch.answered_call()
    allowing_refer(switch)
    sent = caller_refer(switch, "<tel:+14155550199>") + switch.wire.take()
    [invite] = [m for m, _ in sent if m.is_request and m.method == "INVITE"]
    sent = switch.receive(reply(invite, 486, to_tag="t1"), HUMANS)
    assert sipfrags(sent) == [("SIP/2.0 486 Busy Here", "terminated;reason=noresource")]
    assert session.reoffers == [] and switch.records == []  # the referrer keeps the call


@pytest.mark.parametrize("refer_to, code", [
    ("<sip:+14155550199@198.51.100.7?Replaces=abc>", 400),
    ("<http://example.com/>", 400),
    ("<sip:sales@pbx.example.com>", 403),  # not a number, not our domain
    ("<sip:+33155550199@198.51.100.7>", 404),  # no outbound route
])
def test_refer_received_refused(switch, refer_to, code):
    switch.answered_call()
    allowing_refer(switch)
    sent = caller_refer(switch, refer_to)
    assert statuses(sent) == [code]
    assert [m for m, _ in sent + switch.wire.take() if m.is_request] == []


@pytest.mark.parametrize("target, remote, uri", [
    ("+14155550199", "sip:+12125550123@198.51.100.7:5060",
     "sip:+14155550199@198.51.100.7:5060"),
    ("+14155550199", "sips:pbx@pbx.example.com", "sips:+14155550199@pbx.example.com"),
    ("+14155550199", "not a uri", "tel:+14155550199"),
    ("tel:+14155550199", "sip:x@198.51.100.7", "tel:+14155550199"),
    ("sip:sales@pbx.example.com", "sip:x@198.51.100.7", "sip:sales@pbx.example.com"),
    ("user:alice", "sip:x@198.51.100.7", None),
    ("trunk:humans", "sip:x@198.51.100.7", None),
    ("call me", "sip:x@198.51.100.7", None),
])
def test_refer_uri(target, remote, uri):
    assert refer_uri(target, remote) == uri


@pytest.mark.parametrize("target, bridged", [
    ("+14155550199", "+14155550199"), ("user:alice", "user:alice"),
    ("tel:+14155550199", "+14155550199"), ("sip:+14155550199@gw.example.com", "+14155550199"),
    ("sip:sales@pbx.example.com", None), ("sip:", None),
])
def test_bridge_target(target, bridged):
    assert bridge_target(target) == bridged
