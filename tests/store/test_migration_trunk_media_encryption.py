"""0006 adds the trunks' media_encryption: existing trunks get "none", the column
refuses anything but none/sdes/optional, and the downgrade drops it again."""

import pytest
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
          "enabled, created_at, updated_at{extra}) VALUES ('{name}', '[]', false, 'e164', "
          "true, 1, 1{value})")


def test_trunks_keep_their_rows_and_get_plain_rtp(database_url):
    migrate.upgrade(database_url, "0005")
    _run(database_url, INSERT.format(name="carrier", extra="", value=""))
    migrate.upgrade(database_url, "0006")
    assert _run(database_url, "SELECT name, media_encryption FROM trunks") == [
        ("carrier", "none")]
    for value in ("sdes", "optional"):
        _run(database_url, f"UPDATE trunks SET media_encryption = '{value}'")
    with pytest.raises(sa.exc.IntegrityError):
        _run(database_url, INSERT.format(name="bad", extra=", media_encryption",
                                         value=", 'dtls'"))
    migrate.downgrade(database_url, "0005")
    assert "media_encryption" not in _columns(database_url)
    assert _run(database_url, "SELECT name FROM trunks") == [("carrier",)]
    migrate.upgrade(database_url)
    assert "media_encryption" in _columns(database_url)
