"""Admin API benchmark: list and create through the real HTTP stack, 10,000 numbers.

    python bench/bench_admin.py                                   # SQLite in a temp dir
    python bench/bench_admin.py --db-url postgresql+psycopg://u:p@127.0.0.1/postgres

With a PostgreSQL URL the benchmark creates a throw-away database on that
server and drops it at the end. It seeds --numbers numbers (each routed to an
agent, then a trunk), then measures, over loopback with a real client:
- the latency of a page of 100 numbers (median, p95), at cursors spread over the set;
- create latency and throughput (POST /v1/numbers), one at a time and 8 in flight,
  with the routing snapshot wired as tap.py wires it: a 201 goes out once the
  snapshot the next call reads holds the number (checked for each create);
- the longest reactor stall seen meanwhile (a 5 ms ticker's lateness).
Target (issue 3): a page of 100 numbers in < 20 ms median.
"""

import argparse
import io
import json
import os
import random
import secrets
import shutil
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import sqlalchemy as sa  # noqa: E402
from twisted.internet import defer, task  # noqa: E402
from twisted.web.client import (  # noqa: E402
    Agent,
    FileBodyProducer,
    HTTPConnectionPool,
    readBody,
)
from twisted.web.http_headers import Headers  # noqa: E402

from softswitch.admin.api import build_api  # noqa: E402
from softswitch.edge.admin.site import build_root, build_site  # noqa: E402
from softswitch.edge.storage.snapshot_loader import SnapshotLoader  # noqa: E402
from softswitch.services.routing import SnapshotHolder  # noqa: E402
from softswitch.metrics import Metrics  # noqa: E402
from softswitch.store import agents, migrate, numbers, tokens, trunks  # noqa: E402
from softswitch.store.database import Database  # noqa: E402
from softswitch.store.tables import numbers as numbers_table  # noqa: E402
from softswitch.store.tables import route_targets  # noqa: E402

TOKEN = "bench-token-0123456789abcdefghijklmnop"  # 32+ characters, as at start-up


class StallMeter:
    """The worst lateness of a 5 ms LoopingCall: how long the reactor was blocked."""

    def __init__(self, reactor, interval=0.005):
        self.worst = 0.0
        self._interval = interval
        self._last = time.perf_counter()
        self._loop = task.LoopingCall(self._tick)
        self._loop.clock = reactor

    def start(self):
        self._last = time.perf_counter()
        self._loop.start(self._interval, now=False)

    def stop(self):
        self._loop.stop()

    def _tick(self):
        now = time.perf_counter()
        self.worst = max(self.worst, now - self._last - self._interval)
        self._last = now


def seed(conn, count: int) -> None:
    agent_id = agents.create_agent(conn, {
        "name": "bench-bot", "url": "wss://agent.example/ws", "profile": "twilio",
        "sample_rate": 8000, "region_id": None, "headers": {}, "secret_headers": {},
        "custom_parameters": {}})["id"]
    trunk_id = trunks.create_trunk(conn, {
        "name": "bench-trunk", "inbound_allowed_sources": [], "auth_username": None,
        "auth_password": None, "register": False, "max_concurrent": None, "max_cps": None,
        "number_format": "e164", "enabled": True}, [])["id"]
    now = time.time()
    rows = [{"number": f"+1415{i:07d}", "description": None, "enabled": True,
             "created_at": now, "updated_at": now} for i in range(count)]
    conn.execute(numbers_table.insert(), rows)
    ids = [row.id for row in conn.execute(sa.select(numbers_table.c.id))]
    targets = []
    for number_id in ids:
        targets.append({"number_id": number_id, "position": 0, "kind": "agent",
                        "agent_id": agent_id, "user_id": None, "trunk_id": None,
                        "reject_code": None, "created_at": now, "updated_at": now})
        targets.append({"number_id": number_id, "position": 1, "kind": "trunk",
                        "agent_id": None, "user_id": None, "trunk_id": trunk_id,
                        "reject_code": None, "created_at": now, "updated_at": now})
    conn.execute(route_targets.insert(), targets)


class Client:
    def __init__(self, reactor, base: str):
        self.pool = HTTPConnectionPool(reactor, persistent=True)
        self.pool.maxPersistentPerHost = 16
        self.agent = Agent(reactor, pool=self.pool)
        self.base = base

    @defer.inlineCallbacks
    def call(self, method: str, path: str, body=None):
        headers = Headers({"authorization": [f"Bearer {TOKEN}"]})
        producer = None
        if body is not None:
            producer = FileBodyProducer(io.BytesIO(json.dumps(body).encode()))
        response = yield self.agent.request(method.encode(), (self.base + path).encode(),
                                            headers, producer)
        payload = yield readBody(response)
        return response.code, payload


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


@defer.inlineCallbacks
def measure(reactor, url: str, count: int, pages: int, creates: int):
    migrate.upgrade(url)
    database = Database(url, reactor)
    database.run_sync(tokens.ensure_bootstrap_token, TOKEN)
    started = time.perf_counter()
    database.run_sync(seed, count)
    print(f"seeded {database.run_sync(numbers.count_numbers)} numbers "
          f"in {time.perf_counter() - started:.2f} s")
    database.start()
    holder = SnapshotHolder()
    loader = SnapshotLoader(database, holder)
    loader.load_now()

    def on_change(kind):  # as tap.py: the answer waits for the reload
        return loader.reload() if kind != "tokens" else None
    api = build_api(database, reactor, domain="bench.test", metrics=Metrics(),
                    on_change=on_change)
    site = build_site(build_root(Metrics().registry, lambda: {"status": "ok"}, api), api,
                      reactor)
    port = reactor.listenTCP(0, site, interface="127.0.0.1")
    client = Client(reactor, f"http://127.0.0.1:{port.getHost().port}")
    stalls = StallMeter(reactor)
    stalls.start()
    try:
        # Cursors spread over the whole set (keyset pagination makes depth free).
        cursors = [None]
        after = None
        while len(cursors) < count // 100:
            status, payload = yield client.call("GET", "/v1/numbers?limit=100"
                                                + (f"&after={after}" if after else ""))
            after = json.loads(payload)["next"]
            if after is None:
                break
            cursors.append(after)
        print(f"walked {len(cursors)} pages; longest reactor stall so far "
              f"{stalls.worst * 1000:.1f} ms")
        stalls.worst = 0.0
        latencies = []
        rng = random.Random(1)
        for _ in range(pages):
            cursor = rng.choice(cursors)
            path = "/v1/numbers?limit=100" + (f"&after={cursor}" if cursor else "")
            begun = time.perf_counter()
            status, payload = yield client.call("GET", path)
            latencies.append(time.perf_counter() - begun)
            assert status == 200 and len(json.loads(payload)["items"]) == 100, status
        print(f"list 100 numbers: median {statistics.median(latencies) * 1000:.1f} ms, "
              f"p95 {percentile(latencies, 0.95) * 1000:.1f} ms, "
              f"max {max(latencies) * 1000:.1f} ms over {pages} requests; "
              f"longest reactor stall {stalls.worst * 1000:.1f} ms")
        stalls.worst = 0.0

        def body(i):
            return {"number": f"+4420{i:08d}", "route": [
                {"type": "agent", "agent": "bench-bot"}, {"type": "trunk", "trunk": "bench-trunk"}]}
        begun = time.perf_counter()
        latencies = []
        for i in range(creates):
            sent = time.perf_counter()
            status, payload = yield client.call("POST", "/v1/numbers", body(i))
            latencies.append(time.perf_counter() - sent)
            assert status == 201, payload
            assert holder.current.number(body(i)["number"]) is not None, "not live at its 201"
        serial = creates / (time.perf_counter() - begun)
        print(f"create latency (201 once routable), {len(holder.current)} numbers: median "
              f"{statistics.median(latencies) * 1000:.0f} ms, "
              f"p95 {percentile(latencies, 0.95) * 1000:.0f} ms, "
              f"max {max(latencies) * 1000:.0f} ms")
        begun = time.perf_counter()
        pending = set()
        for i in range(creates, 2 * creates):
            d = client.call("POST", "/v1/numbers", body(i))
            pending.add(d)
            d.addBoth(lambda result, d=d: (pending.discard(d), result)[1])
            if len(pending) >= 8:
                yield defer.DeferredList(list(pending), fireOnOneCallback=True)
        yield defer.gatherResults(list(pending))
        parallel = creates / (time.perf_counter() - begun)
        print(f"create: {serial:.0f} numbers/s one at a time, {parallel:.0f} numbers/s "
              f"8 in flight ({creates} each)")
        print(f"longest reactor stall while creating: {stalls.worst * 1000:.1f} ms")
    finally:
        stalls.stop()
        yield client.pool.closeCachedConnections()
        yield port.stopListening()
        database.stop()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db-url", help="SQLAlchemy URL; PostgreSQL gets a temporary database")
    parser.add_argument("--numbers", type=int, default=10_000)
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--creates", type=int, default=500)
    args = parser.parse_args(argv)

    cleanup = []
    if args.db_url is None or args.db_url.startswith("sqlite"):
        directory = tempfile.mkdtemp(prefix="softswitch-bench-")
        cleanup.append(lambda: shutil.rmtree(directory, True))
        url = args.db_url or f"sqlite:///{directory}/bench.sqlite3"
    else:
        server = sa.create_engine(args.db_url, isolation_level="AUTOCOMMIT")
        name = f"softswitch_bench_{secrets.token_hex(4)}"
        with server.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')

        def drop():
            with server.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            server.dispose()
        cleanup.append(drop)
        url = sa.make_url(args.db_url).set(database=name).render_as_string(hide_password=False)
    print(f"database: {sa.make_url(url).render_as_string(hide_password=True)}")
    try:
        task.react(lambda reactor: measure(reactor, url, args.numbers, args.pages, args.creates))
    finally:
        for step in cleanup:
            step()


if __name__ == "__main__":
    main()
