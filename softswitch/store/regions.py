"""Media regions: a relay's bind address, advertised address and port range."""

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from softswitch.store.tables import agents, gateways, regions, trunks

FIELDS = ("name", "bind", "advertise", "port_min", "port_max")


def create_region(conn: Connection, values: dict) -> dict:
    """Add a region from FIELDS; IntegrityError if the name is taken."""
    region_id = conn.execute(
        regions.insert().values(**_only_fields(values))
    ).inserted_primary_key[0]
    return _get(conn, regions.c.id == region_id)


def get_region(conn: Connection, name: str) -> dict | None:
    return _find(conn, regions.c.name == name)


def list_regions(conn: Connection, after: str | None = None, limit: int | None = None) -> list[dict]:
    """Regions ordered by name, those after ``after`` only (keyset pagination)."""
    query = sa.select(regions).order_by(regions.c.name)
    if after is not None:
        query = query.where(regions.c.name > after)
    if limit is not None:
        query = query.limit(limit)
    return [dict(row._mapping) for row in conn.execute(query)]


def update_region(conn: Connection, name: str, values: dict) -> dict | None:
    """Overwrite the given FIELDS; None if there is no such region."""
    result = conn.execute(
        regions.update().where(regions.c.name == name).values(**_only_fields(values))
    )
    if result.rowcount == 0:
        return None
    return _get(conn, regions.c.name == values.get("name", name))


def delete_region(conn: Connection, name: str) -> bool:
    """Delete a region; IntegrityError if a gateway or agent still uses it."""
    return conn.execute(regions.delete().where(regions.c.name == name)).rowcount > 0


def ids_by_name(conn: Connection, names) -> dict[str, int]:
    names = set(names)
    if not names:
        return {}
    rows = conn.execute(sa.select(regions.c.name, regions.c.id).where(regions.c.name.in_(names)))
    return {row.name: row.id for row in rows}


def referrers(conn: Connection, name: str, limit: int = 10) -> list[tuple[str, str]]:
    """Who uses the region: [("trunk", "carrier-a"), ("agent", "support-bot")...]."""
    trunk_rows = conn.execute(
        sa.select(trunks.c.name).distinct()
        .select_from(gateways.join(trunks).join(regions))
        .where(regions.c.name == name).order_by(trunks.c.name).limit(limit)
    )
    agent_rows = conn.execute(
        sa.select(agents.c.name).select_from(agents.join(regions))
        .where(regions.c.name == name).order_by(agents.c.name).limit(limit)
    )
    return [("trunk", row.name) for row in trunk_rows] + [("agent", row.name) for row in agent_rows]


def _only_fields(values: dict) -> dict:
    unknown = set(values) - set(FIELDS)
    if unknown:
        raise ValueError(f"unknown region fields {', '.join(sorted(unknown))}")
    return values


def _find(conn: Connection, condition) -> dict | None:
    row = conn.execute(sa.select(regions).where(condition)).one_or_none()
    return None if row is None else dict(row._mapping)


def _get(conn: Connection, condition) -> dict:
    found = _find(conn, condition)
    assert found is not None, "region vanished inside its own transaction"
    return found
