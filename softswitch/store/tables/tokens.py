"""Admin API bearer tokens, stored as SHA-256 hex digests only."""

import time

import sqlalchemy as sa

from softswitch.store.tables.base import EpochSeconds, id_column, metadata

api_tokens = sa.Table(
    "api_tokens",
    metadata,
    id_column(),
    sa.Column("name", sa.String, nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False),
    sa.Column("created_at", EpochSeconds, nullable=False, default=time.time),
    sa.Column("revoked_at", EpochSeconds, nullable=True),
    sa.Column("last_used_at", EpochSeconds, nullable=True),
    sa.UniqueConstraint("token_hash"),
)
