"""One AOR cannot gather unbounded contacts, and one call cannot fork to all of them:
[sip] max_contacts_per_aor with contacts_overflow, and [sip] max_forks."""

from memory_proxy import ProxyHarness, invite
from memory_switch import DOMAIN, Switch

from softswitch.services.proxy_call import ProxyConfig
from softswitch.services.routing import Gateway, Number, RoutingSnapshot, Target, Trunk
from softswitch.sip.transport import Peer

AOR = f"sip:alice@{DOMAIN}"
CARRIER = Peer("udp", "198.51.100.7", 5060)


def contacts(first, count):
    return tuple(f"<sip:alice@192.0.2.{i}>" for i in range(first, first + count))


def registered(switch):
    return sorted(b.contact for b in switch.location.lookup(AOR))


def test_replace_drops_the_binding_closest_to_expiry():
    switch = Switch({"alice": "secret"}, max_contacts=3)
    for i in range(1, 4):
        assert switch.register(contacts=contacts(i, 1), call_id=f"c{i}").status == 200
        switch.clock.advance(10)
    response = switch.register(contacts=contacts(4, 1), call_id="c4")
    assert response.status == 200
    assert registered(switch) == ["sip:alice@192.0.2.2", "sip:alice@192.0.2.3",
                                  "sip:alice@192.0.2.4"]
    assert len(response.contacts) == 3
    assert (AOR, "sip:alice@192.0.2.1") in switch.store.removed


def test_refreshing_a_known_contact_at_the_cap_replaces_nothing():
    switch = Switch({"alice": "secret"}, max_contacts=2)
    switch.register(contacts=contacts(1, 2))
    assert switch.register(contacts=contacts(1, 1)).status == 200
    assert registered(switch) == ["sip:alice@192.0.2.1", "sip:alice@192.0.2.2"]
    assert switch.store.removed == []


def test_reject_answers_403_and_keeps_the_bindings():
    switch = Switch({"alice": "secret"}, max_contacts=2, contacts_overflow="reject")
    assert switch.register(contacts=contacts(1, 2)).status == 200
    response = switch.register(contacts=contacts(3, 1), call_id="other")
    assert (response.status, response.reason) == (403, "Too Many Contacts")
    assert registered(switch) == ["sip:alice@192.0.2.1", "sip:alice@192.0.2.2"]
    # Removing one in the same REGISTER makes room.
    response = switch.register(contacts=contacts(3, 1) + ("<sip:alice@192.0.2.1>;expires=0",))
    assert response.status == 200
    assert registered(switch) == ["sip:alice@192.0.2.2", "sip:alice@192.0.2.3"]


def test_one_register_with_more_contacts_than_the_cap_is_refused_either_way():
    switch = Switch({"alice": "secret"})  # the default cap: 10
    response = switch.register(contacts=contacts(1, 11))
    assert response.status == 403
    assert len(switch.location) == 0
    assert switch.register(contacts=contacts(1, 10)).status == 200
    assert len(switch.location) == 10


def test_a_call_forks_to_at_most_max_forks_contacts_best_q_first():
    carrier = Trunk("carrier", (Gateway("carrier", "198.51.100.7", 5060, "udp", None, 1, 10),),
                    number_format="nanp")
    snapshot = RoutingSnapshot(trunks=[carrier], users=["bob"],
                               numbers=[Number("+14155550100", (Target("user", "bob"),))])
    harness = ProxyHarness(snapshot, users={"bob": "b-secret"}, config=ProxyConfig(max_forks=3))
    for i in range(1, 21):
        harness.bind("bob", f"sip:bob@10.0.0.{i}", f"udp:192.0.2.{i}:5060")
    best = harness.location.lookup(f"sip:bob@{DOMAIN}")[:3]
    sent = harness.receive(invite("sip:4155550100@127.0.0.1"), CARRIER)
    forked = [m for m, _ in sent if m.is_request]
    assert len(forked) == 3
    assert [m.uri for m in forked] == [b.contact for b in best]
