"""Gateway health by OPTIONS probing on a Clock with a fake SIP stack, and the order
trunk routes try their gateways in."""

import random
from collections import Counter

import pytest
from twisted.internet.task import Clock

from softswitch.metrics import Metrics
from softswitch.services.gateways import (
    MAX_PROBES_IN_FLIGHT,
    GatewayHealth,
    gateway_label,
    order_gateways,
)
from softswitch.services.routing import Gateway, RoutingSnapshot, Trunk
from softswitch.sip.message import make_response, parse_message
from softswitch.sip.transport import Peer

INTERVAL = 30.0


class FakeStack:
    """Records client transactions; tests answer them through the handlers."""

    def __init__(self):
        self.sent = []  # [request, peer, handler]
        self.branches = 0

    def via_for(self, peer, branch=None):
        self.branches += 1
        return (f"SIP/2.0/{peer.transport.upper()} 192.0.2.1:5060;"
                f"branch={branch or f'z9hG4bKb{self.branches}'};rport")

    def local_uri(self, peer, user=None):
        return f"sip:{user + '@' if user else ''}192.0.2.1:5060"

    def send_request(self, request, peer, handler):
        # What goes on the wire must parse back as a valid request.
        parsed = parse_message(bytes(request))
        self.sent.append([parsed, peer, handler])
        return len(self.sent)

    def take(self):
        sent, self.sent = self.sent, []
        return sent


def answer(entry, status=200):
    request, _, handler = entry
    handler.response_received(None, parse_message(bytes(make_response(request, status,
                                                                      to_tag="gw"))))


def gw(host, priority=1, weight=1, region=None, trunk="out", port=5060, transport="udp"):
    return Gateway(trunk, host, port, transport, region, priority, weight)


def snapshot(*trunks):
    return RoutingSnapshot(trunks=trunks)


GW1, GW2, GW3 = gw("203.0.113.1"), gw("203.0.113.2"), gw("203.0.113.3", transport="tcp")
OUT = Trunk("out", (GW1, GW2, GW3))


@pytest.fixture
def clock():
    clock = Clock()
    clock.advance(1_000_000)
    return clock


@pytest.fixture
def stack():
    return FakeStack()


@pytest.fixture
def metrics():
    return Metrics()


@pytest.fixture
def health(clock, stack, metrics):
    health = GatewayHealth(clock, stack, interval=INTERVAL, timeout_failures=3,
                           recovery_successes=2, metrics=metrics, rng=random.Random(7))
    health.set_snapshot(snapshot(OUT))
    return health


def probe_round(clock, stack):
    clock.advance(INTERVAL)
    return {entry[1].host: entry for entry in stack.take()}


def sample(metrics, name, **labels):
    return metrics.registry.get_sample_value(name, labels)


def test_first_probes_are_spread_over_the_interval_then_every_interval(clock, stack, health):
    times = []
    for _ in range(int(INTERVAL)):
        clock.advance(1)
        times += [clock.seconds()] * len(stack.take())
    assert len(times) == 3 and len(set(times)) > 1
    assert len(probe_round(clock, stack)) == 3


def test_the_probe_is_a_well_formed_options_with_fresh_ids(clock, stack, health):
    first = probe_round(clock, stack)
    second = probe_round(clock, stack)
    request, peer, _ = first["203.0.113.3"]
    assert peer == Peer("tcp", "203.0.113.3", 5060)
    assert request.method == "OPTIONS"
    assert request.uri == "sip:203.0.113.3:5060;transport=tcp"
    assert request.headers.get("Max-Forwards") == "70"
    assert request.top_via.host == "192.0.2.1" and request.top_via.transport == "TCP"
    assert request.cseq.number == 1 and request.cseq.method == "OPTIONS"
    assert request.to.tag is None and request.from_tag
    again = second["203.0.113.3"][0]
    assert again.call_id != request.call_id and again.from_tag != request.from_tag
    assert again.top_via.branch != request.top_via.branch
    assert first["203.0.113.1"][1] == Peer("udp", "203.0.113.1", 5060)


@pytest.mark.parametrize("status", [200, 404, 405, 501, 503])
def test_any_response_proves_the_gateway_alive_and_measures_the_round_trip(
        clock, stack, health, metrics, status):
    probes = probe_round(clock, stack)
    clock.advance(0.040)
    answer(probes["203.0.113.1"], status)
    assert health.rtt(GW1.key) == pytest.approx(0.040)
    assert health.rtt(GW2.key) is None
    assert sample(metrics, "softswitch_gateway_rtt_seconds", trunk="out",
                  gateway="203.0.113.1:5060") == pytest.approx(0.040)
    assert sample(metrics, "softswitch_gateway_probes_total", result="ok") == 1


def test_round_trip_is_smoothed_and_only_the_first_answer_counts(clock, stack, health):
    probe = probe_round(clock, stack)["203.0.113.1"]
    clock.advance(0.1)
    answer(probe, 100)
    clock.advance(1)
    answer(probe, 200)  # the final answer after a 100 is the same probe
    assert health.rtt(GW1.key) == pytest.approx(0.1)
    probe = probe_round(clock, stack)["203.0.113.1"]
    clock.advance(0.02)
    answer(probe)
    assert health.rtt(GW1.key) == pytest.approx(0.75 * 0.1 + 0.25 * 0.02)


def fail_rounds(clock, stack, n, how="timeout", host="203.0.113.1"):
    for _ in range(n):
        _, _, handler = probe_round(clock, stack)[host]
        getattr(handler, "timed_out" if how == "timeout" else "transport_failed")(None)


def test_down_after_n_failures_up_after_m_successes(clock, stack, health, metrics):
    fail_rounds(clock, stack, 2)
    assert health.is_usable(GW1.key)
    fail_rounds(clock, stack, 1, how="transport")
    assert not health.is_usable(GW1.key)
    assert sample(metrics, "softswitch_gateway_up", trunk="out", gateway="203.0.113.1:5060") == 0
    assert sample(metrics, "softswitch_gateway_probes_total", result="timeout") == 2
    assert sample(metrics, "softswitch_gateway_probes_total", result="transport_error") == 1
    went_down = clock.seconds()

    answer(probe_round(clock, stack)["203.0.113.1"])
    assert not health.is_usable(GW1.key)
    answer(probe_round(clock, stack)["203.0.113.1"])
    assert health.is_usable(GW1.key)
    assert sample(metrics, "softswitch_gateway_up", trunk="out", gateway="203.0.113.1:5060") == 1
    [row] = [r for r in health.status() if r["gateway"] == "203.0.113.1:5060"]
    assert row["state"] == "up" and row["last_change"] == clock.seconds() > went_down


def test_a_success_between_failures_resets_the_count(clock, stack, health):
    fail_rounds(clock, stack, 2)
    answer(probe_round(clock, stack)["203.0.113.1"])
    fail_rounds(clock, stack, 2)
    assert health.is_usable(GW1.key)


def test_suspect_gateway_is_skipped_until_a_later_probe_succeeds(clock, stack, health, metrics):
    early = probe_round(clock, stack)["203.0.113.1"]
    health.mark_suspect(GW1.key)
    assert not health.is_usable(GW1.key)
    assert sorted(g.host for g in order_gateways(OUT, health)) == ["203.0.113.2", "203.0.113.3"]
    assert sample(metrics, "softswitch_gateway_up", trunk="out", gateway="203.0.113.1:5060") == 0
    answer(early)  # sent before the 503: proves nothing about now
    assert not health.is_usable(GW1.key)
    clock.advance(2.0)  # probed soon, not at the next interval
    [soon] = [e for e in stack.take() if e[1].host == "203.0.113.1"]
    answer(soon)
    assert health.is_usable(GW1.key)
    assert [r["state"] for r in health.status() if r["gateway"] == "203.0.113.1:5060"] == ["up"]


def test_suspect_state_in_status_and_marking_a_down_gateway_changes_nothing(clock, stack, health):
    health.mark_suspect(GW2.key)
    assert {r["gateway"]: r["state"] for r in health.status()}["203.0.113.2:5060"] == "suspect"
    fail_rounds(clock, stack, 3, host="203.0.113.3")
    health.mark_suspect(GW3.key)
    health.mark_suspect("udp:198.51.100.9:5060")  # unknown: ignored
    assert {r["gateway"]: r["state"] for r in health.status()}[
        "203.0.113.3:5060;transport=tcp"] == "down"


def test_snapshot_changes_start_and_stop_probing(clock, stack, health, metrics):
    probe_round(clock, stack)
    late = probe_round(clock, stack)["203.0.113.2"]
    extra = gw("203.0.113.9")
    disabled = Trunk("off", (gw("198.51.100.1", trunk="off"),), enabled=False)
    health.set_snapshot(snapshot(Trunk("out", (GW1, extra)), disabled))
    answer(late)  # answered after removal: ignored
    assert sample(metrics, "softswitch_gateway_up", trunk="out", gateway="203.0.113.2:5060") is None
    clock.advance(INTERVAL)
    assert sorted(e[1].host for e in stack.take()) == ["203.0.113.1", "203.0.113.9"]
    assert health.rtt(GW2.key) is None and health.is_usable(GW2.key)  # unknown key
    health.stop()
    clock.advance(INTERVAL * 3)
    assert stack.take() == []


def test_a_gateway_shared_by_two_trunks_is_probed_once_and_reported_for_both(clock, stack):
    health = GatewayHealth(clock, stack, interval=INTERVAL, rng=random.Random(1))
    health.set_snapshot(snapshot(Trunk("a", (gw("203.0.113.1", trunk="a"),)),
                                 Trunk("b", (gw("203.0.113.1", trunk="b"),))))
    assert len(probe_round(clock, stack)) == 1 and not stack.sent
    assert [(r["trunk"], r["gateway"]) for r in health.status()] == [
        ("a", "203.0.113.1:5060"), ("b", "203.0.113.1:5060")]


def test_a_silent_gateway_does_not_pile_up_probes(clock, stack):
    health = GatewayHealth(clock, stack, interval=1.0, timeout_failures=100,
                           rng=random.Random(1))
    health.set_snapshot(snapshot(Trunk("out", (GW1,))))
    clock.pump([1.0] * 20)
    assert len(stack.take()) == MAX_PROBES_IN_FLIGHT


def test_a_send_error_counts_as_a_transport_failure(clock):
    class Broken(FakeStack):
        def send_request(self, request, peer, handler):
            raise OSError("no route")

    health = GatewayHealth(clock, Broken(), interval=INTERVAL, timeout_failures=1,
                           rng=random.Random(1))
    health.set_snapshot(snapshot(Trunk("out", (GW1,))))
    clock.advance(INTERVAL)
    assert not health.is_usable(GW1.key)


def test_gateway_label_brackets_ipv6_and_names_non_udp_transports():
    assert gateway_label(gw("2001:db8::1", port=5080)) == "[2001:db8::1]:5080"
    assert gateway_label(gw("sbc.example", transport="tls", port=5061)) == \
        "sbc.example:5061;transport=tls"


# -- ordering -------------------------------------------------------------------------

class Measured:
    """A stand-in for GatewayHealth with fixed usability and round trips."""

    def __init__(self, rtts=None, unusable=()):
        self.rtts, self.unusable = rtts or {}, set(unusable)

    def is_usable(self, key):
        return key not in self.unusable

    def rtt(self, key):
        return self.rtts.get(key)


def hosts(gateways):
    return [g.host for g in gateways]


def test_same_region_first_then_priority():
    trunk = Trunk("out", (gw("a", 1, region="eu"), gw("b", 2, region="us"),
                          gw("c", 1, region="us"), gw("d", 3, region="eu")))
    rng = random.Random(3)
    assert hosts(order_gateways(trunk, None, "us", rng=rng)) == ["c", "b", "a", "d"]
    assert hosts(order_gateways(trunk, None, "eu", rng=rng)) == ["a", "d", "c", "b"]
    anywhere = hosts(order_gateways(trunk, None, None, rng=rng))
    assert set(anywhere[:2]) == {"a", "c"} and anywhere[2:] == ["b", "d"]


def test_equal_priority_is_shared_by_weight_and_zero_weight_comes_last():
    trunk = Trunk("out", (gw("heavy", weight=3), gw("light", weight=1), gw("spare", weight=0)))
    rng = random.Random(11)
    firsts = Counter(order_gateways(trunk, rng=rng)[0].host for _ in range(4000))
    assert firsts["spare"] == 0
    assert 0.70 < firsts["heavy"] / 4000 < 0.80
    assert all(order_gateways(trunk, rng=rng)[-1].host == "spare" for _ in range(50))


def test_a_seeded_random_source_makes_the_order_reproducible():
    trunk = Trunk("out", tuple(gw(f"g{i}", weight=i + 1) for i in range(8)))
    runs = [hosts(order_gateways(trunk, rng=random.Random(5))) for _ in range(3)]
    assert runs[0] == runs[1] == runs[2]


def test_unusable_gateways_are_skipped():
    trunk = Trunk("out", (gw("a", 1), gw("b", 2), gw("c", 3)))
    health = Measured(unusable={trunk.gateways[0].key})
    assert hosts(order_gateways(trunk, health)) == ["b", "c"]


def test_when_every_gateway_is_unusable_they_are_all_tried_unless_told_otherwise():
    trunk = Trunk("out", (gw("a", 2), gw("b", 1)))
    health = Measured(unusable={g.key for g in trunk.gateways})
    assert hosts(order_gateways(trunk, health)) == ["b", "a"]
    assert order_gateways(trunk, health, all_down_fallback=False) == []


def test_lowest_round_trip_wins_among_equal_region_and_priority():
    trunk = Trunk("out", (gw("slow", 1, 100), gw("fast", 1, 1), gw("unmeasured", 1, 100),
                          gw("backup", 2)))
    health = Measured({trunk.gateways[0].key: 0.080, trunk.gateways[1].key: 0.020,
                       trunk.gateways[3].key: 0.001})
    for seed in range(20):
        assert hosts(order_gateways(trunk, health, rng=random.Random(seed))) == \
            ["fast", "slow", "unmeasured", "backup"]
    shares = Counter(order_gateways(trunk, health, rng=random.Random(s), prefer_low_rtt=False)[0]
                     .host for s in range(200))
    assert shares["slow"] > shares["fast"]  # by weight alone


def test_round_trips_within_the_tolerance_are_ties_decided_by_weight():
    trunk = Trunk("out", (gw("a", weight=1), gw("b", weight=1000)))
    health = Measured({trunk.gateways[0].key: 0.0200, trunk.gateways[1].key: 0.0230})
    firsts = Counter(order_gateways(trunk, health, rng=random.Random(s))[0].host
                     for s in range(100))
    assert firsts["b"] > 90
    strict = {hosts(order_gateways(trunk, health, rng=random.Random(s), rtt_tolerance=0))[0]
              for s in range(100)}
    assert strict == {"a"}


def test_health_order_is_the_proxy_callable(clock, stack, health):
    probes = probe_round(clock, stack)
    clock.advance(0.010)
    answer(probes["203.0.113.2"])
    clock.advance(0.050)
    answer(probes["203.0.113.1"])
    clock.advance(0.050)
    answer(probes["203.0.113.3"])
    assert hosts(health.order(OUT, None)) == ["203.0.113.2", "203.0.113.1", "203.0.113.3"]
    health.mark_suspect(GW2.key)
    assert hosts(health.order(OUT, None))[0] == "203.0.113.1"
