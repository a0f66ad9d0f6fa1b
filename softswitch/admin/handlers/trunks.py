"""/v1/trunks: carrier trunks with their gateways; credentials are write-only."""

from softswitch.admin.errors import (
    already_exists,
    missing_reference,
    not_found,
    still_referenced,
)
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
from softswitch.admin.schemas.trunks import TrunkCreate, TrunkOut, TrunkPatch, TrunkReplace
from softswitch.store import regions, trunks as store

KIND = "trunks"
ITEM = "/v1/trunks/{name}"
_GATEWAY_KEYS = ("host", "port", "transport", "region", "priority", "weight")
_PLAIN_KEYS = ("max_concurrent", "max_cps", "number_format", "enabled")


def _out(row: dict) -> dict:
    auth = None
    if row["auth_username"] is not None:
        auth = {"username": row["auth_username"], "password_set": row["auth_password_set"]}
    return {
        "name": row["name"],
        "gateways": [{key: g[key] for key in _GATEWAY_KEYS} for g in row["gateways"]],
        "inbound": {"allowed_sources": row["inbound_allowed_sources"]},
        "auth": auth,
        "register": row["register"],
        **{key: row[key] for key in _PLAIN_KEYS},
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


def _as_input(row: dict) -> dict:
    """A stored trunk (with secrets) in the shape a PUT body has."""
    auth = None
    if row["auth_username"] is not None:
        auth = {"username": row["auth_username"], "password": row["auth_password"] or ""}
    return {
        "gateways": [{key: g[key] for key in _GATEWAY_KEYS} for g in row["gateways"]],
        "inbound": {"allowed_sources": row["inbound_allowed_sources"]},
        "auth": auth,
        "register": row["register"],
        **{key: row[key] for key in _PLAIN_KEYS},
    }


def _values(body: TrunkReplace) -> dict:
    return {
        "inbound_allowed_sources": list(body.inbound.allowed_sources),
        "auth_username": body.auth.username if body.auth else None,
        "auth_password": body.auth.password if body.auth else None,
        "register": body.register_,
        **{key: getattr(body, key) for key in _PLAIN_KEYS},
    }


def _gateway_rows(conn, body: TrunkReplace) -> list[dict]:
    """The gateways with region ids; 422 naming the first unknown region."""
    known = regions.ids_by_name(conn, {g.region for g in body.gateways if g.region})
    rows = []
    for position, gateway in enumerate(body.gateways):
        if gateway.region is not None and gateway.region not in known:
            raise missing_reference("region", gateway.region, f"gateways.{position}.region")
        rows.append({
            "host": gateway.host, "port": gateway.port, "transport": gateway.transport,
            "region_id": known.get(gateway.region), "priority": gateway.priority,
            "weight": gateway.weight,
        })
    return rows


def list_trunks(ctx, call):
    query = call.query
    after = decode_cursor(query.after, str)
    d = ctx.run("trunks.list", store.list_trunks, after, query.limit + 1)
    return d.addCallback(page, query.limit, lambda row: row["name"], _out)


def create_trunk(ctx, call):
    body = call.body

    def transaction(conn):
        if store.get_trunk(conn, body.name) is not None:
            raise already_exists("trunk", body.name, "name")
        gateways = _gateway_rows(conn, body)
        return _out(store.create_trunk(conn, {"name": body.name, **_values(body)}, gateways))
    return ctx.write(KIND, "trunks.create", transaction).addCallback(
        created, "v1", "trunks", body.name)


def get_trunk(ctx, call):
    name = call.params["name"]

    def transaction(conn):
        row = store.get_trunk(conn, name)
        if row is None:
            raise not_found("trunk", name)
        return _out(row)
    return ctx.run("trunks.get", transaction)


def replace_trunk(ctx, call):
    name = call.params["name"]
    same_key(call.body.name, name, "name")
    return _update(ctx, name, lambda row: call.body)


def patch_trunk(ctx, call):
    name = call.params["name"]
    changes = patch_values(call.body)
    same_key(changes.get("name"), name, "name")
    return _update(ctx, name, lambda row: revalidate(TrunkReplace, {**_as_input(row), **changes}))


def _update(ctx, name: str, body_for):
    def transaction(conn):
        row = store.get_trunk(conn, name, with_secrets=True)
        if row is None:
            raise not_found("trunk", name)
        body = body_for(row)
        return _out(store.update_trunk(conn, name, _values(body), _gateway_rows(conn, body)))
    return ctx.write(KIND, "trunks.update", transaction)


def delete_trunk(ctx, call):
    name = call.params["name"]

    def transaction(conn):
        if store.get_trunk(conn, name) is None:
            raise not_found("trunk", name)
        referrers = store.referrers(conn, name)
        if referrers:
            raise still_referenced("trunk", name, referrers)
        store.delete_trunk(conn, name)
    return ctx.write(KIND, "trunks.delete", transaction).addCallback(no_content)


def routes() -> list[Route]:
    tag = "trunks"
    return [
        Route("GET", "/v1/trunks", list_trunks, query_model=ListQuery,
              response_model=Page[TrunkOut], summary="List trunks", tag=tag),
        Route("POST", "/v1/trunks", create_trunk, body_model=TrunkCreate,
              response_model=TrunkOut, status=201, summary="Create a trunk", tag=tag),
        Route("GET", ITEM, get_trunk, response_model=TrunkOut, summary="Get a trunk", tag=tag),
        Route("PUT", ITEM, replace_trunk, body_model=TrunkReplace, response_model=TrunkOut,
              summary="Replace a trunk (gateways and credentials included)", tag=tag),
        Route("PATCH", ITEM, patch_trunk, body_model=TrunkPatch, response_model=TrunkOut,
              summary="Change some fields of a trunk", tag=tag),
        Route("DELETE", ITEM, delete_trunk, status=204,
              summary="Delete a trunk (409 while a route uses it)", tag=tag),
    ]
