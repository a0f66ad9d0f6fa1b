"""The public factory: ``build_api`` returns the resource tap.py mounts at /v1."""

from dataclasses import dataclass, field
from typing import Callable

from twisted.internet.defer import maybeDeferred
from twisted.logger import Logger

from softswitch.admin.auth import DEFAULT_TTL, TokenCache
from softswitch.admin.calls_view import NoCalls
from softswitch.admin.handlers import (
    agents,
    bans,
    calls,
    cdrs,
    docs,
    numbers,
    outbound,
    recordings,
    regions,
    registrations,
    tokens,
    trunk_status,
    trunks,
    users,
    webhooks,
)
from softswitch.admin.registrations_view import StoredRegistrations
from softswitch.admin.resource import ApiResource
from softswitch.admin.router import Route, Router
from softswitch.admin.throttle import BadTokenThrottle
from softswitch.admin.trunk_status_view import NoTrunkStatus
from softswitch.edge.sip.guard import SipGuard
from softswitch.services.guard import GuardPolicy
from softswitch.services.webhooks import NO_WEBHOOKS

CHANGE_KINDS = ("users", "regions", "trunks", "agents", "numbers", "routes", "tokens")
_MODULES = (users, regions, trunks, trunk_status, agents, numbers, outbound, tokens, registrations, cdrs,
            calls, bans, webhooks, recordings)

log = Logger()


@dataclass
class ApiContext:
    """What handlers use: the database, the switch's SIP domain, change hook, the
    calls in progress (a calls_view.CallsView or NoCalls) and the registrations
    (a registrations_view.LiveRegistrations or StoredRegistrations)."""

    database: object
    domain: str
    clock: object
    tokens: TokenCache
    on_change: Callable[[str], None]
    routes: tuple[Route, ...] = ()
    openapi: dict | None = None  # built on first request
    calls: object = field(default_factory=NoCalls)
    trunk_status: object = field(default_factory=NoTrunkStatus)
    guard: object = None  # an edge.sip.guard.SipGuard
    registrations: object = None
    webhooks: object = NO_WEBHOOKS  # services.webhooks.Webhooks: deliveries to show
    recordings: object = None  # services.recordings.Recordings (None: no switch)

    def run(self, desc: str, fn, *args, **kw):
        return self.database.run(desc, fn, *args, **kw)

    def write(self, kind: str, desc: str, fn, *args, **kw):
        """Run one write transaction; once it committed, tell ``on_change(kind)`` and
        wait for what it returns (a Deferred: the next call sees the write) before
        the answer goes out. A failed hook is logged: the write itself stands."""
        assert kind in CHANGE_KINDS, kind
        d = self.database.run(desc, fn, *args, **kw)

        def changed(result):
            applied = maybeDeferred(self.on_change, kind)
            applied.addErrback(lambda f: log.failure("on_change({kind}) failed", f, kind=kind))
            return applied.addCallback(lambda _: result)
        return d.addCallback(changed)


def all_routes() -> list[Route]:
    """The route table: every endpoint of the API."""
    table = []
    for module in _MODULES:
        table += module.routes()
    return table + docs.routes()


def build_api(
    database,
    reactor,
    *,
    domain: str,
    on_change: Callable[[str], None] | None = None,
    metrics=None,
    token_ttl: float = DEFAULT_TTL,
    calls=None,
    trunk_status=None,
    guard=None,
    throttle=None,
    registrations=None,
    webhooks=None,
    recordings=None,
) -> ApiResource:
    """The /v1 resource over ``database`` (a store Database).

    ``domain`` is the switch's SIP domain (the users' digest realm);
    ``on_change(kind)`` runs after each committed write, kind one of
    CHANGE_KINDS, and the answer waits for the Deferred it may return;
    ``metrics`` is a softswitch Metrics (or None); ``calls`` shows and hangs
    up the calls in progress (calls_view.CallsView over the proxy; None: an
    API without a switch, which has no calls); ``guard`` is the SIP guard whose
    bans /v1/bans shows (None: one of its own, with no traffic); ``throttle``
    slows bad tokens (admin.throttle.BadTokenThrottle; None: one with its
    defaults); ``registrations`` lists the registrar's bindings
    (registrations_view.LiveRegistrations over the location service; None:
    those written to the database); ``webhooks`` the call-event webhooks whose
    deliveries /v1/webhooks/deliveries shows (None: none).
    """
    if guard is None:
        guard = SipGuard(reactor, GuardPolicy())
    table = all_routes()
    tokens_cache = TokenCache(database, reactor, ttl=token_ttl)
    context = ApiContext(database, domain, reactor, tokens_cache,
                         on_change or (lambda kind: None), tuple(table),
                         calls=calls if calls is not None else NoCalls(),
                         trunk_status=trunk_status if trunk_status is not None
                         else NoTrunkStatus(), guard=guard,
                         registrations=registrations if registrations is not None
                         else StoredRegistrations(database, reactor),
                         webhooks=webhooks if webhooks is not None else NO_WEBHOOKS,
                         recordings=recordings)
    if throttle is None:
        throttle = BadTokenThrottle(reactor)
    return ApiResource(Router(table), context, tokens_cache, metrics, throttle)
