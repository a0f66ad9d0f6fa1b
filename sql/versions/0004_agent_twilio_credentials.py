"""Agents get a Twilio-style account SID and auth token: the switch signs its
WebSocket upgrade with the token (X-Twilio-Signature) and accepts them as the Basic
credentials of its Twilio-compatible REST surface (/2010-04-01/...).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03

Two nullable columns; adding them needs no table rebuild on SQLite.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("agents", sa.Column("account_sid", sa.String, nullable=True))
    op.add_column("agents", sa.Column("auth_token", sa.String, nullable=True))
    op.create_index(op.f("ix_agents_account_sid"), "agents", ["account_sid"])


def downgrade() -> None:
    op.drop_index(op.f("ix_agents_account_sid"), "agents")
    op.drop_column("agents", "auth_token")
    op.drop_column("agents", "account_sid")
