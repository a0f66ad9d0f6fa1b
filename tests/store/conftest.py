"""Database fixtures for the store tests: SQLite files and PostgreSQL.

PostgreSQL comes from SOFTSWITCH_TEST_PG_URL (a role allowed to create
databases). Each test session creates one database with a random name and
drops it at the end. Without the variable the PostgreSQL tests fail under CI
(env CI set) and are skipped, with a summary line, everywhere else.
"""

import os
import secrets
import shutil

import pytest
import sqlalchemy as sa

from softswitch.store import migrate
from softswitch.store.database import create_engine
from softswitch.store.tables import metadata

PG_URL_VARIABLE = "SOFTSWITCH_TEST_PG_URL"
NOT_RUN_MESSAGE = (
    f"PostgreSQL tests did not run: set {PG_URL_VARIABLE}, e.g. "
    "postgresql+psycopg://softswitch:softswitch@127.0.0.1:5432/softswitch_test"
)

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]

_skipped_postgresql = []


class PostgreSQLSession:
    """The session's throw-away database, kept either empty or migrated."""

    def __init__(self, server_url: str):
        self._admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
        self.name = f"softswitch_test_{secrets.token_hex(6)}"
        self.url = (
            sa.make_url(server_url)
            .set(database=self.name)
            .render_as_string(hide_password=False)
        )
        self._migrated = False
        with self._admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{self.name}"')
        self._engine = sa.create_engine(self.url, poolclass=sa.pool.NullPool)

    def empty(self) -> str:
        """No tables at all, not even alembic_version."""
        with self._engine.begin() as conn:
            conn.exec_driver_sql("DROP SCHEMA public CASCADE")
            conn.exec_driver_sql("CREATE SCHEMA public")
        self._migrated = False
        return self.url

    def migrated(self) -> str:
        """At the head revision, with every table empty."""
        if not self._migrated:
            self.empty()
            migrate.upgrade(self.url)
            self._migrated = True
        else:
            names = ", ".join(table.name for table in metadata.sorted_tables)
            with self._engine.begin() as conn:
                conn.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
        return self.url

    def drop(self) -> None:
        self._engine.dispose()
        with self._admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        self._admin.dispose()


@pytest.fixture(scope="session")
def postgresql_session():
    server_url = os.environ.get(PG_URL_VARIABLE)
    if not server_url:
        if os.environ.get("CI"):
            pytest.fail(f"{NOT_RUN_MESSAGE} (required under CI)", pytrace=False)
        _skipped_postgresql.append(True)
        pytest.skip(NOT_RUN_MESSAGE)
    session = PostgreSQLSession(server_url)
    yield session
    session.drop()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory):
    """A migrated SQLite file that tests copy instead of migrating again."""
    path = tmp_path_factory.mktemp("template") / "softswitch.sqlite3"
    migrate.upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def sqlite_url(tmp_path):
    return f"sqlite:///{tmp_path / 'softswitch.sqlite3'}"


@pytest.fixture
def sqlite_migrated_url(tmp_path, sqlite_template):
    path = tmp_path / "migrated.sqlite3"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def postgresql_url(postgresql_session):
    return postgresql_session.empty()


@pytest.fixture
def postgresql_migrated_url(postgresql_session):
    return postgresql_session.migrated()


@pytest.fixture(params=BACKENDS)
def database_url(request):
    """An empty database, never migrated."""
    return request.getfixturevalue(f"{request.param}_url")


@pytest.fixture(params=BACKENDS)
def migrated_url(request):
    """A database at the head revision with empty tables."""
    return request.getfixturevalue(f"{request.param}_migrated_url")


@pytest.fixture
def engine(migrated_url):
    """An engine on a migrated database, set up as Database sets up its own."""
    engine = create_engine(migrated_url)
    yield engine
    engine.dispose()


def pytest_terminal_summary(terminalreporter):
    if _skipped_postgresql:
        terminalreporter.write_sep("!", NOT_RUN_MESSAGE, yellow=True, bold=True)
