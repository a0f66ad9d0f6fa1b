"""/v1/registrations: the current SIP bindings (read-only, unexpired only), as the
registrar holds them (ctx.registrations, see registrations_view)."""

from operator import itemgetter

from twisted.internet.defer import maybeDeferred

from softswitch.admin.errors import not_found
from softswitch.admin.handlers.common import page
from softswitch.admin.router import Route
from softswitch.admin.schemas.common import Page
from softswitch.admin.schemas.registrations import RegistrationOut, RegistrationQuery


def _out(row: dict) -> dict:
    return {key: row[key] for key in RegistrationOut.model_fields}


def list_registrations(ctx, call):
    query = call.query
    after = query.after  # an id (IdListQuery)
    d = maybeDeferred(ctx.registrations.list, query.aor, after, query.limit + 1)
    return d.addCallback(page, query.limit, itemgetter("id"), _out)


def get_registration(ctx, call):
    key = call.params["id"]

    def found(row):
        if row is None:
            raise not_found("registration", key)
        return _out(row)
    return maybeDeferred(ctx.registrations.get, key).addCallback(found)


def routes() -> list[Route]:
    tag = "registrations"
    return [
        Route("GET", "/v1/registrations", list_registrations, query_model=RegistrationQuery,
              response_model=Page[RegistrationOut], summary="List current registrations",
              tag=tag),
        Route("GET", "/v1/registrations/{id}", get_registration,
              response_model=RegistrationOut, summary="Get a current registration", tag=tag),
    ]
