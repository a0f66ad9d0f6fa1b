"""/v1/tokens: admin API bearer tokens; the plaintext is returned once."""

from softswitch.admin.errors import not_found
from softswitch.admin.handlers.common import NamedResource, created, no_content
from softswitch.admin.router import Route
from softswitch.admin.schemas.common import IdListQuery, Page
from softswitch.admin.schemas.tokens import TokenCreate, TokenCreated, TokenOut
from softswitch.store import tokens as store

ITEM = "/v1/tokens/{id}"


def _out(row: dict) -> dict:
    return {key: row[key] for key in TokenOut.model_fields}


TOKENS = NamedResource("tokens", "token", "id", store.get_token, _out)


def list_tokens(ctx, call):
    return TOKENS.list(ctx, call, store.list_tokens_page)


def create_token(ctx, call):
    # Not TOKENS.create: the answer carries the plaintext token, shown only here.
    def transaction(conn):
        token, row = store.create_token(conn, call.body.name)
        return {**_out(row), "token": token}

    def located(out):
        return created(out, "v1", "tokens", out["id"])
    return ctx.write("tokens", "tokens.create", transaction).addCallback(located)


def get_token(ctx, call):
    return TOKENS.get(ctx, call)


def revoke_token(ctx, call):
    # Not TOKENS.delete: the row stays (revoked_at is set) and the cache forgets it.
    token_id = call.params["id"]

    def transaction(conn):
        if not store.revoke_token(conn, token_id):
            raise not_found("token", token_id)

    def forget(_):
        ctx.tokens.forget(token_id)
        return no_content()
    return ctx.write("tokens", "tokens.revoke", transaction).addCallback(forget)


def routes() -> list[Route]:
    tag = "tokens"
    return [
        Route("GET", "/v1/tokens", list_tokens, query_model=IdListQuery,
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
