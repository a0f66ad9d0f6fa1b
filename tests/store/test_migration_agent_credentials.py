"""0004 adds the agents' Twilio account SID and auth token, keeping the rows; its
downgrade drops them again."""

import sqlalchemy as sa

from softswitch.store import migrate


def _rows(url: str, sql: str) -> list:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as conn:
            result = conn.execute(sa.text(sql))
            return [tuple(row) for row in result] if result.returns_rows else []
    finally:
        engine.dispose()


def _columns(url: str) -> set[str]:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        return {c["name"] for c in sa.inspect(engine).get_columns("agents")}
    finally:
        engine.dispose()


def test_agents_keep_their_rows_and_gain_nullable_credentials(database_url):
    migrate.upgrade(database_url, "0003")
    _rows(database_url, "INSERT INTO agents (name, url, profile, sample_rate, headers, "
                        "secret_headers, custom_parameters, created_at, updated_at) "
                        "VALUES ('bot', 'ws://127.0.0.1:9000/', 'twilio', 8000, '{}', '{}', "
                        "'{}', 1, 1)")
    migrate.upgrade(database_url, "0004")
    assert _rows(database_url, "SELECT name, account_sid, auth_token FROM agents") == [
        ("bot", None, None)]
    _rows(database_url, "UPDATE agents SET account_sid = 'AC" + "0" * 32 + "', "
                        "auth_token = 'secret-token-0123'")
    migrate.downgrade(database_url, "0003")
    assert {"account_sid", "auth_token"}.isdisjoint(_columns(database_url))
    assert _rows(database_url, "SELECT name FROM agents") == [("bot",)]
    migrate.upgrade(database_url)
    assert {"account_sid", "auth_token"} <= _columns(database_url)
