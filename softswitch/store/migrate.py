"""Schema migrations: Alembic driven from code, plus offline DDL rendering.

The Alembic scripts live in ``sql/`` at the top of the repository, beside
readable DDL rendered from them (see ``sql/render_ddl.py``).
"""

import io
import os
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

SQL_DIR = Path(__file__).resolve().parents[2] / "sql"
DDL_DIR = SQL_DIR / "ddl"
DDL_DIALECTS = ("sqlite", "postgresql")


def alembic_config(url: str | None = None, output: io.StringIO | None = None,
                   secret_box=None) -> Config:
    """An Alembic Config for ``sql/`` without reading alembic.ini (no logging setup)."""
    config = Config(output_buffer=output)
    config.set_main_option("script_location", str(SQL_DIR))
    if url is not None:
        config.attributes["url"] = url
    if secret_box is not None:
        config.attributes["secret_box"] = secret_box
    return config


def upgrade(url: str, revision: str = "head", secret_box=None) -> None:
    """Bring the database at ``url`` up to ``revision`` (default: the latest).

    ``secret_box`` (store.secret_box.SecretBox) lets 0003 seal the secrets stored in
    clear; without it they stay as they are until a start with a key seals them."""
    create_private_sqlite_file(url)
    command.upgrade(alembic_config(url, secret_box=secret_box), revision)


def downgrade(url: str, revision: str, secret_box=None) -> None:
    """Take the database at ``url`` down to ``revision`` ("base" drops everything)."""
    command.downgrade(alembic_config(url, secret_box=secret_box), revision)


def current_revision(url: str) -> str | None:
    """The revision the database is at, or None if it was never migrated."""
    sqlite_path = _sqlite_file(url)
    if sqlite_path is not None and not sqlite_path.exists():
        return None  # connecting would create an empty file as a side effect
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def head_revision() -> str:
    """The newest revision in ``sql/versions``."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def render_ddl() -> dict[Path, str]:
    """The offline (``--sql``) DDL of every revision for every dialect, by file.

    Each revision gets one file per dialect, named after its script:
    ``sql/versions/0001_initial.py`` -> ``sql/ddl/0001_initial.sqlite.sql``.
    """
    scripts = ScriptDirectory.from_config(alembic_config())
    rendered = {}
    for script in reversed(list(scripts.walk_revisions())):
        stem = Path(script.path).stem
        span = script.revision
        if script.down_revision is not None:
            span = f"{script.down_revision}:{script.revision}"
        for dialect in DDL_DIALECTS:
            output = io.StringIO()
            command.upgrade(alembic_config(f"{dialect}://", output), span, sql=True)
            # SQLAlchemy leaves a space after each comma; keep the files clean.
            lines = (line.rstrip() for line in output.getvalue().splitlines())
            rendered[DDL_DIR / f"{stem}.{dialect}.sql"] = "\n".join(lines) + "\n"
    return rendered


def _sqlite_file(url: str) -> Path | None:
    """The file behind a SQLite URL; None for other databases and in-memory ones."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    if parsed.database in (None, "", ":memory:") or parsed.database.startswith("file:"):
        return None
    return Path(parsed.database)


def create_private_sqlite_file(url: str) -> None:
    """Create a SQLite database file (and its directory) readable by its owner only
    (0600); SQLite gives its journal and WAL files the same mode. An existing file is
    left as it is."""
    path = _sqlite_file(url)
    if path is None or path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass
