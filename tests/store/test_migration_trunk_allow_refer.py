"""0013 adds the trunks' allow_refer: existing trunks get false (a REFER from their side
is refused, as before), true can be set, and the downgrade drops it again."""

import sqlalchemy as sa

from softswitch.store import migrate


def _run(url: str, sql: str) -> list:
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
        return {c["name"] for c in sa.inspect(engine).get_columns("trunks")}
    finally:
        engine.dispose()


INSERT = ("INSERT INTO trunks (name, inbound_allowed_sources, register, number_format, "
          "enabled, created_at, updated_at) VALUES ('{name}', '[]', false, 'e164', "
          "true, 1, 1)")


def test_trunks_keep_their_rows_and_refuse_refer(database_url):
    migrate.upgrade(database_url, "0010")
    _run(database_url, INSERT.format(name="carrier"))
    migrate.upgrade(database_url, "0011")
    assert _run(database_url, "SELECT name, allow_refer FROM trunks") == [("carrier", False)]
    _run(database_url, INSERT.format(name="pbx"))
    _run(database_url, "UPDATE trunks SET allow_refer = true WHERE name = 'pbx'")
    assert sorted(_run(database_url, "SELECT name, allow_refer FROM trunks")) == [
        ("carrier", False), ("pbx", True)]
    migrate.downgrade(database_url, "0010")
    assert "allow_refer" not in _columns(database_url)
    assert sorted(_run(database_url, "SELECT name FROM trunks")) == [("carrier",), ("pbx",)]
    migrate.upgrade(database_url)
    assert "allow_refer" in _columns(database_url)
