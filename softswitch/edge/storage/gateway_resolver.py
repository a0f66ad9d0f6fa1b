"""DNS for trunk gateways given as host names (RFC 3263 §4.2: SRV, then A/AAAA).

Runs on the database thread while the routing snapshot is rebuilt, so a blocking
lookup stalls no call; every name a gateway needs is looked up within one time
budget (`timeout`), so a dead DNS server delays a reload by that much per gateway
and no more. Answers are cached for their TTL. Which names to ask for and how the
answers become gateways is `services.gateway_dns` (pure); this module only asks.

When a lookup fails (timeout, SERVFAIL, no server) the gateway keeps the addresses
it had at the last good lookup, if any (serving stale, as RFC 8767 does for
resolvers), and is left out otherwise: an unresolved name must never reach the
call path, which sends to addresses only. A name that does not exist (NXDOMAIN)
or has no address is authoritative and leaves the gateway out. Problems are
logged when a host's outcome changes, not at every reload.
"""

import threading
import time

import dns.exception
import dns.name
import dns.nameserver
import dns.rdatatype
import dns.resolver
from twisted.logger import Logger

from ...config import parse_dns_server
from ...services.gateway_dns import HostAnswer, SrvTarget, expand_gateway, srv_name, uses_srv
from ...services.routing import Gateway, GatewayRow, is_address

log = Logger()

DEFAULT_TIMEOUT = 2.0  # seconds for all the lookups of one gateway host


class LookupFailed(Exception):
    """DNS did not answer (as opposed to answering that there is nothing)."""


def make_resolver(servers=()) -> dns.resolver.Resolver:
    """A dnspython resolver on `servers` ("ip[:port]"), or on resolv.conf if none."""
    if servers:
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [dns.nameserver.Do53Nameserver(*parse_dns_server(s))
                                for s in servers]
    else:
        try:
            resolver = dns.resolver.Resolver()
        except dns.resolver.NoResolverConfiguration:
            log.warn("no DNS servers in the system configuration: gateway host names "
                     "will not resolve; set [trunks] dns_servers")
            resolver = dns.resolver.Resolver(configure=False)
            resolver.nameservers = []
    resolver.cache = dns.resolver.Cache()
    return resolver


class GatewayResolver:
    """`expand(row)` is what `snapshot_from_rows` takes: a configured gateway in, the
    addresses calls go to out. Safe to share between database threads."""

    def __init__(self, resolver: dns.resolver.Resolver | None = None,
                 timeout: float = DEFAULT_TIMEOUT, clock=time.monotonic):
        self._resolver = resolver if resolver is not None else make_resolver()
        self._timeout = timeout
        self._clock = clock
        self._lock = threading.Lock()
        self._last_good: dict[tuple, list[Gateway]] = {}
        self._problems: dict[tuple, str] = {}

    def expand(self, row: GatewayRow) -> list[Gateway]:
        if is_address(row.host):
            return expand_gateway(row, None)
        key = (row.trunk, row.host, row.port, row.transport)
        try:
            gateways = expand_gateway(row, self.lookup(row))
        except LookupFailed as exc:
            with self._lock:
                stale = self._last_good.get(key)
            self._report(key, f"does not resolve ({exc})"
                         + ("; keeping its last addresses" if stale else "; left out"))
            return list(stale or ())
        with self._lock:
            self._last_good[key] = gateways
        if gateways:
            self._report(key, None)
        else:
            self._report(key, "has no address; left out")
        return gateways

    def lookup(self, row: GatewayRow) -> HostAnswer:
        """SRV (for a name without a port), then the addresses the answer needs."""
        deadline = self._clock() + self._timeout
        if uses_srv(row):
            records = self._query(srv_name(row.host, row.transport), "SRV", deadline)
            if records:
                return HostAnswer(srv=tuple(self._srv_target(r, deadline) for r in records))
            return HostAnswer(srv=(), addresses=self._addresses(row.host, deadline))
        return HostAnswer(addresses=self._addresses(row.host, deadline))

    def _srv_target(self, record, deadline: float) -> SrvTarget:
        host = record.target.to_text(omit_final_dot=True)
        addresses = () if record.target == dns.name.root else self._addresses(host, deadline)
        return SrvTarget(record.priority, record.weight, record.port, host or ".", addresses)

    def _addresses(self, host: str, deadline: float) -> tuple[str, ...]:
        found = self._query(host, "A", deadline)
        if not found:
            found = self._query(host, "AAAA", deadline)
        return tuple(r.address for r in found)

    def _query(self, name: str, rdtype: str, deadline: float) -> list:
        """The records of one question; [] when DNS says there are none."""
        remaining = deadline - self._clock()
        if remaining <= 0:
            raise LookupFailed(f"{name} {rdtype}: out of time")
        try:
            answer = self._resolver.resolve(dns.name.from_text(name), rdtype,
                                            raise_on_no_answer=False, lifetime=remaining,
                                            search=False)
        except dns.resolver.NXDOMAIN:
            return []
        except dns.exception.DNSException as exc:
            raise LookupFailed(f"{name} {rdtype}: {exc.__class__.__name__}") from None
        return list(answer.rrset) if answer.rrset is not None else []

    def _report(self, key: tuple, problem: str | None) -> None:
        with self._lock:
            before = self._problems.get(key)
            if problem is None:
                self._problems.pop(key, None)
            else:
                self._problems[key] = problem
        trunk, host = key[0], key[1]
        if problem is not None and problem != before:
            log.warn("trunk {trunk}: gateway host {host} {problem}", trunk=trunk,
                     host=host, problem=problem)
        elif problem is None and before is not None:
            log.info("trunk {trunk}: gateway host {host} resolves again", trunk=trunk,
                     host=host)
