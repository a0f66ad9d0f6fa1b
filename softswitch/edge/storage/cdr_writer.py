"""Writes call records in batches (a call end never waits on the database)."""

import dataclasses

from twisted.internet.defer import DeferredLock
from twisted.logger import Logger

from ...store.call_records import insert_records

log = Logger()


def _fields(record_type) -> tuple[str, ...]:
    names = _FIELD_NAMES.get(record_type)
    if names is None:
        names = _FIELD_NAMES[record_type] = tuple(
            f.name for f in dataclasses.fields(record_type))
    return names


_FIELD_NAMES: dict = {}


class CdrWriter:
    def __init__(self, database, clock, flush_delay: float = 0.25, max_batch: int = 500,
                 recording_of=None):
        self._db = database
        # recording_of(call_id): the call's last recording id, or None
        # (services.recordings.Recordings.take_recording_id).
        self._recording_of = recording_of
        self._clock = clock
        self._flush_delay = flush_delay
        self._max_batch = max_batch
        self._pending: list[dict] = []
        self._call = None
        self._lock = DeferredLock()

    def __call__(self, record) -> None:
        # Shallow: the stats inside are plain dicts already (asdict would deep-copy).
        row = {name: getattr(record, name) for name in _fields(type(record))}
        row["caller"], row["callee"] = row["caller"] or "", row["callee"] or ""
        if self._recording_of is not None:
            row["recording_id"] = self._recording_of(row["call_id"])
        self._pending.append(row)
        if len(self._pending) >= self._max_batch:
            self.flush()
        elif self._call is None:
            self._call = self._clock.callLater(self._flush_delay, self.flush)

    def flush(self):
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call = None
        rows, self._pending = self._pending, []
        if not rows:
            return None
        d = self._lock.run(self._db.run, "cdrs.insert", insert_records, rows)
        d.addErrback(lambda f: log.failure("writing {n} call records failed", f, n=len(rows)))
        return d
