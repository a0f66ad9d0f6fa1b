"""Call recordings: listed newest first, their audio downloaded, deleted; and the
recording control of a call in progress."""

from typing import Literal

from pydantic import Field

from softswitch.admin.schemas.common import (
    CURSOR_DESCRIPTION,
    Epoch,
    ListQuery,
    RequestModel,
    ResponseModel,
)

RECORDING_ID_PATTERN = r"^RE[0-9a-f]{32}$"


class RecordingListQuery(ListQuery):
    """Recordings are ordered by start, newest first: the cursor is STARTED/ID."""

    after: str | None = Field(None, max_length=60,
                              pattern=r"^[0-9]{1,12}(\.[0-9]{1,9})?/RE[0-9a-f]{32}$",
                              description=CURSOR_DESCRIPTION)
    call_id: str | None = Field(None, min_length=1, max_length=256,
                                pattern=r"^[^\x00-\x1f\x7f]+$",
                                description="only the recordings of this call")


class RecordingOut(ResponseModel):
    id: str
    call_id: str
    state: str = Field(description="recording, paused, completed or failed")
    format: str = Field(description="wav: 16-bit PCM, caller on the left channel")
    channels: int
    sample_rate: int
    started_at: Epoch
    ended_at: Epoch | None
    duration: float | None = Field(description="seconds of audio in the file")
    size: int | None = Field(description="bytes of the file")
    pauses: list[list[float]] | None = Field(
        description="[start, end] seconds into the recording of each pause (silence)")
    audio_url: str = Field(description="where the file is downloaded (once completed)")


class RecordingControlIn(RequestModel):
    action: Literal["start", "pause", "resume", "stop"]


class RecordingControlOut(ResponseModel):
    id: str
    call_id: str
    state: str = Field(description="recording, paused or stopped")
    started_at: Epoch
