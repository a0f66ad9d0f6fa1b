"""The few statements that differ between SQLite and PostgreSQL."""

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

_INSERT_BY_DIALECT = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def insert_for(conn: Connection):
    """The dialect's ``insert`` construct, which has ``on_conflict_do_*``."""
    try:
        return _INSERT_BY_DIALECT[conn.dialect.name]
    except KeyError:
        raise ValueError(
            f"the store supports {', '.join(_INSERT_BY_DIALECT)}, not {conn.dialect.name}"
        ) from None
