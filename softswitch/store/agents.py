"""AI voice agents.

``secret_headers`` and ``auth_token`` are write-only for the admin API: rows come
back with the secret header names and ``auth_token_set`` only, unless
``with_secrets`` is asked for (the bridge that connects to the agent needs the
values). Both are sealed at rest (store.secret_box) and opened only then.
"""

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from softswitch.store.secret_box import (
    header_names,
    open_headers,
    open_password,
    seal_headers,
    seal_password,
)
from softswitch.store.tables import agents, numbers, regions, route_targets

FIELDS = ("name", "url", "profile", "sample_rate", "region_id", "headers",
          "secret_headers", "custom_parameters", "account_sid", "auth_token", "webhook_url",
          "caller_ids", "sip_headers", "record")


def create_agent(conn: Connection, values: dict) -> dict:
    """Add an agent from FIELDS; IntegrityError if the name is taken."""
    agent_id = conn.execute(
        agents.insert().values(**_sealed(conn, _only(values)))).inserted_primary_key[0]
    return _load(conn, agents.c.id == agent_id)[0]


def get_agent(conn: Connection, name: str, with_secrets: bool = False) -> dict | None:
    found = _load(conn, agents.c.name == name, with_secrets=with_secrets)
    return found[0] if found else None


def list_agents(conn: Connection, after: str | None = None, limit: int | None = None,
                with_secrets: bool = False) -> list[dict]:
    """Agents ordered by name, those after ``after`` only (keyset pagination)."""
    condition = agents.c.name > after if after is not None else None
    return _load(conn, condition, limit=limit, with_secrets=with_secrets)


def update_agent(conn: Connection, name: str, values: dict) -> dict | None:
    """Overwrite the given FIELDS; None if there is no such agent."""
    result = conn.execute(agents.update().where(agents.c.name == name)
                          .values(**_sealed(conn, _only(values))))
    if result.rowcount == 0:
        return None
    return _load(conn, agents.c.name == values.get("name", name))[0]


def delete_agent(conn: Connection, name: str) -> bool:
    """Delete an agent; IntegrityError if a number's route still uses it."""
    return conn.execute(agents.delete().where(agents.c.name == name)).rowcount > 0


def ids_by_name(conn: Connection, names) -> dict[str, int]:
    names = set(names)
    if not names:
        return {}
    rows = conn.execute(sa.select(agents.c.name, agents.c.id).where(agents.c.name.in_(names)))
    return {row.name: row.id for row in rows}


def referrers(conn: Connection, name: str, limit: int = 10) -> list[tuple[str, str]]:
    """The numbers whose route uses the agent (as a target or a target's backup):
    [("number", "+14155550100")...]."""
    rows = conn.execute(
        sa.select(numbers.c.number).distinct()
        .select_from(route_targets.join(numbers).join(agents, sa.or_(
            route_targets.c.agent_id == agents.c.id,
            route_targets.c.backup_agent_id == agents.c.id)))
        .where(agents.c.name == name).order_by(numbers.c.number).limit(limit)
    )
    return [("number", row.number) for row in rows]


def _load(conn: Connection, condition, limit=None, with_secrets=False) -> list[dict]:
    query = (
        sa.select(agents, regions.c.name.label("region"))
        .select_from(agents.outerjoin(regions))
        .order_by(agents.c.name)
    )
    if condition is not None:
        query = query.where(condition)
    if limit is not None:
        query = query.limit(limit)
    rows = []
    for row in conn.execute(query):
        found = dict(row._mapping)
        found["secret_header_names"] = header_names(found["secret_headers"])
        found["auth_token_set"] = found["auth_token"] is not None
        if with_secrets:
            found["secret_headers"] = open_headers(conn, found["secret_headers"])
            found["auth_token"] = open_password(conn, found["auth_token"])
        else:
            del found["secret_headers"], found["auth_token"]
        rows.append(found)
    return rows


def _sealed(conn: Connection, values: dict) -> dict:
    sealed = dict(values)
    if values.get("secret_headers"):
        sealed["secret_headers"] = seal_headers(conn, values["secret_headers"])
    if values.get("auth_token") is not None:
        sealed["auth_token"] = seal_password(conn, values["auth_token"])
    return sealed


def _only(values: dict) -> dict:
    unknown = set(values) - set(FIELDS)
    if unknown:
        raise ValueError(f"unknown agent fields {', '.join(sorted(unknown))}")
    return values
