"""/v1/numbers: DIDs in E.164 and the ordered targets of their routes."""

from softswitch.admin.errors import missing_reference
from softswitch.admin.handlers.common import NamedResource
from softswitch.admin.router import Route
from softswitch.admin.schemas.common import ListQuery, Page
from softswitch.admin.schemas.numbers import NumberCreate, NumberOut, NumberPatch, NumberReplace
from softswitch.store import agents, numbers as store, trunks, users

ITEM = "/v1/numbers/{number}"


def _out(row: dict) -> dict:
    return {key: row[key] for key in NumberOut.model_fields}


NUMBERS = NamedResource("numbers", "number", "number", store.get_number, _out)


def _targets(ctx, conn, body: NumberReplace) -> list[dict]:
    """Target rows with ids, the unverified route's after the route's; 422 naming
    the first target whose object is missing."""
    rows = _target_rows(ctx, conn, body.route, "route")
    if body.unverified_route is not None:
        rows += [{**row, "unverified": True} for row in _target_rows(
            ctx, conn, body.unverified_route.route, "unverified_route.route")]
    return rows


def _target_rows(ctx, conn, route, field: str) -> list[dict]:
    wanted = {"agent": set(), "user": set(), "trunk": set()}
    for target in route:
        if target.type != "reject":
            wanted[target.type].add(getattr(target, target.type))
        if target.type == "agent" and target.backup_agent is not None:
            wanted["agent"].add(target.backup_agent)
    known = {
        "agent": agents.ids_by_name(conn, wanted["agent"]),
        "user": users.ids_by_username(conn, ctx.domain, wanted["user"]),
        "trunk": trunks.ids_by_name(conn, wanted["trunk"]),
    }
    rows = []
    for position, target in enumerate(route):
        if target.type == "reject":
            rows.append({"kind": "reject", "reject_code": target.code})
            continue
        name = getattr(target, target.type)
        if name not in known[target.type]:
            raise missing_reference(target.type, name, f"{field}.{position}.{target.type}")
        row = {"kind": target.type, f"{target.type}_id": known[target.type][name]}
        if target.type == "agent" and target.backup_agent is not None:
            if target.backup_agent not in known["agent"]:
                raise missing_reference("agent", target.backup_agent,
                                        f"{field}.{position}.backup_agent")
            row["backup_agent_id"] = known["agent"][target.backup_agent]
        rows.append(row)
    return rows


def _values(body: NumberReplace) -> dict:
    return {"description": body.description, "enabled": body.enabled, "record": body.record,
            "unverified_when": body.unverified_route.when if body.unverified_route else None}


def _insert(ctx, conn, body: NumberCreate) -> dict:
    targets = _targets(ctx, conn, body)
    return store.create_number(conn, {"number": body.number, **_values(body)}, targets)


def _save(ctx, conn, number: str, body: NumberReplace) -> dict:
    return store.update_number(conn, number, _values(body), _targets(ctx, conn, body))


def _as_input(row: dict) -> dict:
    return {key: row[key] for key in ("route", "description", "enabled", "unverified_route",
                                      "record")}


def list_numbers(ctx, call):
    return NUMBERS.list(ctx, call, store.list_numbers)


def create_number(ctx, call):
    return NUMBERS.create(ctx, call, _insert)


def get_number(ctx, call):
    return NUMBERS.get(ctx, call)


def replace_number(ctx, call):
    return NUMBERS.replace(ctx, call, _save)


def patch_number(ctx, call):
    return NUMBERS.patch(ctx, call, NumberReplace, _as_input, _save)


def delete_number(ctx, call):
    return NUMBERS.delete(ctx, call, store.delete_number)


def routes() -> list[Route]:
    tag = "numbers"
    return [
        Route("GET", "/v1/numbers", list_numbers, query_model=ListQuery,
              response_model=Page[NumberOut], summary="List numbers", tag=tag),
        Route("POST", "/v1/numbers", create_number, body_model=NumberCreate,
              response_model=NumberOut, status=201, summary="Add a number and its route",
              tag=tag),
        Route("GET", ITEM, get_number, response_model=NumberOut, summary="Get a number",
              tag=tag),
        Route("PUT", ITEM, replace_number, body_model=NumberReplace, response_model=NumberOut,
              summary="Replace a number's route and settings", tag=tag),
        Route("PATCH", ITEM, patch_number, body_model=NumberPatch, response_model=NumberOut,
              summary="Change some fields of a number", tag=tag),
        Route("DELETE", ITEM, delete_number, status=204, summary="Delete a number", tag=tag),
    ]
