"""Call recordings: one row per recording, its file on the recording directory's disk.

No foreign key to cdrs: a recording row exists from its start, while the call record
is written when the call ends (it then names the recording in cdrs.recording_id).
"""

import sqlalchemy as sa

from softswitch.store.tables.base import EpochSeconds, check_one_of, metadata

RECORDING_STATES = ("recording", "paused", "completed", "failed")
RECORDING_FORMATS = ("wav",)

recordings = sa.Table(
    "recordings",
    metadata,
    sa.Column("id", sa.String, primary_key=True),  # "RE" + 32 hex digits
    sa.Column("call_id", sa.Text, nullable=False),
    sa.Column("file_path", sa.Text, nullable=False),
    sa.Column("format", sa.String, nullable=False),
    sa.Column("channels", sa.Integer, nullable=False),
    sa.Column("sample_rate", sa.Integer, nullable=False),
    sa.Column("state", sa.String, nullable=False),
    sa.Column("started_at", EpochSeconds, nullable=False),
    sa.Column("ended_at", EpochSeconds, nullable=True),
    sa.Column("duration", sa.Double, nullable=True),  # seconds of audio in the file
    sa.Column("size", sa.BigInteger, nullable=True),  # bytes of the file
    sa.Column("pauses", sa.JSON(none_as_null=True), nullable=True),  # [[start_s, end_s]]
    sa.Column("node", sa.String, nullable=True),  # the switch node writing the file
    sa.CheckConstraint(check_one_of("state", RECORDING_STATES), name="state"),
    sa.CheckConstraint(check_one_of("format", RECORDING_FORMATS), name="format"),
    sa.Index(None, "call_id"),
    sa.Index(None, "started_at"),
)
