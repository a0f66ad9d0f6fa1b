"""A gateway's port may be NULL: its host is then resolved with DNS SRV (RFC 3263).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01

Written by hand and frozen, like 0001. SQLite cannot drop NOT NULL, so the table is
rebuilt there, spelled out here (not with batch mode, whose constraint order in the
rendered DDL changes from run to run).
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


COLUMNS = ("id, trunk_id, host, port, transport, region_id, priority, weight, "
           "created_at, updated_at")


def _create_gateways(name: str, port_nullable: bool) -> None:
    """The gateways table as 0001 made it, but for the port's nullability."""
    op.create_table(
        name,
        sa.Column("id", sa.Integer, nullable=False, autoincrement=True),
        sa.Column(
            "trunk_id", sa.Integer,
            sa.ForeignKey("trunks.id", ondelete="CASCADE",
                          name=op.f("fk_gateways_trunk_id_trunks")),
            nullable=False,
        ),
        sa.Column("host", sa.String, nullable=False),
        sa.Column("port", sa.Integer, nullable=port_nullable),
        sa.Column("transport", sa.String, nullable=False),
        sa.Column(
            "region_id", sa.Integer,
            sa.ForeignKey("regions.id", ondelete="RESTRICT",
                          name=op.f("fk_gateways_region_id_regions")),
            nullable=True,
        ),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("weight", sa.Integer, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("updated_at", sa.Double, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gateways")),
        sa.UniqueConstraint("trunk_id", "host", "port", "transport",
                            name=op.f("uq_gateways_trunk_id_host_port_transport")),
        sa.CheckConstraint("transport IN ('udp', 'tcp', 'tls')",
                           name=op.f("ck_gateways_transport")),
        # NULL passes a CHECK, so this one stays as it is.
        sa.CheckConstraint("port >= 1 AND port <= 65535", name=op.f("ck_gateways_port")),
    )


def _set_port_nullable(nullable: bool) -> None:
    if op.get_context().dialect.name != "sqlite":
        op.alter_column("gateways", "port", existing_type=sa.Integer, nullable=nullable)
        return
    _create_gateways("_gateways_new", nullable)
    op.execute(f"INSERT INTO _gateways_new ({COLUMNS}) SELECT {COLUMNS} FROM gateways")
    op.drop_index(op.f("ix_gateways_region_id"), "gateways")
    op.drop_table("gateways")
    op.rename_table("_gateways_new", "gateways")
    op.create_index(op.f("ix_gateways_region_id"), "gateways", ["region_id"])


def upgrade() -> None:
    _set_port_nullable(True)


def downgrade() -> None:
    # What RFC 3263 falls back to without SRV records. A row that then repeats
    # another one fails the unique constraint: remove one of them first.
    op.execute("UPDATE gateways SET port = CASE WHEN transport = 'tls' THEN 5061 "
               "ELSE 5060 END WHERE port IS NULL")
    _set_port_nullable(False)
