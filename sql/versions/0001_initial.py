"""Initial schema: configuration, registrations, call records and API tokens.

Revision ID: 0001
Revises:
Create Date: 2026-11-24

Written by hand and frozen: it does not import the live table definitions,
so later edits to softswitch.store.tables cannot change what it creates.
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Tables that grow without bound get 64-bit keys; SQLite keeps the rowid.
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

TARGET_MATCHES_KIND = """
   (kind = 'agent' AND agent_id IS NOT NULL AND user_id IS NULL
    AND trunk_id IS NULL AND reject_code IS NULL)
OR (kind = 'user' AND agent_id IS NULL AND user_id IS NOT NULL
    AND trunk_id IS NULL AND reject_code IS NULL)
OR (kind = 'trunk' AND agent_id IS NULL AND user_id IS NULL
    AND trunk_id IS NOT NULL AND reject_code IS NULL)
OR (kind = 'reject' AND agent_id IS NULL AND user_id IS NULL
    AND trunk_id IS NULL AND reject_code IS NOT NULL)
""".strip()


def _id(table: str, type_=sa.Integer) -> list:
    return [
        sa.Column("id", type_, nullable=False, autoincrement=True),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
    ]


def _timestamps() -> list[sa.Column]:
    return [
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("updated_at", sa.Double, nullable=False),
    ]


def _fk(table: str, column: str, target: str, ondelete: str, nullable: bool):
    referred = target.split(".")[0]
    name = op.f(f"fk_{table}_{column}_{referred}")
    return sa.Column(
        column,
        sa.Integer,
        sa.ForeignKey(target, ondelete=ondelete, name=name),
        nullable=nullable,
    )


def upgrade() -> None:
    op.create_table(
        "regions",
        *_id("regions"),
        sa.Column("name", sa.String, nullable=False),
        sa.Column("bind", sa.String, nullable=False),
        sa.Column("advertise", sa.String, nullable=False),
        sa.Column("port_min", sa.Integer, nullable=False),
        sa.Column("port_max", sa.Integer, nullable=False),
        *_timestamps(),
        sa.UniqueConstraint("name", name=op.f("uq_regions_name")),
        sa.CheckConstraint(
            "port_min >= 1 AND port_max <= 65535 AND port_min <= port_max",
            name=op.f("ck_regions_port_range"),
        ),
    )

    op.create_table(
        "trunks",
        *_id("trunks"),
        sa.Column("name", sa.String, nullable=False),
        sa.Column("inbound_allowed_sources", sa.JSON, nullable=False),
        sa.Column("auth_username", sa.String, nullable=True),
        sa.Column("auth_password", sa.String, nullable=True),
        sa.Column("register", sa.Boolean, nullable=False),
        sa.Column("max_concurrent", sa.Integer, nullable=True),
        sa.Column("max_cps", sa.Float, nullable=True),
        sa.Column("number_format", sa.String, nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        *_timestamps(),
        sa.UniqueConstraint("name", name=op.f("uq_trunks_name")),
    )

    op.create_table(
        "gateways",
        *_id("gateways"),
        _fk("gateways", "trunk_id", "trunks.id", "CASCADE", nullable=False),
        sa.Column("host", sa.String, nullable=False),
        sa.Column("port", sa.Integer, nullable=False),
        sa.Column("transport", sa.String, nullable=False),
        _fk("gateways", "region_id", "regions.id", "RESTRICT", nullable=True),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("weight", sa.Integer, nullable=False),
        *_timestamps(),
        sa.UniqueConstraint(
            "trunk_id", "host", "port", "transport",
            name=op.f("uq_gateways_trunk_id_host_port_transport"),
        ),
        sa.CheckConstraint(
            "transport IN ('udp', 'tcp', 'tls')", name=op.f("ck_gateways_transport")
        ),
        sa.CheckConstraint("port >= 1 AND port <= 65535", name=op.f("ck_gateways_port")),
    )
    op.create_index(op.f("ix_gateways_region_id"), "gateways", ["region_id"])

    op.create_table(
        "agents",
        *_id("agents"),
        sa.Column("name", sa.String, nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("profile", sa.String, nullable=False),
        sa.Column("sample_rate", sa.Integer, nullable=False),
        _fk("agents", "region_id", "regions.id", "RESTRICT", nullable=True),
        sa.Column("headers", sa.JSON, nullable=False),
        sa.Column("secret_headers", sa.JSON, nullable=False),
        sa.Column("custom_parameters", sa.JSON, nullable=False),
        *_timestamps(),
        sa.UniqueConstraint("name", name=op.f("uq_agents_name")),
        sa.CheckConstraint(
            "profile IN ('twilio', 'raw', 'openai-realtime')",
            name=op.f("ck_agents_profile"),
        ),
    )
    op.create_index(op.f("ix_agents_region_id"), "agents", ["region_id"])

    op.create_table(
        "sip_users",
        *_id("sip_users"),
        sa.Column("username", sa.String, nullable=False),
        sa.Column("domain", sa.String, nullable=False),
        sa.Column("ha1_md5", sa.String(32), nullable=False),
        sa.Column("ha1_sha256", sa.String(64), nullable=False),
        sa.Column("display_name", sa.String, nullable=True),
        sa.Column("enabled", sa.Boolean, nullable=False),
        *_timestamps(),
        sa.UniqueConstraint(
            "username", "domain", name=op.f("uq_sip_users_username_domain")
        ),
    )

    op.create_table(
        "numbers",
        *_id("numbers"),
        sa.Column("number", sa.String, nullable=False),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("enabled", sa.Boolean, nullable=False),
        *_timestamps(),
        sa.UniqueConstraint("number", name=op.f("uq_numbers_number")),
    )

    op.create_table(
        "route_targets",
        *_id("route_targets"),
        _fk("route_targets", "number_id", "numbers.id", "CASCADE", nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("kind", sa.String, nullable=False),
        _fk("route_targets", "agent_id", "agents.id", "RESTRICT", nullable=True),
        _fk("route_targets", "user_id", "sip_users.id", "RESTRICT", nullable=True),
        _fk("route_targets", "trunk_id", "trunks.id", "RESTRICT", nullable=True),
        sa.Column("reject_code", sa.Integer, nullable=True),
        *_timestamps(),
        sa.UniqueConstraint(
            "number_id", "position", name=op.f("uq_route_targets_number_id_position")
        ),
        sa.CheckConstraint(
            "kind IN ('agent', 'user', 'trunk', 'reject')",
            name=op.f("ck_route_targets_kind"),
        ),
        sa.CheckConstraint(
            TARGET_MATCHES_KIND, name=op.f("ck_route_targets_target_matches_kind")
        ),
        sa.CheckConstraint(
            "reject_code IS NULL OR (reject_code >= 400 AND reject_code <= 699)",
            name=op.f("ck_route_targets_reject_code"),
        ),
    )
    op.create_index(op.f("ix_route_targets_agent_id"), "route_targets", ["agent_id"])
    op.create_index(op.f("ix_route_targets_user_id"), "route_targets", ["user_id"])
    op.create_index(op.f("ix_route_targets_trunk_id"), "route_targets", ["trunk_id"])

    op.create_table(
        "outbound_routes",
        *_id("outbound_routes"),
        sa.Column("prefix", sa.String, nullable=False),
        sa.Column("description", sa.Text, nullable=True),
        *_timestamps(),
        sa.UniqueConstraint("prefix", name=op.f("uq_outbound_routes_prefix")),
    )

    op.create_table(
        "outbound_route_trunks",
        *_id("outbound_route_trunks"),
        _fk(
            "outbound_route_trunks", "route_id", "outbound_routes.id", "CASCADE",
            nullable=False,
        ),
        sa.Column("position", sa.Integer, nullable=False),
        _fk(
            "outbound_route_trunks", "trunk_id", "trunks.id", "RESTRICT",
            nullable=False,
        ),
        *_timestamps(),
        sa.UniqueConstraint(
            "route_id", "position",
            name=op.f("uq_outbound_route_trunks_route_id_position"),
        ),
    )
    op.create_index(
        op.f("ix_outbound_route_trunks_trunk_id"), "outbound_route_trunks", ["trunk_id"]
    )

    op.create_table(
        "registrations",
        *_id("registrations", BIG_ID),
        sa.Column("aor", sa.Text, nullable=False),
        sa.Column("contact", sa.Text, nullable=False),
        sa.Column("expires_at", sa.Double, nullable=False),
        sa.Column("q", sa.Float, nullable=True),
        sa.Column("call_id", sa.Text, nullable=False),
        sa.Column("cseq", sa.Integer, nullable=False),
        sa.Column("path", sa.JSON, nullable=True),
        sa.Column("received", sa.String, nullable=True),
        sa.Column("user_agent", sa.Text, nullable=True),
        sa.Column("instance_id", sa.Text, nullable=True),
        sa.Column("reg_id", sa.Integer, nullable=True),
        sa.Column("node", sa.String, nullable=False),
        *_timestamps(),
        sa.UniqueConstraint(
            "aor", "contact", name=op.f("uq_registrations_aor_contact")
        ),
    )
    op.create_index(
        op.f("ix_registrations_expires_at"), "registrations", ["expires_at"]
    )

    op.create_table(
        "cdrs",
        *_id("cdrs", BIG_ID),
        sa.Column("call_id", sa.Text, nullable=False),
        sa.Column("direction", sa.String, nullable=False),
        sa.Column("caller", sa.Text, nullable=True),
        sa.Column("callee", sa.Text, nullable=True),
        sa.Column("did", sa.String, nullable=True),
        sa.Column("trunk_id", sa.Integer, nullable=True),
        sa.Column("trunk", sa.String, nullable=True),
        sa.Column("gateway", sa.String, nullable=True),
        sa.Column("region", sa.String, nullable=True),
        sa.Column("route_kind", sa.String, nullable=True),
        sa.Column("route_target", sa.Text, nullable=True),
        sa.Column("agent", sa.String, nullable=True),
        sa.Column("profile", sa.String, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("final_code", sa.Integer, nullable=True),
        sa.Column("disconnect_side", sa.String, nullable=True),
        sa.Column("disconnect_reason", sa.Text, nullable=True),
        sa.Column("start_at", sa.Double, nullable=False),
        sa.Column("ring_at", sa.Double, nullable=True),
        sa.Column("answer_at", sa.Double, nullable=True),
        sa.Column("end_at", sa.Double, nullable=False),
        sa.Column("transfer_target", sa.Text, nullable=True),
        sa.Column("media_stats", sa.JSON, nullable=True),
        sa.Column("agent_stats", sa.JSON, nullable=True),
    )
    op.create_index(op.f("ix_cdrs_start_at"), "cdrs", ["start_at"])
    op.create_index(op.f("ix_cdrs_did"), "cdrs", ["did"])
    op.create_index(op.f("ix_cdrs_call_id"), "cdrs", ["call_id"])

    op.create_table(
        "api_tokens",
        *_id("api_tokens"),
        sa.Column("name", sa.String, nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("revoked_at", sa.Double, nullable=True),
        sa.Column("last_used_at", sa.Double, nullable=True),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )


def downgrade() -> None:
    # Children before parents, so no foreign key is left dangling.
    for table in (
        "api_tokens",
        "cdrs",
        "registrations",
        "outbound_route_trunks",
        "outbound_routes",
        "route_targets",
        "numbers",
        "sip_users",
        "agents",
        "gateways",
        "trunks",
        "regions",
    ):
        op.drop_table(table)
