"""Call detail records (read-only), newest first."""

from datetime import datetime, timezone
from typing import Annotated, Any

from pydantic import BeforeValidator, Field

from softswitch.admin.schemas.common import Epoch, ListQuery, ResponseModel


def _epoch(value: Any) -> Any:
    """Epoch seconds or ISO 8601 ("2024-05-01T12:00:00Z"; UTC when no offset)."""
    if not isinstance(value, str):
        return value
    try:
        return float(value)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is neither epoch seconds nor an ISO 8601 time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


TimeBound = Annotated[float, BeforeValidator(_epoch), Field(
    allow_inf_nan=False, json_schema_extra={"type": "string"},
    description="epoch seconds or ISO 8601 time")]


class CdrQuery(ListQuery):
    since: TimeBound | None = Field(None, alias="from", description="calls started at or after")
    until: TimeBound | None = Field(None, alias="to", description="calls started before")
    number: str | None = Field(None, max_length=64, description="caller, callee or DID")


class CdrOut(ResponseModel):
    id: int
    call_id: str
    direction: str
    caller: str | None
    callee: str | None
    did: str | None
    trunk: str | None
    gateway: str | None
    region: str | None
    route_kind: str | None
    route_target: str | None
    agent: str | None
    profile: str | None
    attempts: int
    final_code: int | None
    disconnect_side: str | None
    disconnect_reason: str | None
    start_at: Epoch
    ring_at: Epoch | None
    answer_at: Epoch | None
    end_at: Epoch
    duration: float | None = Field(description="seconds from answer to end; null if unanswered")
    transfer_target: str | None
    media_stats: dict | None
    agent_stats: dict | None
