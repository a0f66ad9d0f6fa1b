"""Call records (CDRs): written in batches when calls end."""

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from softswitch.store.tables import cdrs

_COLUMNS = frozenset(c.name for c in cdrs.columns) - {"id"}


def insert_records(conn: Connection, records: list[dict]) -> int:
    rows = [{k: v for k, v in r.items() if k in _COLUMNS} for r in records]
    if not rows:
        return 0
    for row in rows:
        for column in _COLUMNS - row.keys():
            row[column] = None
    conn.execute(sa.insert(cdrs), rows)
    return len(rows)
