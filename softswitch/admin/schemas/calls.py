"""Calls in progress, read from the running switch (not the database)."""

from typing import Literal

from pydantic import Field

from softswitch.admin.schemas.common import Epoch, ResponseModel


class CallOut(ResponseModel):
    call_id: str = Field(description="the SIP Call-ID of the caller's INVITE")
    state: Literal["trying", "ringing", "answered"]
    direction: str = Field(description="inbound (from a trunk), outbound (to a trunk) "
                                       "or internal")
    caller: str | None
    callee: str | None
    trunk: str | None = Field(description="the trunk it came in on or goes out through")
    started_at: Epoch = Field(description="when the INVITE arrived (epoch seconds)")
    duration: float = Field(description="seconds since the INVITE arrived")
