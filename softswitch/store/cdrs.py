"""Call detail records: written once when a call ends, read newest first."""

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from softswitch.store.tables import cdrs

REQUIRED_FIELDS = ("call_id", "direction", "attempts", "start_at", "end_at")


def insert_cdr(conn: Connection, row: dict) -> int:
    """Write one record; returns its id. ``row`` holds cdrs columns by name."""
    missing = [name for name in REQUIRED_FIELDS if row.get(name) is None]
    if missing:
        raise ValueError(f"call record is missing {', '.join(missing)}")
    unknown = set(row) - set(cdrs.c.keys()) - {"id"}
    if unknown:
        raise ValueError(f"call record has unknown fields {', '.join(sorted(unknown))}")
    return conn.execute(cdrs.insert().values(**row)).inserted_primary_key[0]


def get_cdr(conn: Connection, cdr_id: int) -> dict | None:
    row = conn.execute(sa.select(cdrs).where(cdrs.c.id == cdr_id)).one_or_none()
    return None if row is None else dict(row._mapping)


def list_cdrs(
    conn: Connection,
    *,
    since: float | None = None,
    until: float | None = None,
    numbers: tuple[str, ...] = (),
    before: int | None = None,
    limit: int | None = None,
) -> list[dict]:
    """Records newest first (by id), below id ``before`` (keyset pagination).

    ``since``/``until`` bound start_at (until excluded); ``numbers`` matches
    any of caller, callee or DID exactly.
    """
    query = sa.select(cdrs).order_by(cdrs.c.id.desc())
    if since is not None:
        query = query.where(cdrs.c.start_at >= since)
    if until is not None:
        query = query.where(cdrs.c.start_at < until)
    if numbers:
        query = query.where(sa.or_(
            cdrs.c.did.in_(numbers), cdrs.c.caller.in_(numbers), cdrs.c.callee.in_(numbers)
        ))
    if before is not None:
        query = query.where(cdrs.c.id < before)
    if limit is not None:
        query = query.limit(limit)
    return [dict(row._mapping) for row in conn.execute(query)]
