"""/v1/calls: the calls in progress on this switch, from its services (not the
database): proxied calls, calls answered by an AI agent, outbound AI calls.

The list lives in memory and changes as calls come and go. It is ordered by
start time, then Call-ID, and a cursor names the last call shown, so paging
neither repeats nor skips a call that stays up.

POST places an outbound AI call (services.outbound_calls), with answering-machine
detection if its body asks (`amd`, docs/amd.md): 201 with the call and
its Location at once, while the call is queued for its trunk's limits or dialling;
how it ended (answered, busy, no answer, failed with a code) is in its call record.
DELETE hangs up an answered call, and cancels (or takes out of the queue) an
outbound call that is not answered yet; a proxied call still trying or ringing
is left alone (409).

POST .../handoff moves an answered agent call to another agent (docs/agents.md
"Handoff"): 200 once the new agent has the call; 404 for an unknown call or agent,
409 when the call cannot be handed over now, 502 when the new agent could not be
reached (the call stays with its agent).
"""

from softswitch.admin.calls_view import HangUp
from softswitch.admin.errors import ApiError, not_found
from softswitch.admin.handlers.common import created, no_content, page
from softswitch.admin.router import Route
from softswitch.admin.schemas.calls import (
    CallListQuery,
    CallOut,
    HandoffIn,
    HandoffOut,
    OriginateIn,
)
from softswitch.admin.schemas.common import Page
from softswitch.agent.amd_watch import AmdOptions

ITEM = "/v1/calls/{call_id}"


def _out(row: dict) -> dict:
    return {key: row.get(key) for key in CallOut.model_fields}


def _order(row: dict) -> tuple:
    return row["started_at"], row["call_id"]


def _cursor_text(order: tuple) -> str:
    """STARTED/CALL-ID (CallListQuery's pattern): epoch seconds as repr gives them
    (exact), then the Call-ID."""
    started_at, call_id = order
    return f"{float(started_at)!r}/{call_id}"


def _cursor(text: str) -> tuple[float, str]:
    started_at, _, call_id = text.partition("/")
    return float(started_at), call_id


def following(calls: list[dict], started_at: float, call_id: str) -> list[dict]:
    """The calls after the cursor's call in ``calls`` (sorted by ``_order``).

    While that call is up, after it: its start, worked out again from its
    duration, may have moved by a microsecond. Once it has ended, after the
    place it had.
    """
    same = [i for i, row in enumerate(calls) if row["call_id"] == call_id]
    if same:
        here = min(same, key=lambda i: abs(calls[i]["started_at"] - started_at))
        return calls[here + 1:]
    return [row for row in calls if _order(row) > (started_at, call_id)]


def list_calls(ctx, call):
    query = call.query
    calls = sorted(ctx.calls.active_calls(), key=_order)
    if query.after is not None:
        calls = following(calls, *_cursor(query.after))
    return page(calls, query.limit, lambda row: _cursor_text(_order(row)), _out)


def get_call(ctx, call):
    call_id = call.params["call_id"]
    for row in ctx.calls.active_calls():
        if row["call_id"] == call_id:
            return _out(row)
    raise not_found("call", call_id)


def originate_call(ctx, call):
    body: OriginateIn = call.body
    amd = None
    if body.amd is not None:
        try:
            amd = AmdOptions.from_request(body.amd.model_dump(exclude_none=True))
        except ValueError as exc:
            raise ApiError(422, str(exc), str(exc).partition(":")[0]) from None
    row = ctx.calls.originate(body.to, body.from_, body.agent, body.trunk,
                              body.custom_parameters, amd)
    return created(_out(row), "v1", "calls", row["call_id"])


def hang_up_call(ctx, call):
    call_id = call.params["call_id"]
    outcome = ctx.calls.hang_up(call_id)
    if outcome is HangUp.NOT_ANSWERED:
        raise ApiError(409, f"call {call_id!r} is not answered yet; "
                            "it can be hung up once answered")
    if outcome is HangUp.UNKNOWN:
        raise not_found("call", call_id)
    return no_content()


def handoff_call(ctx, call):
    call_id = call.params["call_id"]
    body: HandoffIn = call.body
    return ctx.calls.handoff(call_id, body.agent, body.reason)


def routes() -> list[Route]:
    tag = "calls"
    return [
        Route("GET", "/v1/calls", list_calls, query_model=CallListQuery,
              response_model=Page[CallOut], summary="List the calls in progress, oldest first",
              tag=tag),
        Route("POST", "/v1/calls", originate_call, body_model=OriginateIn,
              response_model=CallOut, status=201,
              summary="Place an outbound call answered by an AI agent", tag=tag),
        Route("GET", ITEM, get_call, response_model=CallOut, summary="Get a call in progress",
              tag=tag),
        Route("DELETE", ITEM, hang_up_call, status=204,
              summary="Hang up a call; cancel an outbound call not answered yet (409 for a "
                      "proxied call still trying or ringing)", tag=tag),
        Route("POST", ITEM + "/handoff", handoff_call, body_model=HandoffIn,
              response_model=HandoffOut,
              summary="Hand an agent call over to another agent (502: it could not be "
                      "reached, the call stays with its agent)", tag=tag),
    ]
