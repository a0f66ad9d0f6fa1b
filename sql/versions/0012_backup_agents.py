"""An agent target of a number's route may name a backup agent, which takes the call
over when the agent's socket fails beyond its reconnect (docs/agents.md "Handoff").

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03

One nullable column, an agent's id. No foreign key: SQLite cannot add a named one
without rebuilding the table; the admin API refuses to delete an agent a route names
as a backup (409, as for a target), and the routing snapshot ignores an unknown id.
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("route_targets", sa.Column("backup_agent_id", sa.Integer, nullable=True))


def downgrade() -> None:
    op.drop_column("route_targets", "backup_agent_id")
