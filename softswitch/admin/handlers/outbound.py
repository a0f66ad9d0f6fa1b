"""/v1/routes: the outbound dialplan, a prefix and the trunks tried in order."""

from softswitch.admin.errors import ApiError, missing_reference
from softswitch.admin.handlers.common import NamedResource
from softswitch.admin.router import Route
from softswitch.admin.schemas.common import IdListQuery, Page
from softswitch.admin.schemas.routes import (
    OutboundRouteCreate,
    OutboundRouteOut,
    OutboundRoutePatch,
    OutboundRouteReplace,
)
from softswitch.store import outbound as store, trunks

ITEM = "/v1/routes/{id}"


def _out(row: dict) -> dict:
    return {key: row[key] for key in OutboundRouteOut.model_fields}


ROUTES = NamedResource("routes", "outbound route", "id", store.get_route, _out)


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


def _insert(ctx, conn, body: OutboundRouteCreate) -> dict:
    _prefix_free(conn, body.prefix)
    values = {"prefix": body.prefix, "description": body.description}
    return store.create_route(conn, values, _trunk_ids(conn, body))


def _save(ctx, conn, route_id: int, body: OutboundRouteReplace) -> dict:
    _prefix_free(conn, body.prefix, route_id)
    values = {"prefix": body.prefix, "description": body.description}
    return store.update_route(conn, route_id, values, _trunk_ids(conn, body))


def _as_input(row: dict) -> dict:
    return {key: row[key] for key in ("prefix", "trunks", "description")}


def list_routes(ctx, call):
    return ROUTES.list(ctx, call, store.list_routes)


def create_route(ctx, call):
    return ROUTES.create(ctx, call, _insert)


def get_route(ctx, call):
    return ROUTES.get(ctx, call)


def replace_route(ctx, call):
    return ROUTES.replace(ctx, call, _save)


def patch_route(ctx, call):
    return ROUTES.patch(ctx, call, OutboundRouteReplace, _as_input, _save)


def delete_route(ctx, call):
    return ROUTES.delete(ctx, call, store.delete_route)


def routes() -> list[Route]:
    tag = "routes"
    return [
        Route("GET", "/v1/routes", list_routes, query_model=IdListQuery,
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
