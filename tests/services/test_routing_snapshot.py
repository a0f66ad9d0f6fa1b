"""The routing snapshot built from a real migrated database."""

import time

import sqlalchemy as sa

from softswitch.services.routing import snapshot_from_rows
from softswitch.store import migrate
from softswitch.store.database import create_engine
from softswitch.store.snapshot import load_routing_rows
from softswitch.store.tables import (
    agents, gateways, numbers, outbound_route_trunks, outbound_routes, regions,
    route_targets, sip_users, trunks,
)


def populate(conn):
    now = time.time()
    stamp = {"created_at": now, "updated_at": now}
    conn.execute(sa.insert(regions), [{"id": 1, "name": "us-west", "bind": "127.0.0.2",
                                       "advertise": "198.51.100.1", "port_min": 20000,
                                       "port_max": 21000, **stamp}])
    conn.execute(sa.insert(trunks), [
        {"id": 1, "name": "carrier-a", "inbound_allowed_sources": ["203.0.113.0/24"],
         "register": False, "number_format": "nanp", "enabled": True, **stamp},
        {"id": 2, "name": "carrier-b", "inbound_allowed_sources": [], "register": False,
         "number_format": "e164", "enabled": True, **stamp}])
    conn.execute(sa.insert(gateways), [
        {"trunk_id": 1, "host": "198.51.100.7", "port": 5060, "transport": "udp",
         "region_id": 1, "priority": 1, "weight": 10, **stamp},
        {"trunk_id": 2, "host": "192.0.2.9", "port": 5060, "transport": "udp",
         "region_id": None, "priority": 1, "weight": 10, **stamp}])
    conn.execute(sa.insert(agents), [{"id": 1, "name": "support-bot", "url": "ws://127.0.0.1:9/",
                                      "profile": "twilio", "sample_rate": 8000, "region_id": 1,
                                      "headers": {}, "secret_headers": {"x-key": "s"},
                                      "custom_parameters": {}, **stamp}])
    conn.execute(sa.insert(sip_users), [{"id": 1, "username": "alice", "domain": "example.com",
                                         "ha1_md5": "0" * 32, "ha1_sha256": "0" * 64,
                                         "enabled": True, **stamp}])
    conn.execute(sa.insert(numbers), [{"id": 1, "number": "+14155550100", "enabled": True,
                                       **stamp}])
    for target in ({"position": 1, "kind": "trunk", "trunk_id": 2},
                   {"position": 0, "kind": "agent", "agent_id": 1},
                   {"position": 2, "kind": "reject", "reject_code": 486}):
        conn.execute(sa.insert(route_targets), {"number_id": 1, **target, **stamp})
    conn.execute(sa.insert(outbound_routes), [{"id": 1, "prefix": "1", **stamp},
                                              {"id": 2, "prefix": "", **stamp}])
    conn.execute(sa.insert(outbound_route_trunks), [
        {"route_id": 1, "position": 0, "trunk_id": 1, **stamp},
        {"route_id": 1, "position": 1, "trunk_id": 2, **stamp},
        {"route_id": 2, "position": 0, "trunk_id": 2, **stamp}])


def test_snapshot_from_a_real_database(tmp_path):
    url = f"sqlite:///{tmp_path}/s.db"
    migrate.upgrade(url)
    engine = create_engine(url)
    with engine.begin() as conn:
        populate(conn)
    with engine.begin() as conn:
        snapshot = snapshot_from_rows(load_routing_rows(conn))
    engine.dispose()

    number = snapshot.number("+14155550100")
    assert [(t.kind, t.name, t.code) for t in number.targets] == [
        ("agent", "support-bot", None), ("trunk", "carrier-b", None), ("reject", None, 486)]
    assert snapshot.trunk_for_source("203.0.113.77", 40000).name == "carrier-a"
    assert snapshot.trunk_for_source("198.51.100.7", 5060).name == "carrier-a"
    assert snapshot.trunk_for_source("192.0.2.9", 5060).name == "carrier-b"
    assert snapshot.trunk_for_source("192.0.2.9", 5062) is None  # a phone on its address
    assert snapshot.trunk_for_source("192.0.2.10", 5060) is None
    assert [t.name for t in snapshot.outbound_trunks("+14155550199")] == ["carrier-a", "carrier-b"]
    assert [t.name for t in snapshot.outbound_trunks("+442071234567")] == ["carrier-b"]
    assert snapshot.trunks["carrier-a"].gateways[0].region == "us-west"
    assert snapshot.agents["support-bot"].secret_headers["x-key"] == "s"
    assert "alice" in snapshot.users


def _trunk_rows(sources, gateways):
    return {
        "regions": [], "agents": [], "users": [], "numbers": [], "route_targets": [],
        "outbound_routes": [], "outbound_route_trunks": [],
        "trunks": [{"id": i + 1, "name": name, "inbound_allowed_sources": allowed,
                    "auth_username": None, "auth_password": None, "register": False,
                    "max_concurrent": None, "max_cps": None, "number_format": "e164",
                    "enabled": True} for i, (name, allowed) in enumerate(sources)],
        "gateways": [{"trunk_id": trunk_id, "host": host, "port": port, "transport": transport,
                      "region_id": None, "priority": 0, "weight": 1}
                     for trunk_id, host, port, transport in gateways],
    }


def test_a_gateway_naming_its_port_is_recognised_by_address_port_and_transport():
    snapshot = snapshot_from_rows(_trunk_rows(
        [("sbc-a", []), ("sbc-b", []), ("tcp-carrier", []), ("any-port", [])],
        [(1, "203.0.113.5", 5060, "udp"), (2, "203.0.113.5", 5070, "udp"),
         (3, "203.0.113.9", 5060, "tcp"), (4, "203.0.113.10", None, "udp")]))
    assert snapshot.trunk_for_source("203.0.113.5", 5060).name == "sbc-a"
    assert snapshot.trunk_for_source("203.0.113.5", 5070).name == "sbc-b"
    # A phone behind the same public address, on another port, is not a trunk.
    assert snapshot.trunk_for_source("203.0.113.5", 5062) is None
    assert snapshot.trunk_for_source("203.0.113.5", 5060, "tcp") is None
    # Over TCP the far end connects from a port of its own: address and transport.
    assert snapshot.trunk_for_source("203.0.113.9", 41234, "tcp").name == "tcp-carrier"
    assert snapshot.trunk_for_source("203.0.113.9", 5060, "udp") is None
    # A gateway without a port (SRV, or the default) is known by its address.
    assert snapshot.trunk_for_source("203.0.113.10", 33333).name == "any-port"


def test_allowed_sources_name_networks_or_one_address_with_its_port():
    snapshot = snapshot_from_rows(_trunk_rows(
        [("pinned", ["198.51.100.7:5080", "[2001:db8::7]:5080"]),
         ("network", ["192.0.2.0/24", "2001:db8:1::/48"])], []))
    assert snapshot.trunk_for_source("198.51.100.7", 5080).name == "pinned"
    assert snapshot.trunk_for_source("198.51.100.7", 5060) is None
    assert snapshot.trunk_for_source("2001:db8::7", 5080, "tcp").name == "pinned"
    assert snapshot.trunk_for_source("2001:db8::7", 5081) is None
    assert snapshot.trunk_for_source("192.0.2.200", 1024).name == "network"
    assert snapshot.trunk_for_source("2001:db8:1::9", 5060).name == "network"
    assert snapshot.trunk_for_source("not-an-address", 5060) is None
    assert [str(s) for s in snapshot.trunks["pinned"].allowed_sources] == [
        "198.51.100.7:5080", "[2001:db8::7]:5080"]
