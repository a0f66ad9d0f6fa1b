"""A trunk's media_encryption: whether its legs get SDES-SRTP (RFC 4568) from the
relay: "none" (plain RTP), "sdes" (SRTP offered and required) or "optional" (SRTP
offered, a plain answer taken).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03

A NOT NULL column with a server default: existing trunks get "none", what they had.
Its CHECK is a column constraint, so SQLite adds it without rebuilding the table.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("trunks", sa.Column(
        "media_encryption", sa.String,
        sa.CheckConstraint("media_encryption IN ('none', 'sdes', 'optional')",
                           name=op.f("ck_trunks_media_encryption")),
        nullable=False, server_default="none"))


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.drop_column("trunks", "media_encryption")
        return
    # SQLite cannot drop a column that a CHECK names (as it is once a later batch
    # migration rebuilt the table): rebuild it without both.
    with op.batch_alter_table("trunks", recreate="always") as batch:
        batch.drop_constraint(op.f("ck_trunks_media_encryption"), type_="check")
        batch.drop_column("media_encryption")
