"""Calls in progress, read from the running switch (not the database), and the
outbound AI calls the API places."""

from typing import Annotated, Literal

from pydantic import Field

from softswitch.admin.schemas.common import (
    CURSOR_DESCRIPTION,
    E164Input,
    Epoch,
    ListQuery,
    Name,
    OptionalName,
    RequestModel,
    ResponseModel,
)

ParameterName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f]+$")]
ParameterValue = Annotated[str, Field(max_length=1024, pattern=r"^[^\x00]*$")]


class CallListQuery(ListQuery):
    """Calls are ordered by start, then Call-ID: the cursor is STARTED/CALL-ID."""

    after: str | None = Field(None, max_length=300,
                              pattern=r"^[0-9]{1,12}(\.[0-9]{1,9})?/[^\n]{1,256}$",
                              description=CURSOR_DESCRIPTION)


class CallOut(ResponseModel):
    call_id: str = Field(description="the SIP Call-ID of the caller's INVITE (outbound "
                                     "calls: of ours)")
    state: Literal["queued", "trying", "ringing", "answered"] = Field(
        description="queued: an outbound call waiting for its trunk's limits (calls per "
                    "second, concurrent calls)")
    direction: str = Field(description="inbound (from a trunk), outbound (to a trunk) "
                                       "or internal")
    caller: str | None
    callee: str | None
    trunk: str | None = Field(description="the trunk it came in on or goes out through")
    agent: str | None = Field(None, description="the AI agent on the call, if any")
    started_at: Epoch = Field(description="when the INVITE arrived, or the outbound call "
                                          "was asked for (epoch seconds)")
    duration: float = Field(description="seconds since then")


class OriginateIn(RequestModel):
    """An outbound AI call: the switch dials `to` from `from` and, on answer, bridges
    the callee to `agent` (the agent's socket opens while it rings)."""

    to: E164Input = Field(description="the number to call (E.164)")
    from_: E164Input = Field(alias="from", description="our number, the caller ID (E.164)")
    agent: Name = Field(description="the agent that talks to the callee")
    trunk: OptionalName = Field(None, description="the trunk to call through; default: "
                                                  "the outbound routes")
    # (names with a pattern are patternProperties: no other name is allowed either)
    custom_parameters: Annotated[dict[ParameterName, ParameterValue], Field(
        max_length=32, json_schema_extra={"additionalProperties": False})] | None = Field(
        None, description="given to the agent with the call's start "
                          "(Twilio: start.customParameters)")
