"""STIR/SHAKEN: a trunk signs its outbound calls or leaves it to the carrier; a number
may route calls whose caller ID did not verify to other targets; a call record keeps
the verification's verstat and attestation level.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03

Columns only (nullable, or with a server default for the rows already there), so
SQLite needs no table rebuild.
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("trunks", sa.Column("stir_shaken", sa.String, nullable=False,
                                      server_default="off"))
    op.add_column("numbers", sa.Column("unverified_when", sa.String, nullable=True))
    op.add_column("route_targets", sa.Column("unverified", sa.Boolean, nullable=False,
                                             server_default=sa.false()))
    op.add_column("cdrs", sa.Column("verstat", sa.String, nullable=True))
    op.add_column("cdrs", sa.Column("attestation", sa.String, nullable=True))


def downgrade() -> None:
    op.drop_column("cdrs", "attestation")
    op.drop_column("cdrs", "verstat")
    op.drop_column("route_targets", "unverified")
    op.drop_column("numbers", "unverified_when")
    op.drop_column("trunks", "stir_shaken")
