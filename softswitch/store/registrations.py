"""Registrations: the registrar writes its bindings through, in batches.

A binding is keyed by (aor, contact). The registrar keeps the live set in
memory; these functions persist it so a restart (or another node sharing
PostgreSQL) can load it back with ``load_active``.
"""

import time
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from softswitch.store.dialect import insert_for
from softswitch.store.tables import registrations

REQUIRED_FIELDS = ("aor", "contact", "expires_at", "call_id", "cseq", "node")
OPTIONAL_FIELDS = ("q", "path", "received", "user_agent", "instance_id", "reg_id")
# What a refresh of an existing binding overwrites (all but key and created_at).
_REFRESHED_FIELDS = (*REQUIRED_FIELDS[2:], *OPTIONAL_FIELDS, "updated_at")


def upsert_bindings(conn: Connection, rows: Iterable[dict], now: float | None = None) -> int:
    """Insert or refresh bindings on (aor, contact); returns how many were written.

    Each row holds REQUIRED_FIELDS and any of OPTIONAL_FIELDS. When a batch
    names one binding twice, the last row wins.
    """
    now = time.time() if now is None else now
    latest = {}
    for row in rows:
        binding = _binding(row)
        latest[binding["aor"], binding["contact"]] = binding
    if not latest:
        return 0
    # Key order, so two nodes writing overlapping batches lock rows in the
    # same order and cannot deadlock.
    params = [
        {**latest[key], "created_at": now, "updated_at": now} for key in sorted(latest)
    ]
    insert = insert_for(conn)(registrations)
    statement = insert.on_conflict_do_update(
        index_elements=[registrations.c.aor, registrations.c.contact],
        set_={name: insert.excluded[name] for name in _REFRESHED_FIELDS},
    )
    conn.execute(statement, params)
    return len(params)


def delete_bindings(conn: Connection, keys: Iterable[tuple[str, str]]) -> None:
    """Delete bindings by (aor, contact); keys that are not stored are ignored."""
    params = [{"key_aor": aor, "key_contact": contact} for aor, contact in sorted(set(keys))]
    if not params:
        return
    conn.execute(
        registrations.delete().where(
            registrations.c.aor == sa.bindparam("key_aor"),
            registrations.c.contact == sa.bindparam("key_contact"),
        ),
        params,
    )


def delete_aor(conn: Connection, aor: str) -> int:
    """Delete every binding of an address of record; returns how many."""
    return conn.execute(registrations.delete().where(registrations.c.aor == aor)).rowcount


def load_active(conn: Connection, now: float) -> list[dict]:
    """Every binding that has not expired at ``now``, ordered by (aor, contact)."""
    rows = conn.execute(
        sa.select(registrations)
        .where(registrations.c.expires_at > now)
        .order_by(registrations.c.aor, registrations.c.contact)
    )
    return [dict(row._mapping) for row in rows]


def purge_expired(conn: Connection, now: float) -> int:
    """Delete bindings expired at ``now``; returns how many."""
    return conn.execute(
        registrations.delete().where(registrations.c.expires_at <= now)
    ).rowcount


def _binding(row: dict) -> dict:
    missing = [name for name in REQUIRED_FIELDS if row.get(name) is None]
    if missing:
        raise ValueError(f"binding is missing {', '.join(missing)}")
    unknown = set(row) - set(REQUIRED_FIELDS) - set(OPTIONAL_FIELDS)
    if unknown:
        raise ValueError(f"binding has unknown fields {', '.join(sorted(unknown))}")
    # Every row gets every column so the batch runs as one executemany.
    return {name: row.get(name) for name in (*REQUIRED_FIELDS, *OPTIONAL_FIELDS)}



def list_active(conn: Connection, now: float, aor: str | None = None, after: int | None = None,
                limit: int | None = 100) -> list[dict]:
    """Bindings unexpired at ``now`` by id, those after id ``after`` only (keyset
    pagination), of one address of record when ``aor`` is given."""
    query = sa.select(registrations).where(registrations.c.expires_at > now)
    if aor is not None:
        query = query.where(registrations.c.aor == aor)
    if after is not None:
        query = query.where(registrations.c.id > after)
    query = query.order_by(registrations.c.id)
    if limit is not None:
        query = query.limit(limit)
    return [dict(row._mapping) for row in conn.execute(query)]


def get_active(conn: Connection, registration_id: int, now: float) -> dict | None:
    """The binding with this id if it has not expired at ``now``."""
    row = conn.execute(
        sa.select(registrations).where(registrations.c.id == registration_id,
                                       registrations.c.expires_at > now)
    ).one_or_none()
    return None if row is None else dict(row._mapping)
