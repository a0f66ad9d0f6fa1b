"""SIP users: digest credentials as HA1 hashes (RFC 7616), never the password.

HA1 is still password-equivalent for digest authentication, so it is never
part of the public rows returned here; only ``load_credentials`` reads it,
for the registrar's in-memory snapshot (the call path never queries the DB).
"""

import hashlib

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from softswitch.store.tables import numbers, route_targets, sip_users

_PUBLIC_COLUMNS = (
    sip_users.c.id,
    sip_users.c.username,
    sip_users.c.domain,
    sip_users.c.display_name,
    sip_users.c.enabled,
    sip_users.c.caller_ids,
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
    caller_ids: list[str] | None = None,
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
            caller_ids=list(caller_ids or ()),
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


def list_domain_users(
    conn: Connection, domain: str, after: str | None = None, limit: int | None = None
) -> list[dict]:
    """A domain's users by username, those after ``after`` only (keyset pagination)."""
    query = (
        sa.select(*_PUBLIC_COLUMNS)
        .where(sip_users.c.domain == domain)
        .order_by(sip_users.c.username)
    )
    if after is not None:
        query = query.where(sip_users.c.username > after)
    if limit is not None:
        query = query.limit(limit)
    return [dict(row._mapping) for row in conn.execute(query)]


UPDATABLE_FIELDS = ("display_name", "enabled", "caller_ids")


def update_user(
    conn: Connection, username: str, domain: str, values: dict, password: str | None = None
) -> dict | None:
    """Overwrite display_name/enabled/caller_ids and, given a password, the hashes.

    None if there is no such user.
    """
    unknown = set(values) - set(UPDATABLE_FIELDS)
    if unknown:
        raise ValueError(f"cannot update user fields {', '.join(sorted(unknown))}")
    values = dict(values)
    if password is not None:
        values["ha1_md5"] = ha1(username, domain, password, "md5")
        values["ha1_sha256"] = ha1(username, domain, password, "sha256")
    condition = (sip_users.c.username == username) & (sip_users.c.domain == domain)
    user_id = conn.execute(sa.select(sip_users.c.id).where(condition)).scalar_one_or_none()
    if user_id is None:
        return None
    # Always an UPDATE, even with nothing to change, so updated_at moves.
    conn.execute(sip_users.update().where(sip_users.c.id == user_id).values(**values))
    return _get_by_id(conn, user_id)


def ids_by_username(conn: Connection, domain: str, usernames) -> dict[str, int]:
    usernames = set(usernames)
    if not usernames:
        return {}
    rows = conn.execute(
        sa.select(sip_users.c.username, sip_users.c.id).where(
            sip_users.c.domain == domain, sip_users.c.username.in_(usernames)
        )
    )
    return {row.username: row.id for row in rows}


def referrers(conn: Connection, username: str, domain: str, limit: int = 10) -> list[tuple]:
    """The numbers whose route targets the user: [("number", "+14155550100")...]."""
    rows = conn.execute(
        sa.select(numbers.c.number).distinct()
        .select_from(route_targets.join(numbers).join(sip_users))
        .where(sip_users.c.username == username, sip_users.c.domain == domain)
        .order_by(numbers.c.number).limit(limit)
    )
    return [("number", row.number) for row in rows]


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
