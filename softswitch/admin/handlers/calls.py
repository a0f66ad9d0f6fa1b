"""/v1/calls: the calls in progress on this switch, from its proxy (not the database).

The list lives in memory and changes as calls come and go. It is ordered by
start time, then Call-ID, and a cursor names the last call shown, so paging
neither repeats nor skips a call that stays up.
"""

from softswitch.admin.calls_view import HangUp
from softswitch.admin.errors import ApiError, not_found
from softswitch.admin.handlers.common import decode_cursor, no_content, page
from softswitch.admin.router import Route
from softswitch.admin.schemas.calls import CallOut
from softswitch.admin.schemas.common import ListQuery, Page

ITEM = "/v1/calls/{call_id}"


def _out(row: dict) -> dict:
    return {key: row[key] for key in CallOut.model_fields}


def _order(row: dict) -> tuple:
    return row["started_at"], row["call_id"]


def _cursor(text: str) -> tuple[float, str]:
    key = decode_cursor(text, list)
    if len(key) != 2 or type(key[0]) not in (int, float) or type(key[1]) is not str:
        raise ApiError(422, "after: not a cursor returned by this API", "after")
    return key[0], key[1]


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
    return page(calls, query.limit, _order, _out)


def get_call(ctx, call):
    call_id = call.params["call_id"]
    for row in ctx.calls.active_calls():
        if row["call_id"] == call_id:
            return _out(row)
    raise not_found("call", call_id)


def hang_up_call(ctx, call):
    call_id = call.params["call_id"]
    outcome = ctx.calls.hang_up(call_id)
    if outcome is HangUp.NOT_ANSWERED:
        raise ApiError(409, f"call {call_id!r} is not answered yet; "
                            "it can be hung up once answered")
    if outcome is HangUp.UNKNOWN:
        raise not_found("call", call_id)
    return no_content()


def routes() -> list[Route]:
    tag = "calls"
    return [
        Route("GET", "/v1/calls", list_calls, query_model=ListQuery,
              response_model=Page[CallOut], summary="List the calls in progress, oldest first",
              tag=tag),
        Route("GET", ITEM, get_call, response_model=CallOut, summary="Get a call in progress",
              tag=tag),
        Route("DELETE", ITEM, hang_up_call, status=204,
              summary="Hang up an answered call (409 while it is still trying or ringing)",
              tag=tag),
    ]
