"""Call detail records (read-only), newest first."""

import re
from datetime import datetime, timezone
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, WithJsonSchema

from softswitch.admin.schemas.common import Epoch, IdListQuery, ResponseModel


# The forms a time bound takes, stated in the document and checked the same way:
# epoch seconds (a JSON number, finite), or an RFC 3339 date-time as JSON Schema's
# "date-time" format checks it (upper-case T and Z, no leap second, a real day).
EPOCH_PATTERN = r"^-?(0|[1-9][0-9]{0,19})(\.[0-9]{1,20})?([eE][+-]?[0-9]{1,2})?$"
_EPOCH = re.compile(EPOCH_PATTERN)
_RFC3339 = re.compile(r"(\d{4})-(0[1-9]|1[0-2])-(\d{2})T([01]\d|2[0-3]):([0-5]\d):([0-5]\d)"
                      r"(\.\d+)?(Z|([+-])([01]\d|2[0-3]):([0-5]\d))", re.ASCII)


def _epoch(value: Any) -> Any:
    """Epoch seconds or an RFC 3339 time ("2024-05-01T12:00:00.5Z")."""
    if not isinstance(value, str):
        return value
    text = value.removesuffix("\n")  # as "$" in a pattern allows
    if _EPOCH.fullmatch(text):
        return float(text)
    found = _RFC3339.fullmatch(text)
    if found is not None:
        year, month, day, hour, minute, second = (int(found.group(i)) for i in range(1, 7))
        try:
            moment = datetime(year, month, day, hour, minute, second, tzinfo=timezone.utc)
        except ValueError:
            pass  # no such day
        else:
            offset = 0
            if found.group(8) != "Z":
                sign = -1 if found.group(9) == "-" else 1
                offset = sign * (int(found.group(10)) * 3600 + int(found.group(11)) * 60)
            fraction = float("0" + found.group(7)) if found.group(7) else 0.0
            return moment.timestamp() - offset + fraction
    raise ValueError(f"{value!r} is neither epoch seconds nor an RFC 3339 time")


TimeBound = Annotated[float, BeforeValidator(_epoch), Field(allow_inf_nan=False), WithJsonSchema({
    "type": "string", "anyOf": [{"pattern": EPOCH_PATTERN}, {"format": "date-time"}],
    "description": "RFC 3339 time (2024-05-01T12:00:00Z) or epoch seconds"})]


class CdrQuery(IdListQuery):
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
    verstat: str | None = Field(None, description="STIR/SHAKEN of an inbound call: "
                                "TN-Validation-Passed, TN-Validation-Failed or No-TN-Validation")
    attestation: str | None = Field(None, description="the PASSporT's attestation: A, B or C")
    amd_result: Literal["human", "machine", "unknown"] | None = Field(
        None, description="answering-machine detection of an outbound call that asked "
                          "for it (docs/amd.md)")
    amd_decision_ms: int | None = Field(None, description="when it was decided, ms after "
                                                          "the answer")
    amd: dict | None = Field(None, description="its details: reason, a machine greeting's "
                                               "end (beep or silence) and when")
    recording_id: str | None = Field(description="the call's last recording (/v1/recordings)")
