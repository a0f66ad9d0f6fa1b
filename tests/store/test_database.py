"""Database: transactions on a real thread pool, results back on the reactor.

The run() tests are trial TestCases: trial spins the real reactor and waits
on the Deferred each test returns. Every Database is stopped in cleanup, so
no pool thread outlives its test.
"""

import threading

import pytest
import sqlalchemy as sa
from twisted.application.service import MultiService
from twisted.internet import defer, reactor
from twisted.trial.unittest import TestCase

from softswitch.store.database import Database, DatabaseService, DatabaseStopped
from softswitch.store.tables import metadata, numbers


class Boom(Exception):
    pass


def add_number(conn, number):
    conn.execute(numbers.insert().values(number=number, enabled=True))
    return number


def count_numbers(conn):
    return conn.execute(sa.select(sa.func.count()).select_from(numbers)).scalar()


def pool_threads():
    return [t for t in threading.enumerate() if t.name.startswith("PoolThread-database")]


class DatabaseRunContract:
    """run() behaviour every backend must show; subclasses provide self.url."""

    url: str

    def setUp(self):
        self.observed = []
        self.database = Database(
            self.url, reactor, observe=lambda *args: self.observed.append(args)
        )
        self.database.start()
        self.addCleanup(self.database.stop)

    @defer.inlineCallbacks
    def test_fn_runs_on_a_pool_thread_and_the_result_arrives_on_the_reactor(self):
        def where(conn, tag):
            return tag, threading.current_thread()

        tag, worker = yield self.database.run("where", where, "t1")
        self.assertEqual(tag, "t1")
        self.assertIsNot(worker, threading.main_thread())
        self.assertIs(threading.current_thread(), threading.main_thread())

    @defer.inlineCallbacks
    def test_a_failing_fn_leaves_nothing_written(self):
        def insert_then_fail(conn):
            add_number(conn, "+15550001")
            raise Boom("after the insert")

        yield self.assertFailure(self.database.run("half", insert_then_fail), Boom)
        remaining = yield self.database.run("count", count_numbers)
        self.assertEqual(remaining, 0)

    @defer.inlineCallbacks
    def test_the_observer_sees_each_run_with_its_outcome(self):
        yield self.database.run("add_number", add_number, number="+15550002")
        yield self.assertFailure(self.database.run("boom", _raise_boom), Boom)
        self.assertEqual([(d, ok) for d, _, ok in self.observed],
                         [("add_number", True), ("boom", False)])
        self.assertTrue(all(seconds >= 0 for _, seconds, _ in self.observed))

    @defer.inlineCallbacks
    def test_a_broken_observer_does_not_change_the_result(self):
        def broken(*_):
            raise RuntimeError("metrics down")

        database = Database(self.url, reactor, observe=broken)
        database.start()
        self.addCleanup(database.stop)
        number = yield database.run("add_number", add_number, "+15550003")
        self.assertEqual(number, "+15550003")
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)

    @defer.inlineCallbacks
    def test_many_concurrent_runs_all_commit(self):
        numbers_added = [f"+1555010{i:02d}" for i in range(40)]
        results = yield defer.gatherResults([
            self.database.run("add_number", add_number, number) for number in numbers_added
        ])
        self.assertEqual(sorted(results), numbers_added)
        total = yield self.database.run("count", count_numbers)
        self.assertEqual(total, 40)

    def test_run_after_stop_fails_at_once(self):
        self.database.stop()
        self.assertEqual(pool_threads(), [])
        return self.assertFailure(self.database.run("late", count_numbers), DatabaseStopped)


def _raise_boom(conn):
    raise Boom()


@pytest.fixture
def _sqlite_case(request, sqlite_migrated_url):
    request.instance.url = sqlite_migrated_url


@pytest.fixture
def _postgresql_case(request, postgresql_migrated_url):
    request.instance.url = postgresql_migrated_url


@pytest.mark.usefixtures("_sqlite_case")
class SQLiteRunTests(DatabaseRunContract, TestCase):
    pass


@pytest.mark.usefixtures("_postgresql_case")
@pytest.mark.postgres
class PostgreSQLRunTests(DatabaseRunContract, TestCase):
    pass


def test_run_sync_is_one_transaction(migrated_url):
    database = Database(migrated_url, reactor=None)
    try:
        def insert_then_fail(conn):
            add_number(conn, "+15550001")
            raise Boom()

        with pytest.raises(Boom):
            database.run_sync(insert_then_fail)
        assert database.run_sync(count_numbers) == 0
        assert database.run_sync(add_number, "+15550002") == "+15550002"
        assert database.run_sync(count_numbers) == 1
    finally:
        database.stop()


def test_every_sqlite_connection_gets_the_pragmas(sqlite_migrated_url):
    database = Database(sqlite_migrated_url, reactor=None)
    try:
        with database.engine.connect() as conn:
            pragmas = {
                name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                for name in ("foreign_keys", "journal_mode", "busy_timeout")
            }
    finally:
        database.stop()
    assert pragmas == {"foreign_keys": 1, "journal_mode": "wal", "busy_timeout": 5000}


def test_in_memory_sqlite_is_one_shared_database():
    database = Database("sqlite://", reactor=None)
    try:
        database.run_sync(metadata.create_all)
        database.run_sync(add_number, "+15550001")
        assert database.run_sync(count_numbers) == 1
    finally:
        database.stop()


@pytest.mark.parametrize(
    "backend, max_threads, expected",
    [
        ("sqlite", None, 1),
        pytest.param("postgresql", None, 4, marks=pytest.mark.postgres),
        pytest.param("postgresql", 8, 8, marks=pytest.mark.postgres),
    ],
)
def test_pool_sizes_follow_the_threads(request, backend, max_threads, expected):
    url = request.getfixturevalue(f"{backend}_url")
    database = Database(url, reactor=None, max_threads=max_threads)
    try:
        assert (database.max_threads, database.engine.pool.size()) == (expected, expected)
    finally:
        database.stop()


def test_max_threads_must_be_positive(sqlite_url):
    with pytest.raises(ValueError):
        Database(sqlite_url, reactor=None, max_threads=0)


def test_the_service_starts_and_stops_the_pool(sqlite_migrated_url):
    database = Database(sqlite_migrated_url, reactor=None, min_threads=1)
    parent = MultiService()
    DatabaseService(database).setServiceParent(parent)
    parent.startService()
    try:
        assert len(pool_threads()) == 1
    finally:
        parent.stopService()
    assert pool_threads() == []
    with pytest.raises(DatabaseStopped):
        database.start()
