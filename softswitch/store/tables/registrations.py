"""Registrations: SIP bindings written through so they survive a restart."""

import sqlalchemy as sa

from softswitch.store.tables.base import (
    BigId,
    EpochSeconds,
    id_column,
    metadata,
    timestamp_columns,
)

registrations = sa.Table(
    "registrations",
    metadata,
    id_column(BigId),
    sa.Column("aor", sa.Text, nullable=False),  # "sip:alice@example.com"
    sa.Column("contact", sa.Text, nullable=False),  # the full Contact URI
    sa.Column("expires_at", EpochSeconds, nullable=False),
    sa.Column("q", sa.Float, nullable=True),
    sa.Column("call_id", sa.Text, nullable=False),
    sa.Column("cseq", sa.Integer, nullable=False),
    sa.Column("path", sa.JSON(none_as_null=True), nullable=True),  # list of Path URIs
    sa.Column("received", sa.String, nullable=True),  # "udp:203.0.113.5:5060" (NAT)
    sa.Column("user_agent", sa.Text, nullable=True),
    sa.Column("instance_id", sa.Text, nullable=True),  # RFC 5626 +sip.instance
    sa.Column("reg_id", sa.Integer, nullable=True),  # RFC 5626 reg-id
    sa.Column("node", sa.String, nullable=False),  # the switch node that holds it
    *timestamp_columns(),
    # Also serves "bindings of an AOR" (leftmost column).
    sa.UniqueConstraint("aor", "contact"),
    sa.Index(None, "expires_at"),
)
