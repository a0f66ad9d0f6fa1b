"""Every table of the store, on one shared ``metadata``.

Importing this package registers all tables, which is what Alembic's
autogenerate and the schema tests rely on.
"""

from softswitch.store.tables.agents import AGENT_PROFILES, agents
from softswitch.store.tables.base import metadata
from softswitch.store.tables.cdrs import CALL_DIRECTIONS, cdrs
from softswitch.store.tables.numbers import (
    TARGET_COLUMN_BY_KIND,
    TARGET_KINDS,
    numbers,
    route_targets,
)
from softswitch.store.tables.outbound import outbound_route_trunks, outbound_routes
from softswitch.store.tables.recordings import RECORDING_STATES, recordings
from softswitch.store.tables.regions import regions
from softswitch.store.tables.registrations import registrations
from softswitch.store.tables.tokens import api_tokens
from softswitch.store.tables.trunks import TRANSPORTS, gateways, trunks
from softswitch.store.tables.users import sip_users

__all__ = [
    "AGENT_PROFILES",
    "CALL_DIRECTIONS",
    "RECORDING_STATES",
    "TARGET_COLUMN_BY_KIND",
    "TARGET_KINDS",
    "TRANSPORTS",
    "agents",
    "api_tokens",
    "cdrs",
    "gateways",
    "metadata",
    "numbers",
    "outbound_route_trunks",
    "outbound_routes",
    "recordings",
    "regions",
    "registrations",
    "route_targets",
    "sip_users",
    "trunks",
]
