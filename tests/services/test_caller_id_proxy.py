"""The caller-ID policy in the proxy's trunk step: a user's INVITE reaches the trunk
with the identity the switch asserts, without forged identity headers, and behind
topology hiding without the caller's Via, Contact or Record-Route; responses and
requests within the dialog keep each side's view."""

from memory_proxy import ProxyHarness, invite, response_to
from memory_switch import authorization

from softswitch.services.routing import Gateway, OutboundRoute, RoutingSnapshot, Target, Trunk
from softswitch.services.routing import Number
from softswitch.sip.transport import Peer

ALICE = Peer("udp", "192.0.2.30", 5060)
GW = Peer("udp", "203.0.113.1", 5060)
CARRIER = Peer("udp", "198.51.100.7", 5060)
DIALLED = "sip:+12125550199@127.0.0.1"
FORGED = ("P-Asserted-Identity: <sip:+12025550123@evil.example>\n"
          "Remote-Party-ID: <sip:+12025550123@evil.example>;party=calling\n"
          "P-Preferred-Identity: <sip:+12025550123@evil.example>\n"
          "Identity: eyJhbGciOiJFUzI1NiJ9.e30.c2ln;info=<https://evil.example/c.pem>\n")


def harness(**trunk_options):
    out = Trunk("out", (Gateway("out", "203.0.113.1", 5060, "udp", None, 1, 10),),
                **trunk_options)
    carrier = Trunk("carrier", (Gateway("carrier", "198.51.100.7", 5060, "udp", None, 1, 10),),
                    trust_identity=False)
    snapshot = RoutingSnapshot(
        trunks=[out, carrier], users=["alice", "bob"],
        numbers=[Number("+14155550100", (Target("user", "bob"),)),
                 Number("+14155550177", (Target("user", "alice"),)),
                 Number("+14155550102", (Target("trunk", "out"),))],
        outbound=[OutboundRoute("1", ("out",))],
        user_caller_ids={"alice": ("+14155550150",)})
    switch = ProxyHarness(snapshot, users={"alice": "a-secret", "bob": "b-secret"})
    switch.bind("bob", "sip:bob@10.0.0.2:5062", "udp:192.0.2.20:40000")
    return switch


def call_out(switch, from_user="+12025550123", extra="", user="alice", ruri=DIALLED):
    """Alice's INVITE after the 407; what the switch sent."""
    sent = switch.receive(invite(ruri, via_host="192.0.2.30", from_user=from_user,
                                 extra=extra), ALICE)
    challenge = [m for m, _ in sent if not m.is_request][-1]
    value = authorization(challenge.headers.values("Proxy-Authenticate")[0], user,
                          "a-secret", "INVITE", ruri)
    return switch.receive(invite(ruri, via_host="192.0.2.30", from_user=from_user,
                                 branch="z9hG4bKinv2", cseq=2,
                                 extra=f"{extra}Proxy-Authorization: {value}\n"), ALICE)


def test_a_number_alice_does_not_own_reaches_the_trunk_as_her_own_without_forgeries():
    switch = harness()
    [out] = [m for m, p in call_out(switch, extra=FORGED) if m.is_request and p == GW]
    assert out.headers.values("P-Asserted-Identity") == ["<sip:+14155550150@example.com>"]
    assert out.from_.uri.user == "+14155550150" and out.from_tag == "caller1"
    for name in ("Remote-Party-ID", "P-Preferred-Identity", "Identity"):
        assert name not in out.headers
    # The caller's own view comes back: its From in the responses.
    ringing = [m for m, p in switch.receive(response_to(out, 180), GW) if p == ALICE]
    assert ringing[0].headers.get("From") == "<sip:+12025550123@192.0.2.30>;tag=caller1"


def test_a_number_routed_to_alice_is_hers_to_present():
    switch = harness()
    [out] = [m for m, p in call_out(switch, "+14155550177") if m.is_request and p == GW]
    assert out.headers.get("P-Asserted-Identity") == "<sip:+14155550177@example.com>"
    assert out.headers.get("From") == "<sip:+14155550177@192.0.2.30>;tag=caller1"


def test_a_caller_without_identity_is_refused_unless_the_trunk_has_a_default():
    switch = harness()
    snapshot = switch.holder()
    switch.holder.replace(RoutingSnapshot(
        trunks=list(snapshot.trunks.values()), users=["alice"],
        outbound=[OutboundRoute("1", ("out",))]))
    sent = call_out(switch)
    assert [m.status for m, p in sent if not m.is_request and m.status >= 200] == [403]
    assert not [m for m, p in sent if m.is_request and p == GW]
    switch = harness(default_caller_id="+14155550000")
    switch.holder.replace(RoutingSnapshot(
        trunks=list(switch.holder().trunks.values()), users=["alice"],
        outbound=[OutboundRoute("1", ("out",))]))
    [out] = [m for m, p in call_out(switch) if m.is_request and p == GW]
    assert out.headers.get("P-Asserted-Identity") == "<sip:+14155550000@example.com>"


def test_identity_headers_of_an_untrusted_trunk_do_not_reach_a_phone():
    switch = harness()
    sent = switch.receive(invite("sip:+14155550100@127.0.0.1", extra=FORGED), CARRIER)
    [out] = [m for m, p in sent if m.is_request]
    for name in ("P-Asserted-Identity", "Remote-Party-ID", "P-Preferred-Identity", "Identity"):
        assert name not in out.headers


def test_topology_hiding_shows_the_carrier_only_the_switch_and_keeps_the_dialog_working():
    switch = harness(topology_hiding=True)
    proxied = ("Record-Route: <sip:10.9.9.9;lr>\n"
               "Via: SIP/2.0/UDP 10.9.9.9:5060;branch=z9hG4bKinner\n")
    [out] = [m for m, p in call_out(switch, "+14155550150", extra=proxied)
             if m.is_request and p == GW]
    assert [v.host for v in out.vias] == ["127.0.0.1"]
    assert out.headers.get_list("Record-Route") == ["<sip:127.0.0.1:5060;lr>"]
    assert out.headers.get("Contact") == "<sip:127.0.0.1:5060>"
    assert "192.0.2.30" not in out.headers.get("Contact")
    ok = response_to(out, 200, contact="sip:gw@203.0.113.1:5060")
    [answer] = [m for m, p in switch.receive(ok, GW) if p == ALICE]
    assert [v.host for v in answer.vias] == ["192.0.2.30", "10.9.9.9"]
    assert answer.headers.get_list("Record-Route") == ["<sip:127.0.0.1:5060;lr>",
                                                       "<sip:10.9.9.9;lr>"]
    # The carrier hangs up: its BYE names the switch and reaches Alice's Contact.
    bye = ("BYE sip:127.0.0.1:5060 SIP/2.0\n"
           "Via: SIP/2.0/UDP 203.0.113.1:5060;branch=z9hG4bKbye1\n"
           "Route: <sip:127.0.0.1:5060;lr>\n"
           f"From: {answer.headers.get('To')}\nTo: {out.headers.get('From')}\n"
           f"Call-ID: {out.call_id}\nCSeq: 10 BYE\nMax-Forwards: 70\nContent-Length: 0\n\n")
    [relayed] = [m for m, p in switch.receive(bye, GW) if m.is_request]
    assert relayed.uri == "sip:+14155550150@192.0.2.30:5060"
    assert relayed.headers.get("To") == "<sip:+14155550150@192.0.2.30>;tag=caller1"


def test_a_hidden_callers_in_dialog_request_shows_only_the_switch():
    switch = harness(topology_hiding=True)
    [out] = [m for m, p in call_out(switch) if m.is_request and p == GW]
    switch.receive(response_to(out, 200, contact="sip:gw@203.0.113.1:5060"), GW)
    bye = ("BYE sip:gw@203.0.113.1:5060 SIP/2.0\n"
           "Via: SIP/2.0/UDP 192.0.2.30:5060;branch=z9hG4bKbye2\n"
           "Route: <sip:127.0.0.1:5060;lr>\n"
           f"From: <sip:+12025550123@192.0.2.30>;tag=caller1\n"
           f"To: <{DIALLED}>;tag=callee1\nContact: <sip:alice@192.0.2.30>\n"
           f"Call-ID: {out.call_id}\nCSeq: 3 BYE\nMax-Forwards: 70\nContent-Length: 0\n\n")
    [relayed] = [m for m, p in switch.receive(bye, ALICE) if m.is_request and p == GW]
    assert [v.host for v in relayed.vias] == ["127.0.0.1"]
    assert relayed.headers.get("From") == out.headers.get("From")
    assert "192.0.2.30" not in relayed.headers.get("Contact")
    [done] = [m for m, p in switch.receive(response_to(relayed, 200), GW) if p == ALICE]
    assert [v.host for v in done.vias] == ["192.0.2.30"]
    assert done.headers.get("From") == "<sip:+12025550123@192.0.2.30>;tag=caller1"
