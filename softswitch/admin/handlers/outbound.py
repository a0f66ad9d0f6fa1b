"""/v1/routes: the outbound dialplan, a prefix and the trunks tried in order."""

from softswitch.admin.errors import ApiError, missing_reference, not_found
from softswitch.admin.handlers.common import (
    created,
    decode_cursor,
    no_content,
    page,
    patch_values,
    revalidate,
)
from softswitch.admin.router import Route
from softswitch.admin.schemas.common import ListQuery, Page
from softswitch.admin.schemas.routes import (
    OutboundRouteCreate,
    OutboundRouteOut,
    OutboundRoutePatch,
    OutboundRouteReplace,
)
from softswitch.store import outbound as store, trunks

KIND = "routes"
ITEM = "/v1/routes/{id}"


def _out(row: dict) -> dict:
    return {key: row[key] for key in OutboundRouteOut.model_fields}


def _trunk_ids(conn, body: OutboundRouteReplace) -> list[int]:
    known = trunks.ids_by_name(conn, body.trunks)
    for position, name in enumerate(body.trunks):
        if name not in known:
            raise missing_reference("trunk", name, f"trunks.{position}")
    return [known[name] for name in body.trunks]


def _prefix_free(conn, prefix: str, route_id: int | None = None) -> None:
    other = store.find_by_prefix(conn, prefix)
    if other is not None and other["id"] != route_id:
        raise ApiError(409, f"prefix {prefix!r} already has a route (id {other['id']})",
                       "prefix")


def list_routes(ctx, call):
    query = call.query
    after = decode_cursor(query.after, int)
    d = ctx.run("routes.list", store.list_routes, after, query.limit + 1)
    return d.addCallback(page, query.limit, lambda row: row["id"], _out)


def create_route(ctx, call):
    body = call.body

    def transaction(conn):
        _prefix_free(conn, body.prefix)
        values = {"prefix": body.prefix, "description": body.description}
        return _out(store.create_route(conn, values, _trunk_ids(conn, body)))

    def located(out):
        return created(out, "v1", "routes", out["id"])
    return ctx.write(KIND, "routes.create", transaction).addCallback(located)


def get_route(ctx, call):
    route_id = call.params["id"]

    def transaction(conn):
        row = store.get_route(conn, route_id)
        if row is None:
            raise not_found("outbound route", route_id)
        return _out(row)
    return ctx.run("routes.get", transaction)


def replace_route(ctx, call):
    return _update(ctx, call.params["id"], lambda row: call.body)


def patch_route(ctx, call):
    changes = patch_values(call.body)

    def merged(row):
        current = {key: row[key] for key in ("prefix", "trunks", "description")}
        return revalidate(OutboundRouteReplace, {**current, **changes})
    return _update(ctx, call.params["id"], merged)


def _update(ctx, route_id: int, body_for):
    def transaction(conn):
        row = store.get_route(conn, route_id)
        if row is None:
            raise not_found("outbound route", route_id)
        body = body_for(row)
        _prefix_free(conn, body.prefix, route_id)
        values = {"prefix": body.prefix, "description": body.description}
        return _out(store.update_route(conn, route_id, values, _trunk_ids(conn, body)))
    return ctx.write(KIND, "routes.update", transaction)


def delete_route(ctx, call):
    route_id = call.params["id"]

    def transaction(conn):
        if not store.delete_route(conn, route_id):
            raise not_found("outbound route", route_id)
    return ctx.write(KIND, "routes.delete", transaction).addCallback(no_content)


def routes() -> list[Route]:
    tag = "routes"
    return [
        Route("GET", "/v1/routes", list_routes, query_model=ListQuery,
              response_model=Page[OutboundRouteOut], summary="List outbound routes", tag=tag),
        Route("POST", "/v1/routes", create_route, body_model=OutboundRouteCreate,
              response_model=OutboundRouteOut, status=201,
              summary="Create an outbound route", tag=tag),
        Route("GET", ITEM, get_route, response_model=OutboundRouteOut,
              summary="Get an outbound route", tag=tag),
        Route("PUT", ITEM, replace_route, body_model=OutboundRouteReplace,
              response_model=OutboundRouteOut, summary="Replace an outbound route", tag=tag),
        Route("PATCH", ITEM, patch_route, body_model=OutboundRoutePatch,
              response_model=OutboundRouteOut,
              summary="Change some fields of an outbound route", tag=tag),
        Route("DELETE", ITEM, delete_route, status=204, summary="Delete an outbound route",
              tag=tag),
    ]
