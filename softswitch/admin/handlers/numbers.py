"""/v1/numbers: DIDs in E.164 and the ordered targets of their routes."""

from softswitch.admin.errors import already_exists, missing_reference, not_found
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
from softswitch.admin.schemas.common import ListQuery, Page
from softswitch.admin.schemas.numbers import NumberCreate, NumberOut, NumberPatch, NumberReplace
from softswitch.store import agents, numbers as store, trunks, users

KIND = "numbers"
ITEM = "/v1/numbers/{number}"


def _out(row: dict) -> dict:
    return {key: row[key] for key in NumberOut.model_fields}


def _targets(ctx, conn, body: NumberReplace) -> list[dict]:
    """Target rows with ids; 422 naming the first target whose object is missing."""
    wanted = {"agent": set(), "user": set(), "trunk": set()}
    for target in body.route:
        if target.type != "reject":
            wanted[target.type].add(getattr(target, target.type))
    known = {
        "agent": agents.ids_by_name(conn, wanted["agent"]),
        "user": users.ids_by_username(conn, ctx.domain, wanted["user"]),
        "trunk": trunks.ids_by_name(conn, wanted["trunk"]),
    }
    rows = []
    for position, target in enumerate(body.route):
        if target.type == "reject":
            rows.append({"kind": "reject", "reject_code": target.code})
            continue
        name = getattr(target, target.type)
        if name not in known[target.type]:
            raise missing_reference(target.type, name, f"route.{position}.{target.type}")
        rows.append({"kind": target.type, f"{target.type}_id": known[target.type][name]})
    return rows


def _values(body: NumberReplace) -> dict:
    return {"description": body.description, "enabled": body.enabled}


def list_numbers(ctx, call):
    query = call.query
    after = decode_cursor(query.after, str)
    d = ctx.run("numbers.list", store.list_numbers, after, query.limit + 1)
    return d.addCallback(page, query.limit, lambda row: row["number"], _out)


def create_number(ctx, call):
    body = call.body

    def transaction(conn):
        if store.get_number(conn, body.number) is not None:
            raise already_exists("number", body.number, "number")
        targets = _targets(ctx, conn, body)
        return _out(store.create_number(conn, {"number": body.number, **_values(body)}, targets))
    return ctx.write(KIND, "numbers.create", transaction).addCallback(
        created, "v1", "numbers", body.number)


def get_number(ctx, call):
    number = call.params["number"]

    def transaction(conn):
        row = store.get_number(conn, number)
        if row is None:
            raise not_found("number", number)
        return _out(row)
    return ctx.run("numbers.get", transaction)


def replace_number(ctx, call):
    number = call.params["number"]
    same_key(call.body.number, number, "number")
    return _update(ctx, number, lambda row: call.body)


def patch_number(ctx, call):
    number = call.params["number"]
    changes = patch_values(call.body)
    same_key(call.body.number, number, "number")
    changes.pop("number", None)

    def merged(row):
        current = {key: row[key] for key in ("route", "description", "enabled")}
        return revalidate(NumberReplace, {**current, **changes})
    return _update(ctx, number, merged)


def _update(ctx, number: str, body_for):
    def transaction(conn):
        row = store.get_number(conn, number)
        if row is None:
            raise not_found("number", number)
        body = body_for(row)
        return _out(store.update_number(conn, number, _values(body), _targets(ctx, conn, body)))
    return ctx.write(KIND, "numbers.update", transaction)


def delete_number(ctx, call):
    number = call.params["number"]

    def transaction(conn):
        if not store.delete_number(conn, number):
            raise not_found("number", number)
    return ctx.write(KIND, "numbers.delete", transaction).addCallback(no_content)


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
