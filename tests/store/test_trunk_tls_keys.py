"""A trunk's TLS client key at rest: one given as PEM is sealed (and re-sealed with a
new first key, the old one still given), one given as a file path stays as it is."""

import sqlalchemy as sa
from cryptography.fernet import Fernet

from softswitch.store import secret_box, trunks
from softswitch.store.database import Database

PEM_KEY = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----\n"
OLD, NEW = Fernet.generate_key().decode(), Fernet.generate_key().decode()


def _keys(url: str) -> dict:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return dict(conn.execute(sa.text("SELECT name, tls_client_key FROM trunks")).all())
    finally:
        engine.dispose()


def test_pem_client_keys_are_sealed_rotated_and_paths_left_alone(migrated_url):
    plain = Database(migrated_url, reactor=None)  # a tool without the key writes in clear
    try:
        for name, key in (("pem", PEM_KEY), ("path", "/etc/softswitch/carrier.key")):
            plain.run_sync(trunks.create_trunk, {
                "name": name, "inbound_allowed_sources": [], "register": False,
                "number_format": "e164", "enabled": True,
                "tls_client_certificate": "/etc/softswitch/carrier.pem",
                "tls_client_key": key}, [])
    finally:
        plain.engine.dispose()
    assert _keys(migrated_url)["pem"] == PEM_KEY

    old = Database(migrated_url, reactor=None, secret_box=secret_box.SecretBox(OLD))
    try:
        assert old.run_sync(secret_box.seal_clear_rows, secret_box.SecretBox(OLD)) == 1
    finally:
        old.engine.dispose()
    stored = _keys(migrated_url)
    assert stored["pem"].startswith("fernet:") and stored["path"] == "/etc/softswitch/carrier.key"
    sealed_by_old = stored["pem"]

    rotated = secret_box.SecretBox(f"{NEW},{OLD}")
    database = Database(migrated_url, reactor=None, secret_box=rotated)
    try:
        database.run_sync(secret_box.check_key, rotated)
        assert database.run_sync(secret_box.seal_clear_rows, rotated) == 1
        assert _keys(migrated_url)["pem"] != sealed_by_old
        row = database.run_sync(trunks.get_trunk, "pem", with_secrets=True)
        assert row["tls_client_key"] == PEM_KEY
        assert "tls_client_key" not in database.run_sync(trunks.get_trunk, "pem")
    finally:
        database.engine.dispose()
