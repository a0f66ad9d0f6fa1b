"""Call recording policy: which calls are recorded, start / pause / resume / stop,
the recordings' rows, and the retention sweep.

A call that can be recorded is announced by its edge with a `RecordingSource`
(`call_began`): the call's G.711 law, its media clock (`next_slot(now)`, the 20 ms
slot due next) and a place for the tap (`attach(recorder)`; the source then copies
each frame into the `media.recording.SlotRecorder`, and nothing else). The call's
policy (`record`: its number's or its agent's `record` switch) starts a recording at
once; the API and the agent's control messages start, pause, resume and stop one
(`start`, `pause`, `resume`, `stop` by Call-ID). `call_ended` stops what is still
running; the call record then takes the last recording's id (`take_recording_id`).

The ports: `store` (rows, on the database's threads) and `writer` (files, on the
writer's thread), both returning Deferreds; nothing here waits for them. A recording's
row is written when it starts and updated as it changes; its file is complete when
the row says "completed" (with its duration and size), or "failed" when the file
could not be written.

Retention: `sweep()` (every `sweep_interval`) deletes the files and rows of
recordings that ended more than `retention_days` ago (0: kept for ever).
"""

import os
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Protocol

from twisted.internet import defer
from twisted.logger import Logger

from ..media.recording import (
    FRAME_MS,
    PAUSED,
    RECORDING,
    SILENCE_CODES,
    SlotRecorder,
)

log = Logger()
MAX_RECORDINGS_PER_CALL = 20  # start/stop cycles of one call (each is a file)
MAX_ENDED_KEPT = 10_000  # ended calls whose recording id the call record has not taken
SWEEP_BATCH = 500
DAY = 86400.0


class RecordingError(Exception):
    """A control request that cannot be honoured; `status` is the HTTP status the
    admin API answers with (404 no such call, 409 not in that state)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class RecordingSource(Protocol):
    law: str  # "PCMU" or "PCMA"

    def next_slot(self, now: float) -> int: ...

    def attach(self, recorder: SlotRecorder | None) -> None: ...


@dataclass
class _Live:
    """A call that can be recorded, and its recording in progress (if any)."""

    source: RecordingSource
    recorder: SlotRecorder | None = None
    recording_id: str | None = None
    started_at: float = 0.0
    count: int = 0
    last_id: str | None = None
    path: str = ""
    closing: list = field(default_factory=list)


@dataclass(frozen=True)
class RecordingSettings:
    directory: str = "var/recordings"
    retention_days: float = 30.0  # 0: kept until deleted over the API
    sweep_interval: float = 3600.0  # seconds between retention sweeps
    max_queue: int = 2000  # file jobs waiting for the writer; chunks past it are dropped


class Recordings:
    def __init__(self, clock, store, writer, settings: RecordingSettings = RecordingSettings(),
                 new_id=None, node: str | None = None):
        self._clock = clock
        self._node = node  # this switch node's name, on its recordings' rows
        self._store = store
        self._writer = writer
        self._settings = settings
        self._new_id = new_id or (lambda: "RE" + os.urandom(16).hex())
        self._calls: dict[str, _Live] = {}
        self._ended: OrderedDict[str, str] = OrderedDict()
        self.closing: set = set()  # Deferreds of files being completed (for shutdown)

    # -- calls come and go ---------------------------------------------------------------
    def call_began(self, call_id: str, source: RecordingSource, *, record: bool) -> None:
        self._calls[call_id] = _Live(source)
        if record:
            try:
                self.start(call_id)
            except RecordingError as exc:  # (only if the call was announced twice)
                log.warn("recording call {call_id}: {error}", call_id=call_id, error=exc)

    def call_ended(self, call_id: str) -> None:
        live = self._calls.pop(call_id, None)
        if live is None:
            return
        if live.recorder is not None:
            self._finish(call_id, live)
        if live.last_id is not None:
            self._ended[call_id] = live.last_id
            while len(self._ended) > MAX_ENDED_KEPT:
                self._ended.popitem(last=False)

    def take_recording_id(self, call_id: str) -> str | None:
        """The last recording of an ended call, once (for its call record)."""
        return self._ended.pop(call_id, None)

    def active(self) -> int:
        return sum(1 for live in self._calls.values() if live.recorder is not None)

    def state_of(self, call_id: str) -> dict | None:
        """The call's recording in progress: {"id", "state"}, or None."""
        live = self._calls.get(call_id)
        if live is None or live.recorder is None:
            return None
        return {"id": live.recording_id, "state": live.recorder.state}

    # -- control (API, agent messages) -----------------------------------------------------
    def start(self, call_id: str) -> dict:
        live = self._live(call_id)
        if live.recorder is not None:
            raise RecordingError(409, f"call {call_id!r} is already being recorded "
                                      f"({live.recording_id})")
        if live.count >= MAX_RECORDINGS_PER_CALL:
            raise RecordingError(409, f"call {call_id!r} has had {live.count} recordings, "
                                      "the most one call may have")
        now = self._clock.seconds()
        recording_id = self._new_id()
        law = live.source.law
        path = self._path(recording_id, now)
        writer = self._writer
        live.recorder = SlotRecorder(live.source.next_slot(now),
                                     lambda chunk: writer.write(recording_id, chunk),
                                     SILENCE_CODES[law])
        live.recording_id = live.last_id = recording_id
        live.started_at = now
        live.path = path
        live.count += 1
        writer.open(recording_id, path, law).addErrback(lambda f: None)  # (logged there)
        live.source.attach(live.recorder)
        row = {"id": recording_id, "call_id": call_id, "file_path": path, "format": "wav",
               "channels": 2, "sample_rate": 8000, "state": RECORDING, "started_at": now,
               "node": self._node}
        self._store.insert(row).addErrback(self._store_failed, "inserting", recording_id)
        return self._view(call_id, live)

    def pause(self, call_id: str) -> dict:
        live = self._live(call_id)
        recorder = live.recorder
        if recorder is None or not recorder.pause(live.source.next_slot(self._clock.seconds())):
            raise RecordingError(409, f"call {call_id!r} has no recording running to pause")
        self._update(live.recording_id, {"state": PAUSED})
        return self._view(call_id, live)

    def resume(self, call_id: str) -> dict:
        live = self._live(call_id)
        recorder = live.recorder
        if recorder is None or not recorder.resume(live.source.next_slot(self._clock.seconds())):
            raise RecordingError(409, f"call {call_id!r} has no paused recording to resume")
        self._update(live.recording_id, {"state": RECORDING, "pauses": self._pauses(recorder)})
        return self._view(call_id, live)

    def stop(self, call_id: str) -> dict:
        live = self._live(call_id)
        if live.recorder is None:
            raise RecordingError(409, f"call {call_id!r} is not being recorded")
        view = self._view(call_id, live)
        self._finish(call_id, live)
        return {**view, "state": "stopped"}

    def control(self, call_id: str, action: str) -> str | None:
        """`action` ("start", "pause", "resume" or "stop") from the call's agent: None
        when done, else why not."""
        if action not in ("start", "pause", "resume", "stop"):
            return f"no such action {action!r}"
        try:
            getattr(self, action)(call_id)
        except RecordingError as exc:
            return str(exc)
        return None

    # -- retention ---------------------------------------------------------------------------
    def sweep(self):
        """Delete what has outlived the retention: a Deferred of how many were deleted."""
        days = self._settings.retention_days
        if days <= 0:
            return defer.succeed(0)
        cutoff = self._clock.seconds() - days * DAY

        def delete(rows):
            return defer.gatherResults([self.delete(row["id"], row["file_path"])
                                        for row in rows], consumeErrors=True)

        d = self._store.expired(cutoff, SWEEP_BATCH)
        d.addCallback(delete)
        d.addCallback(len)
        d.addErrback(lambda f: log.failure("the recording retention sweep failed", f) or 0)
        return d

    def delete(self, recording_id: str, path: str):
        """Remove the file, then the row (a Deferred)."""
        d = self._writer.delete(path)
        d.addCallback(lambda _: self._store.delete(recording_id))
        return d

    def in_progress(self, recording_id: str) -> bool:
        return any(live.recording_id == recording_id for live in self._calls.values())

    # -- internals -------------------------------------------------------------------------
    def _live(self, call_id: str) -> _Live:
        live = self._calls.get(call_id)
        if live is None:
            raise RecordingError(404, f"call {call_id!r} is not in progress here, or cannot "
                                      "be recorded")
        return live

    def _finish(self, call_id: str, live: _Live) -> None:
        recorder, recording_id = live.recorder, live.recording_id
        now = self._clock.seconds()
        slots = recorder.stop(live.source.next_slot(now))
        live.source.attach(None)
        live.recorder = live.recording_id = None
        pauses = self._pauses(recorder)

        def completed(result):
            size, written = result
            return {"state": "completed", "ended_at": now, "size": size,
                    "duration": written * FRAME_MS / 1000, "pauses": pauses}

        def failed(failure):
            return {"state": "failed", "ended_at": now, "pauses": pauses}

        d = self._writer.close(recording_id, slots)
        d.addCallbacks(completed, failed)
        d.addCallback(lambda changes: self._store.update(recording_id, changes))
        d.addErrback(self._store_failed, "completing", recording_id)
        self.closing.add(d)
        d.addBoth(lambda _: self.closing.discard(d))

    def _update(self, recording_id: str, changes: dict) -> None:
        self._store.update(recording_id, changes).addErrback(
            self._store_failed, "updating", recording_id)

    def _store_failed(self, failure, what: str, recording_id: str) -> None:
        log.failure("{what} recording {id} failed", failure, what=what, id=recording_id)

    def _path(self, recording_id: str, now: float) -> str:
        day = datetime.fromtimestamp(now, timezone.utc).strftime("%Y-%m-%d")
        return os.path.join(self._settings.directory, day, recording_id + ".wav")

    @staticmethod
    def _pauses(recorder: SlotRecorder) -> list:
        return [[start * FRAME_MS / 1000, end * FRAME_MS / 1000]
                for start, end in recorder.pauses]

    @staticmethod
    def _view(call_id: str, live: _Live) -> dict:
        return {"id": live.recording_id, "call_id": call_id, "state": live.recorder.state,
                "started_at": live.started_at}
