"""0014 adds the route targets' backup agent (an agent's id), keeping the rows; its
downgrade drops it again."""

import sqlalchemy as sa

from softswitch.store import migrate


def _rows(url: str, sql: str) -> list:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as conn:
            if url.startswith("sqlite"):
                conn.execute(sa.text("PRAGMA foreign_keys = ON"))
            result = conn.execute(sa.text(sql))
            return [tuple(row) for row in result] if result.returns_rows else []
    finally:
        engine.dispose()


def _columns(url: str) -> set[str]:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        return {c["name"] for c in sa.inspect(engine).get_columns("route_targets")}
    finally:
        engine.dispose()


def test_route_targets_keep_their_rows_and_gain_a_backup_agent(database_url):
    migrate.upgrade(database_url, "0011")
    _rows(database_url, "INSERT INTO agents (id, name, url, profile, sample_rate, headers, "
                        "secret_headers, custom_parameters, created_at, updated_at) VALUES "
                        "(1, 'bot', 'ws://a', 'raw', 8000, '{}', '{}', '{}', 1, 1), "
                        "(2, 'spare', 'ws://b', 'raw', 8000, '{}', '{}', '{}', 1, 1)")
    _rows(database_url, "INSERT INTO numbers (id, number, enabled, created_at, updated_at) "
                        "VALUES (1, '+14155550100', true, 1, 1)")
    _rows(database_url, "INSERT INTO route_targets (number_id, position, kind, agent_id, "
                        "unverified, created_at, updated_at) "
                        "VALUES (1, 0, 'agent', 1, false, 1, 1)")
    migrate.upgrade(database_url, "0012")
    assert _rows(database_url, "SELECT agent_id, backup_agent_id FROM route_targets") \
        == [(1, None)]
    _rows(database_url, "UPDATE route_targets SET backup_agent_id = 2")
    assert _rows(database_url, "SELECT backup_agent_id FROM route_targets") == [(2,)]
    migrate.downgrade(database_url, "0011")
    assert "backup_agent_id" not in _columns(database_url)
    assert _rows(database_url, "SELECT agent_id FROM route_targets") == [(1,)]
    migrate.upgrade(database_url)
    assert "backup_agent_id" in _columns(database_url)
