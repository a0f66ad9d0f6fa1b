"""SIP users: HA1 hashes in, never a password; credentials out for the registrar."""

import hashlib

import pytest
import sqlalchemy as sa

from softswitch.store import users
from softswitch.store.errors import IntegrityKind, integrity_kind
from softswitch.store.tables import numbers, route_targets, sip_users


def test_create_then_get_round_trip(engine):
    with engine.begin() as conn:
        created = users.create_user(conn, "alice", "example.com", "s3cret", "Alice A.")
    with engine.begin() as conn:
        fetched = users.get_user(conn, "alice", "example.com")
    assert fetched == created
    assert fetched["username"] == "alice" and fetched["domain"] == "example.com"
    assert fetched["display_name"] == "Alice A." and fetched["enabled"] is True
    assert "ha1_md5" not in fetched and "ha1_sha256" not in fetched


def test_ha1_is_the_rfc_digest_of_user_realm_password(engine):
    with engine.begin() as conn:
        users.create_user(conn, "alice", "example.com", "s3cret")
        credentials = users.load_credentials(conn)
    assert credentials == {
        ("alice", "example.com"): {
            "md5": hashlib.md5(b"alice:example.com:s3cret").hexdigest(),
            "sha256": hashlib.sha256(b"alice:example.com:s3cret").hexdigest(),
            "enabled": True,
        }
    }


def test_the_password_is_stored_nowhere(engine):
    with engine.begin() as conn:
        users.create_user(conn, "alice", "example.com", "correct-horse-battery")
        stored = conn.execute(sa.select(sip_users)).one()
    assert not any("correct-horse-battery" in str(value) for value in stored)


def test_unknown_user_is_none(engine):
    with engine.begin() as conn:
        assert users.get_user(conn, "nobody", "example.com") is None


def test_same_username_in_two_domains_is_two_users(engine):
    with engine.begin() as conn:
        users.create_user(conn, "bob", "b.example", "pw1")
        users.create_user(conn, "bob", "a.example", "pw2")
        users.create_user(conn, "alice", "b.example", "pw3")
        listed = users.list_users(conn)
        credentials = users.load_credentials(conn)
    assert [(u["domain"], u["username"]) for u in listed] == [
        ("a.example", "bob"), ("b.example", "alice"), ("b.example", "bob"),
    ]
    assert credentials["bob", "a.example"]["md5"] != credentials["bob", "b.example"]["md5"]


def test_duplicate_user_is_refused(engine):
    with engine.begin() as conn:
        users.create_user(conn, "alice", "example.com", "pw")
    with pytest.raises(sa.exc.IntegrityError) as caught:
        with engine.begin() as conn:
            users.create_user(conn, "alice", "example.com", "other")
    assert integrity_kind(caught.value) is IntegrityKind.UNIQUE


def test_set_password_replaces_both_hashes(engine):
    with engine.begin() as conn:
        users.create_user(conn, "alice", "example.com", "old")
        assert users.set_password(conn, "alice", "example.com", "new")
        assert not users.set_password(conn, "nobody", "example.com", "new")
        entry = users.load_credentials(conn)["alice", "example.com"]
    assert entry["md5"] == hashlib.md5(b"alice:example.com:new").hexdigest()
    assert entry["sha256"] == hashlib.sha256(b"alice:example.com:new").hexdigest()


def test_delete_user(engine):
    with engine.begin() as conn:
        users.create_user(conn, "alice", "example.com", "pw")
        assert users.delete_user(conn, "alice", "example.com")
        assert not users.delete_user(conn, "alice", "example.com")
        assert users.list_users(conn) == []


def test_a_user_targeted_by_a_route_cannot_be_deleted(engine):
    with engine.begin() as conn:
        user = users.create_user(conn, "alice", "example.com", "pw")
        number_id = conn.execute(
            numbers.insert().values(number="+15550100", enabled=True)
        ).inserted_primary_key[0]
        conn.execute(route_targets.insert().values(
            number_id=number_id, position=0, kind="user", user_id=user["id"]
        ))
    with pytest.raises(sa.exc.IntegrityError) as caught:
        with engine.begin() as conn:
            users.delete_user(conn, "alice", "example.com")
    assert integrity_kind(caught.value) is IntegrityKind.FOREIGN_KEY
