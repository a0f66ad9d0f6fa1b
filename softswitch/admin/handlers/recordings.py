"""/v1/recordings: the call recordings (services.recordings), newest first, with
their audio; and /v1/calls/{call_id}/recording, which starts, pauses, resumes or
stops the recording of a call in progress on this switch."""

import os

from softswitch.admin.errors import ApiError, not_found
from softswitch.admin.handlers.common import no_content, page
from softswitch.admin.resource import FileBody, Reply
from softswitch.admin.router import Route
from softswitch.admin.schemas.common import Page
from softswitch.admin.schemas.recordings import (
    RecordingControlIn,
    RecordingControlOut,
    RecordingListQuery,
    RecordingOut,
)
from softswitch.store import recordings as store

ITEM = "/v1/recordings/{recording_id}"
WAV = b"audio/wav"


def _out(row: dict) -> dict:
    out = {key: row.get(key) for key in RecordingOut.model_fields if key != "audio_url"}
    out["audio_url"] = f"/v1/recordings/{row['id']}/audio"
    return out


def _cursor(row: dict) -> str:
    return f"{float(row['started_at'])!r}/{row['id']}"


def list_recordings(ctx, call):
    query = call.query
    before = None
    if query.after is not None:
        started_at, _, recording_id = query.after.partition("/")
        before = (float(started_at), recording_id)
    d = ctx.run("recordings.list", store.list_recordings, call_id=query.call_id,
                before=before, limit=query.limit + 1)
    return d.addCallback(page, query.limit, _cursor, _out)


def _row(ctx, recording_id: str):
    def found(row):
        if row is None:
            raise not_found("recording", recording_id)
        return row
    return ctx.run("recordings.get", store.get_recording, recording_id).addCallback(found)


def get_recording(ctx, call):
    return _row(ctx, call.params["recording_id"]).addCallback(_out)


def get_audio(ctx, call):
    recording_id = call.params["recording_id"]

    def send(row):
        if row["state"] not in ("completed", "failed"):
            raise ApiError(409, f"recording {recording_id!r} is still {row['state']}; its "
                                "audio can be downloaded once it has stopped")
        try:
            handle = open(row["file_path"], "rb")
        except OSError:
            raise ApiError(404, f"the file of recording {recording_id!r} is gone") from None
        size = os.fstat(handle.fileno()).st_size
        name = f'attachment; filename="{recording_id}.wav"'
        return Reply(FileBody(handle, WAV, size), 200, {"Content-Disposition": name})

    return _row(ctx, recording_id).addCallback(send)


def delete_recording(ctx, call):
    recording_id = call.params["recording_id"]

    def remove(row):
        recordings = ctx.recordings
        if recordings is not None and recordings.in_progress(recording_id):
            raise ApiError(409, f"recording {recording_id!r} is in progress; stop it first "
                                f"(POST /v1/calls/{{call_id}}/recording)")
        if recordings is not None:
            return recordings.delete(recording_id, row["file_path"])
        return ctx.database.run_blocking("recordings.unlink", _unlink, row["file_path"]) \
            .addCallback(lambda _: ctx.run("recordings.delete", store.delete_recording,
                                           recording_id))

    return _row(ctx, recording_id).addCallback(remove).addCallback(no_content)


def _unlink(path: str) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


def control(ctx, call):
    call_id = call.params["call_id"]
    recordings = ctx.recordings
    if recordings is None:
        raise ApiError(404, f"call {call_id!r} is not in progress here, or cannot be recorded")
    action = getattr(recordings, call.body.action)
    try:
        return action(call_id)
    except Exception as exc:
        status = getattr(exc, "status", None)
        if status is None:
            raise
        raise ApiError(status, str(exc)) from None


def routes() -> list[Route]:
    tag = "recordings"
    return [
        Route("GET", "/v1/recordings", list_recordings, query_model=RecordingListQuery,
              response_model=Page[RecordingOut], summary="List call recordings, newest first",
              tag=tag),
        Route("GET", ITEM, get_recording, response_model=RecordingOut,
              summary="Get a recording's metadata", tag=tag),
        Route("GET", ITEM + "/audio", get_audio,
              summary="Download a recording's audio (WAV, caller left, other side right)",
              tag=tag),
        Route("DELETE", ITEM, delete_recording, status=204,
              summary="Delete a recording and its file", tag=tag),
        Route("POST", "/v1/calls/{call_id}/recording", control, body_model=RecordingControlIn,
              response_model=RecordingControlOut,
              summary="Start, pause, resume or stop the recording of a call in progress",
              tag=tag),
    ]
