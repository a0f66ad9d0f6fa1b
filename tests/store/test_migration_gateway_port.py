"""0002 makes gateways.port nullable without losing rows, and its downgrade puts
the RFC 3263 default port back where it was left out."""

import sqlalchemy as sa

from softswitch.store import migrate

STAMP = {"created_at": 1.0, "updated_at": 1.0}


def _rows(url: str, sql: str) -> list:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as conn:
            result = conn.execute(sa.text(sql))
            return [tuple(row) for row in result] if result.returns_rows else []
    finally:
        engine.dispose()


def _seed_trunk(url: str) -> None:
    _rows(url, "INSERT INTO trunks (id, name, inbound_allowed_sources, register, "
               "number_format, enabled, created_at, updated_at) "
               "VALUES (1, 'carrier', '[]', false, 'e164', true, 1, 1)")


def test_rows_survive_and_a_port_may_then_be_left_out(database_url):
    migrate.upgrade(database_url, "0001")
    _seed_trunk(database_url)
    _rows(database_url, "INSERT INTO gateways (trunk_id, host, port, transport, priority, "
                        "weight, created_at, updated_at) "
                        "VALUES (1, '192.0.2.1', 5080, 'udp', 0, 1, 1, 1)")
    migrate.upgrade(database_url)
    _rows(database_url, "INSERT INTO gateways (trunk_id, host, port, transport, priority, "
                        "weight, created_at, updated_at) "
                        "VALUES (1, 'sip.carrier.test', NULL, 'tls', 0, 1, 1, 1)")
    assert _rows(database_url, "SELECT host, port FROM gateways ORDER BY id") == [
        ("192.0.2.1", 5080), ("sip.carrier.test", None)]
    migrate.downgrade(database_url, "0001")
    assert _rows(database_url, "SELECT host, port FROM gateways ORDER BY id") == [
        ("192.0.2.1", 5080), ("sip.carrier.test", 5061)]
    migrate.upgrade(database_url)
    assert _rows(database_url, "SELECT count(*) FROM gateways") == [(2,)]
