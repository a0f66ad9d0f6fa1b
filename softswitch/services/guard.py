"""The guard's policy: who may send us SIP, at what rate, and who is banned.

In the spirit of Kamailio's pike + htable: every source address has token buckets
(REGISTER, INVITE, everything else), a source over budget for long enough is banned
for a flood, a source whose credentials fail too often is banned for guessing, and a
repeat offender is banned longer each time. Scanners are known by their User-Agent
and dropped without an answer. An allow-list is never limited nor banned; trunk
gateways have a budget of their own (or none) and are never banned automatically.

Pure: no I/O, no clock. Every call takes `now` (seconds, the same clock as the ban
times shown to operators); what happened is queued as frozen events for the edge to
log (`pop_events`). Every table is bounded: sources in an LRU, bans and offence
history capped.
"""

from __future__ import annotations

import ipaddress
import re
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable

# What a dropped message is counted as (bounded metric labels).
DROP_REASONS = ("banned", "rate", "scanner")
# Why an address is banned.
BAN_REASONS = ("auth", "flood", "manual")
# The credential outcomes of services.auth that count as a failed guess: a user and a
# response were given and were wrong (not a first request without credentials, nor
# a stale nonce of a client that knows its password).
CREDENTIAL_FAILURES = frozenset(("unknown-user", "bad-password"))

# Matched case-insensitively anywhere in the User-Agent value.
DEFAULT_SCANNERS = ("friendly-scanner", "sipvicious", "sipcli", "sip-scan", "vaxsipuseragent",
                    "iwar", "sundayddr")

_REGISTER, _INVITE, _OTHER = 0, 1, 2
MAX_EVENTS = 1024  # events not yet popped by the edge; more are counted, not kept


@dataclass(frozen=True)
class GuardConfig:
    enabled: bool = True
    register_rate: float = 50.0  # REGISTERs per second per source, refilled continuously
    register_burst: int = 100
    invite_rate: float = 30.0
    invite_burst: int = 60
    other_rate: float = 200.0  # every other request and every response
    other_burst: int = 400
    trunk_rate: float = 0.0  # per trunk gateway, all messages; 0: not limited
    trunk_burst: int = 2000
    flood_drops: int = 200  # messages over budget within flood_window: banned (0: never)
    flood_window: float = 10.0
    auth_failures: int = 5  # failed credentials within auth_window: banned (0: never)
    auth_window: float = 600.0
    ban_time: float = 600.0  # the first ban; each repeat is ban_growth times longer
    ban_growth: float = 2.0
    max_ban_time: float = 86400.0
    offence_memory: float = 86400.0  # an offence older than this is forgotten
    scanner_user_agents: tuple[str, ...] = DEFAULT_SCANNERS
    allow: tuple[str, ...] = ()  # CIDRs never limited nor banned
    max_sources: int = 100_000
    max_bans: int = 10_000


@dataclass(frozen=True)
class SecurityEvent:
    """One line of the security log: `kind` is auth-failed, banned, unbanned,
    rate-limited or scanner; `reason` says more (the auth outcome, the ban reason)."""

    kind: str
    source: str
    user: str = ""
    method: str = ""
    reason: str = ""
    seconds: float = 0.0  # a ban's length


@dataclass
class Ban:
    address: str  # one address, or a network in CIDR form
    reason: str
    since: float
    until: float
    offences: int = 1
    dropped: int = 0  # messages dropped while it holds

    def remaining(self, now: float) -> float:
        return max(0.0, self.until - now)


class _Source:
    __slots__ = ("generation", "exempt", "trunk", "tokens", "stamps", "drops", "drop_start",
                 "failures", "failure_start", "limited", "networks_seen", "network_ban",
                 "peer_port", "peer_transport")

    def __init__(self, generation: int, exempt: bool, trunk: bool, now: float):
        self.generation = generation
        self.exempt = exempt
        self.trunk = trunk
        self.tokens = [-1.0, -1.0, -1.0]  # < 0: full (set on first use)
        self.stamps = [now, now, now]
        self.drops = 0
        self.drop_start = now
        self.failures = 0
        self.failure_start = now
        self.limited = False  # logged as rate-limited in this flood window
        self.networks_seen = -1  # GuardPolicy._networks_version network_ban is for
        self.network_ban: Ban | None = None
        # The trunk's own peer at this address as last found (reset when the trunks
        # change): its messages skip the routing snapshot's look-up.
        self.peer_port: int | None = None
        self.peer_transport: str | None = None


class GuardPolicy:
    """`check(data, host, now)` says whether a message may go on to parsing; the
    services report failed credentials with `auth_failed`; operators ban and unban."""

    def __init__(self, config: GuardConfig = GuardConfig(),
                 is_trunk: Callable[[str], bool] = lambda host: False,
                 is_trunk_peer: Callable[[str, int, str], bool] | None = None):
        self.config = config
        self._is_trunk = is_trunk  # whether any trunk is recognised at this address
        # Whether this very peer (address, port, transport) is the trunk: a phone on a
        # gateway's address but another port gets a phone's budgets and can be banned.
        self._is_trunk_peer = is_trunk_peer
        self._allow = tuple(ipaddress.ip_network(c, strict=False) for c in config.allow)
        self._rates = (config.register_rate, config.invite_rate, config.other_rate)
        self._bursts = (float(config.register_burst), float(config.invite_burst),
                        float(config.other_burst))
        scanners = [re.escape(s.lower().encode("latin-1", "replace"))
                    for s in config.scanner_user_agents if s]
        self._scanner = re.compile(b"|".join(scanners)) if scanners else None
        self._enabled = config.enabled
        self._trunk_rate = config.trunk_rate
        self._trunk_burst = float(config.trunk_burst)
        self._sources: OrderedDict[str, _Source] = OrderedDict()
        self._bans: dict[str, Ban] = {}  # single addresses
        self._networks: dict[str, tuple] = {}  # CIDR -> (network, Ban)
        self._networks_version = 0  # bumped when a network is banned or unbanned
        self._offences: OrderedDict[str, tuple[int, float]] = OrderedDict()
        self._generation = 0
        self.events: list[SecurityEvent] = []
        self.dropped = dict.fromkeys(DROP_REASONS, 0)
        self.bans_total = dict.fromkeys(BAN_REASONS, 0)
        self.events_lost = 0

    # -- the hot path ---------------------------------------------------------------
    def check(self, data: bytes, host: str, now: float, port: int | None = None,
              transport: str = "udp") -> str | None:
        """None: let the message through; else the drop reason (no answer is sent)."""
        if not self._enabled:
            return None
        if self._bans:
            ban = self._bans.get(host)
            if ban is not None:
                if ban.until > now:
                    ban.dropped += 1
                    self.dropped["banned"] += 1
                    return "banned"
                self._expire(ban, now)
        source = self._sources.get(host)
        if source is None or source.generation != self._generation:
            source = self._look_up(host, source, now)
        else:
            self._sources.move_to_end(host)
        if self._networks:
            # Which banned network holds the source is worked out once per change.
            if source.networks_seen != self._networks_version:
                source.network_ban = self._network_ban(host)
                source.networks_seen = self._networks_version
            ban = source.network_ban
            if ban is not None:
                if ban.until > now:
                    ban.dropped += 1
                    self.dropped["banned"] += 1
                    return "banned"
                self._expire(ban, now)
        if source.exempt:
            return None
        if source.trunk and (port is None or self._is_trunk_peer is None
                             or port == source.peer_port and transport == source.peer_transport
                             or self._trunk_peer(source, host, port, transport)):
            if self._trunk_rate <= 0:
                return None
            return self._take(source, _OTHER, host, now, data, can_ban=False, trunk=True)
        if data.startswith(b"REGISTER "):
            kind = _REGISTER
        elif data.startswith(b"INVITE "):
            kind = _INVITE
        elif data.startswith(b"SIP/"):
            return self._take(source, _OTHER, host, now, data, can_ban=not source.trunk)
        else:
            kind = _OTHER
        if self._scanner is not None:
            agent = self._scanner_agent(data)
            if agent is not None:
                self.dropped["scanner"] += 1
                if not source.limited:
                    source.limited = True  # one line per source and window
                    self._event("scanner", host, method=_method(data), reason=agent)
                return "scanner"
        return self._take(source, kind, host, now, data, can_ban=not source.trunk)

    def _trunk_peer(self, source: _Source, host: str, port: int, transport: str) -> bool:
        """Whether host:port over `transport` is the trunk's own gateway, not a phone
        behind its address; a yes is remembered in the source's record."""
        if not self._is_trunk_peer(host, port, transport):
            return False
        source.peer_port, source.peer_transport = port, transport
        return True

    def _scanner_agent(self, data: bytes) -> str | None:
        """The User-Agent value if it names a scanner."""
        low = data.lower()
        start = low.find(b"\nuser-agent")
        if start < 0:
            return None
        end = low.find(b"\n", start + 11)
        if end < 0:
            end = len(low)
        if self._scanner.search(low, start + 11, end) is None:
            return None
        return low[start + 11:end].decode("latin-1").strip(" \t\r:")[:64]

    def _take(self, source: _Source, kind: int, host: str, now: float, data: bytes,
              can_ban: bool, trunk: bool = False) -> str | None:
        """One token from the source's bucket of `kind`, or the message is dropped."""
        if trunk:
            rate, burst = self._trunk_rate, self._trunk_burst
        else:
            rate, burst = self._rates[kind], self._bursts[kind]
        tokens = source.tokens[kind]
        if tokens < 0:
            tokens = burst
        else:
            tokens = min(burst, tokens + (now - source.stamps[kind]) * rate)
        source.stamps[kind] = now
        if tokens >= 1.0:
            source.tokens[kind] = tokens - 1.0
            return None
        source.tokens[kind] = tokens
        self.dropped["rate"] += 1
        if now - source.drop_start > self.config.flood_window:
            source.drop_start, source.drops, source.limited = now, 0, False
        source.drops += 1
        if not source.limited:
            source.limited = True
            self._event("rate-limited", host, method=_method(data), reason="over budget")
        if can_ban and 0 < self.config.flood_drops <= source.drops:
            self._ban_offender(host, "flood", now)
        return "rate"

    # -- what the services report ---------------------------------------------------
    def auth_failed(self, host: str, user: str, method: str, reason: str, now: float) -> None:
        """Credentials from `host` were wrong (services.auth reasons); only
        CREDENTIAL_FAILURES count towards a ban. Logged even with the guard off, for
        a fail2ban in front."""
        if reason not in CREDENTIAL_FAILURES:
            return
        self._event("auth-failed", host, user=user, method=method, reason=reason)
        if not self._enabled:
            return
        source = self._source(host, now)
        if source.exempt or source.trunk:
            return
        if now - source.failure_start > self.config.auth_window:
            source.failure_start, source.failures = now, 0
        source.failures += 1
        if 0 < self.config.auth_failures <= source.failures:
            source.failures = 0
            self._ban_offender(host, "auth", now, user=user, method=method)

    # -- bans -------------------------------------------------------------------------
    def _ban_offender(self, host: str, reason: str, now: float, user: str = "",
                      method: str = "") -> None:
        if host in self._bans and self._bans[host].until > now:
            return
        count, last = self._offences.pop(host, (0, now))
        if now - last > self.config.offence_memory:
            count = 0
        count += 1
        self._offences[host] = (count, now)
        while len(self._offences) > self.config.max_sources:
            self._offences.popitem(last=False)
        c = self.config
        seconds = min(c.max_ban_time, c.ban_time * c.ban_growth ** (count - 1))
        self._add_ban(Ban(host, reason, now, now + seconds, count), user, method)
        source = self._sources.get(host)
        if source is not None:
            source.drops, source.limited = 0, False

    def ban(self, address: str, seconds: float, now: float, reason: str = "manual") -> Ban:
        """An operator's ban of an address or CIDR; ValueError if it is not one, or
        if it would cover an allow-listed address."""
        network = ipaddress.ip_network(address, strict=False)
        if any(network.overlaps(allowed) for allowed in self._allow):
            raise ValueError(f"{address} is on the allow-list")
        key = _key(network)
        previous = self._bans.get(key) or (self._networks.get(key) or (None, None))[1]
        ban = Ban(key, reason, now, now + seconds, previous.offences if previous else 1)
        self._add_ban(ban)
        return ban

    def _add_ban(self, ban: Ban, user: str = "", method: str = "") -> None:
        self.unban(ban.address, log=False)
        if len(self._bans) + len(self._networks) >= self.config.max_bans:
            self.expire(ban.since)
        if len(self._bans) + len(self._networks) >= self.config.max_bans:
            oldest = min(self.bans(), key=lambda b: b.until)  # ends soonest: least harm
            self.unban(oldest.address, log=False)
        if "/" in ban.address:
            self._networks[ban.address] = (ipaddress.ip_network(ban.address), ban)
            self._networks_version += 1
        else:
            self._bans[ban.address] = ban
        self.bans_total[ban.reason] += 1
        self._event("banned", ban.address, user=user, method=method, reason=ban.reason,
                    seconds=ban.until - ban.since)

    def unban(self, address: str, log: bool = True) -> Ban | None:
        try:
            key = _key(ipaddress.ip_network(address, strict=False))
        except ValueError:
            return None
        ban = self._bans.pop(key, None)
        if ban is None and key in self._networks:
            ban = self._networks.pop(key)[1]
            self._networks_version += 1
        if ban is not None and log:
            self._event("unbanned", key, reason=ban.reason)
        return ban

    def get_ban(self, address: str, now: float) -> Ban | None:
        self.expire(now)
        try:
            key = _key(ipaddress.ip_network(address, strict=False))
        except ValueError:
            return None
        return self._bans.get(key) or (self._networks.get(key) or (None, None))[1]

    def bans(self) -> list[Ban]:
        return list(self._bans.values()) + [ban for _, ban in self._networks.values()]

    def expire(self, now: float) -> None:
        for ban in self.bans():
            if ban.until <= now:
                self._expire(ban, now)

    def _expire(self, ban: Ban, now: float) -> None:
        self.unban(ban.address, log=False)
        self._event("unbanned", ban.address, reason="expired")

    def _network_ban(self, host: str) -> Ban | None:
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return None
        if self._allowed(address):
            return None
        for network, ban in self._networks.values():
            if address.version == network.version and address in network:
                return ban
        return None

    # -- sources ------------------------------------------------------------------------
    def trunks_changed(self) -> None:
        """The set of trunk gateway addresses changed: look every source up again."""
        self._generation += 1

    @property
    def sources(self) -> int:
        return len(self._sources)

    def _source(self, host: str, now: float) -> _Source:
        source = self._sources.get(host)
        if source is None or source.generation != self._generation:
            return self._look_up(host, source, now)
        self._sources.move_to_end(host)
        return source

    def _look_up(self, host: str, source: _Source | None, now: float) -> _Source:
        """A new source's record, or one made before the trunks last changed."""
        sources = self._sources
        try:
            exempt = self._allowed(ipaddress.ip_address(host))
        except ValueError:
            exempt = False
        trunk = not exempt and bool(self._is_trunk(host))
        if source is None:
            source = sources[host] = _Source(self._generation, exempt, trunk, now)
            if len(sources) > self.config.max_sources:
                sources.popitem(last=False)
        else:
            source.generation, source.exempt, source.trunk = self._generation, exempt, trunk
            source.peer_port = source.peer_transport = None
            sources.move_to_end(host)
        return source

    def _allowed(self, address) -> bool:
        return any(address.version == n.version and address in n for n in self._allow)

    # -- events --------------------------------------------------------------------------
    def _event(self, kind: str, source: str, **fields) -> None:
        if len(self.events) >= MAX_EVENTS:
            self.events_lost += 1
            return
        self.events.append(SecurityEvent(kind, source, **fields))

    def pop_events(self) -> list[SecurityEvent]:
        events, self.events = self.events, []
        return events


def _method(data: bytes) -> str:
    """A request's method for the log ("" for a response or garbage)."""
    space = data.find(b" ", 0, 32)
    if space <= 0 or data.startswith(b"SIP/"):
        return ""
    return data[:space].decode("ascii", "replace")


def _key(network) -> str:
    """A ban's key: a single address without its prefix length, else the CIDR."""
    if network.num_addresses == 1:
        return str(network.network_address)
    return str(network)
