"""Write-through of registrar bindings to the database, batched: REGISTERs arrive by
the thousand per second, so writes are coalesced into one transaction per flush."""

import dataclasses

from twisted.internet.defer import DeferredLock
from twisted.logger import Logger

from ...services.location import Binding
from ...services.registrar import stored_instance_id
from ...store import registrations

log = Logger()


class DatabaseBindingStore:
    def __init__(self, database, clock, node: str, flush_delay: float = 0.05,
                 max_batch: int = 1000):
        self._db = database
        self._clock = clock
        self._node = node
        self._flush_delay = flush_delay
        self._max_batch = max_batch
        self._saves: dict[tuple[str, str], Binding] = {}
        self._removals: set[tuple[str, str]] = set()
        self._call = None
        self._in_flight = None
        # One write at a time, in order: a save and a later removal of the same
        # binding must reach the database in that order.
        self._lock = DeferredLock()

    # BindingStore port ---------------------------------------------------------
    def save(self, bindings: list[Binding]) -> None:
        for binding in bindings:
            self._removals.discard(binding.key)
            self._saves[binding.key] = binding
        self._schedule()

    def remove(self, keys: list[tuple[str, str]]) -> None:
        for key in keys:
            self._saves.pop(key, None)
            self._removals.add(key)
        self._schedule()

    # ---------------------------------------------------------------------------
    def load(self, now: float):
        d = self._db.run("registrations.load_active", registrations.load_active, now)
        return d.addCallback(bindings_from_rows)

    def _schedule(self) -> None:
        if len(self._saves) + len(self._removals) >= self._max_batch:
            self.flush()
        elif self._call is None:
            self._call = self._clock.callLater(self._flush_delay, self.flush)

    def flush(self):
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call = None
        if not self._saves and not self._removals:
            return self._in_flight
        rows = [self._row(b) for b in self._saves.values()]
        removals = list(self._removals)
        self._saves, self._removals = {}, set()

        def write(conn):
            if removals:
                registrations.delete_bindings(conn, removals)
            if rows:
                registrations.upsert_bindings(conn, rows)

        d = self._lock.run(self._db.run, "registrations.write", write)
        d.addErrback(lambda f: log.failure("writing {n} bindings failed", f, n=len(rows)))
        self._in_flight = d
        return d

    def _row(self, binding: Binding) -> dict:
        row = dataclasses.asdict(binding)
        row["path"] = list(binding.path) or None
        row["node"] = self._node
        return row


_BINDING_FIELDS = frozenset(f.name for f in dataclasses.fields(Binding))


def bindings_from_rows(rows: list[dict]) -> list[Binding]:
    bindings = []
    for row in rows:
        values = {k: v for k, v in row.items() if k in _BINDING_FIELDS}
        values["path"] = tuple(values.get("path") or ())
        values["instance_id"] = stored_instance_id(values.get("instance_id"))
        bindings.append(Binding(**values))
    return bindings
