"""0005 adds the trunks' TLS client certificate and key, keeping the rows; its
downgrade drops them again."""

import sqlalchemy as sa

from softswitch.store import migrate

COLUMNS = {"tls_client_certificate", "tls_client_key"}


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
        return {c["name"] for c in sa.inspect(engine).get_columns("trunks")}
    finally:
        engine.dispose()


def test_trunks_keep_their_rows_and_gain_nullable_tls_client_columns(database_url):
    migrate.upgrade(database_url, "0006")
    _rows(database_url, "INSERT INTO trunks (name, inbound_allowed_sources, register, "
                        "number_format, enabled, created_at, updated_at) "
                        "VALUES ('carrier', '[]', false, 'e164', true, 1, 1)")
    migrate.upgrade(database_url, "0007")
    assert _rows(database_url, "SELECT name, tls_client_certificate, tls_client_key "
                               "FROM trunks") == [("carrier", None, None)]
    _rows(database_url, "UPDATE trunks SET tls_client_certificate = '/etc/c.pem', "
                        "tls_client_key = '/etc/c.key'")
    migrate.downgrade(database_url, "0006")
    assert COLUMNS.isdisjoint(_columns(database_url))
    assert _rows(database_url, "SELECT name FROM trunks") == [("carrier",)]
    migrate.upgrade(database_url)
    assert COLUMNS <= _columns(database_url)
