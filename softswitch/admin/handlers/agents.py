"""/v1/agents: AI voice agents; secret headers are write-only."""

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
from softswitch.admin.schemas.agents import AgentCreate, AgentOut, AgentPatch, AgentReplace
from softswitch.admin.schemas.common import ListQuery, Page
from softswitch.store import agents as store, regions

KIND = "agents"
ITEM = "/v1/agents/{name}"
_INPUT_KEYS = ("url", "profile", "sample_rate", "region", "headers", "secret_headers",
               "custom_parameters")


def _out(row: dict) -> dict:
    return {key: row[key] for key in AgentOut.model_fields}


def _values(conn, body: AgentReplace) -> dict:
    region_id = None
    if body.region is not None:
        region_id = regions.ids_by_name(conn, [body.region]).get(body.region)
        if region_id is None:
            raise missing_reference("region", body.region, "region")
    return {
        "url": body.url, "profile": body.profile, "sample_rate": body.sample_rate,
        "region_id": region_id, "headers": dict(body.headers),
        "secret_headers": dict(body.secret_headers),
        "custom_parameters": dict(body.custom_parameters),
    }


def list_agents(ctx, call):
    query = call.query
    after = decode_cursor(query.after, str)
    d = ctx.run("agents.list", store.list_agents, after, query.limit + 1)
    return d.addCallback(page, query.limit, lambda row: row["name"], _out)


def create_agent(ctx, call):
    body = call.body

    def transaction(conn):
        if store.get_agent(conn, body.name) is not None:
            raise already_exists("agent", body.name, "name")
        return _out(store.create_agent(conn, {"name": body.name, **_values(conn, body)}))
    return ctx.write(KIND, "agents.create", transaction).addCallback(
        created, "v1", "agents", body.name)


def get_agent(ctx, call):
    name = call.params["name"]

    def transaction(conn):
        row = store.get_agent(conn, name)
        if row is None:
            raise not_found("agent", name)
        return _out(row)
    return ctx.run("agents.get", transaction)


def replace_agent(ctx, call):
    name = call.params["name"]
    same_key(call.body.name, name, "name")
    return _update(ctx, name, lambda row: call.body)


def patch_agent(ctx, call):
    name = call.params["name"]
    changes = patch_values(call.body)
    same_key(changes.get("name"), name, "name")
    if "profile" in changes and "sample_rate" not in changes:
        changes["sample_rate"] = None  # the new profile's default rate

    def merged(row):
        current = {key: row[key] for key in _INPUT_KEYS}
        return revalidate(AgentReplace, {**current, **changes})
    return _update(ctx, name, merged)


def _update(ctx, name: str, body_for):
    def transaction(conn):
        row = store.get_agent(conn, name, with_secrets=True)
        if row is None:
            raise not_found("agent", name)
        return _out(store.update_agent(conn, name, _values(conn, body_for(row))))
    return ctx.write(KIND, "agents.update", transaction)


def delete_agent(ctx, call):
    name = call.params["name"]

    def transaction(conn):
        if store.get_agent(conn, name) is None:
            raise not_found("agent", name)
        referrers = store.referrers(conn, name)
        if referrers:
            raise still_referenced("agent", name, referrers)
        store.delete_agent(conn, name)
    return ctx.write(KIND, "agents.delete", transaction).addCallback(no_content)


def routes() -> list[Route]:
    tag = "agents"
    return [
        Route("GET", "/v1/agents", list_agents, query_model=ListQuery,
              response_model=Page[AgentOut], summary="List AI agents", tag=tag),
        Route("POST", "/v1/agents", create_agent, body_model=AgentCreate,
              response_model=AgentOut, status=201, summary="Create an AI agent", tag=tag),
        Route("GET", ITEM, get_agent, response_model=AgentOut, summary="Get an AI agent",
              tag=tag),
        Route("PUT", ITEM, replace_agent, body_model=AgentReplace, response_model=AgentOut,
              summary="Replace an AI agent (secret headers included)", tag=tag),
        Route("PATCH", ITEM, patch_agent, body_model=AgentPatch, response_model=AgentOut,
              summary="Change some fields of an AI agent", tag=tag),
        Route("DELETE", ITEM, delete_agent, status=204,
              summary="Delete an AI agent (409 while a number routes to it)", tag=tag),
    ]
