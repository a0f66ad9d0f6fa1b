"""Recordings: a row when one starts, updated as it pauses, resumes and completes;
listed newest first; the expired ones found for the retention sweep."""

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from softswitch.store.tables import recordings

_COLUMNS = frozenset(recordings.c.keys())


def insert_recording(conn: Connection, row: dict) -> None:
    unknown = set(row) - _COLUMNS
    if unknown:
        raise ValueError(f"recording has unknown fields {', '.join(sorted(unknown))}")
    conn.execute(recordings.insert().values(**row))


def update_recording(conn: Connection, recording_id: str, changes: dict) -> None:
    conn.execute(recordings.update().where(recordings.c.id == recording_id).values(**changes))


def get_recording(conn: Connection, recording_id: str) -> dict | None:
    row = conn.execute(sa.select(recordings).where(recordings.c.id == recording_id)).one_or_none()
    return None if row is None else dict(row._mapping)


def delete_recording(conn: Connection, recording_id: str) -> dict | None:
    """Removes the row; returns it (its file is the caller's to delete), or None."""
    row = get_recording(conn, recording_id)
    if row is not None:
        conn.execute(recordings.delete().where(recordings.c.id == recording_id))
    return row


def list_recordings(conn: Connection, *, call_id: str | None = None,
                    before: tuple[float, str] | None = None, limit: int = 100) -> list[dict]:
    """Newest first by (started_at, id); `before` is the last row of the previous page."""
    query = sa.select(recordings).order_by(recordings.c.started_at.desc(),
                                           recordings.c.id.desc())
    if call_id is not None:
        query = query.where(recordings.c.call_id == call_id)
    if before is not None:
        started_at, recording_id = before
        query = query.where(sa.or_(
            recordings.c.started_at < started_at,
            sa.and_(recordings.c.started_at == started_at, recordings.c.id < recording_id)))
    return [dict(row._mapping) for row in conn.execute(query.limit(limit))]


def expired_recordings(conn: Connection, ended_before: float, limit: int = 500) -> list[dict]:
    """Finished recordings (completed or failed) that ended before `ended_before`."""
    query = (sa.select(recordings.c.id, recordings.c.file_path)
             .where(recordings.c.state.in_(("completed", "failed")))
             .where(recordings.c.ended_at < ended_before)
             .order_by(recordings.c.ended_at).limit(limit))
    return [dict(row._mapping) for row in conn.execute(query)]


def fail_unfinished(conn: Connection, node: str, now: float) -> int:
    """At start-up: recordings this node's previous process left in progress are
    failed (their files hold what was written before it stopped); other nodes' are
    theirs."""
    result = conn.execute(recordings.update()
                          .where(recordings.c.state.in_(("recording", "paused")))
                          .where(recordings.c.node == node)
                          .values(state="failed", ended_at=now))
    return result.rowcount
