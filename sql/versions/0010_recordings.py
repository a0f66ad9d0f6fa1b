"""Call recordings: the recordings table, a `record` switch on numbers and agents, and
the call record's recording id.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03

Only new tables and added columns (booleans with a server default of false): no
table rebuild on SQLite.
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "recordings",
        sa.Column("id", sa.String, nullable=False),
        sa.Column("call_id", sa.Text, nullable=False),
        sa.Column("file_path", sa.Text, nullable=False),
        sa.Column("format", sa.String, nullable=False),
        sa.Column("channels", sa.Integer, nullable=False),
        sa.Column("sample_rate", sa.Integer, nullable=False),
        sa.Column("state", sa.String, nullable=False),
        sa.Column("started_at", sa.Double, nullable=False),
        sa.Column("ended_at", sa.Double, nullable=True),
        sa.Column("duration", sa.Double, nullable=True),
        sa.Column("size", sa.BigInteger, nullable=True),
        sa.Column("pauses", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("node", sa.String, nullable=True),
        sa.CheckConstraint("state IN ('recording', 'paused', 'completed', 'failed')",
                           name=op.f("ck_recordings_state")),
        sa.CheckConstraint("format IN ('wav')", name=op.f("ck_recordings_format")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recordings")),
    )
    op.create_index(op.f("ix_recordings_call_id"), "recordings", ["call_id"])
    op.create_index(op.f("ix_recordings_started_at"), "recordings", ["started_at"])
    op.add_column("numbers", sa.Column("record", sa.Boolean, nullable=False,
                                       server_default=sa.false()))
    op.add_column("agents", sa.Column("record", sa.Boolean, nullable=False,
                                      server_default=sa.false()))
    op.add_column("cdrs", sa.Column("recording_id", sa.String, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cdrs") as batch:
        batch.drop_column("recording_id")
    with op.batch_alter_table("agents") as batch:
        batch.drop_column("record")
    with op.batch_alter_table("numbers") as batch:
        batch.drop_column("record")
    op.drop_index(op.f("ix_recordings_started_at"), "recordings")
    op.drop_index(op.f("ix_recordings_call_id"), "recordings")
    op.drop_table("recordings")
