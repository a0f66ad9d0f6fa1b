"""AI voice agents: where a call's audio goes and in which wire format."""

import sqlalchemy as sa

from softswitch.store.tables.base import (
    check_one_of,
    id_column,
    metadata,
    timestamp_columns,
)

AGENT_PROFILES = ("twilio", "raw", "openai-realtime")

agents = sa.Table(
    "agents",
    metadata,
    id_column(),
    sa.Column("name", sa.String, nullable=False),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("profile", sa.String, nullable=False),
    sa.Column("sample_rate", sa.Integer, nullable=False),
    sa.Column(
        "region_id", sa.Integer,
        sa.ForeignKey("regions.id", ondelete="RESTRICT"), nullable=True,
    ),
    sa.Column("headers", sa.JSON, nullable=False),  # returned by the API
    sa.Column("secret_headers", sa.JSON, nullable=False),  # write-only
    sa.Column("custom_parameters", sa.JSON, nullable=False),
    # Twilio compatibility: the upgrade's X-Twilio-Signature and the REST surface's
    # Basic credentials. The token is write-only, like secret_headers.
    sa.Column("account_sid", sa.String, nullable=True),
    sa.Column("auth_token", sa.String, nullable=True),
    # Where this agent's call events go (services.webhooks), besides [webhooks] url.
    sa.Column("webhook_url", sa.Text, nullable=True),
    # E.164 numbers the agent may present as caller ID (services.caller_id).
    sa.Column("caller_ids", sa.JSON, nullable=False, server_default="[]"),
    # Names of the INVITE's headers passed in its start message (agent_headers).
    sa.Column("sip_headers", sa.JSON, nullable=False, server_default="[]"),
    # This agent's calls are recorded from the answer (docs/recording.md).
    sa.Column("record", sa.Boolean, nullable=False, server_default=sa.false()),
    *timestamp_columns(),
    sa.UniqueConstraint("name"),
    sa.CheckConstraint(check_one_of("profile", AGENT_PROFILES), name="profile"),
    sa.Index(None, "region_id"),
    sa.Index(None, "account_sid"),
)
