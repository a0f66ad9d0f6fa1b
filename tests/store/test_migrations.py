"""The Alembic scripts build exactly the schema the table modules describe."""

import subprocess
import sys

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from softswitch.store import migrate
from softswitch.store.tables import metadata


def schema_differences(url: str, target: sa.MetaData = metadata) -> list:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            return compare_metadata(context, target)
    finally:
        engine.dispose()


def reflected_constraints(url: str) -> dict:
    """Names (and ON DELETE rules) of every constraint and index, by table."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            inspector = sa.inspect(conn)
            return {
                table.name: {
                    "checks": sorted(
                        c["name"] for c in inspector.get_check_constraints(table.name)
                    ),
                    "uniques": sorted(
                        c["name"] for c in inspector.get_unique_constraints(table.name)
                    ),
                    # PostgreSQL also lists the index behind each UNIQUE.
                    "indexes": sorted(
                        c["name"]
                        for c in inspector.get_indexes(table.name)
                        if "duplicates_constraint" not in c
                    ),
                    "foreign_keys": sorted(
                        (c["name"], c["options"].get("ondelete"))
                        for c in inspector.get_foreign_keys(table.name)
                    ),
                    "primary_key": inspector.get_pk_constraint(table.name)["name"],
                }
                for table in metadata.sorted_tables
            }
    finally:
        engine.dispose()


def declared_constraints() -> dict:
    def names(table, kind):
        return sorted(c.name for c in table.constraints if isinstance(c, kind))

    return {
        table.name: {
            "checks": names(table, sa.CheckConstraint),
            "uniques": names(table, sa.UniqueConstraint),
            "indexes": sorted(index.name for index in table.indexes),
            "foreign_keys": sorted(
                (fk.name, fk.ondelete) for fk in table.foreign_key_constraints
            ),
            "primary_key": table.primary_key.name,
        }
        for table in metadata.sorted_tables
    }


def test_upgrade_builds_the_declared_schema(database_url):
    assert migrate.current_revision(database_url) is None
    migrate.upgrade(database_url)
    assert migrate.current_revision(database_url) == migrate.head_revision()
    assert schema_differences(database_url) == []


def test_constraint_names_and_delete_rules_match_the_tables(migrated_url):
    # compare_metadata ignores CHECK constraints and some FK options.
    assert reflected_constraints(migrated_url) == declared_constraints()


def test_check_constraint_text_matches_the_tables(sqlite_migrated_url):
    # Only SQLite reflects CHECK text as written; PostgreSQL rewrites it.
    engine = sa.create_engine(sqlite_migrated_url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        inspector = sa.inspect(conn)
        for table in metadata.sorted_tables:
            declared = {
                c.name: " ".join(str(c.sqltext).split())
                for c in table.constraints
                if isinstance(c, sa.CheckConstraint)
            }
            reflected = {
                c["name"]: " ".join(c["sqltext"].split())
                for c in inspector.get_check_constraints(table.name)
            }
            assert reflected == declared, table.name
    engine.dispose()


def test_comparison_notices_a_drifted_table(sqlite_migrated_url):
    drifted = sa.MetaData(naming_convention=metadata.naming_convention)
    for table in metadata.sorted_tables:
        table.to_metadata(drifted)
    sa.Table("cdrs", drifted, extend_existing=True).append_column(sa.Column("extra", sa.Integer))
    differences = schema_differences(sqlite_migrated_url, drifted)
    assert [d[0] for d in differences] == ["add_column"]


def test_downgrade_to_base_then_upgrade_again(database_url):
    migrate.upgrade(database_url)
    migrate.downgrade(database_url, "base")
    assert migrate.current_revision(database_url) is None
    engine = sa.create_engine(database_url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        assert set(sa.inspect(conn).get_table_names()) <= {"alembic_version"}
    engine.dispose()
    migrate.upgrade(database_url)
    assert schema_differences(database_url) == []


@pytest.mark.postgres
def test_nodes_starting_together_migrate_once(postgresql_url):
    script = "import sys; from softswitch.store import migrate; migrate.upgrade(sys.argv[1])"
    nodes = [
        subprocess.Popen([sys.executable, "-c", script, postgresql_url], stderr=subprocess.PIPE)
        for _ in range(3)
    ]
    errors = [node.communicate(timeout=60)[1].decode() for node in nodes]
    assert [node.returncode for node in nodes] == [0, 0, 0], errors
    assert schema_differences(postgresql_url) == []


def test_upgrade_creates_the_sqlite_directory(tmp_path):
    url = f"sqlite:///{tmp_path / 'var' / 'data' / 'softswitch.sqlite3'}"
    migrate.upgrade(url)
    assert (tmp_path / "var" / "data" / "softswitch.sqlite3").is_file()
    assert migrate.current_revision(url) == migrate.head_revision()


def test_current_revision_of_a_missing_sqlite_file_creates_nothing(tmp_path):
    path = tmp_path / "absent.sqlite3"
    assert migrate.current_revision(f"sqlite:///{path}") is None
    assert not path.exists()


def test_committed_ddl_is_what_the_migrations_render():
    rendered = migrate.render_ddl()
    committed = sorted(migrate.DDL_DIR.glob("*.sql"))
    assert committed == sorted(rendered), "run: python sql/render_ddl.py"
    for path, text in rendered.items():
        assert path.read_text() == text, f"{path.name} is stale; run: python sql/render_ddl.py"


@pytest.mark.parametrize("dialect", migrate.DDL_DIALECTS)
def test_rendered_ddl_creates_every_table(dialect):
    text = "".join(text for path, text in sorted(migrate.render_ddl().items())
                   if path.name.endswith(f".{dialect}.sql"))
    for table in metadata.sorted_tables:
        assert f"CREATE TABLE {table.name} (" in text
