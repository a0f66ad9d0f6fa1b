"""/v1/bans: the SIP guard's bans, from the running switch (memory, not the
database): list, look up, ban an address or network for a while, unban. Bans made
here are "manual"; the guard's own are "auth" and "flood". /v1/guard shows its
counters.

A network is written in CIDR form; in a path its '/' is sent as %2F.
"""

from softswitch.admin.errors import ApiError, not_found
from softswitch.admin.handlers.common import created, no_content, page
from softswitch.admin.router import Route
from softswitch.admin.schemas.bans import BanIn, BanOut, GuardCountersOut
from softswitch.admin.schemas.common import ListQuery, Page

ITEM = "/v1/bans/{address}"


def _out(ban, now: float) -> dict:
    return {"address": ban.address, "reason": ban.reason, "banned_at": ban.since,
            "expires_at": ban.until, "remaining": round(ban.remaining(now), 3),
            "offences": ban.offences, "dropped": ban.dropped}


def list_bans(ctx, call):
    query = call.query
    now = ctx.guard.seconds()
    bans = sorted(ctx.guard.bans(), key=lambda ban: ban.address)
    after = query.after
    if after is not None:
        bans = [ban for ban in bans if ban.address > after]
    return page(bans[:query.limit + 1], query.limit, lambda ban: ban.address,
                lambda ban: _out(ban, now))


def get_ban(ctx, call):
    address = call.params["address"]
    ban = ctx.guard.get_ban(address)
    if ban is None:
        raise not_found("ban", address)
    return _out(ban, ctx.guard.seconds())


def add_ban(ctx, call):
    body: BanIn = call.body
    try:
        ban = ctx.guard.ban(body.address, body.seconds)
    except ValueError as exc:
        raise ApiError(409, str(exc), "address") from None
    return created(_out(ban, ctx.guard.seconds()), "v1", "bans", ban.address)


def remove_ban(ctx, call):
    address = call.params["address"]
    if ctx.guard.get_ban(address) is None or ctx.guard.unban(address) is None:
        raise not_found("ban", address)
    return no_content()


def counters(ctx, call):
    return ctx.guard.counters()


def routes() -> list[Route]:
    tag = "bans"
    return [
        Route("GET", "/v1/bans", list_bans, query_model=ListQuery, response_model=Page[BanOut],
              summary="List the source addresses the SIP guard drops, by address", tag=tag),
        Route("POST", "/v1/bans", add_ban, body_model=BanIn, response_model=BanOut,
              status=201, summary="Ban an address or network for a number of seconds "
                                  "(409 if it is on the allow-list)", tag=tag),
        Route("GET", ITEM, get_ban, response_model=BanOut, summary="Get one ban", tag=tag),
        Route("DELETE", ITEM, remove_ban, status=204, summary="Lift a ban", tag=tag),
        Route("GET", "/v1/guard", counters, response_model=GuardCountersOut,
              summary="The SIP guard's counters: bans and dropped messages", tag=tag),
    ]
