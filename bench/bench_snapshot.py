"""Routing snapshot reload with N numbers: how long a reload takes and the longest
stall the reactor sees meanwhile (the read and the build run on the database thread).

    python bench/bench_snapshot.py [--numbers 10000] [--db-url URL] [--reloads 10]
"""

import argparse
import gc
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa
from twisted.internet import defer, reactor, task

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from softswitch.edge.storage.snapshot_loader import SnapshotLoader  # noqa: E402
from softswitch.services.routing import SnapshotHolder  # noqa: E402
from softswitch.store import migrate  # noqa: E402
from softswitch.store.database import Database, create_engine  # noqa: E402
from softswitch.store.tables import numbers, route_targets, trunks  # noqa: E402


def populate(url: str, count: int) -> None:
    migrate.upgrade(url)
    engine = create_engine(url)
    now = time.time()
    stamp = {"created_at": now, "updated_at": now}
    with engine.begin() as conn:
        conn.execute(sa.delete(route_targets))
        conn.execute(sa.delete(numbers))
        conn.execute(sa.delete(trunks).where(trunks.c.name == "bench"))
        trunk_id = conn.execute(sa.insert(trunks).values(
            name="bench", inbound_allowed_sources=[], register=False, number_format="e164",
            enabled=True, **stamp).returning(trunks.c.id)).scalar_one()
        conn.execute(sa.insert(numbers), [
            {"number": f"+1415{i:07d}", "enabled": True, **stamp} for i in range(count)])
        ids = conn.execute(sa.select(numbers.c.id)).scalars().all()
        conn.execute(sa.insert(route_targets), [
            {"number_id": n, "position": 0, "kind": "trunk", "trunk_id": trunk_id, **stamp}
            for n in ids])
    engine.dispose()


class StallMeter:
    """A 1 ms heartbeat: the longest gap between beats is the longest reactor stall."""

    def __init__(self):
        self.last = time.perf_counter()
        self.longest = 0.0
        self.loop = task.LoopingCall(self.beat)

    def beat(self):
        now = time.perf_counter()
        self.longest = max(self.longest, now - self.last)
        self.last = now


@defer.inlineCallbacks
def run(args):
    url = args.db_url or f"sqlite:///{tempfile.mkdtemp()}/bench.db"
    populate(url, args.numbers)
    database = Database(url, reactor)
    database.start()
    if not args.no_freeze:
        gc.collect()
        gc.freeze()  # as tap.py does after start-up
    holder = SnapshotHolder()
    loader = SnapshotLoader(database, holder)
    yield loader.reload()  # warm-up
    meter = StallMeter()
    meter.loop.start(0.001)
    durations = []
    for _ in range(args.reloads):
        meter.longest, meter.last = 0.0, time.perf_counter()
        started = time.perf_counter()
        yield loader.reload()
        durations.append(time.perf_counter() - started)
    meter.loop.stop()
    database.stop()
    durations.sort()
    print(f"database: {url.split(':')[0]}  numbers: {len(holder.current)}")
    print(f"reload: median {durations[len(durations) // 2] * 1000:.0f} ms, "
          f"max {durations[-1] * 1000:.0f} ms over {args.reloads} reloads")
    print(f"longest reactor stall during reloads: {meter.longest * 1000:.1f} ms")


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--numbers", type=int, default=10_000)
    parser.add_argument("--db-url", default=None)
    parser.add_argument("--reloads", type=int, default=10)
    parser.add_argument("--no-freeze", action="store_true",
                        help="leave start-up objects to the collector (tap.py freezes them)")
    args = parser.parse_args()
    d = run(args)
    d.addErrback(lambda f: (f.printTraceback(), None))
    d.addBoth(lambda _: reactor.stop())
    reactor.run()


if __name__ == "__main__":
    main()
