"""RFC 3263 §4.2 expansion of a gateway row and DNS answers into gateways: no network."""

import random

import pytest

from softswitch.services.gateway_dns import (
    HostAnswer,
    SrvTarget,
    expand_gateway,
    srv_name,
    uses_srv,
)
from softswitch.services.gateways import order_gateways
from softswitch.services.routing import Gateway, GatewayRow, Trunk, snapshot_from_rows


def row(host="sip.carrier.test", port=None, transport="udp", priority=0, weight=10,
        region=None):
    return GatewayRow("carrier", host, port, transport, region, priority, weight)


def addresses(gateways):
    return [(g.host, g.port) for g in gateways]


def test_srv_only_for_a_name_without_a_port():
    assert uses_srv(row())
    assert not uses_srv(row(port=5060))
    assert not uses_srv(row(host="192.0.2.1"))


@pytest.mark.parametrize("transport, name", [
    ("udp", "_sip._udp.sip.carrier.test"), ("tcp", "_sip._tcp.sip.carrier.test"),
    ("tls", "_sips._tcp.sip.carrier.test")])
def test_srv_name_follows_the_transport(transport, name):
    assert srv_name("sip.carrier.test.", transport) == name


def test_an_address_is_used_as_written_with_the_default_port():
    assert addresses(expand_gateway(row(host="192.0.2.1"), None)) == [("192.0.2.1", 5060)]
    assert addresses(expand_gateway(row(host="192.0.2.1", transport="tls"), None)) == [
        ("192.0.2.1", 5061)]
    assert addresses(expand_gateway(row(host="192.0.2.1", port=5080), None)) == [
        ("192.0.2.1", 5080)]


def test_srv_targets_become_gateways_ranked_by_srv_priority():
    answer = HostAnswer(srv=(
        SrvTarget(20, 0, 5070, "backup.carrier.test", ("192.0.2.30",)),
        SrvTarget(10, 60, 5060, "a.carrier.test", ("192.0.2.10",)),
        SrvTarget(10, 40, 5062, "b.carrier.test", ("192.0.2.20", "192.0.2.21")),
    ))
    gateways = expand_gateway(row(priority=3, weight=10), answer)
    assert addresses(gateways) == [("192.0.2.10", 5060), ("192.0.2.20", 5062),
                                   ("192.0.2.21", 5062), ("192.0.2.30", 5070)]
    assert [g.srv_rank for g in gateways] == [0, 0, 0, 1]
    assert {g.priority for g in gateways} == {3}
    # The row's weight 10 shared 60:40 by SRV weight, b's share split over its addresses.
    assert [g.weight for g in gateways] == pytest.approx([6, 2, 2, 10])
    assert {g.domain for g in gateways} == {"sip.carrier.test"}
    assert {g.trunk for g in gateways} == {"carrier"}


def test_all_zero_srv_weights_share_evenly():
    answer = HostAnswer(srv=(SrvTarget(0, 0, 5060, "a", ("192.0.2.1",)),
                             SrvTarget(0, 0, 5060, "b", ("192.0.2.2",))))
    assert [g.weight for g in expand_gateway(row(weight=4), answer)] == [2, 2]


def test_an_address_listed_by_two_targets_is_one_gateway():
    answer = HostAnswer(srv=(SrvTarget(10, 1, 5060, "a", ("192.0.2.1",)),
                             SrvTarget(20, 1, 5060, "b", ("192.0.2.1",))))
    gateways = expand_gateway(row(), answer)
    assert addresses(gateways) == [("192.0.2.1", 5060)]
    assert gateways[0].srv_rank == 0


def test_no_srv_records_fall_back_to_the_names_addresses_on_the_default_port():
    answer = HostAnswer(srv=(), addresses=("192.0.2.5", "192.0.2.6"))
    assert addresses(expand_gateway(row(), answer)) == [("192.0.2.5", 5060),
                                                        ("192.0.2.6", 5060)]
    assert addresses(expand_gateway(row(transport="tls"), answer)) == [
        ("192.0.2.5", 5061), ("192.0.2.6", 5061)]


def test_an_explicit_port_uses_the_addresses_on_that_port():
    answer = HostAnswer(addresses=("192.0.2.5",))
    assert addresses(expand_gateway(row(port=5080), answer)) == [("192.0.2.5", 5080)]


def test_srv_records_whose_targets_do_not_resolve_give_no_gateway():
    # §4.2: records found means the A fallback is not taken.
    answer = HostAnswer(srv=(SrvTarget(10, 1, 5060, "gone.carrier.test", ()),),
                        addresses=("192.0.2.5",))
    assert expand_gateway(row(), answer) == []


def test_a_root_target_means_no_service():
    assert expand_gateway(row(), HostAnswer(srv=(SrvTarget(0, 0, 0, "."),))) == []


def test_no_answer_leaves_a_name_out():
    assert expand_gateway(row(), None) == []
    assert expand_gateway(row(), HostAnswer(srv=(), addresses=())) == []


def test_backup_srv_targets_come_after_other_gateways_of_the_same_priority():
    answer = HostAnswer(srv=(SrvTarget(10, 1, 5060, "a", ("192.0.2.10",)),
                             SrvTarget(20, 1, 5060, "b", ("192.0.2.20",))))
    named = expand_gateway(row(priority=1), answer)
    static = Gateway("carrier", "198.51.100.1", 5060, "udp", None, 1, 10)
    later = Gateway("carrier", "198.51.100.2", 5060, "udp", None, 2, 10)
    trunk = Trunk("carrier", (later, *reversed(named), static))
    for seed in range(20):
        ordered = [g.host for g in order_gateways(trunk, rng=random.Random(seed))]
        assert set(ordered[:2]) == {"192.0.2.10", "198.51.100.1"}
        assert ordered[2:] == ["192.0.2.20", "198.51.100.2"]


def test_every_resolved_address_identifies_the_trunk():
    rows = {
        "regions": [], "agents": [], "users": [], "numbers": [], "route_targets": [],
        "outbound_routes": [], "outbound_route_trunks": [],
        "trunks": [{"id": 1, "name": "carrier", "inbound_allowed_sources": [],
                    "auth_username": None, "auth_password": None, "register": False,
                    "max_concurrent": None, "max_cps": None, "number_format": "e164",
                    "enabled": True}],
        "gateways": [{"trunk_id": 1, "host": "sip.carrier.test", "port": None,
                      "transport": "udp", "region_id": None, "priority": 0, "weight": 1}],
    }
    answer = HostAnswer(srv=(SrvTarget(10, 1, 5060, "a", ("192.0.2.10",)),
                             SrvTarget(20, 1, 5060, "b", ("192.0.2.20",))))
    snapshot = snapshot_from_rows(rows, expand=lambda r: expand_gateway(r, answer))
    assert snapshot.trunk_for_source("192.0.2.10", 5060).name == "carrier"
    assert snapshot.trunk_for_source("192.0.2.20", 40123).name == "carrier"
    # Without DNS a name is kept as written, with the default port filled in.
    plain = snapshot_from_rows(rows)
    assert addresses(plain.trunks["carrier"].gateways) == [("sip.carrier.test", 5060)]


def test_calls_and_registrations_name_the_carrier_by_its_configured_name():
    """RFC 3263: the Request-URI (and a registration's domain) carry the name the
    carrier is known by, without a port when DNS chose it; packets go to the address."""
    from softswitch.services.attempts import trunk_attempts
    from softswitch.services.trunk_registration import gateway_domain

    srv = HostAnswer(srv=(SrvTarget(10, 1, 5070, "a.carrier.test", ("192.0.2.10",)),))
    by_srv = expand_gateway(row(), srv)[0]
    by_port = expand_gateway(row(port=5080), HostAnswer(addresses=("192.0.2.5",)))[0]
    by_address = expand_gateway(row(host="2001:db8::7", port=5060), HostAnswer())[0]
    assert [g.uri_hostport for g in (by_srv, by_port, by_address)] == [
        "sip.carrier.test", "sip.carrier.test:5080", "[2001:db8::7]:5060"]
    trunk = Trunk("carrier", (by_srv,))
    (attempt,) = trunk_attempts(trunk, "+14155550100")
    assert attempt.uri == "sip:+14155550100@sip.carrier.test"
    assert attempt.to_uri == "sip:+14155550100@sip.carrier.test"
    assert (attempt.destination.host, attempt.destination.port) == ("192.0.2.10", 5070)
    assert [gateway_domain(trunk, g) for g in (by_srv, by_port, by_address)] == [
        "sip.carrier.test", "sip.carrier.test:5080", "[2001:db8::7]"]
