"""The database edge: a SQLAlchemy engine behind a Twisted thread pool.

Store code is plain synchronous functions taking a Connection. ``Database.run``
runs one of them on a pool thread inside a single transaction and hands the
result back to the reactor thread as a Deferred, so nothing on the reactor
ever blocks on the database, and no write is ever left half done.

The reactor is always passed in; this module never imports the global one.
"""

import time
from typing import Any, Callable

import sqlalchemy as sa
from twisted.application.service import Service
from twisted.internet import defer, threads
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool

from softswitch.store.migrate import create_private_sqlite_file

DEFAULT_POSTGRESQL_THREADS = 4
# SQLite allows one writer at a time, so more threads only queue on its lock.
DEFAULT_SQLITE_THREADS = 1
SQLITE_BUSY_TIMEOUT_MS = 5000
# One connection beyond the pool's threads, for run_sync during start-up.
SPARE_CONNECTIONS = 1

Observer = Callable[[str, float, bool], None]


class DatabaseStopped(Exception):
    """run() was called after stop(); the work was not done."""


class Database:
    """An engine and the thread pool its transactions run on."""

    log = Logger()

    def __init__(
        self,
        url: str,
        reactor,
        *,
        min_threads: int = 1,
        max_threads: int | None = None,
        observe: Observer | None = None,
        secret_box=None,
    ):
        parsed = sa.make_url(url)
        self.dialect_name = parsed.get_backend_name()
        is_sqlite = self.dialect_name == "sqlite"
        if max_threads is None:
            max_threads = DEFAULT_SQLITE_THREADS if is_sqlite else DEFAULT_POSTGRESQL_THREADS
        if max_threads < 1:
            raise ValueError(f"max_threads must be at least 1, not {max_threads}")
        min_threads = min(min_threads, max_threads)

        self.max_threads = max_threads
        self.engine = create_engine(url, pool_size=max_threads)
        if secret_box is not None:
            # Store code finds it with store.secret_box.box_of(conn).
            self.engine = self.engine.execution_options(secret_box=secret_box)
        self._reactor = reactor
        self._observe = observe
        self._pool = ThreadPool(minthreads=min_threads, maxthreads=max_threads, name="database")
        self._started = False
        self._stopped = False

    def start(self) -> None:
        """Start the worker threads. Work queued by run() before this waits for it."""
        if self._stopped:
            raise DatabaseStopped("a stopped Database cannot be started again")
        if not self._started:
            self._started = True
            self._pool.start()

    def stop(self) -> None:
        """Finish the work in progress, join the threads and close all connections."""
        if self._stopped:
            return
        self._stopped = True
        if self._started:
            self._pool.stop()
        self.engine.dispose()

    def run(self, desc: str, fn: Callable[..., Any], *args, **kw) -> defer.Deferred:
        """Run ``fn(conn, *args, **kw)`` in one transaction on a pool thread.

        The Deferred fires in the reactor thread with fn's result, or fails
        with its exception after the transaction was rolled back. ``desc``
        names the operation for the timing observer (a bounded label).
        """
        if self._stopped:
            return defer.fail(DatabaseStopped(f"database stopped; {desc} not run"))
        started = time.perf_counter()
        result = threads.deferToThreadPool(
            self._reactor, self._pool, self._transaction, fn, args, kw
        )
        if self._observe is not None:
            result.addBoth(self._report, desc, started)
        return result

    def run_blocking(self, desc: str, fn: Callable[..., Any], *args, **kw) -> defer.Deferred:
        """Run ``fn(*args, **kw)`` on a pool thread with no connection: blocking
        work that belongs off the reactor (DNS) but must not hold a transaction."""
        if self._stopped:
            return defer.fail(DatabaseStopped(f"database stopped; {desc} not run"))
        started = time.perf_counter()
        result = threads.deferToThreadPool(self._reactor, self._pool, fn, *args, **kw)
        if self._observe is not None:
            result.addBoth(self._report, desc, started)
        return result

    def run_sync(self, fn: Callable[..., Any], *args, **kw) -> Any:
        """Run ``fn(conn, ...)`` in one transaction in the calling thread.

        For start-up code before the reactor runs, and for tests; never call
        it from the reactor thread once it is running.
        """
        return self._transaction(fn, args, kw)

    def _transaction(self, fn, args, kw):
        with self.engine.begin() as connection:
            return fn(connection, *args, **kw)

    def _report(self, result, desc: str, started: float):
        ok = not isinstance(result, Failure)
        try:
            self._observe(desc, time.perf_counter() - started, ok)
        except Exception:
            # A broken metric must not turn a good result into an error.
            self.log.failure("database timing observer failed for {desc}", desc=desc)
        return result


class DatabaseService(Service):
    """Starts and stops a Database with the application."""

    name = "database"

    def __init__(self, database: Database):
        self.database = database

    def startService(self) -> None:
        super().startService()
        self.database.start()

    def stopService(self) -> None:
        super().stopService()
        self.database.stop()


def create_engine(url: str | sa.URL, pool_size: int = 1) -> sa.Engine:
    """An engine set up for the store: SQLite pragmas, pool sized to the threads."""
    url = sa.make_url(url)
    if url.get_backend_name() == "sqlite":
        create_private_sqlite_file(url.render_as_string(hide_password=False))
        return _create_sqlite_engine(url, pool_size)
    return sa.create_engine(
        url,
        pool_size=pool_size,
        max_overflow=SPARE_CONNECTIONS,
        # A PostgreSQL restart or failover must not fail the next transactions.
        pool_pre_ping=True,
    )


def _create_sqlite_engine(url: sa.URL, pool_size: int) -> sa.Engine:
    in_memory = url.database in (None, "", ":memory:")
    options: dict[str, Any] = {"connect_args": {"check_same_thread": False}}
    if in_memory:
        # Every connection to :memory: is a new empty database: share one.
        options["poolclass"] = sa.pool.StaticPool
    else:
        options.update(pool_size=pool_size, max_overflow=SPARE_CONNECTIONS)
    engine = sa.create_engine(url, **options)

    @sa.event.listens_for(engine, "connect")
    def _configure_connection(dbapi_connection, _record):
        # Let SQLAlchemy, not the sqlite3 module, decide where transactions
        # begin, so reads and writes of one run() share one transaction.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _begin_immediate(connection):
        # Take the write lock up front: a read-then-write transaction cannot
        # then fail half way when another writer got there first, and the
        # busy timeout applies instead of an immediate "database is locked".
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine
