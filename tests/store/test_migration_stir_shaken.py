"""0008 adds STIR/SHAKEN columns: trunks sign or not (existing ones "off"), route
targets of a number's unverified route, a number's condition for it, and the
verstat and attestation of a call record; its downgrade drops them again."""

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


ADDED = {"trunks": {"stir_shaken"}, "numbers": {"unverified_when"},
         "route_targets": {"unverified"}, "cdrs": {"verstat", "attestation"}}


def test_rows_survive_with_defaults_and_the_downgrade_drops_the_columns(database_url):
    migrate.upgrade(database_url, "0004")
    _rows(database_url, "INSERT INTO trunks (name, inbound_allowed_sources, register, "
                        "number_format, enabled, created_at, updated_at) "
                        "VALUES ('carrier', '[]', false, 'e164', true, 1, 1)")
    _rows(database_url, "INSERT INTO numbers (number, enabled, created_at, updated_at) "
                        "VALUES ('+14155550100', true, 1, 1)")
    _rows(database_url, "INSERT INTO route_targets (number_id, position, kind, reject_code, "
                        "created_at, updated_at) VALUES (1, 0, 'reject', 486, 1, 1)")
    migrate.upgrade(database_url, "0005")
    assert _rows(database_url, "SELECT name, stir_shaken FROM trunks") == [("carrier", "off")]
    assert _rows(database_url, "SELECT number, unverified_when FROM numbers") == [
        ("+14155550100", None)]
    assert _rows(database_url, "SELECT kind, unverified FROM route_targets") == [
        ("reject", False)]
    migrate.downgrade(database_url, "0004")
    for table, columns in ADDED.items():
        assert columns.isdisjoint(_columns(database_url, table))
    assert _rows(database_url, "SELECT name FROM trunks") == [("carrier",)]
    migrate.upgrade(database_url)
    for table, columns in ADDED.items():
        assert columns <= _columns(database_url, table)
