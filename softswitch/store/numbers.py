"""Numbers (DIDs) and the ordered targets of their routes.

A target row is ``{"kind": "agent", "agent_id": 3}`` (or user_id, trunk_id,
reject_code; an agent's may name a ``backup_agent_id``), with ``"unverified": True`` for a target of the number's unverified
route (STIR/SHAKEN screening, numbered after the route's); rows come back with the
route spelled by name:
``{"type": "agent", "agent": "support-bot"}``, ``{"type": "reject", "code": 486}``.
"""

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from softswitch.store.tables import (
    TARGET_COLUMN_BY_KIND,
    agents,
    numbers,
    route_targets,
    sip_users,
    trunks,
)

FIELDS = ("number", "description", "enabled", "unverified_when", "record")


def create_number(conn: Connection, values: dict, targets: list[dict]) -> dict:
    """Add a number (FIELDS) and its route; IntegrityError if it exists."""
    number_id = conn.execute(
        numbers.insert().values(**_only(values))
    ).inserted_primary_key[0]
    _insert_targets(conn, number_id, targets)
    return _load(conn, numbers.c.id == number_id)[0]


def get_number(conn: Connection, number: str) -> dict | None:
    found = _load(conn, numbers.c.number == number)
    return found[0] if found else None


def list_numbers(conn: Connection, after: str | None = None,
                 limit: int | None = None) -> list[dict]:
    """Numbers in order, those after ``after`` only (keyset pagination)."""
    return _load(conn, numbers.c.number > after if after is not None else None, limit)


def update_number(conn: Connection, number: str, values: dict,
                  targets: list[dict] | None = None) -> dict | None:
    """Overwrite the given FIELDS; a target list replaces the route.

    None if there is no such number.
    """
    number_id = conn.execute(
        sa.select(numbers.c.id).where(numbers.c.number == number)
    ).scalar_one_or_none()
    if number_id is None:
        return None
    conn.execute(numbers.update().where(numbers.c.id == number_id).values(**_only(values)))
    if targets is not None:
        conn.execute(route_targets.delete().where(route_targets.c.number_id == number_id))
        _insert_targets(conn, number_id, targets)
    return _load(conn, numbers.c.id == number_id)[0]


def delete_number(conn: Connection, number: str) -> bool:
    """Delete a number with its route."""
    return conn.execute(numbers.delete().where(numbers.c.number == number)).rowcount > 0


def count_numbers(conn: Connection) -> int:
    return conn.execute(sa.select(sa.func.count()).select_from(numbers)).scalar_one()


def _insert_targets(conn: Connection, number_id: int, targets: list[dict]) -> None:
    rows = []
    for position, target in enumerate(targets):
        row = {"number_id": number_id, "position": position, "kind": target["kind"],
               "unverified": bool(target.get("unverified")),
               "backup_agent_id": target.get("backup_agent_id")}
        for column in TARGET_COLUMN_BY_KIND.values():
            row[column] = target.get(column)
        rows.append(row)
    if rows:
        conn.execute(route_targets.insert(), rows)


def _load(conn: Connection, condition, limit=None) -> list[dict]:
    query = sa.select(numbers).order_by(numbers.c.number)
    if condition is not None:
        query = query.where(condition)
    if limit is not None:
        query = query.limit(limit)
    rows = [dict(row._mapping) for row in conn.execute(query)]
    if not rows:
        return []
    by_id = {}
    for row in rows:
        row["route"] = []
        row["unverified_route"] = None
        if row["unverified_when"] is not None:
            row["unverified_route"] = {"when": row["unverified_when"], "route": []}
        by_id[row["id"]] = row
    backups = agents.alias("backup_agents")
    targets = conn.execute(
        sa.select(
            route_targets.c.number_id,
            route_targets.c.kind,
            route_targets.c.reject_code,
            route_targets.c.unverified,
            agents.c.name.label("agent"),
            sip_users.c.username.label("user"),
            trunks.c.name.label("trunk"),
            backups.c.name.label("backup_agent"),
        )
        .select_from(
            route_targets.outerjoin(agents, route_targets.c.agent_id == agents.c.id)
            .outerjoin(sip_users).outerjoin(trunks)
            .outerjoin(backups, route_targets.c.backup_agent_id == backups.c.id)
        )
        .where(route_targets.c.number_id.in_(list(by_id)))
        .order_by(route_targets.c.number_id, route_targets.c.position)
    )
    for target in targets:
        row = by_id[target.number_id]
        if not target.unverified:
            row["route"].append(_target(target))
        elif row["unverified_route"] is not None:
            row["unverified_route"]["route"].append(_target(target))
    return rows


def _target(row) -> dict:
    if row.kind == "reject":
        return {"type": "reject", "code": row.reject_code}
    target = {"type": row.kind, row.kind: getattr(row, row.kind)}
    if row.kind == "agent" and row.backup_agent is not None:
        target["backup_agent"] = row.backup_agent
    return target


def _only(values: dict) -> dict:
    unknown = set(values) - set(FIELDS)
    if unknown:
        raise ValueError(f"unknown number fields {', '.join(sorted(unknown))}")
    return values
