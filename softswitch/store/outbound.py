"""Outbound routes: a dialled-number prefix and the trunks tried in order.

Rows come back with the trunks by name: ``{"id", "prefix", "trunks": [...]}``.
"""

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from softswitch.store.tables import outbound_route_trunks, outbound_routes, trunks

FIELDS = ("prefix", "description")


def create_route(conn: Connection, values: dict, trunk_ids: list[int]) -> dict:
    """Add a route (FIELDS) and its trunks in order; IntegrityError on a taken prefix."""
    route_id = conn.execute(
        outbound_routes.insert().values(**_only(values))
    ).inserted_primary_key[0]
    _insert_trunks(conn, route_id, trunk_ids)
    return _load(conn, outbound_routes.c.id == route_id)[0]


def get_route(conn: Connection, route_id: int) -> dict | None:
    found = _load(conn, outbound_routes.c.id == route_id)
    return found[0] if found else None


def find_by_prefix(conn: Connection, prefix: str) -> dict | None:
    found = _load(conn, outbound_routes.c.prefix == prefix)
    return found[0] if found else None


def list_routes(conn: Connection, after: int | None = None,
                limit: int | None = None) -> list[dict]:
    """Routes by id, those after ``after`` only (keyset pagination)."""
    return _load(conn, outbound_routes.c.id > after if after is not None else None, limit)


def update_route(conn: Connection, route_id: int, values: dict,
                 trunk_ids: list[int] | None = None) -> dict | None:
    """Overwrite the given FIELDS; a trunk list replaces the trunks.

    None if there is no such route.
    """
    result = conn.execute(
        outbound_routes.update().where(outbound_routes.c.id == route_id).values(**_only(values))
    )
    if result.rowcount == 0:
        return None
    if trunk_ids is not None:
        conn.execute(
            outbound_route_trunks.delete().where(outbound_route_trunks.c.route_id == route_id)
        )
        _insert_trunks(conn, route_id, trunk_ids)
    return _load(conn, outbound_routes.c.id == route_id)[0]


def delete_route(conn: Connection, route_id: int) -> bool:
    return conn.execute(
        outbound_routes.delete().where(outbound_routes.c.id == route_id)
    ).rowcount > 0


def _insert_trunks(conn: Connection, route_id: int, trunk_ids: list[int]) -> None:
    if trunk_ids:
        conn.execute(outbound_route_trunks.insert(), [
            {"route_id": route_id, "position": position, "trunk_id": trunk_id}
            for position, trunk_id in enumerate(trunk_ids)
        ])


def _load(conn: Connection, condition, limit=None) -> list[dict]:
    query = sa.select(outbound_routes).order_by(outbound_routes.c.id)
    if condition is not None:
        query = query.where(condition)
    if limit is not None:
        query = query.limit(limit)
    rows = [dict(row._mapping) for row in conn.execute(query)]
    if not rows:
        return []
    by_id = {}
    for row in rows:
        row["trunks"] = []
        by_id[row["id"]] = row
    members = conn.execute(
        sa.select(outbound_route_trunks.c.route_id, trunks.c.name)
        .select_from(outbound_route_trunks.join(trunks))
        .where(outbound_route_trunks.c.route_id.in_(list(by_id)))
        .order_by(outbound_route_trunks.c.route_id, outbound_route_trunks.c.position)
    )
    for member in members:
        by_id[member.route_id]["trunks"].append(member.name)
    return rows


def _only(values: dict) -> dict:
    unknown = set(values) - set(FIELDS)
    if unknown:
        raise ValueError(f"unknown outbound route fields {', '.join(sorted(unknown))}")
    return values
