"""/v1/users: SIP accounts of the switch's domain; passwords are write-only."""

from softswitch.admin.errors import ApiError, already_exists, not_found, still_referenced
from softswitch.admin.handlers.common import (
    created,
    decode_cursor,
    no_content,
    page,
    patch_values,
    same_key,
)
from softswitch.admin.router import Route
from softswitch.admin.schemas.common import ListQuery, Page
from softswitch.admin.schemas.users import UserCreate, UserOut, UserPatch, UserReplace
from softswitch.store import users as store

KIND = "users"
ITEM = "/v1/users/{username}"


def _out(row: dict) -> dict:
    return {key: row[key] for key in UserOut.model_fields}


def _check_domain(ctx, domain: str | None) -> None:
    # The registrar authenticates one realm, the switch's domain: a user of
    # another domain could never register.
    if domain is not None and domain != ctx.domain:
        raise ApiError(422, f"domain: this switch serves the domain {ctx.domain!r} only",
                       "domain")


def list_users(ctx, call):
    query = call.query
    after = decode_cursor(query.after, str)
    d = ctx.run("users.list", store.list_domain_users, ctx.domain, after, query.limit + 1)
    return d.addCallback(page, query.limit, lambda row: row["username"], _out)


def create_user(ctx, call):
    body = call.body
    _check_domain(ctx, body.domain)

    def transaction(conn):
        if store.get_user(conn, body.username, ctx.domain) is not None:
            raise already_exists("user", body.username, "username")
        return _out(store.create_user(conn, body.username, ctx.domain, body.password,
                                      body.display_name, body.enabled))
    return ctx.write(KIND, "users.create", transaction).addCallback(
        created, "v1", "users", body.username)


def get_user(ctx, call):
    username = call.params["username"]

    def transaction(conn):
        row = store.get_user(conn, username, ctx.domain)
        if row is None:
            raise not_found("user", username)
        return _out(row)
    return ctx.run("users.get", transaction)


def replace_user(ctx, call):
    username, body = call.params["username"], call.body
    same_key(body.username, username, "username")
    _check_domain(ctx, body.domain)
    values = {"display_name": body.display_name, "enabled": body.enabled}
    return _update(ctx, username, values, body.password)


def patch_user(ctx, call):
    username = call.params["username"]
    changes = patch_values(call.body)
    same_key(changes.pop("username", None), username, "username")
    _check_domain(ctx, changes.pop("domain", None))
    password = changes.pop("password", None)
    return _update(ctx, username, changes, password)


def _update(ctx, username: str, values: dict, password: str | None):
    def transaction(conn):
        row = store.update_user(conn, username, ctx.domain, values, password)
        if row is None:
            raise not_found("user", username)
        return _out(row)
    return ctx.write(KIND, "users.update", transaction)


def delete_user(ctx, call):
    username = call.params["username"]

    def transaction(conn):
        if store.get_user(conn, username, ctx.domain) is None:
            raise not_found("user", username)
        referrers = store.referrers(conn, username, ctx.domain)
        if referrers:
            raise still_referenced("user", username, referrers)
        store.delete_user(conn, username, ctx.domain)
    return ctx.write(KIND, "users.delete", transaction).addCallback(no_content)


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
