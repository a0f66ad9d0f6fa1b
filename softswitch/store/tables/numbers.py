"""Numbers (DIDs) and the ordered targets of each number's route."""

import sqlalchemy as sa

from softswitch.store.tables.base import (
    check_one_of,
    id_column,
    metadata,
    timestamp_columns,
)

TARGET_KINDS = ("agent", "user", "trunk", "reject")

# The column that names the target for each kind; the others must be NULL.
TARGET_COLUMN_BY_KIND = {
    "agent": "agent_id",
    "user": "user_id",
    "trunk": "trunk_id",
    "reject": "reject_code",
}


def _target_matches_kind() -> str:
    """SQL: exactly the column matching ``kind`` is set, the others are NULL."""
    clauses = []
    for kind, wanted in TARGET_COLUMN_BY_KIND.items():
        parts = [f"kind = '{kind}'"]
        for column in TARGET_COLUMN_BY_KIND.values():
            parts.append(f"{column} IS {'NOT NULL' if column == wanted else 'NULL'}")
        clauses.append("(" + " AND ".join(parts) + ")")
    return " OR ".join(clauses)


numbers = sa.Table(
    "numbers",
    metadata,
    id_column(),
    sa.Column("number", sa.String, nullable=False),  # E.164, "+14155550100"
    sa.Column("description", sa.Text, nullable=True),
    sa.Column("enabled", sa.Boolean, nullable=False),
    # Which inbound calls take the unverified route (STIR/SHAKEN verstat): "failed",
    # "unverified" (failed or not signed), "not-a" (anything but passed with
    # attestation A); NULL: none.
    sa.Column("unverified_when", sa.String, nullable=True),
    # Calls to this number are recorded from the answer (docs/recording.md).
    sa.Column("record", sa.Boolean, nullable=False, server_default=sa.false()),
    *timestamp_columns(),
    sa.UniqueConstraint("number"),
)

route_targets = sa.Table(
    "route_targets",
    metadata,
    id_column(),
    sa.Column(
        "number_id", sa.Integer,
        sa.ForeignKey("numbers.id", ondelete="CASCADE"), nullable=False,
    ),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("kind", sa.String, nullable=False),
    # RESTRICT: the API answers 409 "still referenced"; the FK is the safety net.
    sa.Column(
        "agent_id", sa.Integer,
        sa.ForeignKey("agents.id", ondelete="RESTRICT"), nullable=True,
    ),
    sa.Column(
        "user_id", sa.Integer,
        sa.ForeignKey("sip_users.id", ondelete="RESTRICT"), nullable=True,
    ),
    sa.Column(
        "trunk_id", sa.Integer,
        sa.ForeignKey("trunks.id", ondelete="RESTRICT"), nullable=True,
    ),
    sa.Column("reject_code", sa.Integer, nullable=True),
    # An agent target's backup agent: it takes the call over when the agent's socket
    # fails beyond its reconnect (docs/agents.md "Handoff"). No foreign key (SQLite
    # cannot add a named one without a rebuild): the API refuses to delete an agent
    # named here (store.agents.referrers), and the snapshot skips an unknown id.
    sa.Column("backup_agent_id", sa.Integer, nullable=True),
    # A target of the number's unverified route (after the main route's positions).
    sa.Column("unverified", sa.Boolean, nullable=False, server_default=sa.false()),
    *timestamp_columns(),
    # Also serves "targets of a number" (leftmost column).
    sa.UniqueConstraint("number_id", "position"),
    sa.CheckConstraint(check_one_of("kind", TARGET_KINDS), name="kind"),
    sa.CheckConstraint(_target_matches_kind(), name="target_matches_kind"),
    sa.CheckConstraint(
        "reject_code IS NULL OR (reject_code >= 400 AND reject_code <= 699)",
        name="reject_code",
    ),
    # "Is this agent/user/trunk still referenced?" and FK checks on delete.
    sa.Index(None, "agent_id"),
    sa.Index(None, "user_id"),
    sa.Index(None, "trunk_id"),
)
