"""The one MetaData every table shares, and the column helpers they all use.

Types are chosen to behave the same on SQLite and PostgreSQL: integer keys,
strings, JSON, and timestamps as float epoch seconds (UTC) named ``*_at``.
"""

import time

import sqlalchemy as sa

# Named constraints keep Alembic migrations and error messages stable across
# dialects (SQLite and PostgreSQL would otherwise invent different names).
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)

# Double, not Float: an epoch in single precision is off by minutes.
EpochSeconds = sa.Double

# 64-bit keys on PostgreSQL where ids are used up fast: one per call (cdrs),
# and one per REGISTER refresh (registrations), because ON CONFLICT DO UPDATE
# takes a sequence value even when it updates. SQLite keeps INTEGER so the
# key stays the rowid.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def id_column(type_=sa.Integer) -> sa.Column:
    return sa.Column("id", type_, primary_key=True, autoincrement=True)


def timestamp_columns() -> list[sa.Column]:
    """created_at and updated_at, filled by SQLAlchemy on insert and update."""
    return [
        sa.Column("created_at", EpochSeconds, nullable=False, default=time.time),
        sa.Column(
            "updated_at", EpochSeconds, nullable=False,
            default=time.time, onupdate=time.time,
        ),
    ]


def check_one_of(column: str, values: tuple[str, ...]) -> str:
    """SQL text for a CHECK that a string column holds one of a few words."""
    quoted = ", ".join(f"'{value}'" for value in values)
    return f"{column} IN ({quoted})"
