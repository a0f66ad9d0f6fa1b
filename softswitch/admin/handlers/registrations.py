"""/v1/registrations: the current SIP bindings (read-only, unexpired only).

The two queries live here rather than in store/registrations.py, which is
the registrar's write-through module; they read the same table.
"""

import time

import sqlalchemy as sa

from softswitch.admin.errors import not_found
from softswitch.admin.handlers.common import decode_cursor, page
from softswitch.admin.router import Route
from softswitch.admin.schemas.common import Page
from softswitch.admin.schemas.registrations import RegistrationOut, RegistrationQuery
from softswitch.store.tables import registrations as table


def _out(row: dict) -> dict:
    return {key: row[key] for key in RegistrationOut.model_fields}


def active_page(conn, now: float, aor: str | None, after: int | None, limit: int) -> list[dict]:
    query = sa.select(table).where(table.c.expires_at > now).order_by(table.c.id).limit(limit)
    if aor is not None:
        query = query.where(table.c.aor == aor)
    if after is not None:
        query = query.where(table.c.id > after)
    return [dict(row._mapping) for row in conn.execute(query)]


def active_one(conn, now: float, registration_id: int) -> dict | None:
    row = conn.execute(
        sa.select(table).where(table.c.id == registration_id, table.c.expires_at > now)
    ).one_or_none()
    return None if row is None else dict(row._mapping)


def list_registrations(ctx, call):
    query = call.query
    after = decode_cursor(query.after, int)
    d = ctx.run("registrations.list", active_page, time.time(), query.aor, after,
                query.limit + 1)
    return d.addCallback(page, query.limit, lambda row: row["id"], _out)


def get_registration(ctx, call):
    registration_id = call.params["id"]

    def transaction(conn):
        row = active_one(conn, time.time(), registration_id)
        if row is None:
            raise not_found("registration", registration_id)
        return _out(row)
    return ctx.run("registrations.get", transaction)


def routes() -> list[Route]:
    tag = "registrations"
    return [
        Route("GET", "/v1/registrations", list_registrations, query_model=RegistrationQuery,
              response_model=Page[RegistrationOut], summary="List current registrations",
              tag=tag),
        Route("GET", "/v1/registrations/{id}", get_registration,
              response_model=RegistrationOut, summary="Get a current registration", tag=tag),
    ]
