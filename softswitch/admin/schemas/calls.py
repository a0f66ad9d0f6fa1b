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


class AmdIn(RequestModel):
    """Answering-machine detection (docs/amd.md); times in ms unless said."""

    mode: Literal["wait", "async"] = Field(
        "async", description="wait: the agent starts with the result (the callee's audio "
                             "meanwhile is delivered after the start); async: the agent "
                             "starts at once and is told when it is known")
    machine_action: Literal["agent", "hangup"] = Field(
        "agent", description="hangup: a machine ends the call (\"switch\" \"machine\" "
                             "in its record)")
    detect_end: bool = Field(True, description="wait mode: on a machine, the agent starts "
                                               "when its greeting is over (beep or silence)")
    timeout: float | None = Field(None, ge=1, le=120, description="seconds to decide "
                                  "(default 30; Twilio's MachineDetectionTimeout)")
    speech_threshold: int | None = Field(None, ge=500, le=10000, description="greeting "
                                         "length that makes a machine (default 2400)")
    speech_end_threshold: int | None = Field(None, ge=300, le=5000, description="silence "
                                             "after an answer that makes a person "
                                             "(default 1200)")
    silence_timeout: int | None = Field(None, ge=1000, le=20000, description="silence "
                                        "from the answer that gives unknown (default 5000)")
    greeting_end_silence: int | None = Field(None, ge=300, le=10000, description="silence "
                                             "that ends a machine's greeting without a "
                                             "beep (default 1500)")
    max_words: int | None = Field(None, ge=2, le=50, description="words in one utterance "
                                  "that make a machine (default 6)")


class AmdOut(ResponseModel):
    mode: str
    result: Literal["human", "machine", "unknown"] | None = Field(
        description="null until decided")
    decision_ms: int | None = Field(description="when it was decided, ms after the answer")
    answered_by: str | None = Field(description="the latest result in Twilio's AnsweredBy "
                                                "words (machine_start, machine_end_beep...)")
    machine_end: str | None = Field(description="how a machine's greeting ended: beep, "
                                                "silence or timeout")
    machine_end_ms: int | None


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
    amd: AmdOut | None = Field(None, description="answering-machine detection, for an "
                                                 "outbound call that asked for it")


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
    amd: AmdIn | None = Field(None, description="detect whether a person or a machine "
                                                "answered (docs/amd.md)")


class HandoffIn(RequestModel):
    """Move the call from its AI agent to another (docs/agents.md "Handoff"): the new
    agent's socket opens while the caller stays on the line, and it hears what the
    caller said meanwhile."""

    agent: Name = Field(description="the agent that takes the call over")
    reason: str = Field("api", min_length=1, max_length=128, pattern=r"^[^\x00-\x1f]+$",
                        description="why, told to the new agent in its start message and "
                                    "kept in the call record")


class HandoffOut(ResponseModel):
    call_id: str
    agent: str = Field(description="the agent now on the call")
    previous_agent: str | None = Field(description="the agent that had it")
    reason: str
