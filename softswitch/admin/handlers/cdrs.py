"""/v1/cdrs: call detail records, newest first (read-only)."""

from softswitch.admin.handlers.common import NamedResource, page
from softswitch.admin.router import Route
from softswitch.admin.schemas.cdrs import CdrOut, CdrQuery
from softswitch.admin.schemas.common import Page, normalise_e164
from softswitch.store import cdrs as store


def _out(row: dict) -> dict:
    out = {key: row.get(key) for key in CdrOut.model_fields if key != "duration"}
    answered, ended = row["answer_at"], row["end_at"]
    out["duration"] = None if answered is None else max(0.0, ended - answered)
    return out


CDRS = NamedResource("cdrs", "call record", "id", store.get_cdr, _out)


def _number_forms(number: str | None) -> tuple[str, ...]:
    """The number as given, and in E.164 with and without '+' when it reads as one.

    A search is not a write: bare digits are also tried as international.
    """
    if number is None:
        return ()
    forms = {number}
    candidate = number.strip()
    if candidate.isdigit() and not candidate.startswith("0"):
        candidate = "+" + candidate
    try:
        e164 = normalise_e164(candidate)
    except ValueError:
        return tuple(sorted(forms))
    return tuple(sorted(forms | {e164, e164[1:]}))


def list_cdrs(ctx, call):
    query = call.query
    before = query.after  # the last id shown (newest first)
    d = ctx.run("cdrs.list", store.list_cdrs, since=query.since, until=query.until,
                numbers=_number_forms(query.number), before=before, limit=query.limit + 1)
    return d.addCallback(page, query.limit, lambda row: row["id"], _out)


def get_cdr(ctx, call):
    return CDRS.get(ctx, call)


def routes() -> list[Route]:
    tag = "cdrs"
    return [
        Route("GET", "/v1/cdrs", list_cdrs, query_model=CdrQuery, response_model=Page[CdrOut],
              summary="List call records, newest first", tag=tag),
        Route("GET", "/v1/cdrs/{id}", get_cdr, response_model=CdrOut,
              summary="Get a call record", tag=tag),
    ]
