"""SIP users: digest credentials kept as HA1 hashes, never the password."""

import sqlalchemy as sa

from softswitch.store.tables.base import id_column, metadata, timestamp_columns

sip_users = sa.Table(
    "sip_users",
    metadata,
    id_column(),
    sa.Column("username", sa.String, nullable=False),
    sa.Column("domain", sa.String, nullable=False),
    # Hex digests of "username:realm:password" (realm = domain).
    sa.Column("ha1_md5", sa.String(32), nullable=False),
    sa.Column("ha1_sha256", sa.String(64), nullable=False),
    sa.Column("display_name", sa.String, nullable=True),
    sa.Column("enabled", sa.Boolean, nullable=False),
    # E.164 numbers the user may present as caller ID (services.caller_id).
    sa.Column("caller_ids", sa.JSON, nullable=False, server_default="[]"),
    *timestamp_columns(),
    sa.UniqueConstraint("username", "domain"),
)
