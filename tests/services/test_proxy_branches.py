"""Two INVITEs that differ only in their Via branch get a client branch each: the
second is forwarded too, not left with a 100 and nothing else (issue 12)."""

from memory_proxy import ProxyHarness, invite
from test_proxy import BOB_NAT, CARRIER, snapshot


def test_invites_differing_only_in_via_branch_are_both_forwarded_on_distinct_branches():
    switch = ProxyHarness(snapshot(), users={"bob": "b-secret"})
    switch.bind("bob", "sip:bob@10.0.0.2:5062", "udp:192.0.2.20:40000")
    first = switch.receive(invite("sip:4155550100@127.0.0.1", branch="z9hG4bKaaa"), CARRIER)
    second = switch.receive(invite("sip:4155550100@127.0.0.1", branch="z9hG4bKbbb"), CARRIER)
    [one] = [m for m, p in first if m.is_request and p == BOB_NAT]
    [two] = [m for m, p in second if m.is_request and p == BOB_NAT]
    assert one.top_via.branch != two.top_via.branch
    assert [m.status for m, _ in second if not m.is_request] == [100]
    # Both still carry the same loop hash (RFC 3261 §16.6 step 8), so a looped copy
    # of either is still recognised.
    assert one.top_via.branch.split(".")[0] == two.top_via.branch.split(".")[0]
