"""0011 adds the call records' answering-machine detection columns and the agents'
webhook URL, keeping the rows; its downgrade drops them again."""

import sqlalchemy as sa

from softswitch.store import migrate

AMD_COLUMNS = {"amd_result", "amd_decision_ms", "amd"}


def _rows(url: str, sql: str) -> list:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as conn:
            result = conn.execute(sa.text(sql))
            return [tuple(row) for row in result] if result.returns_rows else []
    finally:
        engine.dispose()


def _columns(url: str, table: str = "cdrs") -> set[str]:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        return {c["name"] for c in sa.inspect(engine).get_columns(table)}
    finally:
        engine.dispose()


def test_call_records_keep_their_rows_and_gain_nullable_amd_columns(database_url):
    migrate.upgrade(database_url, "0007")
    _rows(database_url, "INSERT INTO cdrs (call_id, direction, attempts, start_at, end_at) "
                        "VALUES ('c1@x', 'outbound', 1, 1, 2)")
    migrate.upgrade(database_url, "0008")
    assert _rows(database_url, "SELECT call_id, amd_result, amd_decision_ms, amd "
                               "FROM cdrs") == [("c1@x", None, None, None)]
    _rows(database_url, "UPDATE cdrs SET amd_result = 'machine', amd_decision_ms = 2980")
    migrate.downgrade(database_url, "0007")
    assert AMD_COLUMNS.isdisjoint(_columns(database_url))
    assert "webhook_url" not in _columns(database_url, "agents")
    assert _rows(database_url, "SELECT call_id FROM cdrs") == [("c1@x",)]
    migrate.upgrade(database_url)
    assert AMD_COLUMNS <= _columns(database_url)
    assert "webhook_url" in _columns(database_url, "agents")
