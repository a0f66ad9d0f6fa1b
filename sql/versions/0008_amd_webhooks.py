"""Call records of outbound calls keep their answering-machine detection: the result
(human, machine, unknown), when it was decided (ms after the answer) and its details
(why, and a machine greeting's end: beep or silence, and when). Agents get their own
webhook URL for call events.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03

Four nullable columns; adding them needs no table rebuild on SQLite.
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("cdrs", sa.Column("amd_result", sa.String, nullable=True))
    op.add_column("cdrs", sa.Column("amd_decision_ms", sa.Integer, nullable=True))
    op.add_column("cdrs", sa.Column("amd", sa.JSON(none_as_null=True), nullable=True))
    op.add_column("agents", sa.Column("webhook_url", sa.Text, nullable=True))


def downgrade() -> None:
    op.drop_column("agents", "webhook_url")
    op.drop_column("cdrs", "amd")
    op.drop_column("cdrs", "amd_decision_ms")
    op.drop_column("cdrs", "amd_result")
