"""/v1/tokens: admin API bearer tokens; the plaintext is returned once."""

from softswitch.admin.errors import not_found
from softswitch.admin.handlers.common import created, decode_cursor, no_content, page
from softswitch.admin.router import Route
from softswitch.admin.schemas.common import ListQuery, Page
from softswitch.admin.schemas.tokens import TokenCreate, TokenCreated, TokenOut
from softswitch.store import tokens as store

KIND = "tokens"
ITEM = "/v1/tokens/{id}"


def _out(row: dict) -> dict:
    return {key: row[key] for key in TokenOut.model_fields}


def list_tokens(ctx, call):
    query = call.query
    after = decode_cursor(query.after, int)
    d = ctx.run("tokens.list", store.list_tokens_page, after, query.limit + 1)
    return d.addCallback(page, query.limit, lambda row: row["id"], _out)


def create_token(ctx, call):
    def transaction(conn):
        token, row = store.create_token(conn, call.body.name)
        return {**_out(row), "token": token}

    def located(out):
        return created(out, "v1", "tokens", out["id"])
    return ctx.write(KIND, "tokens.create", transaction).addCallback(located)


def get_token(ctx, call):
    token_id = call.params["id"]

    def transaction(conn):
        row = store.get_token(conn, token_id)
        if row is None:
            raise not_found("token", token_id)
        return _out(row)
    return ctx.run("tokens.get", transaction)


def revoke_token(ctx, call):
    token_id = call.params["id"]

    def transaction(conn):
        if not store.revoke_token(conn, token_id):
            raise not_found("token", token_id)

    def forget(_):
        ctx.tokens.forget(token_id)
        return no_content()
    return ctx.write(KIND, "tokens.revoke", transaction).addCallback(forget)


def routes() -> list[Route]:
    tag = "tokens"
    return [
        Route("GET", "/v1/tokens", list_tokens, query_model=ListQuery,
              response_model=Page[TokenOut], summary="List API tokens (no secrets)", tag=tag),
        Route("POST", "/v1/tokens", create_token, body_model=TokenCreate,
              response_model=TokenCreated, status=201,
              summary="Create an API token (the token is shown only here)", tag=tag),
        Route("GET", ITEM, get_token, response_model=TokenOut, summary="Get an API token",
              tag=tag),
        Route("DELETE", ITEM, revoke_token, status=204,
              summary="Revoke an API token (at once on this node, within 5 s elsewhere)",
              tag=tag),
    ]
