"""Outbound routes: the longest matching digit prefix picks an ordered trunk list."""

import sqlalchemy as sa

from softswitch.store.tables.base import id_column, metadata, timestamp_columns

outbound_routes = sa.Table(
    "outbound_routes",
    metadata,
    id_column(),
    sa.Column("prefix", sa.String, nullable=False),  # digits; "" is the default
    sa.Column("description", sa.Text, nullable=True),
    *timestamp_columns(),
    sa.UniqueConstraint("prefix"),
)

outbound_route_trunks = sa.Table(
    "outbound_route_trunks",
    metadata,
    id_column(),
    sa.Column(
        "route_id", sa.Integer,
        sa.ForeignKey("outbound_routes.id", ondelete="CASCADE"), nullable=False,
    ),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column(
        "trunk_id", sa.Integer,
        sa.ForeignKey("trunks.id", ondelete="RESTRICT"), nullable=False,
    ),
    *timestamp_columns(),
    sa.UniqueConstraint("route_id", "position"),
    sa.Index(None, "trunk_id"),
)
