"""/v1/registrations: the current SIP bindings (read-only, unexpired only)."""

from softswitch.admin.handlers.common import NamedResource
from softswitch.admin.router import Route
from softswitch.admin.schemas.common import Page
from softswitch.admin.schemas.registrations import RegistrationOut, RegistrationQuery
from softswitch.store import registrations as store


def _out(row: dict) -> dict:
    return {key: row[key] for key in RegistrationOut.model_fields}


def _now(ctx) -> tuple:
    return (ctx.clock.seconds(),)


REGISTRATIONS = NamedResource("registrations", "registration", "id", store.get_active, _out,
                              scope=_now)


def list_registrations(ctx, call):
    return REGISTRATIONS.list(ctx, call, store.list_active, ctx.clock.seconds(), call.query.aor)


def get_registration(ctx, call):
    return REGISTRATIONS.get(ctx, call)


def routes() -> list[Route]:
    tag = "registrations"
    return [
        Route("GET", "/v1/registrations", list_registrations, query_model=RegistrationQuery,
              response_model=Page[RegistrationOut], summary="List current registrations",
              tag=tag),
        Route("GET", "/v1/registrations/{id}", get_registration,
              response_model=RegistrationOut, summary="Get a current registration", tag=tag),
    ]
