"""Regions: a media relay's bind address, advertised address and port range."""

import sqlalchemy as sa

from softswitch.store.tables.base import id_column, metadata, timestamp_columns

regions = sa.Table(
    "regions",
    metadata,
    id_column(),
    sa.Column("name", sa.String, nullable=False),
    sa.Column("bind", sa.String, nullable=False),
    sa.Column("advertise", sa.String, nullable=False),
    sa.Column("port_min", sa.Integer, nullable=False),
    sa.Column("port_max", sa.Integer, nullable=False),
    *timestamp_columns(),
    sa.UniqueConstraint("name"),
    sa.CheckConstraint(
        "port_min >= 1 AND port_max <= 65535 AND port_min <= port_max",
        name="port_range",
    ),
)
