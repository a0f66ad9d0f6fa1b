"""The public factory: ``build_api`` returns the resource tap.py mounts at /v1."""

from dataclasses import dataclass
from typing import Callable

from twisted.logger import Logger

from softswitch.admin.auth import DEFAULT_TTL, TokenCache
from softswitch.admin.handlers import (
    agents,
    cdrs,
    docs,
    numbers,
    outbound,
    regions,
    registrations,
    tokens,
    trunks,
    users,
)
from softswitch.admin.resource import ApiResource
from softswitch.admin.router import Route, Router

CHANGE_KINDS = ("users", "regions", "trunks", "agents", "numbers", "routes", "tokens")
_MODULES = (users, regions, trunks, agents, numbers, outbound, tokens, registrations, cdrs)

log = Logger()


@dataclass
class ApiContext:
    """What handlers use: the database, the switch's SIP domain, change hook."""

    database: object
    domain: str
    clock: object
    tokens: TokenCache
    on_change: Callable[[str], None]
    routes: tuple[Route, ...] = ()
    openapi: dict | None = None  # built on first request

    def run(self, desc: str, fn, *args, **kw):
        return self.database.run(desc, fn, *args, **kw)

    def write(self, kind: str, desc: str, fn, *args, **kw):
        """Run one write transaction; tell ``on_change(kind)`` once it committed."""
        assert kind in CHANGE_KINDS, kind
        d = self.database.run(desc, fn, *args, **kw)

        def changed(result):
            try:
                self.on_change(kind)
            except Exception:
                log.failure("on_change({kind}) failed", kind=kind)
            return result
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
) -> ApiResource:
    """The /v1 resource over ``database`` (a store Database).

    ``domain`` is the switch's SIP domain (the users' digest realm);
    ``on_change(kind)`` runs after each committed write, kind one of
    CHANGE_KINDS; ``metrics`` is a softswitch Metrics (or None).
    """
    table = all_routes()
    tokens_cache = TokenCache(database, reactor, ttl=token_ttl)
    context = ApiContext(database, domain, reactor, tokens_cache,
                         on_change or (lambda kind: None), tuple(table))
    return ApiResource(Router(table), context, tokens_cache, metrics)
