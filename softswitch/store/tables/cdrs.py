"""Call detail records, written once when a call ends.

No foreign keys: records outlive the configuration they mention, so names
are copied in beside any id.
"""

import sqlalchemy as sa

from softswitch.store.tables.base import BigId, EpochSeconds, id_column, metadata

CALL_DIRECTIONS = ("inbound", "outbound", "internal")

cdrs = sa.Table(
    "cdrs",
    metadata,
    id_column(BigId),
    sa.Column("call_id", sa.Text, nullable=False),
    sa.Column("direction", sa.String, nullable=False),  # one of CALL_DIRECTIONS
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
    sa.Column("start_at", EpochSeconds, nullable=False),
    sa.Column("ring_at", EpochSeconds, nullable=True),
    sa.Column("answer_at", EpochSeconds, nullable=True),
    sa.Column("end_at", EpochSeconds, nullable=False),
    sa.Column("transfer_target", sa.Text, nullable=True),
    sa.Column("media_stats", sa.JSON(none_as_null=True), nullable=True),
    sa.Column("agent_stats", sa.JSON(none_as_null=True), nullable=True),
    # STIR/SHAKEN of an inbound call: the verstat and the PASSporT's attestation.
    sa.Column("verstat", sa.String, nullable=True),
    sa.Column("attestation", sa.String, nullable=True),
    # Answering-machine detection (outbound calls that asked for it): human, machine
    # or unknown, ms after the answer, and its details (services.amd_calls).
    sa.Column("amd_result", sa.String, nullable=True),
    sa.Column("amd_decision_ms", sa.Integer, nullable=True),
    sa.Column("amd", sa.JSON(none_as_null=True), nullable=True),
    sa.Column("recording_id", sa.String, nullable=True),  # recordings.id, the last one
    sa.Index(None, "start_at"),
    sa.Index(None, "did"),
    sa.Index(None, "call_id"),
)
