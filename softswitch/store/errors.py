"""Which integrity rule a failed write broke, the same way on every database.

The admin API checks its rules first and answers 409; the constraints are the
safety net underneath, and this lets the API still map a lost race to the
right answer (duplicate vs. still referenced) instead of a 500.
"""

import enum

import sqlalchemy.exc


class IntegrityKind(enum.Enum):
    UNIQUE = "unique"
    FOREIGN_KEY = "foreign_key"
    CHECK = "check"
    NOT_NULL = "not_null"
    OTHER = "other"


# SQLSTATE class 23 codes, as PostgreSQL (psycopg) reports them.
_KIND_BY_SQLSTATE = {
    "23505": IntegrityKind.UNIQUE,
    "23503": IntegrityKind.FOREIGN_KEY,
    "23514": IntegrityKind.CHECK,
    "23502": IntegrityKind.NOT_NULL,
}

# SQLite names the rule only at the start of its message.
_KIND_BY_SQLITE_PREFIX = {
    "UNIQUE constraint failed": IntegrityKind.UNIQUE,
    "FOREIGN KEY constraint failed": IntegrityKind.FOREIGN_KEY,
    "CHECK constraint failed": IntegrityKind.CHECK,
    "NOT NULL constraint failed": IntegrityKind.NOT_NULL,
}


def integrity_kind(error: sqlalchemy.exc.IntegrityError) -> IntegrityKind:
    """Classify an IntegrityError raised by SQLite or PostgreSQL."""
    sqlstate = getattr(error.orig, "sqlstate", None)
    if sqlstate in _KIND_BY_SQLSTATE:
        return _KIND_BY_SQLSTATE[sqlstate]
    message = str(error.orig)
    for prefix, kind in _KIND_BY_SQLITE_PREFIX.items():
        if message.startswith(prefix):
            return kind
    return IntegrityKind.OTHER
