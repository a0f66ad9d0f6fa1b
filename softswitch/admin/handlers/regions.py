"""/v1/regions: media relays (bind, advertised address, RTP port range)."""

from softswitch.admin.errors import already_exists, not_found, still_referenced
from softswitch.admin.handlers.common import (
    created,
    decode_cursor,
    no_content,
    page,
    patch_values,
    revalidate,
    same_key,
)
from softswitch.admin.router import Route
from softswitch.admin.schemas.common import ListQuery, Page
from softswitch.admin.schemas.regions import RegionCreate, RegionOut, RegionPatch, RegionReplace
from softswitch.store import regions as store

KIND = "regions"
ITEM = "/v1/regions/{name}"


def _out(row: dict) -> dict:
    return {key: row[key] for key in RegionOut.model_fields}


def _values(body: RegionReplace) -> dict:
    return {
        "bind": body.bind,
        "advertise": body.advertise or body.bind,
        "port_min": body.port_min,
        "port_max": body.port_max,
    }


def list_regions(ctx, call):
    query = call.query
    after = decode_cursor(query.after, str)
    d = ctx.run("regions.list", store.list_regions, after, query.limit + 1)
    return d.addCallback(page, query.limit, lambda row: row["name"], _out)


def create_region(ctx, call):
    body = call.body

    def transaction(conn):
        if store.get_region(conn, body.name) is not None:
            raise already_exists("region", body.name, "name")
        return _out(store.create_region(conn, {"name": body.name, **_values(body)}))
    return ctx.write(KIND, "regions.create", transaction).addCallback(
        created, "v1", "regions", body.name)


def get_region(ctx, call):
    name = call.params["name"]

    def transaction(conn):
        row = store.get_region(conn, name)
        if row is None:
            raise not_found("region", name)
        return _out(row)
    return ctx.run("regions.get", transaction)


def replace_region(ctx, call):
    name = call.params["name"]
    same_key(call.body.name, name, "name")
    return _update(ctx, name, lambda row: call.body)


def patch_region(ctx, call):
    name = call.params["name"]
    changes = patch_values(call.body)
    same_key(changes.get("name"), name, "name")

    def merged(row):
        current = {key: row[key] for key in ("bind", "advertise", "port_min", "port_max")}
        return revalidate(RegionReplace, {**current, **changes})
    return _update(ctx, name, merged)


def _update(ctx, name: str, body_for):
    def transaction(conn):
        row = store.get_region(conn, name)
        if row is None:
            raise not_found("region", name)
        return _out(store.update_region(conn, name, _values(body_for(row))))
    return ctx.write(KIND, "regions.update", transaction)


def delete_region(ctx, call):
    name = call.params["name"]

    def transaction(conn):
        if store.get_region(conn, name) is None:
            raise not_found("region", name)
        users = store.referrers(conn, name)
        if users:
            raise still_referenced("region", name, users)
        store.delete_region(conn, name)
    return ctx.write(KIND, "regions.delete", transaction).addCallback(no_content)


def routes() -> list[Route]:
    tag = "regions"
    return [
        Route("GET", "/v1/regions", list_regions, query_model=ListQuery,
              response_model=Page[RegionOut], summary="List regions", tag=tag),
        Route("POST", "/v1/regions", create_region, body_model=RegionCreate,
              response_model=RegionOut, status=201, summary="Create a region", tag=tag),
        Route("GET", ITEM, get_region, response_model=RegionOut,
              summary="Get a region", tag=tag),
        Route("PUT", ITEM, replace_region, body_model=RegionReplace, response_model=RegionOut,
              summary="Replace a region", tag=tag),
        Route("PATCH", ITEM, patch_region, body_model=RegionPatch, response_model=RegionOut,
              summary="Change some fields of a region", tag=tag),
        Route("DELETE", ITEM, delete_region, status=204,
              summary="Delete a region (409 while a gateway or agent uses it)", tag=tag),
    ]
