"""Trunks (carrier accounts) and their gateways.

Rows come back with their gateways (region by name) and without the outbound
password and TLS client key unless ``with_secrets`` is asked for: only the routing
snapshot and the registration client need them; the admin API shows
``auth_password_set`` and ``tls_client_key_set``. The password, and a client key
given as PEM (a file path is stored as it is), are sealed at rest (store.secret_box)
and opened only then.
"""

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from softswitch.store.secret_box import open_password, seal_password
from softswitch.store.tables import (
    gateways,
    numbers,
    outbound_route_trunks,
    outbound_routes,
    regions,
    route_targets,
    trunks,
)

FIELDS = (
    "name", "inbound_allowed_sources", "auth_username", "auth_password", "register",
    "max_concurrent", "max_cps", "number_format", "enabled", "stir_shaken",
    "media_encryption", "tls_client_certificate", "tls_client_key", "trust_identity",
    "default_caller_id", "topology_hiding", "allow_refer",
)
GATEWAY_FIELDS = ("host", "port", "transport", "region_id", "priority", "weight")


def create_trunk(conn: Connection, values: dict, gateway_rows: list[dict]) -> dict:
    """Add a trunk (FIELDS) with its gateways (GATEWAY_FIELDS), in order."""
    trunk_id = conn.execute(
        trunks.insert().values(**_sealed(conn, _only(values, FIELDS)))
    ).inserted_primary_key[0]
    _insert_gateways(conn, trunk_id, gateway_rows)
    return _load(conn, [trunk_id])[0]


def get_trunk(conn: Connection, name: str, with_secrets: bool = False) -> dict | None:
    found = _load(conn, None, trunks.c.name == name, with_secrets=with_secrets)
    return found[0] if found else None


def list_trunks(conn: Connection, after: str | None = None, limit: int | None = None,
                with_secrets: bool = False) -> list[dict]:
    """Trunks ordered by name, those after ``after`` only (keyset pagination)."""
    condition = trunks.c.name > after if after is not None else None
    return _load(conn, None, condition, limit=limit, with_secrets=with_secrets)


def update_trunk(conn: Connection, name: str, values: dict,
                 gateway_rows: list[dict] | None = None) -> dict | None:
    """Overwrite the given FIELDS; a gateway list replaces all gateways.

    None if there is no such trunk.
    """
    trunk_id = conn.execute(
        sa.select(trunks.c.id).where(trunks.c.name == name)
    ).scalar_one_or_none()
    if trunk_id is None:
        return None
    conn.execute(trunks.update().where(trunks.c.id == trunk_id)
                 .values(**_sealed(conn, _only(values, FIELDS))))
    if gateway_rows is not None:
        conn.execute(gateways.delete().where(gateways.c.trunk_id == trunk_id))
        _insert_gateways(conn, trunk_id, gateway_rows)
    return _load(conn, [trunk_id])[0]


def delete_trunk(conn: Connection, name: str) -> bool:
    """Delete a trunk and its gateways; IntegrityError if a route still uses it."""
    return conn.execute(trunks.delete().where(trunks.c.name == name)).rowcount > 0


def ids_by_name(conn: Connection, names) -> dict[str, int]:
    names = set(names)
    if not names:
        return {}
    rows = conn.execute(sa.select(trunks.c.name, trunks.c.id).where(trunks.c.name.in_(names)))
    return {row.name: row.id for row in rows}


def referrers(conn: Connection, name: str, limit: int = 10) -> list[tuple[str, str]]:
    """Who uses the trunk: [("number", "+14155550100"), ("outbound route", "1")...]."""
    number_rows = conn.execute(
        sa.select(numbers.c.number).distinct()
        .select_from(route_targets.join(numbers).join(trunks))
        .where(trunks.c.name == name).order_by(numbers.c.number).limit(limit)
    )
    route_rows = conn.execute(
        sa.select(outbound_routes.c.prefix).distinct()
        .select_from(outbound_route_trunks.join(outbound_routes).join(trunks))
        .where(trunks.c.name == name).order_by(outbound_routes.c.prefix).limit(limit)
    )
    return ([("number", row.number) for row in number_rows]
            + [("outbound route", row.prefix) for row in route_rows])


def _insert_gateways(conn: Connection, trunk_id: int, gateway_rows: list[dict]) -> None:
    if gateway_rows:
        conn.execute(gateways.insert(), [
            {**_only(row, GATEWAY_FIELDS), "trunk_id": trunk_id} for row in gateway_rows
        ])


def _load(conn: Connection, ids, condition=None, limit=None, with_secrets=False) -> list[dict]:
    query = sa.select(trunks).order_by(trunks.c.name)
    if ids is not None:
        query = query.where(trunks.c.id.in_(ids))
    if condition is not None:
        query = query.where(condition)
    if limit is not None:
        query = query.limit(limit)
    rows = [dict(row._mapping) for row in conn.execute(query)]
    if not rows:
        return []
    by_id = {}
    for row in rows:
        row["auth_password_set"] = row["auth_password"] is not None
        row["tls_client_key_set"] = row["tls_client_key"] is not None
        if with_secrets:
            row["auth_password"] = open_password(conn, row["auth_password"])
            row["tls_client_key"] = open_password(conn, row["tls_client_key"])
        else:
            del row["auth_password"]
            del row["tls_client_key"]
        row["gateways"] = []
        by_id[row["id"]] = row
    gateway_rows = conn.execute(
        sa.select(gateways, regions.c.name.label("region"))
        .select_from(gateways.outerjoin(regions))
        .where(gateways.c.trunk_id.in_(list(by_id)))
        .order_by(gateways.c.trunk_id, gateways.c.priority, gateways.c.id)
    )
    for gateway in gateway_rows:
        by_id[gateway.trunk_id]["gateways"].append(dict(gateway._mapping))
    return rows


def _sealed(conn: Connection, values: dict) -> dict:
    values = dict(values)
    if values.get("auth_password") is not None:
        values["auth_password"] = seal_password(conn, values["auth_password"])
    key = values.get("tls_client_key")
    if key is not None and is_pem(key):
        values["tls_client_key"] = seal_password(conn, key)
    return values


def is_pem(value: str) -> bool:
    """PEM text, as opposed to the path of a PEM file."""
    return value.startswith("-----BEGIN")


def _only(values: dict, fields: tuple[str, ...]) -> dict:
    unknown = set(values) - set(fields)
    if unknown:
        raise ValueError(f"unknown fields {', '.join(sorted(unknown))}")
    return values
