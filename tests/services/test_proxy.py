"""The stateful proxy end to end over an in-memory wire: DIDs to phones, phones to
trunks, failover, CANCEL, in-dialog routing, NAT aliases, loops and call records."""

import pytest
from memory_proxy import ProxyHarness, invite, response_to

from softswitch.services.routing import Gateway, Number, OutboundRoute, RoutingSnapshot, Target, Trunk
from softswitch.sip.digest import build_challenge
from softswitch.sip.transport import Peer

CARRIER = Peer("udp", "198.51.100.7", 5060)
BOB_NAT = Peer("udp", "192.0.2.20", 40000)
GW1 = Peer("udp", "203.0.113.1", 5060)
GW2 = Peer("udp", "203.0.113.2", 5060)


def snapshot(**overrides):
    carrier = Trunk("carrier", (Gateway("carrier", "198.51.100.7", 5060, "udp", None, 1, 10),),
                    number_format="nanp")
    outbound = Trunk("out", (Gateway("out", "203.0.113.1", 5060, "udp", None, 1, 10),
                             Gateway("out", "203.0.113.2", 5060, "udp", None, 2, 10)))
    values = dict(
        trunks=[carrier, outbound],
        numbers=[Number("+14155550100", (Target("user", "bob"),)),
                 Number("+14155550101", (Target("reject", code=486),)),
                 Number("+14155550102", (Target("trunk", "out"),)),
                 Number("+14155550103", (Target("agent", "bot"), Target("user", "bob")))],
        users=["alice", "bob"], outbound=[OutboundRoute("1", ("out",))],
        user_caller_ids={"alice": ("+14155550150",)})
    values.update(overrides)
    return RoutingSnapshot(**values)


@pytest.fixture
def switch():
    harness = ProxyHarness(snapshot(), users={"alice": "a-secret", "bob": "b-secret"})
    harness.bind("bob", "sip:bob@10.0.0.2:5062", "udp:192.0.2.20:40000")
    return harness


def only(sent, peer=None):
    assert len(sent) == 1, sent
    message, to = sent[0]
    if peer is not None:
        assert to == peer
    return message


def test_did_rings_the_registered_phone_through_nat_and_the_call_completes(switch):
    sent = switch.receive(invite("sip:4155550100@127.0.0.1"), CARRIER)
    trying = [m for m, p in sent if not m.is_request]
    assert [m.status for m in trying] == [100]
    forwarded = [m for m, p in sent if m.is_request]
    assert len(forwarded) == 1 and sent[1][1] == BOB_NAT
    fwd = forwarded[0]
    assert fwd.uri == "sip:bob@10.0.0.2:5062"
    assert fwd.headers.get("Max-Forwards") == "69"
    assert fwd.headers.get_list("Record-Route") == ["<sip:127.0.0.1:5060;lr>"]
    assert fwd.vias[0].host == "127.0.0.1" and len(fwd.vias) == 2

    ringing = only(switch.receive(response_to(fwd, 180), BOB_NAT), CARRIER)
    assert ringing.status == 180 and len(ringing.vias) == 1

    ok = only(switch.receive(response_to(fwd, 200, contact="sip:bob@10.0.0.2:5062"), BOB_NAT),
              CARRIER)
    assert ok.status == 200
    assert "alias=192.0.2.20~40000~udp" in ok.headers.get("Contact")
    assert len(switch.proxy.dialogs) == 1

    # The carrier ACKs and later hangs up along the Record-Route.
    bob_contact = ok.contacts[0].address.uri
    ack = (f"ACK {bob_contact} SIP/2.0\nVia: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bKack\n"
           f"Route: <sip:127.0.0.1:5060;lr>\nMax-Forwards: 70\nTo: {ok.headers.get('To')}\n"
           f"From: {ok.headers.get('From')}\nCall-ID: call-1@carrier\nCSeq: 1 ACK\n"
           "Content-Length: 0\n\n")
    forwarded_ack = only(switch.receive(ack, CARRIER), BOB_NAT)
    assert forwarded_ack.method == "ACK" and not forwarded_ack.headers.get("Route")

    bye = ack.replace("ACK ", "BYE ", 1).replace("1 ACK", "2 BYE").replace("z9hG4bKack", "z9hG4bKbye")
    forwarded_bye = only(switch.receive(bye, CARRIER), BOB_NAT)
    assert forwarded_bye.method == "BYE"
    ok_bye = only(switch.receive(response_to(forwarded_bye, 200), BOB_NAT), CARRIER)
    assert ok_bye.status == 200
    assert len(switch.proxy.dialogs) == 0
    [record] = switch.records
    assert (record.direction, record.did, record.trunk, record.final_code) == (
        "inbound", "+14155550100", "carrier", 200)
    assert record.disconnect_side == "caller" and record.answer_at and record.end_at


def test_unknown_source_is_challenged_never_relayed(switch):
    sent = switch.receive(invite("sip:+14155550100@127.0.0.1", via_host="192.0.2.99"),
                          Peer("udp", "192.0.2.99", 5060))
    statuses = [m.status for m, _ in sent]
    assert statuses == [407]  # no 100 first: the caller's retransmissions carry it
    assert not any(m.is_request for m, _ in sent)


def test_reject_target_answers_its_code(switch):
    sent = switch.receive(invite("sip:4155550101@127.0.0.1"), CARRIER)
    assert [m.status for m, _ in sent] == [100, 486]
    assert switch.records[0].final_code == 486


def test_unknown_number_from_a_trunk_is_404(switch):
    sent = switch.receive(invite("sip:4155559999@127.0.0.1"), CARRIER)
    assert [m.status for m, _ in sent] == [404]


def test_failover_to_the_second_gateway_on_503(switch):
    sent = switch.receive(invite("sip:4155550102@127.0.0.1"), CARRIER)
    first = [m for m, p in sent if m.is_request and p == GW1][0]
    sent = switch.receive(response_to(first, 503), GW1)
    # ACK to the 503 goes back to GW1, the INVITE moves on to GW2, the caller hears nothing.
    requests = [(m.method, p) for m, p in sent if m.is_request]
    assert ("ACK", GW1) in requests and ("INVITE", GW2) in requests
    assert not [m for m, _ in sent if not m.is_request]
    second = [m for m, p in sent if m.is_request and p == GW2][0]
    assert second.uri == "sip:+14155550102@203.0.113.2:5060"
    ok = only(switch.receive(response_to(second, 200, contact="sip:gw@203.0.113.2"), GW2),
              CARRIER)
    assert ok.status == 200
    assert switch.proxy.dialogs.get("call-1@carrier").record.gateway == "udp:203.0.113.2:5060"


def test_failover_when_the_first_gateway_is_silent(switch):
    switch.receive(invite("sip:4155550102@127.0.0.1"), CARRIER)
    switch.clock.pump([0.5] * 70)  # Timer B: 32 s of retransmissions, then a 408
    to_gw2 = [m for m, p in switch.wire.take() if m.is_request and p == GW2 and m.method == "INVITE"]
    assert to_gw2, "the call moved to the second gateway"


def test_all_gateways_failing_gives_the_caller_500(switch):
    sent = switch.receive(invite("sip:4155550102@127.0.0.1"), CARRIER)
    first = [m for m, p in sent if m.is_request and p == GW1][0]
    sent = switch.receive(response_to(first, 503), GW1)
    second = [m for m, p in sent if m.is_request and p == GW2][0]
    sent = switch.receive(response_to(second, 503), GW2)
    finals = [m.status for m, _ in sent if not m.is_request]
    assert finals == [500]


def test_busy_is_final_and_not_failed_over(switch):
    sent = switch.receive(invite("sip:4155550102@127.0.0.1"), CARRIER)
    first = [m for m, p in sent if m.is_request and p == GW1][0]
    sent = switch.receive(response_to(first, 486), GW1)
    assert [m.status for m, _ in sent if not m.is_request] == [486]
    assert not [m for m, p in sent if m.is_request and m.method == "INVITE"]


def test_agent_target_is_503_until_agents_exist_and_the_next_target_rings(switch):
    sent = switch.receive(invite("sip:4155550103@127.0.0.1"), CARRIER)
    assert [p for m, p in sent if m.is_request] == [BOB_NAT]


def _ringing_then_cancelled(switch):
    """A DID call ringing bob, cancelled by the carrier: (bob's INVITE, what CANCEL sent)."""
    sent = switch.receive(invite("sip:4155550100@127.0.0.1"), CARRIER)
    fwd = [m for m, p in sent if m.is_request][0]
    switch.receive(response_to(fwd, 180), BOB_NAT)
    cancel = ("CANCEL sip:4155550100@127.0.0.1 SIP/2.0\n"
              "Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bKinv1\nMax-Forwards: 70\n"
              "To: <sip:4155550100@127.0.0.1>\nFrom: <sip:+12125550123@198.51.100.7>;tag=caller1\n"
              "Call-ID: call-1@carrier\nCSeq: 1 CANCEL\nContent-Length: 0\n\n")
    return fwd, switch.receive(cancel, CARRIER)


def test_cancel_before_answer(switch):
    fwd, sent = _ringing_then_cancelled(switch)
    to_carrier = sorted((m.status, m.cseq.method) for m, p in sent if not m.is_request)
    assert to_carrier == [(200, "CANCEL"), (487, "INVITE")]
    [cancel_out] = [m for m, p in sent if m.is_request]
    assert cancel_out.method == "CANCEL" and cancel_out.top_via.branch == fwd.top_via.branch
    assert switch.records[0].disconnect_reason == "cancel"


def test_a_2xx_crossing_the_cancel_is_acked_and_hung_up_once(switch):
    fwd, _ = _ringing_then_cancelled(switch)
    ok = response_to(fwd, 200, contact="sip:bob@10.0.0.2:5062")
    sent = switch.receive(ok, BOB_NAT)
    requests = [(m.method, str(m.cseq), m.uri, p) for m, p in sent if m.is_request]
    assert requests == [("ACK", "1 ACK", "sip:bob@10.0.0.2:5062", BOB_NAT),
                        ("BYE", "2 BYE", "sip:bob@10.0.0.2:5062", BOB_NAT)]
    ack, bye = [m for m, p in sent if m.is_request]
    assert ack.to_tag == bye.to_tag == "callee1" and ack.from_tag == "caller1"
    assert "Content-Type" not in ack.headers and not ack.headers.get_list("Route")
    assert not [m for m, p in sent if not m.is_request]  # the caller has its 487
    # The retransmitted 200 is only ACKed again.
    again = [m.method for m, p in switch.receive(ok, BOB_NAT) if m.is_request]
    assert again == ["ACK"]


def test_registered_user_dials_out_through_the_trunk_after_407(switch):
    alice = Peer("udp", "192.0.2.30", 5060)
    text = invite("sip:+14155550199@127.0.0.1", via_host="192.0.2.30", from_user="alice")
    sent = switch.receive(text, alice)
    challenge = [m for m, _ in sent if not m.is_request][-1]
    assert challenge.status == 407
    from memory_switch import authorization
    value = authorization(challenge.headers.values("Proxy-Authenticate")[0], "alice",
                          "a-secret", "INVITE", "sip:+14155550199@127.0.0.1")
    text = invite("sip:+14155550199@127.0.0.1", via_host="192.0.2.30", from_user="alice",
                  branch="z9hG4bKinv2", cseq=2, extra=f"Proxy-Authorization: {value}\n")
    sent = switch.receive(text, alice)
    [out] = [m for m, p in sent if m.is_request and p == GW1]
    assert out.uri == "sip:+14155550199@203.0.113.1:5060"
    assert "Proxy-Authorization" not in out.headers
    # "alice" is no number: the trunk is given her caller ID (services.caller_id).
    assert out.headers.get("P-Asserted-Identity") == "<sip:+14155550150@example.com>"
    assert out.from_.uri.user == "+14155550150" and out.from_tag == "caller1"


def test_internal_call_between_users(switch):
    alice = Peer("udp", "192.0.2.30", 5060)
    text = invite("sip:bob@example.com", via_host="192.0.2.30", from_user="alice")
    challenge = [m for m, _ in switch.receive(text, alice) if not m.is_request][-1]
    from memory_switch import authorization
    value = authorization(challenge.headers.values("Proxy-Authenticate")[0], "alice",
                          "a-secret", "INVITE", "sip:bob@example.com")
    sent = switch.receive(invite("sip:bob@example.com", via_host="192.0.2.30", from_user="alice",
                                 branch="z9hG4bKinv3", cseq=2,
                                 extra=f"Proxy-Authorization: {value}\n"), alice)
    assert [p for m, p in sent if m.is_request] == [BOB_NAT]


def test_max_forwards_zero_is_483(switch):
    text = invite("sip:4155550100@127.0.0.1").replace("Max-Forwards: 70", "Max-Forwards: 0")
    assert [m.status for m, _ in switch.receive(text, CARRIER)] == [483]


def test_a_request_that_loops_back_is_482(switch):
    sent = switch.receive(invite("sip:4155550100@127.0.0.1"), CARRIER)
    fwd = [m for m, p in sent if m.is_request][0]
    # The same request coming back unchanged (e.g. a trunk pointing back at us)...
    fwd.set_uri("sip:4155550100@127.0.0.1")
    sent = switch.receive(fwd.to_bytes().decode(), CARRIER)
    assert [m.status for m, _ in sent if not m.is_request] == [482]
    # ...while a spiral (re-targeted, so another hash) is not a loop.
    fwd.set_uri("sip:4155550101@127.0.0.1")
    fwd.headers.insert_before("Via", "SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bKnexthop")
    sent = switch.receive(fwd.to_bytes().decode(), CARRIER)
    assert 482 not in [m.status for m, _ in sent if not m.is_request]


def test_trunk_challenge_is_answered_with_the_trunk_credentials(switch):
    out = Trunk("out", (Gateway("out", "203.0.113.1", 5060, "udp", None, 1, 10),),
                auth_username="acct", auth_password="pw")
    switch.holder.replace(snapshot(trunks=[snapshot().trunks["carrier"], out]))
    sent = switch.receive(invite("sip:4155550102@127.0.0.1"), CARRIER)
    first = [m for m, p in sent if m.is_request and p == GW1][0]
    challenge = build_challenge("carrier.example", "n0nce", "MD5")
    sent = switch.receive(response_to(first, 407, extra=f"Proxy-Authenticate: {challenge}\n"), GW1)
    [retry] = [m for m, p in sent if m.is_request and m.method == "INVITE"]
    assert retry.cseq.number == 2 and 'username="acct"' in retry.headers.get("Proxy-Authorization")
    ok = only(switch.receive(response_to(retry, 200, contact="sip:gw@203.0.113.1"), GW1), CARRIER)
    assert ok.cseq.number == 1  # the caller sees its own CSeq


def test_a_trunk_found_by_dns_srv_is_called_by_its_name_at_the_srv_address(switch):
    out = Trunk("out", (Gateway("out", "203.0.113.1", 5060, "udp", None, 1, 10, 0,
                                "sip.carrier.example", True),))
    switch.holder.replace(snapshot(trunks=[snapshot().trunks["carrier"], out]))
    sent = switch.receive(invite("sip:4155550102@127.0.0.1"), CARRIER)
    [forwarded] = [m for m, p in sent if m.is_request and p == GW1]
    assert forwarded.uri == "sip:+14155550102@sip.carrier.example"


def test_a_draining_switch_refuses_new_calls_but_finishes_current_ones(switch):
    sent = switch.receive(invite("sip:4155550100@127.0.0.1"), CARRIER)
    fwd = [m for m, p in sent if m.is_request][0]
    switch.receive(response_to(fwd, 200, contact="sip:bob@10.0.0.2:5062"), BOB_NAT)
    switch.dispatcher.draining = True
    sent = switch.receive(invite("sip:4155550100@127.0.0.1", branch="z9hG4bKnew",
                                 call_id="call-2@carrier"), CARRIER)
    [refusal] = [m for m, _ in sent]
    assert refusal.status == 503 and refusal.headers.get("Retry-After")
    assert len(switch.proxy) == 1  # the answered call is still up


class FakeRelay:
    """Records media-control calls and rewrites c= lines like a relay would."""

    def __init__(self, refuse_with=None):
        self.calls, self.listener, self.refuse_with = [], None, refuse_with
        self.options = []  # the keyword options of each offer

    def set_listener(self, listener):
        self.listener = listener

    def offer(self, call_id, from_tag, sdp, region=None, **options):
        from twisted.internet.defer import fail, succeed
        self.calls.append(("offer", call_id, from_tag, region))
        self.options.append(options)
        if self.refuse_with is not None:
            return fail(self.refuse_with)
        return succeed(b"v=0\r\nc=IN IP4 127.0.0.9\r\nm=audio 30000 RTP/AVP 0\r\n")

    def answer(self, call_id, from_tag, to_tag, sdp):
        from twisted.internet.defer import succeed
        self.calls.append(("answer", call_id, from_tag, to_tag))
        return succeed(b"v=0\r\nc=IN IP4 127.0.0.9\r\nm=audio 30002 RTP/AVP 0\r\n")

    def delete(self, call_id, from_tag=None, to_tag=None):
        from twisted.internet.defer import succeed
        self.calls.append(("delete", call_id))

        class Stats:
            def to_dict(self):
                return {"packets": 42}
        return succeed(Stats())


def sdp_answer(request, status=200, contact="sip:bob@10.0.0.2:5062"):
    text = response_to(request, status, contact=contact, extra="Content-Type: application/sdp\n")
    body = "v=0\r\nc=IN IP4 10.0.0.2\r\nm=audio 4000 RTP/AVP 0\r\n"
    return text.replace("Content-Length: 0\n\n", f"Content-Length: {len(body)}\n\n{body}")


@pytest.fixture
def anchored():
    relay = FakeRelay()
    harness = ProxyHarness(snapshot(), users={"bob": "b"}, media=relay)
    harness.bind("bob", "sip:bob@10.0.0.2:5062", "udp:192.0.2.20:40000")
    harness.relay = relay
    return harness


def test_media_is_anchored_on_offer_and_answer_and_freed_at_the_end(anchored):
    sent = anchored.receive(invite("sip:4155550100@127.0.0.1", body="v=0\nc=IN IP4 198.51.100.7\n"),
                            CARRIER)
    fwd = [m for m, p in sent if m.is_request][0]
    assert b"127.0.0.9" in fwd.body and b"30000" in fwd.body
    ok = only(anchored.receive(sdp_answer(fwd), BOB_NAT), CARRIER)
    assert b"30002" in ok.body and b"10.0.0.2" not in ok.body
    assert [c[0] for c in anchored.relay.calls] == ["offer", "answer"]
    dialog = anchored.proxy.dialogs.get("call-1@carrier")
    anchored.proxy.hang_up(dialog, "test")
    assert anchored.relay.calls[-1] == ("delete", "call-1@carrier")
    assert anchored.records[0].media_stats == {"packets": 42}


def test_media_inactivity_hangs_up_both_sides(anchored):
    from softswitch.services.media_control import MediaTimedOut
    sent = anchored.receive(invite("sip:4155550100@127.0.0.1"), CARRIER)
    fwd = [m for m, p in sent if m.is_request][0]
    anchored.receive(sdp_answer(fwd), BOB_NAT)
    anchored.relay.listener(MediaTimedOut("call-1@carrier", 60.0))
    byes = [(m.method, p) for m, p in anchored.wire.take() if m.is_request]
    assert sorted(byes, key=str) == sorted([("BYE", CARRIER), ("BYE", BOB_NAT)], key=str)
    assert anchored.records[0].disconnect_reason == "media-timeout"
    assert anchored.records[0].disconnect_side == "switch"


def test_no_ports_left_answers_503():
    from softswitch.services.media_control import PortsExhausted
    harness = ProxyHarness(snapshot(), users={"bob": "b"}, media=FakeRelay(PortsExhausted("x")))
    harness.bind("bob", "sip:bob@10.0.0.2:5062", "udp:192.0.2.20:40000")
    sent = harness.receive(invite("sip:4155550100@127.0.0.1"), CARRIER)
    assert [m.status for m, _ in sent] == [100, 503]


def test_forged_in_dialog_requests_are_not_relayed(switch):
    sent = switch.receive(invite("sip:4155550100@127.0.0.1"), CARRIER)
    fwd = [m for m, p in sent if m.is_request][0]
    switch.receive(response_to(fwd, 200, contact="sip:bob@10.0.0.2:5062"), BOB_NAT)
    mallory = Peer("udp", "192.0.2.66", 5060)
    forged = ("BYE sip:bob@10.0.0.2:5062;alias=192.0.2.20~40000~udp SIP/2.0\n"
              "Via: SIP/2.0/UDP 192.0.2.66:5060;branch=z9hG4bKforged\n"
              "Route: <sip:127.0.0.1:5060;lr>\nMax-Forwards: 70\n"
              "To: <sip:4155550100@127.0.0.1>;tag=guess\nFrom: <sip:m@192.0.2.66>;tag=caller1\n"
              "Call-ID: call-1@carrier\nCSeq: 9 BYE\nContent-Length: 0\n\n")
    sent = switch.receive(forged, mallory)
    assert [(m.status, p) for m, p in sent] == [(481, mallory)]
    ack = forged.replace("BYE sip", "ACK sip").replace("9 BYE", "9 ACK")
    assert switch.receive(ack, mallory) == []
    assert len(switch.proxy.dialogs) == 1


def test_a_timed_out_branch_gives_the_caller_a_408_without_our_via(switch):
    switch.holder.replace(snapshot(numbers=[Number("+14155550102", (Target("trunk", "carrier"),))]))
    switch.receive(invite("sip:4155550102@127.0.0.1"), CARRIER)
    switch.clock.pump([0.5] * 70)  # Timer B on the only gateway
    finals = [m for m, p in switch.wire.take() if not m.is_request and m.status >= 300]
    assert finals and {m.status for m in finals} == {408}  # Timer G re-sends it
    assert [v.host for v in finals[0].vias] == ["198.51.100.7"]


def test_wrong_proxy_credentials_are_reported_with_the_source_and_user():
    from memory_switch import authorization
    from softswitch.services.security_events import CredentialsFailed

    class Reports:
        def __init__(self):
            self.events = []

        def credentials_failed(self, event):
            self.events.append(event)

    reports = Reports()
    switch = ProxyHarness(snapshot(), users={"alice": "a-secret", "bob": "b-secret"},
                          security=reports)
    mallory = Peer("udp", "192.0.2.66", 5060)
    text = invite("sip:+14155550199@127.0.0.1", via_host="192.0.2.66", from_user="alice")
    challenge = [m for m, _ in switch.receive(text, mallory) if not m.is_request][-1]
    assert reports.events == []  # a first INVITE without credentials is no failure
    value = authorization(challenge.headers.values("Proxy-Authenticate")[0], "alice",
                          "guess", "INVITE", "sip:+14155550199@127.0.0.1")
    switch.receive(invite("sip:+14155550199@127.0.0.1", via_host="192.0.2.66",
                          from_user="alice", branch="z9hG4bKinv9", cseq=2,
                          extra=f"Proxy-Authorization: {value}\n"), mallory)
    assert reports.events == [CredentialsFailed("192.0.2.66", "alice", "INVITE",
                                                "bad-password")]


def _answered_call(switch):
    """A DID call answered by bob; the 200 as the carrier got it."""
    sent = switch.receive(invite("sip:4155550100@127.0.0.1"), CARRIER)
    fwd = [m for m, p in sent if m.is_request][0]
    return only(switch.receive(response_to(fwd, 200, contact="sip:bob@10.0.0.2:5062"),
                               BOB_NAT), CARRIER)


def _in_dialog(method, ok, *, ruri="sip:4155550100@127.0.0.1:5060", route=None,
               max_forwards=70, cseq=2, extra=""):
    route_line = f"Route: {route}\n" if route else ""
    return (f"{method} {ruri} SIP/2.0\n"
            f"Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK{method}{cseq}\n"
            f"{route_line}Max-Forwards: {max_forwards}\nTo: {ok.headers.get('To')}\n"
            f"From: {ok.headers.get('From')}\nCall-ID: call-1@carrier\nCSeq: {cseq} {method}\n"
            f"{extra}Content-Length: 0\n\n")


def test_a_bye_to_our_own_address_without_route_reaches_the_other_side_once(switch):
    # A UA that ignores Record-Route sends its BYE to the switch's address itself:
    # it goes to bob (his Contact, at his NAT address), never back to us.
    ok = _answered_call(switch)
    assert only(switch.receive(_in_dialog("ACK", ok, cseq=1), CARRIER), BOB_NAT).method == "ACK"
    forwarded = only(switch.receive(_in_dialog("BYE", ok), CARRIER), BOB_NAT)
    assert forwarded.method == "BYE" and forwarded.uri.startswith("sip:bob@10.0.0.2:5062")
    assert forwarded.headers.get("Max-Forwards") == "69" and "Route" not in forwarded.headers
    assert only(switch.receive(response_to(forwarded, 200), BOB_NAT), CARRIER).status == 200
    assert len(switch.proxy.dialogs) == 0 and switch.records[0].disconnect_side == "caller"


def test_an_in_dialog_request_whose_next_hop_is_us_is_404_not_sent_to_ourselves(switch):
    ok = _answered_call(switch)
    own_route = "<sip:127.0.0.1:5060;lr>, <sip:127.0.0.1:5060;lr>"
    sent = switch.receive(_in_dialog("INFO", ok, ruri="sip:x@127.0.0.1:5060",
                                     route=own_route), CARRIER)
    # Our Routes consumed and the Request-URI ours: delivered to bob, not to us.
    assert [p for m, p in sent if m.is_request] == [BOB_NAT]
    switch.proxy.dialogs.get("call-1@carrier").callee_peer = Peer("udp", "127.0.0.1", 5060)
    sent = switch.receive(_in_dialog("INFO", ok, cseq=3), CARRIER)
    assert [(m.status, p) for m, p in sent] == [(404, CARRIER)]


def test_max_forwards_zero_in_a_dialog_is_483_and_an_ack_is_dropped(switch):
    ok = _answered_call(switch)
    sent = switch.receive(_in_dialog("BYE", ok, max_forwards=0,
                                     route="<sip:127.0.0.1:5060;lr>"), CARRIER)
    assert [(m.status, p) for m, p in sent] == [(483, CARRIER)]
    assert switch.receive(_in_dialog("ACK", ok, max_forwards=0, cseq=1), CARRIER) == []
    assert len(switch.proxy.dialogs) == 1


def test_a_preloaded_route_naming_us_is_removed_before_forwarding(switch):
    text = invite("sip:4155550102@127.0.0.1",
                  extra="Route: <sip:127.0.0.1:5060;lr>\nRoute: <sip:127.0.0.1;lr>\n")
    sent = switch.receive(text, CARRIER)
    [out] = [m for m, p in sent if m.is_request and p == GW1]
    assert "Route" not in out.headers


def test_our_realm_credentials_never_leave_in_any_forwarded_request(switch):
    ours = ('Digest username="alice", realm="example.com", nonce="n", '
            'uri="sip:x@127.0.0.1", response="00"')
    theirs = ours.replace("example.com", "carrier.example")
    ok = _answered_call(switch)
    extra = f"Proxy-Authorization: {ours}\nProxy-Authorization: {theirs}\nAuthorization: {ours}\n"
    for method, cseq in (("ACK", 1), ("INFO", 2), ("INVITE", 3), ("BYE", 4)):
        sent = switch.receive(_in_dialog(method, ok, cseq=cseq, route="<sip:127.0.0.1:5060;lr>",
                                         extra=extra), CARRIER)
        [out] = [m for m, p in sent if m.is_request]
        assert out.method == method
        assert out.headers.values("Proxy-Authorization") == [theirs]
        assert "Authorization" not in out.headers


def test_a_phone_on_a_gateways_address_but_another_port_is_challenged(switch):
    phone = Peer("udp", "198.51.100.7", 5062)  # behind the carrier's public address
    sent = switch.receive(invite("sip:4155550100@127.0.0.1", via_port=5062), phone)
    # The challenge comes at once (no 100 Trying before it: less to reflect).
    assert [(m.status, p) for m, p in sent] == [(407, phone)]


def test_the_switchs_own_bye_follows_a_target_refresh_and_the_cseqs_seen(switch):
    ok = _answered_call(switch)
    reinvite = _in_dialog("INVITE", ok, cseq=5, route="<sip:127.0.0.1:5060;lr>",
                          extra="Contact: <sip:+12125550123@198.51.100.7:5999>\n")
    [forwarded] = [m for m, p in switch.receive(reinvite, CARRIER) if m.is_request]
    switch.receive(response_to(forwarded, 200), BOB_NAT)
    switch.proxy.hang_up(switch.proxy.dialogs.get("call-1@carrier"), "shutdown")
    byes = {p: m for m, p in switch.wire.take() if m.is_request and m.method == "BYE"}
    to_caller, to_bob = byes[CARRIER], byes[BOB_NAT]
    assert to_caller.uri == "sip:+12125550123@198.51.100.7:5999"  # the refreshed target
    assert to_caller.cseq.number == 1 and to_bob.cseq.number == 6
    assert to_bob.uri.startswith("sip:bob@10.0.0.2:5062")
    assert to_bob.headers.get("From") == ok.headers.get("From")
    assert to_caller.headers.get("From") == ok.headers.get("To")
    assert switch.records[0].disconnect_reason == "shutdown"


def test_the_relay_is_told_how_the_offer_came_and_what_srtp_the_trunk_wants(anchored):
    out = Trunk("out", (Gateway("out", "203.0.113.1", 5060, "udp", None, 1, 10),),
                media_encryption="sdes")
    anchored.holder.replace(snapshot(trunks=[snapshot().trunks["carrier"], out]))
    anchored.receive(invite("sip:4155550102@127.0.0.1", body="v=0\nc=IN IP4 198.51.100.7\n"),
                     CARRIER)
    # Over UDP: SDES keys in the offer are not to be taken; the trunk gets SRTP.
    assert anchored.relay.options == [{"secure": False, "encryption": "sdes"}]
    anchored.receive(invite("sip:4155550100@127.0.0.1", call_id="call-2@carrier",
                            branch="z9hG4bKinv2", body="v=0\nc=IN IP4 198.51.100.7\n"),
                     CARRIER)
    assert anchored.relay.options[1] == {"secure": False, "encryption": "none"}  # a user
    # A carrier whose trunk requires SRTP must offer it.
    carrier = Trunk("carrier", snapshot().trunks["carrier"].gateways, number_format="nanp",
                    media_encryption="sdes")
    anchored.holder.replace(snapshot(trunks=[carrier, out]))
    anchored.receive(invite("sip:4155550100@127.0.0.1", call_id="call-3@carrier",
                            branch="z9hG4bKinv3", body="v=0\nc=IN IP4 198.51.100.7\n"),
                     CARRIER)
    assert anchored.relay.options[2] == {"secure": False, "encryption": "none",
                                         "require_srtp": True}


def test_only_tls_signalling_counts_as_protecting_sdes_keys():
    from softswitch.services.media_control import signalling_secure
    assert signalling_secure("tls") and signalling_secure("TLS") and signalling_secure("wss")
    assert not any(signalling_secure(t) for t in ("udp", "tcp", "ws", None, ""))
