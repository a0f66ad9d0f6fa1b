"""Trunks (carrier accounts) and their gateways (the hosts behind a trunk)."""

import sqlalchemy as sa

from softswitch.store.tables.base import (
    check_one_of,
    id_column,
    metadata,
    timestamp_columns,
)

TRANSPORTS = ("udp", "tcp", "tls")
# SRTP on the trunk's legs: none, SDES offered and required, SDES offered (plain taken).
MEDIA_ENCRYPTIONS = ("none", "sdes", "optional")

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
    # STIR/SHAKEN toward this trunk: "sign" (our Identity) or "off" (the carrier signs).
    sa.Column("stir_shaken", sa.String, nullable=False, server_default="off"),
    # Mutual TLS towards the gateways: PEM text or a PEM file's path on the switch;
    # a key given as PEM is sealed at rest like the password.
    sa.Column("tls_client_certificate", sa.String, nullable=True),
    sa.Column("tls_client_key", sa.String, nullable=True),
    # Caller-ID policy (services.caller_id): believe this trunk's identity headers
    # and send it PAI; the number of callers without one; hide callers' topology.
    sa.Column("trust_identity", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("default_caller_id", sa.String, nullable=True),
    sa.Column("topology_hiding", sa.Boolean, nullable=False, server_default=sa.false()),
    *timestamp_columns(),
    sa.Column("media_encryption", sa.String, nullable=False, server_default="none"),
    # A REFER from this trunk's side of a call is carried out (false: 403).
    sa.Column("allow_refer", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.UniqueConstraint("name"),
    sa.CheckConstraint(check_one_of("media_encryption", MEDIA_ENCRYPTIONS),
                       name="media_encryption"),
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
