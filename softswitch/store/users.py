"""SIP users: digest credentials as HA1 hashes (RFC 7616), never the password.

HA1 is still password-equivalent for digest authentication, so it is never
part of the public rows returned here; only ``load_credentials`` reads it,
for the registrar's in-memory snapshot (the call path never queries the DB).
"""

import hashlib

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from softswitch.store.tables import sip_users

_PUBLIC_COLUMNS = (
    sip_users.c.id,
    sip_users.c.username,
    sip_users.c.domain,
    sip_users.c.display_name,
    sip_users.c.enabled,
    sip_users.c.created_at,
    sip_users.c.updated_at,
)


def ha1(username: str, realm: str, password: str, algorithm: str) -> str:
    """Hex HA1 = H(username:realm:password), algorithm "md5" or "sha256"."""
    return hashlib.new(algorithm, f"{username}:{realm}:{password}".encode()).hexdigest()


def create_user(
    conn: Connection,
    username: str,
    domain: str,
    password: str,
    display_name: str | None = None,
    enabled: bool = True,
) -> dict:
    """Add a user whose digest realm is its domain; IntegrityError if it exists."""
    user_id = conn.execute(
        sip_users.insert().values(
            username=username,
            domain=domain,
            ha1_md5=ha1(username, domain, password, "md5"),
            ha1_sha256=ha1(username, domain, password, "sha256"),
            display_name=display_name,
            enabled=enabled,
        )
    ).inserted_primary_key[0]
    return _get_by_id(conn, user_id)


def get_user(conn: Connection, username: str, domain: str) -> dict | None:
    row = conn.execute(
        sa.select(*_PUBLIC_COLUMNS).where(
            sip_users.c.username == username, sip_users.c.domain == domain
        )
    ).one_or_none()
    return None if row is None else dict(row._mapping)


def list_users(conn: Connection) -> list[dict]:
    rows = conn.execute(
        sa.select(*_PUBLIC_COLUMNS).order_by(sip_users.c.domain, sip_users.c.username)
    )
    return [dict(row._mapping) for row in rows]


def set_password(conn: Connection, username: str, domain: str, password: str) -> bool:
    """Replace a user's HA1 hashes; False if there is no such user."""
    result = conn.execute(
        sip_users.update()
        .where(sip_users.c.username == username, sip_users.c.domain == domain)
        .values(
            ha1_md5=ha1(username, domain, password, "md5"),
            ha1_sha256=ha1(username, domain, password, "sha256"),
        )
    )
    return result.rowcount > 0


def delete_user(conn: Connection, username: str, domain: str) -> bool:
    """Delete a user; False if there is none.

    Raises IntegrityError if a route still targets the user (checked by the
    admin API first, see softswitch.store.errors).
    """
    result = conn.execute(
        sip_users.delete().where(
            sip_users.c.username == username, sip_users.c.domain == domain
        )
    )
    return result.rowcount > 0


def load_credentials(conn: Connection) -> dict[tuple[str, str], dict]:
    """Every user's hashes, keyed by (username, domain), for the registrar."""
    rows = conn.execute(
        sa.select(
            sip_users.c.username,
            sip_users.c.domain,
            sip_users.c.ha1_md5,
            sip_users.c.ha1_sha256,
            sip_users.c.enabled,
        )
    )
    return {
        (row.username, row.domain): {
            "md5": row.ha1_md5,
            "sha256": row.ha1_sha256,
            "enabled": row.enabled,
        }
        for row in rows
    }


def _get_by_id(conn: Connection, user_id: int) -> dict:
    row = conn.execute(sa.select(*_PUBLIC_COLUMNS).where(sip_users.c.id == user_id)).one()
    return dict(row._mapping)
