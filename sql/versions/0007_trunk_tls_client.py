"""Trunks get an optional TLS client certificate and key (mutual TLS towards their
gateways): each a PEM text or the path of a PEM file on the switch; a private key
given as PEM is sealed like the trunk password (store.secret_box).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03

Two nullable columns; adding them needs no table rebuild on SQLite.
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("trunks", sa.Column("tls_client_certificate", sa.String, nullable=True))
    op.add_column("trunks", sa.Column("tls_client_key", sa.String, nullable=True))


def downgrade() -> None:
    op.drop_column("trunks", "tls_client_key")
    op.drop_column("trunks", "tls_client_certificate")
