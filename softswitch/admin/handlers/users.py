"""/v1/users: SIP accounts of the switch's domain; passwords are write-only."""

from softswitch.admin.errors import ApiError
from softswitch.admin.handlers.common import NamedResource, patch_values, same_key
from softswitch.admin.router import Route
from softswitch.admin.schemas.common import ListQuery, Page
from softswitch.admin.schemas.users import UserCreate, UserOut, UserPatch, UserReplace
from softswitch.store import users as store

ITEM = "/v1/users/{username}"


def _out(row: dict) -> dict:
    return {key: row[key] for key in UserOut.model_fields}


def _domain(ctx) -> tuple:
    return (ctx.domain,)


USERS = NamedResource("users", "user", "username", store.get_user, _out, scope=_domain)


def _check_domain(ctx, domain: str | None) -> None:
    # The registrar authenticates one realm, the switch's domain: a user of
    # another domain could never register.
    if domain is not None and domain != ctx.domain:
        raise ApiError(422, f"domain: this switch serves the domain {ctx.domain!r} only",
                       "domain")


def _insert(ctx, conn, body: UserCreate) -> dict:
    return store.create_user(conn, body.username, ctx.domain, body.password,
                             body.display_name, body.enabled, list(body.caller_ids))


def list_users(ctx, call):
    return USERS.list(ctx, call, store.list_domain_users, ctx.domain)


def create_user(ctx, call):
    _check_domain(ctx, call.body.domain)
    return USERS.create(ctx, call, _insert)


def get_user(ctx, call):
    return USERS.get(ctx, call)


def replace_user(ctx, call):
    username, body = call.params["username"], call.body
    same_key(body.username, username, "username")
    _check_domain(ctx, body.domain)
    values = {"display_name": body.display_name, "enabled": body.enabled,
              "caller_ids": list(body.caller_ids)}
    return _update(ctx, username, values, body.password)


def patch_user(ctx, call):
    username = call.params["username"]
    changes = patch_values(call.body)
    same_key(changes.pop("username", None), username, "username")
    _check_domain(ctx, changes.pop("domain", None))
    password = changes.pop("password", None)
    return _update(ctx, username, changes, password)


def _update(ctx, username: str, values: dict, password: str | None):
    # Values and password, not a merged body: the password is stored as hashes.
    def write(conn, row):
        return store.update_user(conn, username, ctx.domain, values, password)
    return USERS.update(ctx, username, write)


def delete_user(ctx, call):
    return USERS.delete(ctx, call, store.delete_user, store.referrers)


def routes() -> list[Route]:
    tag = "users"
    return [
        Route("GET", "/v1/users", list_users, query_model=ListQuery,
              response_model=Page[UserOut], summary="List SIP users", tag=tag),
        Route("POST", "/v1/users", create_user, body_model=UserCreate, response_model=UserOut,
              status=201, summary="Create a SIP user", tag=tag),
        Route("GET", ITEM, get_user, response_model=UserOut, summary="Get a SIP user", tag=tag),
        Route("PUT", ITEM, replace_user, body_model=UserReplace, response_model=UserOut,
              summary="Replace a SIP user (password included)", tag=tag),
        Route("PATCH", ITEM, patch_user, body_model=UserPatch, response_model=UserOut,
              summary="Change some fields of a SIP user", tag=tag),
        Route("DELETE", ITEM, delete_user, status=204,
              summary="Delete a SIP user (409 while a number routes to it)", tag=tag),
    ]
