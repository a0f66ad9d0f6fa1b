"""Reloads the routing snapshot: rows are read and the snapshot is built on the
database thread, then swapped in on the reactor thread in one assignment.

`reload()` fires once a snapshot read *after* the call is live, which is what the
admin API waits for before it answers a write (read-your-writes). Reloads coalesce:
one runs at a time, and every request made while it runs shares the next one, so a
burst of writes costs two rebuilds, not one each."""

from twisted.internet.defer import Deferred
from twisted.logger import Logger

from ...services.routing import snapshot_from_rows
from ...store.snapshot import load_routing_rows
from .gateway_resolver import GatewayResolver

log = Logger()


class SnapshotLoader:
    """`resolver` turns gateway host names into addresses (DNS SRV, A/AAAA); the
    default one uses the system's DNS servers."""

    def __init__(self, database, holder, on_loaded=(), resolver: GatewayResolver | None = None):
        self._db = database
        self._holder = holder
        self.on_loaded = list(on_loaded)
        self._version = 0
        self._resolver = resolver if resolver is not None else GatewayResolver()
        self._running: list[Deferred] | None = None  # waiters of the reload in flight
        self._queued: list[Deferred] | None = None  # waiters of the one after it

    def load_now(self) -> None:
        """Synchronous load for start-up, before the reactor runs."""
        self._version += 1
        rows = self._db.run_sync(load_routing_rows)
        self._swap(self._build(rows, self._version))

    def reload(self) -> Deferred:
        """Fires (with None, never an error: a failure is logged and the timer's next
        reload tries again) once the snapshot holds what was committed before."""
        waiter = Deferred()
        if self._running is None:
            self._start([waiter])
        elif self._queued is None:
            self._queued = [waiter]
        else:
            self._queued.append(waiter)
        return waiter

    def _start(self, waiters: list[Deferred]) -> None:
        self._running = waiters
        self._version += 1
        d = self._db.run("routing.snapshot", load_routing_rows)
        # DNS after the transaction: a slow DNS server must not hold a connection.
        d.addCallback(lambda rows, version: self._db.run_blocking(
            "routing.resolve", self._build, rows, version), self._version)
        d.addCallback(self._swap)
        d.addErrback(lambda f: log.failure("reloading the routing snapshot failed", f))
        d.addBoth(self._finished)

    def _finished(self, _) -> None:
        waiters, self._running = self._running, None
        if self._queued is not None:
            queued, self._queued = self._queued, None
            self._start(queued)
        for waiter in waiters:
            waiter.callback(None)

    def _build(self, rows, version):
        # Runs on a database thread, where a blocking name lookup stalls no call.
        return snapshot_from_rows(rows, version, expand=self._resolver.expand)

    def _swap(self, snapshot) -> None:
        if snapshot.version < self._holder.current.version:
            return  # an older read finished after a newer one
        self._holder.replace(snapshot)
        for callback in self.on_loaded:
            callback(snapshot)
