"""A trunk's allow_refer: whether a REFER from its side of a call (a PBX transferring
the call it placed) is carried out (RFC 3515) or refused 403.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03

A NOT NULL column with a server default: existing trunks get false, what they had
(REFER was not accepted before).
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("trunks", sa.Column("allow_refer", sa.Boolean, nullable=False,
                                      server_default=sa.false()))


def downgrade() -> None:
    op.drop_column("trunks", "allow_refer")
