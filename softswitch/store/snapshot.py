"""One consistent read of everything the routing snapshot needs (one transaction)."""

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from softswitch.store.secret_box import open_headers, open_password
from softswitch.store.tables import (
    agents,
    gateways,
    numbers,
    outbound_route_trunks,
    outbound_routes,
    regions,
    route_targets,
    sip_users,
    trunks,
)

_TABLES = {
    "regions": regions,
    "trunks": trunks,
    "gateways": gateways,
    "agents": agents,
    "numbers": numbers,
    "route_targets": route_targets,
    "outbound_routes": outbound_routes,
    "outbound_route_trunks": outbound_route_trunks,
}


# The big tables (one row per number, or more): only the columns routing reads, as
# row mappings, since the API waits for this read before it answers a write.
_NARROW = {
    "numbers": (numbers.c.id, numbers.c.number, numbers.c.enabled,
                numbers.c.unverified_when, numbers.c.record),
    "route_targets": (route_targets.c.number_id, route_targets.c.position,
                      route_targets.c.kind, route_targets.c.agent_id, route_targets.c.user_id,
                      route_targets.c.trunk_id, route_targets.c.reject_code,
                      route_targets.c.unverified, route_targets.c.backup_agent_id),
}


def load_routing_rows(conn: Connection) -> dict[str, list]:
    rows = {name: [dict(r) for r in conn.execute(sa.select(table)).mappings()]
            for name, table in _TABLES.items() if name not in _NARROW}
    for name, columns in _NARROW.items():
        rows[name] = conn.execute(sa.select(*columns)).mappings().all()
    # The snapshot uses the secrets (digest to carriers, headers to agents): open them.
    for trunk in rows["trunks"]:
        trunk["auth_password"] = open_password(conn, trunk["auth_password"])
        trunk["tls_client_key"] = open_password(conn, trunk.get("tls_client_key"))
    for agent in rows["agents"]:
        agent["secret_headers"] = open_headers(conn, agent["secret_headers"])
        if agent.get("auth_token") is not None:
            agent["auth_token"] = open_password(conn, agent["auth_token"])
    rows["users"] = [dict(r) for r in conn.execute(
        sa.select(sip_users.c.id, sip_users.c.username, sip_users.c.domain,
                  sip_users.c.enabled, sip_users.c.caller_ids)).mappings()]
    return rows
