"""The schema's safety nets: foreign keys, CHECKs, UNIQUEs and defaults."""

import pytest
import sqlalchemy as sa

from softswitch.store.errors import IntegrityKind, integrity_kind
from softswitch.store.tables import (
    agents,
    gateways,
    numbers,
    outbound_route_trunks,
    outbound_routes,
    regions,
    route_targets,
    sip_users,
    trunks,
)


def insert(conn, table, **values) -> int:
    return conn.execute(table.insert().values(**values)).inserted_primary_key[0]


def add_region(conn, name="eu"):
    return insert(
        conn, regions, name=name, bind="10.0.0.1", advertise="203.0.113.1",
        port_min=20000, port_max=30000,
    )


def add_trunk(conn, name="carrier"):
    return insert(
        conn, trunks, name=name, inbound_allowed_sources=["198.51.100.0/24"],
        register=False, number_format="e164", enabled=True,
    )


def add_agent(conn, name="support-bot", region_id=None):
    return insert(
        conn, agents, name=name, url="wss://agent.example/ws", profile="twilio",
        sample_rate=8000, region_id=region_id, headers={}, secret_headers={},
        custom_parameters={},
    )


def add_user(conn, username="alice"):
    return insert(
        conn, sip_users, username=username, domain="example.com",
        ha1_md5="0" * 32, ha1_sha256="0" * 64, enabled=True,
    )


def add_number(conn, number="+14155550100"):
    return insert(conn, numbers, number=number, enabled=True)


def expect_violation(engine, kind: IntegrityKind, fn):
    with pytest.raises(sa.exc.IntegrityError) as caught:
        with engine.begin() as conn:
            fn(conn)
    assert integrity_kind(caught.value) is kind, str(caught.value.orig)


def count(engine, table) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar()


def test_a_trunk_used_by_a_route_target_cannot_be_deleted(engine):
    with engine.begin() as conn:
        trunk_id = add_trunk(conn)
        number_id = add_number(conn)
        insert(conn, route_targets, number_id=number_id, position=0, kind="trunk",
               trunk_id=trunk_id)

    expect_violation(
        engine, IntegrityKind.FOREIGN_KEY,
        lambda conn: conn.execute(trunks.delete().where(trunks.c.id == trunk_id)),
    )
    assert count(engine, trunks) == 1


@pytest.mark.parametrize("referenced", ["agent", "user", "region", "trunk-in-outbound-route"])
def test_other_referenced_rows_cannot_be_deleted(engine, referenced):
    with engine.begin() as conn:
        region_id = add_region(conn)
        agent_id = add_agent(conn, region_id=region_id)
        user_id = add_user(conn)
        trunk_id = add_trunk(conn)
        number_id = add_number(conn)
        insert(conn, route_targets, number_id=number_id, position=0, kind="agent",
               agent_id=agent_id)
        insert(conn, route_targets, number_id=number_id, position=1, kind="user",
               user_id=user_id)
        route_id = insert(conn, outbound_routes, prefix="")
        insert(conn, outbound_route_trunks, route_id=route_id, position=0, trunk_id=trunk_id)
    table, row_id = {
        "agent": (agents, agent_id),
        "user": (sip_users, user_id),
        "region": (regions, region_id),
        "trunk-in-outbound-route": (trunks, trunk_id),
    }[referenced]
    expect_violation(
        engine, IntegrityKind.FOREIGN_KEY,
        lambda conn: conn.execute(table.delete().where(table.c.id == row_id)),
    )


def test_deleting_a_number_deletes_its_route(engine):
    with engine.begin() as conn:
        agent_id = add_agent(conn)
        number_id = add_number(conn)
        insert(conn, route_targets, number_id=number_id, position=0, kind="agent",
               agent_id=agent_id)
        insert(conn, route_targets, number_id=number_id, position=1, kind="reject",
               reject_code=486)
        conn.execute(numbers.delete().where(numbers.c.id == number_id))
    assert count(engine, route_targets) == 0
    assert count(engine, agents) == 1


def test_deleting_a_trunk_deletes_its_gateways(engine):
    with engine.begin() as conn:
        trunk_id = add_trunk(conn)
        insert(conn, gateways, trunk_id=trunk_id, host="sip.carrier.example", port=5060,
               transport="udp", priority=10, weight=100)
        conn.execute(trunks.delete().where(trunks.c.id == trunk_id))
    assert count(engine, gateways) == 0


@pytest.mark.parametrize(
    "target",
    [
        {"kind": "agent"},  # no agent_id
        {"kind": "agent", "agent_id": "AGENT", "trunk_id": "TRUNK"},  # two targets
        {"kind": "trunk", "agent_id": "AGENT"},  # column of another kind
        {"kind": "reject"},  # no code
        {"kind": "reject", "reject_code": 200},  # not an error code
        {"kind": "queue", "agent_id": "AGENT"},  # unknown kind
    ],
)
def test_route_target_must_name_exactly_what_its_kind_needs(engine, target):
    with engine.begin() as conn:
        ids = {"AGENT": add_agent(conn), "TRUNK": add_trunk(conn)}
        number_id = add_number(conn)
    values = {key: ids.get(value, value) for key, value in target.items()}
    expect_violation(
        engine, IntegrityKind.CHECK,
        lambda conn: insert(conn, route_targets, number_id=number_id, position=0, **values),
    )


def test_checks_on_gateways_agents_and_regions(engine):
    with engine.begin() as conn:
        trunk_id = add_trunk(conn)
    expect_violation(engine, IntegrityKind.CHECK, lambda conn: insert(
        conn, gateways, trunk_id=trunk_id, host="h", port=5060, transport="sctp",
        priority=1, weight=1,
    ))
    expect_violation(engine, IntegrityKind.CHECK, lambda conn: insert(
        conn, agents, name="a", url="wss://x", profile="carrier-pigeon", sample_rate=8000,
        headers={}, secret_headers={}, custom_parameters={},
    ))
    expect_violation(engine, IntegrityKind.CHECK, lambda conn: insert(
        conn, regions, name="r", bind="0.0.0.0", advertise="x", port_min=30000,
        port_max=20000,
    ))


@pytest.mark.parametrize(
    "add_twice",
    [
        lambda conn: add_trunk(conn, "same") and add_trunk(conn, "same"),
        lambda conn: add_number(conn, "+15550001") and add_number(conn, "+15550001"),
        lambda conn: add_user(conn, "bob") and add_user(conn, "bob"),
        lambda conn: insert(conn, outbound_routes, prefix="") and insert(
            conn, outbound_routes, prefix=""),
    ],
    ids=["trunk-name", "number", "user", "outbound-prefix"],
)
def test_duplicates_are_refused(engine, add_twice):
    expect_violation(engine, IntegrityKind.UNIQUE, add_twice)


def test_two_targets_cannot_share_a_position(engine):
    def add_two(conn):
        number_id = add_number(conn)
        for code in (486, 603):
            insert(conn, route_targets, number_id=number_id, position=0, kind="reject",
                   reject_code=code)

    expect_violation(engine, IntegrityKind.UNIQUE, add_two)


def test_a_gateway_is_unique_per_trunk_host_port_and_transport(engine):
    def add_two(conn, second_transport):
        trunk_id = add_trunk(conn)
        for transport in ("udp", second_transport):
            insert(conn, gateways, trunk_id=trunk_id, host="gw", port=5060,
                   transport=transport, priority=1, weight=1)

    with engine.begin() as conn:
        add_two(conn, "tcp")  # another transport is another gateway
    expect_violation(engine, IntegrityKind.UNIQUE, lambda conn: add_two(conn, "udp"))


def test_missing_required_value_is_reported_as_not_null(engine):
    expect_violation(engine, IntegrityKind.NOT_NULL, lambda conn: conn.execute(
        numbers.insert().values(number=None, enabled=True)
    ))


def test_timestamps_are_filled_and_updated(engine):
    with engine.begin() as conn:
        number_id = add_number(conn)
        before = conn.execute(sa.select(numbers).where(numbers.c.id == number_id)).one()
    assert before.created_at > 1.7e9 and before.updated_at >= before.created_at
    with engine.begin() as conn:
        conn.execute(numbers.update().where(numbers.c.id == number_id).values(enabled=False))
        after = conn.execute(sa.select(numbers).where(numbers.c.id == number_id)).one()
    assert after.created_at == before.created_at
    assert after.updated_at >= before.updated_at


def test_json_and_boolean_columns_round_trip(engine):
    headers = {"X-Team": "support", "nested": {"list": [1, 2.5, None, "é"]}}
    with engine.begin() as conn:
        agent_id = add_agent(conn)
        conn.execute(agents.update().where(agents.c.id == agent_id).values(headers=headers))
        trunk_id = add_trunk(conn)
        row = conn.execute(sa.select(agents.c.headers)).one()
        trunk = conn.execute(sa.select(trunks).where(trunks.c.id == trunk_id)).one()
    assert row.headers == headers
    assert trunk.register is False and trunk.enabled is True
    assert trunk.inbound_allowed_sources == ["198.51.100.0/24"]
    assert trunk.max_concurrent is None and trunk.max_cps is None
