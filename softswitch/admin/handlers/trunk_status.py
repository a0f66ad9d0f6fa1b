"""/v1/trunks/{name}/status: how the switch sees a trunk right now (its gateways'
health and round trip, its registration to the carrier, calls holding it)."""

from softswitch.admin.errors import not_found
from softswitch.admin.router import Route
from softswitch.admin.schemas.trunk_status import TrunkStatusOut
from softswitch.store import trunks as store


def get_trunk_status(ctx, call):
    name = call.params["name"]

    def exists(conn):
        if store.get_trunk(conn, name) is None:
            raise not_found("trunk", name)

    return ctx.run("trunks.status", exists).addCallback(
        lambda _: ctx.trunk_status.status(name))


def routes() -> list[Route]:
    return [Route("GET", "/v1/trunks/{name}/status", get_trunk_status,
                  response_model=TrunkStatusOut,
                  summary="Live status of a trunk: gateway health, registration, calls",
                  tag="trunks")]
