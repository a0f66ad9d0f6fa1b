"""Trunks (carrier accounts) and their gateways (the hosts behind a trunk)."""

import sqlalchemy as sa

from softswitch.store.tables.base import (
    check_one_of,
    id_column,
    metadata,
    timestamp_columns,
)

TRANSPORTS = ("udp", "tcp", "tls")

trunks = sa.Table(
    "trunks",
    metadata,
    id_column(),
    sa.Column("name", sa.String, nullable=False),
    # CIDR strings a call from this trunk may come from.
    sa.Column("inbound_allowed_sources", sa.JSON, nullable=False),
    # Outbound credentials must be usable, so they are stored as given; the
    # admin API never returns them.
    sa.Column("auth_username", sa.String, nullable=True),
    sa.Column("auth_password", sa.String, nullable=True),
    sa.Column("register", sa.Boolean, nullable=False),
    sa.Column("max_concurrent", sa.Integer, nullable=True),  # NULL: unlimited
    sa.Column("max_cps", sa.Float, nullable=True),  # NULL: unlimited
    sa.Column("number_format", sa.String, nullable=False),  # "e164", "national:1"
    sa.Column("enabled", sa.Boolean, nullable=False),
    # Caller-ID policy (services.caller_id): believe this trunk's identity headers
    # and send it PAI; the number of callers without one; hide callers' topology.
    sa.Column("trust_identity", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("default_caller_id", sa.String, nullable=True),
    sa.Column("topology_hiding", sa.Boolean, nullable=False, server_default=sa.false()),
    *timestamp_columns(),
    sa.UniqueConstraint("name"),
)

gateways = sa.Table(
    "gateways",
    metadata,
    id_column(),
    sa.Column(
        "trunk_id", sa.Integer,
        sa.ForeignKey("trunks.id", ondelete="CASCADE"), nullable=False,
    ),
    sa.Column("host", sa.String, nullable=False),
    # NULL: the host is a name resolved with DNS SRV (RFC 3263 §4.2).
    sa.Column("port", sa.Integer, nullable=True),
    sa.Column("transport", sa.String, nullable=False),
    sa.Column(
        "region_id", sa.Integer,
        sa.ForeignKey("regions.id", ondelete="RESTRICT"), nullable=True,
    ),
    sa.Column("priority", sa.Integer, nullable=False),
    sa.Column("weight", sa.Integer, nullable=False),
    *timestamp_columns(),
    # Also serves "gateways of a trunk" (leftmost column).
    sa.UniqueConstraint("trunk_id", "host", "port", "transport"),
    sa.CheckConstraint(check_one_of("transport", TRANSPORTS), name="transport"),
    sa.CheckConstraint("port >= 1 AND port <= 65535", name="port"),
    sa.Index(None, "region_id"),
)
