"""Reloads the routing snapshot: rows are read and the snapshot is built on the
database thread, then swapped in on the reactor thread in one assignment."""

from twisted.logger import Logger

from ..services.routing import snapshot_from_rows
from ..store.snapshot import load_routing_rows

log = Logger()


class SnapshotLoader:
    def __init__(self, database, holder, on_loaded=()):
        self._db = database
        self._holder = holder
        self.on_loaded = list(on_loaded)
        self._version = 0

    def load_now(self) -> None:
        """Synchronous load for start-up, before the reactor runs."""
        self._version += 1
        self._swap(self._db.run_sync(self._build, self._version))

    def reload(self):
        self._version += 1
        d = self._db.run("routing.snapshot", self._build, self._version)
        d.addCallback(self._swap)
        d.addErrback(lambda f: log.failure("reloading the routing snapshot failed", f))
        return d

    @staticmethod
    def _build(conn, version):
        return snapshot_from_rows(load_routing_rows(conn), version)

    def _swap(self, snapshot) -> None:
        if snapshot.version < self._holder.current.version:
            return  # an older read finished after a newer one
        self._holder.replace(snapshot)
        for callback in self.on_loaded:
            callback(snapshot)
