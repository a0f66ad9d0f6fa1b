"""Admin API bearer tokens.

Only the SHA-256 hex digest of a token is stored; the plaintext is shown
once, when the token is created. A 256-bit random token needs no salt or slow
hash: nobody can guess one from its digest.
"""

import hashlib
import secrets
import time

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from softswitch.store.dialect import insert_for
from softswitch.store.tables import api_tokens

BOOTSTRAP_TOKEN_NAME = "bootstrap"
# Writing last_used_at on every request would turn each API read into a
# write; once a minute is precise enough to spot unused tokens.
LAST_USED_RESOLUTION_SECONDS = 60.0

_PUBLIC_COLUMNS = (
    api_tokens.c.id,
    api_tokens.c.name,
    api_tokens.c.created_at,
    api_tokens.c.revoked_at,
    api_tokens.c.last_used_at,
)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(conn: Connection, name: str) -> tuple[str, dict]:
    """A new random token: (plaintext to hand out once, its stored row)."""
    token = secrets.token_urlsafe(32)
    token_id = conn.execute(
        api_tokens.insert().values(name=name, token_hash=hash_token(token))
    ).inserted_primary_key[0]
    return token, _get_by_id(conn, token_id)


def verify_token(conn: Connection, token: str, now: float | None = None) -> dict | None:
    """The row of a valid, unrevoked token, or None; notes when it was used."""
    if not token:
        return None
    row = conn.execute(
        sa.select(*_PUBLIC_COLUMNS).where(api_tokens.c.token_hash == hash_token(token))
    ).one_or_none()
    if row is None or row.revoked_at is not None:
        return None
    found = dict(row._mapping)
    now = time.time() if now is None else now
    last_used = found["last_used_at"]
    if last_used is None or now - last_used >= LAST_USED_RESOLUTION_SECONDS:
        conn.execute(
            api_tokens.update().where(api_tokens.c.id == found["id"]).values(last_used_at=now)
        )
        found["last_used_at"] = now
    return found


def revoke_token(conn: Connection, token_id: int, now: float | None = None) -> bool:
    """Revoke a token for good; False if there is no such token.

    Revoking twice keeps the first revocation time.
    """
    now = time.time() if now is None else now
    conn.execute(
        api_tokens.update()
        .where(api_tokens.c.id == token_id, api_tokens.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return _find_by_id(conn, token_id) is not None


def list_tokens(conn: Connection) -> list[dict]:
    rows = conn.execute(sa.select(*_PUBLIC_COLUMNS).order_by(api_tokens.c.id))
    return [dict(row._mapping) for row in rows]


def get_token(conn: Connection, token_id: int) -> dict | None:
    """A token's public row (never its hash), or None."""
    return _find_by_id(conn, token_id)


def list_tokens_page(
    conn: Connection, after: int | None = None, limit: int | None = None
) -> list[dict]:
    """Tokens by id, those after id ``after`` only (keyset pagination)."""
    query = sa.select(*_PUBLIC_COLUMNS).order_by(api_tokens.c.id)
    if after is not None:
        query = query.where(api_tokens.c.id > after)
    if limit is not None:
        query = query.limit(limit)
    return [dict(row._mapping) for row in conn.execute(query)]


def ensure_bootstrap_token(conn: Connection, token: str, now: float | None = None) -> dict:
    """Make the configured bootstrap token valid; safe to call at every start.

    If the configuration now holds a different token, the bootstrap tokens
    stored before are revoked, so changing the setting rotates the token.
    A bootstrap token revoked through the API stays revoked: revocation wins.
    """
    if not token or not token.strip():
        raise ValueError("the bootstrap token must not be empty")
    token_hash = hash_token(token)
    now = time.time() if now is None else now
    conn.execute(
        api_tokens.update()
        .where(
            api_tokens.c.name == BOOTSTRAP_TOKEN_NAME,
            api_tokens.c.token_hash != token_hash,
            api_tokens.c.revoked_at.is_(None),
        )
        .values(revoked_at=now)
    )
    # DO NOTHING, not check-then-insert: nodes sharing PostgreSQL may all
    # start at once, and the loser of that race must not fail to start.
    conn.execute(
        insert_for(conn)(api_tokens)
        .values(name=BOOTSTRAP_TOKEN_NAME, token_hash=token_hash, created_at=now)
        .on_conflict_do_nothing(index_elements=[api_tokens.c.token_hash])
    )
    row = conn.execute(
        sa.select(*_PUBLIC_COLUMNS).where(api_tokens.c.token_hash == token_hash)
    ).one()
    return dict(row._mapping)


def _find_by_id(conn: Connection, token_id: int) -> dict | None:
    row = conn.execute(
        sa.select(*_PUBLIC_COLUMNS).where(api_tokens.c.id == token_id)
    ).one_or_none()
    return None if row is None else dict(row._mapping)


def _get_by_id(conn: Connection, token_id: int) -> dict:
    found = _find_by_id(conn, token_id)
    assert found is not None, f"token {token_id} vanished inside its own transaction"
    return found
