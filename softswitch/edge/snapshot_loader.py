"""Reloads the routing snapshot: rows are read and the snapshot is built on the
database thread, then swapped in on the reactor thread in one assignment."""

import socket

from twisted.logger import Logger

from ..services.routing import snapshot_from_rows
from ..store.snapshot import load_routing_rows

log = Logger()


def resolve_host(host: str) -> str | None:
    """The first address of a gateway's host name (A, then AAAA), or None."""
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_DGRAM)
    except OSError as exc:
        log.warn("gateway host {host} does not resolve: {error}", host=host, error=exc)
        return None
    infos.sort(key=lambda info: info[0] != socket.AF_INET)
    return infos[0][4][0] if infos else None


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
        # Runs on the database thread, where a blocking name lookup stalls no call.
        return snapshot_from_rows(load_routing_rows(conn), version, resolve=resolve_host)

    def _swap(self, snapshot) -> None:
        if snapshot.version < self._holder.current.version:
            return  # an older read finished after a newer one
        self._holder.replace(snapshot)
        for callback in self.on_loaded:
            callback(snapshot)
