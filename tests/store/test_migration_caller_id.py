"""0007 adds the caller-ID policy columns (users' and agents' caller IDs, a trunk's
trust, default caller ID and topology hiding) and the agents' SIP header names, with
defaults for the rows there are;
its downgrade drops them again, keeping the rows."""

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


def _columns(url: str, table: str) -> set[str]:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        return {c["name"] for c in sa.inspect(engine).get_columns(table)}
    finally:
        engine.dispose()


def test_existing_rows_get_no_caller_ids_and_trusted_trunks_without_hiding(database_url):
    migrate.upgrade(database_url, "0008")
    _rows(database_url, "INSERT INTO sip_users (username, domain, ha1_md5, ha1_sha256, "
                        "enabled, created_at, updated_at) VALUES ('alice', 'example.org', "
                        "'" + "a" * 32 + "', '" + "b" * 64 + "', true, 1, 1)")
    _rows(database_url, "INSERT INTO agents (name, url, profile, sample_rate, headers, "
                        "secret_headers, custom_parameters, created_at, updated_at) "
                        "VALUES ('bot', 'ws://127.0.0.1:9000/', 'twilio', 8000, '{}', '{}', "
                        "'{}', 1, 1)")
    _rows(database_url, "INSERT INTO trunks (name, inbound_allowed_sources, register, "
                        "number_format, enabled, created_at, updated_at) VALUES "
                        "('carrier', '[]', false, 'e164', true, 1, 1)")
    migrate.upgrade(database_url, "0009")
    engine = sa.create_engine(database_url, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as conn:
            metadata = sa.MetaData()
            users = sa.Table("sip_users", metadata, autoload_with=conn)
            agents = sa.Table("agents", metadata, autoload_with=conn)
            trunks = sa.Table("trunks", metadata, autoload_with=conn)
            assert conn.execute(sa.select(users.c.caller_ids)).scalar_one() == []
            assert tuple(conn.execute(sa.select(agents.c.caller_ids,
                                                agents.c.sip_headers)).one()) == ([], [])
            assert tuple(conn.execute(sa.select(
                trunks.c.trust_identity, trunks.c.default_caller_id,
                trunks.c.topology_hiding)).one()) == (True, None, False)
            conn.execute(users.update().values(caller_ids=["+14155550100"]))
            assert conn.execute(sa.select(users.c.caller_ids)).scalar_one() == [
                "+14155550100"]
    finally:
        engine.dispose()
    migrate.downgrade(database_url, "0008")
    assert "caller_ids" not in _columns(database_url, "sip_users")
    assert {"caller_ids", "sip_headers"}.isdisjoint(_columns(database_url, "agents"))
    assert {"trust_identity", "default_caller_id", "topology_hiding"}.isdisjoint(
        _columns(database_url, "trunks"))
    assert _rows(database_url, "SELECT username FROM sip_users") == [("alice",)]
    assert _rows(database_url, "SELECT name FROM trunks") == [("carrier",)]
    migrate.upgrade(database_url)
    assert "caller_ids" in _columns(database_url, "agents")
