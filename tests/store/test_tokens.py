"""API tokens: only hashes stored, revocation final, bootstrap idempotent."""

import hashlib

import pytest
import sqlalchemy as sa

from softswitch.store import tokens
from softswitch.store.tables import api_tokens


def test_a_created_token_verifies(engine):
    with engine.begin() as conn:
        plaintext, row = tokens.create_token(conn, "ci")
        verified = tokens.verify_token(conn, plaintext, now=1000.0)
    assert len(plaintext) >= 43  # 32 random bytes, base64url
    assert verified["id"] == row["id"] and verified["name"] == "ci"
    assert verified["last_used_at"] == 1000.0
    assert "token_hash" not in row and "token_hash" not in verified


def test_only_the_sha256_is_stored(engine):
    with engine.begin() as conn:
        plaintext, _ = tokens.create_token(conn, "ci")
        stored = conn.execute(sa.select(api_tokens)).one()
    assert stored.token_hash == hashlib.sha256(plaintext.encode()).hexdigest()
    assert not any(plaintext in str(value) for value in stored)


@pytest.mark.parametrize("candidate", ["", "not-a-token"])
def test_unknown_tokens_fail(engine, candidate):
    with engine.begin() as conn:
        tokens.create_token(conn, "ci")
        assert tokens.verify_token(conn, candidate) is None


def test_a_revoked_token_fails_for_good(engine):
    with engine.begin() as conn:
        plaintext, row = tokens.create_token(conn, "ci")
        assert tokens.revoke_token(conn, row["id"], now=50.0)
        assert tokens.verify_token(conn, plaintext) is None
        assert tokens.revoke_token(conn, row["id"], now=99.0)  # again: still revoked
        assert tokens.list_tokens(conn)[0]["revoked_at"] == 50.0
        assert not tokens.revoke_token(conn, row["id"] + 1)


def test_last_used_is_written_at_most_once_a_minute(engine):
    with engine.begin() as conn:
        plaintext, _ = tokens.create_token(conn, "ci")
        tokens.verify_token(conn, plaintext, now=1000.0)
        assert tokens.verify_token(conn, plaintext, now=1030.0)["last_used_at"] == 1000.0
        assert tokens.verify_token(conn, plaintext, now=1060.0)["last_used_at"] == 1060.0


def test_bootstrap_token_is_idempotent(engine):
    with engine.begin() as conn:
        first = tokens.ensure_bootstrap_token(conn, "configured-secret-0123456789")
        second = tokens.ensure_bootstrap_token(conn, "configured-secret-0123456789")
        assert first == second and first["name"] == "bootstrap"
        assert len(tokens.list_tokens(conn)) == 1
        assert tokens.verify_token(conn, "configured-secret-0123456789")["id"] == first["id"]


def test_changing_the_bootstrap_token_revokes_the_old_one(engine):
    with engine.begin() as conn:
        tokens.ensure_bootstrap_token(conn, "old-secret-0123456789")
        _, other = tokens.create_token(conn, "ops")
        tokens.ensure_bootstrap_token(conn, "new-secret-0123456789")
        assert tokens.verify_token(conn, "old-secret-0123456789") is None
        assert tokens.verify_token(conn, "new-secret-0123456789") is not None
        ops = [t for t in tokens.list_tokens(conn) if t["id"] == other["id"]]
        assert ops[0]["revoked_at"] is None  # other tokens untouched


def test_a_revoked_bootstrap_token_stays_revoked(engine):
    with engine.begin() as conn:
        row = tokens.ensure_bootstrap_token(conn, "configured-secret-0123456789")
        tokens.revoke_token(conn, row["id"])
        tokens.ensure_bootstrap_token(conn, "configured-secret-0123456789")
        assert tokens.verify_token(conn, "configured-secret-0123456789") is None


@pytest.mark.parametrize("token", ["", "   "])
def test_an_empty_bootstrap_token_is_refused(engine, token):
    with engine.begin() as conn, pytest.raises(ValueError):
        tokens.ensure_bootstrap_token(conn, token)
