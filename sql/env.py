"""Alembic environment for the softswitch store.

The database comes from, in order: a Connection in ``config.attributes
["connection"]``, a URL in ``config.attributes["url"]`` (both set by
softswitch.store.migrate), ``-x url=...`` on the command line, or
``sqlalchemy.url`` in the ini file. Offline mode (``--sql``) only needs the
URL to pick the dialect, e.g. ``-x url=postgresql://``.
"""

import sqlalchemy as sa
from alembic import context

from softswitch.store.tables import metadata

config = context.config

# Any fixed number: the key of the PostgreSQL advisory lock held while migrating.
MIGRATION_LOCK_KEY = 5060_0001


def _url() -> str:
    url = (
        config.attributes.get("url")
        or context.get_x_argument(as_dictionary=True).get("url")
        or config.get_main_option("sqlalchemy.url")
    )
    if not url:
        raise RuntimeError("no database URL: pass -x url=... or set sqlalchemy.url")
    return str(url)


def _configure(dialect_name: str, **kw) -> None:
    context.configure(
        target_metadata=metadata,
        # SQLite cannot ALTER most things; batch mode rebuilds the table.
        render_as_batch=dialect_name == "sqlite",
        compare_type=True,
        **kw,
    )


def run_offline() -> None:
    url = _url()
    _configure(sa.make_url(url).get_backend_name(), url=url, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _migrate(connection)
        return
    engine = sa.create_engine(_url(), poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            _migrate(connection)
    finally:
        engine.dispose()


def _migrate(connection: sa.Connection) -> None:
    _configure(connection.dialect.name, connection=connection)
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            # Nodes sharing one database may start together: one migrates,
            # the others wait here, then find the schema already at head.
            connection.execute(
                sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
            )
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
