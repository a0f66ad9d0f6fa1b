"""One consistent read of everything the routing snapshot needs (one transaction)."""

import sqlalchemy as sa
from sqlalchemy.engine import Connection

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


def load_routing_rows(conn: Connection) -> dict[str, list[dict]]:
    rows = {name: [dict(r) for r in conn.execute(sa.select(table)).mappings()]
            for name, table in _TABLES.items()}
    rows["users"] = [dict(r) for r in conn.execute(
        sa.select(sip_users.c.id, sip_users.c.username, sip_users.c.domain,
                  sip_users.c.enabled)).mappings()]
    return rows
