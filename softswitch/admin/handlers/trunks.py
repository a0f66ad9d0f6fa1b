"""/v1/trunks: carrier trunks with their gateways; credentials are write-only."""

from functools import partial

from softswitch.admin.errors import missing_reference
from softswitch.admin.handlers.common import NamedResource
from softswitch.admin.router import Route
from softswitch.admin.schemas.common import ListQuery, Page
from softswitch.admin.schemas.trunks import TrunkCreate, TrunkOut, TrunkPatch, TrunkReplace
from softswitch.store import regions, trunks as store

ITEM = "/v1/trunks/{name}"
_GATEWAY_KEYS = ("host", "port", "transport", "region", "priority", "weight")
_PLAIN_KEYS = ("max_concurrent", "max_cps", "number_format", "enabled", "stir_shaken",
               "media_encryption", "trust_identity", "default_caller_id", "topology_hiding",
               "allow_refer")


def _out(row: dict) -> dict:
    auth = None
    if row["auth_username"] is not None:
        auth = {"username": row["auth_username"], "password_set": row["auth_password_set"]}
    tls = None
    if row["tls_client_certificate"] is not None:
        tls = {"client_certificate": row["tls_client_certificate"],
               "client_key_set": row["tls_client_key_set"]}
    return {
        "name": row["name"],
        "gateways": [{key: g[key] for key in _GATEWAY_KEYS} for g in row["gateways"]],
        "inbound": {"allowed_sources": row["inbound_allowed_sources"]},
        "auth": auth,
        "tls": tls,
        "register": row["register"],
        **{key: row[key] for key in _PLAIN_KEYS},
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


TRUNKS = NamedResource("trunks", "trunk", "name", store.get_trunk, _out,
                       lookup_for_write=partial(store.get_trunk, with_secrets=True))


def _as_input(row: dict) -> dict:
    """A stored trunk (with secrets) in the shape a PUT body has."""
    auth = None
    if row["auth_username"] is not None:
        auth = {"username": row["auth_username"], "password": row["auth_password"] or ""}
    tls = None
    if row["tls_client_certificate"] is not None:
        tls = {"client_certificate": row["tls_client_certificate"],
               "client_key": row["tls_client_key"] or ""}
    return {
        "gateways": [{key: g[key] for key in _GATEWAY_KEYS} for g in row["gateways"]],
        "inbound": {"allowed_sources": row["inbound_allowed_sources"]},
        "auth": auth,
        "tls": tls,
        "register": row["register"],
        **{key: row[key] for key in _PLAIN_KEYS},
    }


def _values(body: TrunkReplace) -> dict:
    return {
        "inbound_allowed_sources": list(body.inbound.allowed_sources),
        "auth_username": body.auth.username if body.auth else None,
        "auth_password": body.auth.password if body.auth else None,
        "tls_client_certificate": body.tls.client_certificate if body.tls else None,
        "tls_client_key": body.tls.client_key if body.tls else None,
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


def _insert(ctx, conn, body: TrunkCreate) -> dict:
    gateways = _gateway_rows(conn, body)
    return store.create_trunk(conn, {"name": body.name, **_values(body)}, gateways)


def _save(ctx, conn, name: str, body: TrunkReplace) -> dict:
    return store.update_trunk(conn, name, _values(body), _gateway_rows(conn, body))


def list_trunks(ctx, call):
    return TRUNKS.list(ctx, call, store.list_trunks)


def create_trunk(ctx, call):
    return TRUNKS.create(ctx, call, _insert)


def get_trunk(ctx, call):
    return TRUNKS.get(ctx, call)


def replace_trunk(ctx, call):
    return TRUNKS.replace(ctx, call, _save)


def patch_trunk(ctx, call):
    return TRUNKS.patch(ctx, call, TrunkReplace, _as_input, _save)


def delete_trunk(ctx, call):
    return TRUNKS.delete(ctx, call, store.delete_trunk, store.referrers)


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
