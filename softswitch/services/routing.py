"""The routing snapshot: an immutable, in-memory copy of the dialplan (numbers and
their ordered targets, outbound prefix routes, trunks with gateways, agents, users,
regions). The call path reads it and never the database; the edge swaps in a new
snapshot when the admin API writes and on a timer."""

import ipaddress
from dataclasses import dataclass, field
from types import MappingProxyType

from .numbers import dialable_digits


@dataclass(frozen=True, slots=True)
class Region:
    name: str
    bind: str
    advertise: str
    port_min: int
    port_max: int


# RFC 3263 §4.2: the port of a name without SRV records, and of an address given
# without one.
DEFAULT_PORTS = {"udp": 5060, "tcp": 5060, "tls": 5061}


@dataclass(frozen=True, slots=True)
class Gateway:
    """One address a trunk's calls may be sent to."""

    trunk: str
    host: str  # an IP address once resolved
    port: int
    transport: str
    region: str | None
    priority: int
    weight: float  # a share of the row's weight when DNS gave several addresses
    srv_rank: int = 0  # 0, 1... by SRV priority within the row (services.gateway_dns)
    domain: str | None = None  # the configured host name this address came from
    port_from_dns: bool = False  # the row had no port: SRV (or RFC 3263's default) chose it

    @property
    def key(self) -> str:
        return f"{self.transport}:{self.host}:{self.port}"

    @property
    def uri_host(self) -> str:
        """The host of a URI for this gateway's domain: the configured name, else the
        address (IPv6 in brackets)."""
        if self.domain is not None:
            return self.domain
        return f"[{self.host}]" if ":" in self.host else self.host

    @property
    def uri_hostport(self) -> str:
        """host:port of a Request-URI to this gateway. A name whose port DNS chose goes
        without one (RFC 3263: the far end sees the name it is known by); the packet
        still goes to `host` and `port`."""
        if self.domain is not None and self.port_from_dns:
            return self.domain
        return f"{self.uri_host}:{self.port}"


@dataclass(frozen=True, slots=True)
class GatewayRow:
    """A gateway as configured: `port` None means "look the name up with SRV"."""

    trunk: str
    host: str
    port: int | None
    transport: str
    region: str | None
    priority: int
    weight: int

    def as_configured(self) -> Gateway:
        """The gateway as written, the default port filled in (no DNS)."""
        port = self.port if self.port is not None else default_port(self.transport)
        return Gateway(self.trunk, self.host, port, self.transport, self.region,
                       self.priority, self.weight)


def default_port(transport: str) -> int:
    return DEFAULT_PORTS.get(transport, 5060)


@dataclass(frozen=True, slots=True)
class Trunk:
    name: str
    gateways: tuple[Gateway, ...]
    allowed_sources: tuple = ()  # ip_network objects
    auth_username: str | None = None
    auth_password: str | None = None
    register: bool = False
    max_concurrent: int | None = None
    max_cps: float | None = None
    number_format: str = "e164"
    enabled: bool = True

    def accepts_source(self, host: str) -> bool:
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        if any(address in network for network in self.allowed_sources):
            return True
        return any(g.host == host for g in self.gateways)


@dataclass(frozen=True, slots=True)
class Target:
    kind: str  # "agent" | "user" | "trunk" | "reject"
    name: str | None = None
    code: int | None = None


@dataclass(frozen=True, slots=True)
class Number:
    number: str
    targets: tuple[Target, ...]
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class Agent:
    name: str
    url: str
    profile: str
    sample_rate: int
    region: str | None = None
    headers: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))
    secret_headers: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))
    custom_parameters: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))
    account_sid: str | None = None  # Twilio compatibility (agent/twilio_compat.py)
    auth_token: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class OutboundRoute:
    prefix: str  # digits without '+'; "" matches everything
    trunks: tuple[str, ...]


class RoutingSnapshot:
    """Read-only lookups over one consistent copy of the dialplan."""

    def __init__(self, *, numbers=(), trunks=(), agents=(), users=(), regions=(),
                 outbound=(), version: int = 0):
        self.numbers = MappingProxyType({n.number: n for n in numbers})
        self.trunks = MappingProxyType({t.name: t for t in trunks})
        self.agents = MappingProxyType({a.name: a for a in agents})
        self.users = frozenset(users)
        self.regions = MappingProxyType({r.name: r for r in regions})
        # Longest prefix first, so the first match wins.
        self.outbound = tuple(sorted(outbound, key=lambda r: -len(r.prefix)))
        self.version = version
        self._source_index = _index_sources(self.trunks.values())

    def __len__(self) -> int:
        return len(self.numbers)

    def number(self, e164: str) -> Number | None:
        number = self.numbers.get(e164)
        return number if number is not None and number.enabled else None

    def trunk_for_source(self, host: str) -> Trunk | None:
        """The enabled trunk a request from `host` belongs to, if any."""
        trunk = self._source_index.get(host)
        if trunk is not None:
            return trunk
        for trunk in self.trunks.values():
            if trunk.enabled and trunk.allowed_sources and trunk.accepts_source(host):
                return trunk
        return None

    def outbound_trunks(self, e164: str) -> list[Trunk]:
        """The ordered enabled trunks of the longest matching outbound prefix."""
        digits = dialable_digits(e164)
        for route in self.outbound:
            if digits.startswith(route.prefix):
                return [self.trunks[name] for name in route.trunks
                        if name in self.trunks and self.trunks[name].enabled]
        return []


def is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class SnapshotHolder:
    """The current snapshot; calling it returns it (what services take as a source)."""

    def __init__(self, snapshot: RoutingSnapshot | None = None):
        self.current = snapshot or RoutingSnapshot()

    def __call__(self) -> RoutingSnapshot:
        return self.current

    def replace(self, snapshot: RoutingSnapshot) -> None:
        self.current = snapshot


def _index_sources(trunks) -> dict[str, Trunk]:
    """Exact gateway addresses answer without walking CIDRs."""
    index = {}
    for trunk in trunks:
        if not trunk.enabled:
            continue
        for gateway in trunk.gateways:
            index.setdefault(gateway.host, trunk)
        for network in trunk.allowed_sources:
            if network.num_addresses == 1:
                index.setdefault(str(network.network_address), trunk)
    return index


def snapshot_from_rows(rows: dict, version: int = 0, expand=None) -> RoutingSnapshot:
    """Build a snapshot from the plain rows `store.snapshot.load_routing_rows` reads.
    `expand(GatewayRow) -> [Gateway]` turns a configured gateway into the addresses
    calls are sent to (DNS, on the edge: the call path sends to addresses only);
    without it gateways are kept as configured."""
    region_names = {r["id"]: r["name"] for r in rows["regions"]}
    trunk_names = {t["id"]: t["name"] for t in rows["trunks"]}
    agent_names = {a["id"]: a["name"] for a in rows["agents"]}
    user_names = {u["id"]: u["username"] for u in rows["users"]}
    gateways: dict[int, list[Gateway]] = {}
    for g in rows["gateways"]:
        row = GatewayRow(trunk_names[g["trunk_id"]], g["host"], g["port"], g["transport"],
                         region_names.get(g["region_id"]), g["priority"], g["weight"])
        expanded = expand(row) if expand is not None else [row.as_configured()]
        gateways.setdefault(g["trunk_id"], []).extend(expanded)
    trunks = [Trunk(
        t["name"], tuple(gateways.get(t["id"], ())),
        tuple(ipaddress.ip_network(s, strict=False) for s in t["inbound_allowed_sources"] or ()),
        t["auth_username"], t["auth_password"], bool(t["register"]), t["max_concurrent"],
        t["max_cps"], t["number_format"], bool(t["enabled"])) for t in rows["trunks"]]
    agents = [Agent(
        a["name"], a["url"], a["profile"], a["sample_rate"], region_names.get(a["region_id"]),
        MappingProxyType(dict(a["headers"] or {})),
        MappingProxyType(dict(a["secret_headers"] or {})),
        MappingProxyType(dict(a["custom_parameters"] or {})), a.get("account_sid"),
        a.get("auth_token")) for a in rows["agents"]]
    targets: dict[int, list[tuple[int, Target]]] = {}
    for t in rows["route_targets"]:
        kind = t["kind"]
        name = {"agent": agent_names.get(t["agent_id"]), "user": user_names.get(t["user_id"]),
                "trunk": trunk_names.get(t["trunk_id"])}.get(kind)
        targets.setdefault(t["number_id"], []).append(
            (t["position"], Target(kind, name, t["reject_code"])))
    numbers = [Number(n["number"], tuple(t for _, t in sorted(targets.get(n["id"], ()))),
                      bool(n["enabled"])) for n in rows["numbers"]]
    outbound_trunks: dict[int, list[tuple[int, str]]] = {}
    for r in rows["outbound_route_trunks"]:
        outbound_trunks.setdefault(r["route_id"], []).append(
            (r["position"], trunk_names[r["trunk_id"]]))
    outbound = [OutboundRoute(r["prefix"].lstrip("+"),
                              tuple(name for _, name in sorted(outbound_trunks.get(r["id"], ()))))
                for r in rows["outbound_routes"]]
    regions = [Region(r["name"], r["bind"], r["advertise"], r["port_min"], r["port_max"])
               for r in rows["regions"]]
    return RoutingSnapshot(numbers=numbers, trunks=trunks, agents=agents,
                           users=user_names.values(), regions=regions, outbound=outbound,
                           version=version)
