"""Trunk passwords and agent secret headers sealed at rest (store.secret_box, migration
0003), on SQLite and PostgreSQL; SQLite files and key files made 0600."""

import json
import os
import stat

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from softswitch.store import agents, migrate, secret_box, snapshot, trunks
from softswitch.store.database import Database

PASSWORD = "carrier-password-xyzzy"
HEADER_VALUE = "Bearer agent-secret-plugh"
KEY = Fernet.generate_key().decode()


def _raw(url: str, sql: str) -> list:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as conn:
            result = conn.execute(sa.text(sql))
            return [tuple(row) for row in result] if result.returns_rows else []
    finally:
        engine.dispose()


def _seed_in_clear(url: str) -> None:
    """Rows as versions before 0003 wrote them."""
    _raw(url, "INSERT INTO trunks (id, name, inbound_allowed_sources, auth_username, "
              "auth_password, register, number_format, enabled, created_at, updated_at) "
              f"VALUES (1, 'carrier', '[]', 'acct', '{PASSWORD}', false, 'e164', true, 1, 1)")
    headers = json.dumps({"Authorization": HEADER_VALUE})
    _raw(url, "INSERT INTO agents (id, name, url, profile, sample_rate, headers, "
              "secret_headers, custom_parameters, created_at, updated_at) VALUES (1, 'bot', "
              f"'wss://a.test/ws', 'twilio', 8000, '{{}}', '{headers}', '{{}}', 1, 1)")


def _stored(url: str) -> str:
    """Everything the two tables hold, as text."""
    return repr(_raw(url, "SELECT * FROM trunks") + _raw(url, "SELECT * FROM agents"))


def _database(url: str, key: str | None = KEY) -> Database:
    box = secret_box.SecretBox(key) if key else None
    return Database(url, reactor=None, secret_box=box)


def test_migration_0003_seals_the_rows_in_clear_and_the_store_opens_them(database_url):
    migrate.upgrade(database_url, "0002")
    _seed_in_clear(database_url)
    box = secret_box.SecretBox(KEY)
    migrate.upgrade(database_url, secret_box=box)
    stored = _stored(database_url)
    assert PASSWORD not in stored and HEADER_VALUE not in stored
    assert "fernet:" in stored and "Authorization" in stored  # header names stay readable

    database = _database(database_url)
    try:
        trunk = database.run_sync(trunks.get_trunk, "carrier", with_secrets=True)
        assert trunk["auth_password"] == PASSWORD
        assert "auth_password" not in database.run_sync(trunks.get_trunk, "carrier")
        agent = database.run_sync(agents.get_agent, "bot", with_secrets=True)
        assert agent["secret_headers"] == {"Authorization": HEADER_VALUE}
        listed = database.run_sync(agents.get_agent, "bot")
        assert listed["secret_header_names"] == ["Authorization"]
        assert "secret_headers" not in listed
        rows = database.run_sync(snapshot.load_routing_rows)
        assert rows["trunks"][0]["auth_password"] == PASSWORD
        assert rows["agents"][0]["secret_headers"] == {"Authorization": HEADER_VALUE}
    finally:
        database.engine.dispose()

    # Downgrading opens them again; it needs the key.
    with pytest.raises(secret_box.SecretKeyMissing):
        migrate.downgrade(database_url, "0002")
    migrate.downgrade(database_url, "0002", secret_box=box)
    assert PASSWORD in _stored(database_url) and HEADER_VALUE in _stored(database_url)


def test_without_a_key_0003_leaves_rows_and_a_start_with_a_key_seals_them(database_url):
    migrate.upgrade(database_url, "0002")
    _seed_in_clear(database_url)
    migrate.upgrade(database_url)
    assert PASSWORD in _stored(database_url)
    database = _database(database_url)
    try:
        assert database.run_sync(secret_box.seal_clear_rows, secret_box.SecretBox(KEY)) == 2
        assert database.run_sync(secret_box.seal_clear_rows, secret_box.SecretBox(KEY)) == 0
    finally:
        database.engine.dispose()
    assert PASSWORD not in _stored(database_url)


def test_writes_are_sealed_and_another_key_cannot_open_them(migrated_url):
    database = _database(migrated_url)
    try:
        database.run_sync(trunks.create_trunk, {
            "name": "t", "inbound_allowed_sources": [], "auth_username": "u",
            "auth_password": PASSWORD, "register": False, "number_format": "e164",
            "enabled": True}, [])
        database.run_sync(agents.create_agent, {
            "name": "a", "url": "wss://a.test/", "profile": "twilio", "sample_rate": 8000,
            "region_id": None, "headers": {}, "custom_parameters": {},
            "secret_headers": {"X-Key": HEADER_VALUE}})
        database.run_sync(trunks.update_trunk, "t", {"auth_password": PASSWORD + "2"})
    finally:
        database.engine.dispose()
    assert PASSWORD not in _stored(migrated_url) and HEADER_VALUE not in _stored(migrated_url)

    other = _database(migrated_url, Fernet.generate_key().decode())
    try:
        with pytest.raises(secret_box.SecretKeyMissing, match="same"):
            other.run_sync(secret_box.check_key, other_box(other))
        with pytest.raises(secret_box.SecretKeyMissing):
            other.run_sync(trunks.get_trunk, "t", with_secrets=True)
    finally:
        other.engine.dispose()
    # Rotation: a new key first, the old one after it; a start re-seals with the new.
    new_key = Fernet.generate_key().decode()
    both = _database(migrated_url, f"{new_key},{KEY}")
    try:
        trunk = both.run_sync(trunks.get_trunk, "t", with_secrets=True)
        assert trunk["auth_password"] == PASSWORD + "2"
        assert both.run_sync(secret_box.seal_clear_rows, other_box(both)) == 2
        assert both.run_sync(secret_box.seal_clear_rows, other_box(both)) == 0
    finally:
        both.engine.dispose()
    only_new = _database(migrated_url, new_key)
    try:
        only_new.run_sync(secret_box.check_key, other_box(only_new))
        agent = only_new.run_sync(agents.get_agent, "a", with_secrets=True)
        assert agent["secret_headers"] == {"X-Key": HEADER_VALUE}
    finally:
        only_new.engine.dispose()


def other_box(database):
    return database.engine.get_execution_options()["secret_box"]


def test_a_new_sqlite_file_is_private(tmp_path):
    url = f"sqlite:///{tmp_path / 'var' / 'switch.db'}"
    migrate.upgrade(url)
    mode = stat.S_IMODE(os.stat(tmp_path / "var" / "switch.db").st_mode)
    assert mode == 0o600


def test_the_key_file_is_made_once_and_private(tmp_path):
    path = tmp_path / "var" / "secrets.key"
    key, created = secret_box.load_or_create_key_file(path)
    assert created and stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert secret_box.load_or_create_key_file(path) == (key, False)
    secret_box.SecretBox(key)  # a usable Fernet key


def test_a_bad_key_is_refused():
    with pytest.raises(ValueError, match="32 url-safe base64"):
        secret_box.SecretBox("not-a-key")
