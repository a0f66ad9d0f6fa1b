"""Caller-ID policy: the numbers users and agents may present, and per trunk whether
its identity headers are believed, the number callers without one present, and
topology hiding (services.caller_id); per agent, the INVITE headers its start message
carries (services.agent_headers).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03

Columns with server defaults: existing rows get no caller IDs (only the numbers
routed to them are allowed), trunks are trusted and do not hide topology. Adding
them needs no table rebuild on SQLite.
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("sip_users", sa.Column("caller_ids", sa.JSON, nullable=False,
                                         server_default="[]"))
    op.add_column("agents", sa.Column("caller_ids", sa.JSON, nullable=False,
                                      server_default="[]"))
    op.add_column("agents", sa.Column("sip_headers", sa.JSON, nullable=False,
                                      server_default="[]"))
    op.add_column("trunks", sa.Column("trust_identity", sa.Boolean, nullable=False,
                                      server_default=sa.true()))
    op.add_column("trunks", sa.Column("default_caller_id", sa.String, nullable=True))
    op.add_column("trunks", sa.Column("topology_hiding", sa.Boolean, nullable=False,
                                      server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("trunks") as batch:
        batch.drop_column("topology_hiding")
        batch.drop_column("default_caller_id")
        batch.drop_column("trust_identity")
    with op.batch_alter_table("agents") as batch:
        batch.drop_column("sip_headers")
        batch.drop_column("caller_ids")
    with op.batch_alter_table("sip_users") as batch:
        batch.drop_column("caller_ids")
