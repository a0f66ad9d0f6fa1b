"""/v1/agents: AI voice agents; secret headers are write-only."""

from functools import partial

from softswitch.admin.errors import missing_reference
from softswitch.admin.handlers.common import NamedResource, patch_values
from softswitch.admin.router import Route
from softswitch.admin.schemas.agents import AgentCreate, AgentOut, AgentPatch, AgentReplace
from softswitch.admin.schemas.common import ListQuery, Page
from softswitch.store import agents as store, regions

ITEM = "/v1/agents/{name}"
_INPUT_KEYS = ("url", "profile", "sample_rate", "region", "headers", "secret_headers",
               "custom_parameters", "account_sid", "auth_token", "webhook_url", "caller_ids",
               "sip_headers", "record")


def _out(row: dict) -> dict:
    return {key: row[key] for key in AgentOut.model_fields}


AGENTS = NamedResource("agents", "agent", "name", store.get_agent, _out,
                       lookup_for_write=partial(store.get_agent, with_secrets=True))


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
        "custom_parameters": {key: value if isinstance(value, str) else value.model_dump()
                              for key, value in body.custom_parameters.items()},
        "account_sid": body.account_sid, "auth_token": body.auth_token,
        "webhook_url": body.webhook_url,
        "caller_ids": list(body.caller_ids), "sip_headers": list(body.sip_headers),
        "record": body.record,
    }


def _insert(ctx, conn, body: AgentCreate) -> dict:
    return store.create_agent(conn, {"name": body.name, **_values(conn, body)})


def _save(ctx, conn, name: str, body: AgentReplace) -> dict:
    return store.update_agent(conn, name, _values(conn, body))


def _as_input(row: dict) -> dict:
    """A stored agent (with secrets) in the shape a PUT body has."""
    return {key: row[key] for key in _INPUT_KEYS}


def list_agents(ctx, call):
    return AGENTS.list(ctx, call, store.list_agents)


def create_agent(ctx, call):
    return AGENTS.create(ctx, call, _insert)


def get_agent(ctx, call):
    return AGENTS.get(ctx, call)


def replace_agent(ctx, call):
    return AGENTS.replace(ctx, call, _save)


def patch_agent(ctx, call):
    changes = patch_values(call.body)
    if "profile" in changes and "sample_rate" not in changes:
        changes["sample_rate"] = None  # the new profile's default rate
    return AGENTS.patch(ctx, call, AgentReplace, _as_input, _save, changes)


def delete_agent(ctx, call):
    return AGENTS.delete(ctx, call, store.delete_agent, store.referrers)


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
