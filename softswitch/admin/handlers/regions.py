"""/v1/regions: media relays (bind, advertised address, RTP port range)."""

from softswitch.admin.handlers.common import NamedResource
from softswitch.admin.router import Route
from softswitch.admin.schemas.common import ListQuery, Page
from softswitch.admin.schemas.regions import RegionCreate, RegionOut, RegionPatch, RegionReplace
from softswitch.store import regions as store

ITEM = "/v1/regions/{name}"


def _out(row: dict) -> dict:
    return {key: row[key] for key in RegionOut.model_fields}


REGIONS = NamedResource("regions", "region", "name", store.get_region, _out)


def _values(body: RegionReplace) -> dict:
    return {
        "bind": body.bind,
        "advertise": body.advertise or body.bind,
        "port_min": body.port_min,
        "port_max": body.port_max,
    }


def _insert(ctx, conn, body: RegionCreate) -> dict:
    return store.create_region(conn, {"name": body.name, **_values(body)})


def _save(ctx, conn, name: str, body: RegionReplace) -> dict:
    return store.update_region(conn, name, _values(body))


def _as_input(row: dict) -> dict:
    return {key: row[key] for key in ("bind", "advertise", "port_min", "port_max")}


def list_regions(ctx, call):
    return REGIONS.list(ctx, call, store.list_regions)


def create_region(ctx, call):
    return REGIONS.create(ctx, call, _insert)


def get_region(ctx, call):
    return REGIONS.get(ctx, call)


def replace_region(ctx, call):
    return REGIONS.replace(ctx, call, _save)


def patch_region(ctx, call):
    return REGIONS.patch(ctx, call, RegionReplace, _as_input, _save)


def delete_region(ctx, call):
    return REGIONS.delete(ctx, call, store.delete_region, store.referrers)


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
