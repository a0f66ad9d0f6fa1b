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
                       self.priority, self.weight, port_from_dns=self.port is None)


def default_port(transport: str) -> int:
    return DEFAULT_PORTS.get(transport, 5060)


@dataclass(frozen=True, slots=True)
class AllowedSource:
    """Where a trunk's requests may come from: a network, and a port when one is named
    ("203.0.113.5:5060"; a network without a port allows any)."""

    network: ipaddress.IPv4Network | ipaddress.IPv6Network
    port: int | None = None

    @classmethod
    def parse(cls, text: str) -> "AllowedSource":
        """"203.0.113.0/24", "203.0.113.5", "203.0.113.5:5060", "[2001:db8::5]:5060";
        ValueError otherwise."""
        text = text.strip()
        port = None
        if text.startswith("["):
            host, bracket, rest = text[1:].partition("]")
            if not bracket or (rest and not rest.startswith(":")):
                raise ValueError(f"unreadable source {text!r}")
            text, port = host, _port(rest[1:]) if rest else None
        elif text.count(":") == 1:
            text, _, port_text = text.partition(":")
            port = _port(port_text)
        network = ipaddress.ip_network(text, strict=False)
        if port is not None and network.num_addresses != 1:
            raise ValueError("a port goes with one address, not a network")
        return cls(network, port)

    def __str__(self) -> str:
        if self.port is None:
            return str(self.network)
        host = str(self.network.network_address)
        return f"[{host}]:{self.port}" if self.network.version == 6 else f"{host}:{self.port}"


def _port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise ValueError(f"bad port {text!r}")
    return int(text)


@dataclass(frozen=True, slots=True)
class SourceRule:
    """One way a request's source names a trunk: None port/transport match any."""

    trunk: "Trunk"
    port: int | None
    transport: str | None

    def matches(self, port: int, transport: str) -> bool:
        return (self.port is None or self.port == port) and \
            (self.transport is None or self.transport == transport)


@dataclass(frozen=True, slots=True)
class Trunk:
    name: str
    gateways: tuple[Gateway, ...]
    allowed_sources: tuple[AllowedSource, ...] = ()
    auth_username: str | None = None
    auth_password: str | None = None
    register: bool = False
    max_concurrent: int | None = None
    max_cps: float | None = None
    number_format: str = "e164"
    enabled: bool = True
    stir_shaken: str = "off"  # "sign": our Identity on calls to it; "off": the carrier signs
    media_encryption: str = "none"  # SRTP toward it: "none" | "sdes" | "optional"
    # Mutual TLS towards the gateways: PEM text or a PEM file's path (None: no client
    # certificate is presented).
    tls_client_certificate: str | None = None
    tls_client_key: str | None = field(default=None, repr=False)
    # Caller-ID policy (services.caller_id): identity headers from this trunk are
    # believed and PAI is sent to it; a caller without an allowed number presents
    # default_caller_id (403 without one); topology_hiding keeps our callers' Via,
    # Contact and Record-Route from it.
    trust_identity: bool = True
    default_caller_id: str | None = None
    topology_hiding: bool = False
    allow_refer: bool = False  # a REFER from its side of a call is carried out (else 403)

    def source_rules(self) -> list[tuple[str | None, AllowedSource | None, SourceRule]]:
        """(exact host or None, network or None, rule) for every way a source names
        this trunk. A gateway whose row names a port is recognised by its address, that
        port and its transport over UDP; over TCP and TLS the far end connects from a
        port of its own, so address and transport. A gateway without a port (SRV) and
        an allowed source without one match any port."""
        rules = []
        for gateway in self.gateways:
            port_checked = not gateway.port_from_dns and gateway.transport == "udp"
            rules.append((gateway.host, None, SourceRule(
                self, gateway.port if port_checked else None, gateway.transport)))
        for source in self.allowed_sources:
            rule = SourceRule(self, source.port, None)
            if source.network.num_addresses == 1:
                rules.append((str(source.network.network_address), None, rule))
            else:
                rules.append((None, source, rule))
        return rules


@dataclass(frozen=True, slots=True)
class Target:
    kind: str  # "agent" | "user" | "trunk" | "reject"
    name: str | None = None
    code: int | None = None
    # An agent target's backup: the call goes there when its agent's socket fails
    # beyond its reconnect (edge.agent.handoff).
    backup_agent: str | None = None


@dataclass(frozen=True, slots=True)
class Number:
    number: str
    targets: tuple[Target, ...]
    enabled: bool = True
    # STIR/SHAKEN screening (services.stir_verification): inbound calls whose verstat
    # meets `unverified_when` try these targets instead.
    unverified_targets: tuple[Target, ...] = ()
    unverified_when: str | None = None
    record: bool = False  # calls to it are recorded from the answer


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
    webhook_url: str | None = None  # its call events (services.webhooks)
    caller_ids: tuple[str, ...] = ()  # numbers it may present (services.caller_id)
    sip_headers: tuple[str, ...] = ()  # INVITE headers for its start message
    record: bool = False  # its calls are recorded from the answer


@dataclass(frozen=True, slots=True)
class OutboundRoute:
    prefix: str  # digits without '+'; "" matches everything
    trunks: tuple[str, ...]


class RoutingSnapshot:
    """Read-only lookups over one consistent copy of the dialplan."""

    def __init__(self, *, numbers=(), trunks=(), agents=(), users=(), regions=(),
                 outbound=(), version: int = 0, user_caller_ids=None):
        self.numbers = MappingProxyType({n.number: n for n in numbers})
        # Configured caller IDs of users (agents carry theirs), and the numbers whose
        # route targets each user or agent: what services.caller_id allows them.
        self.user_caller_ids = MappingProxyType(dict(user_caller_ids or {}))
        self.owned_numbers = _owned_numbers(self.numbers.values())
        self.trunks = MappingProxyType({t.name: t for t in trunks})
        self.agents = MappingProxyType({a.name: a for a in agents})
        self.users = frozenset(users)
        self.regions = MappingProxyType({r.name: r for r in regions})
        # Longest prefix first, so the first match wins.
        self.outbound = tuple(sorted(outbound, key=lambda r: -len(r.prefix)))
        self.version = version
        self._source_index, self._networks = _index_sources(self.trunks.values())

    def __len__(self) -> int:
        return len(self.numbers)

    def number(self, e164: str) -> Number | None:
        number = self.numbers.get(e164)
        return number if number is not None and number.enabled else None

    def has_trunk_at(self, host: str) -> bool:
        """Whether some trunk is recognised at this address (on some port)."""
        if host in self._source_index:
            return True
        if self._networks:
            try:
                address = ipaddress.ip_address(host)
            except ValueError:
                return False
            return any(address in source.network for source, _ in self._networks)
        return False

    def trunk_for_source(self, host: str, port: int, transport: str = "udp") -> Trunk | None:
        """The enabled trunk a request from host:port over `transport` belongs to, if
        any (Trunk.source_rules): a phone behind a gateway's address but on another
        port is not the trunk."""
        for rule in self._source_index.get(host, ()):
            if rule.matches(port, transport):
                return rule.trunk
        if self._networks:
            try:
                address = ipaddress.ip_address(host)
            except ValueError:
                return None
            for source, rule in self._networks:
                if address in source.network and rule.matches(port, transport):
                    return rule.trunk
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


def _owned_numbers(numbers) -> MappingProxyType:
    """(kind, name) -> the numbers whose route names that user or agent, in order."""
    owned: dict[tuple[str, str], list[str]] = {}
    for number in numbers:
        if not number.enabled:
            continue
        for target in number.targets:
            if target.kind in ("user", "agent") and target.name is not None:
                names = owned.setdefault((target.kind, target.name), [])
                if not names or names[-1] != number.number:
                    names.append(number.number)
    return MappingProxyType({key: tuple(sorted(value)) for key, value in owned.items()})


def _index_sources(trunks) -> tuple[dict[str, tuple[SourceRule, ...]], tuple]:
    """Exact addresses answer from a dict (rules naming a port first, so two trunks
    on one address told apart by port both work); networks are walked in order."""
    index: dict[str, list[SourceRule]] = {}
    networks = []
    for trunk in trunks:
        if not trunk.enabled:
            continue
        for host, network, rule in trunk.source_rules():
            if host is not None:
                index.setdefault(host, []).append(rule)
            else:
                networks.append((network, rule))
    ordered = {host: tuple(sorted(rules, key=lambda r: r.port is None))
               for host, rules in index.items()}
    return ordered, tuple(networks)


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
        tuple(AllowedSource.parse(s) for s in t["inbound_allowed_sources"] or ()),
        t["auth_username"], t["auth_password"], bool(t["register"]), t["max_concurrent"],
        t["max_cps"], t["number_format"], bool(t["enabled"]), t.get("stir_shaken") or "off",
        t.get("media_encryption") or "none",
        t.get("tls_client_certificate"), t.get("tls_client_key"),
        bool(t.get("trust_identity", True)), t.get("default_caller_id"),
        bool(t.get("topology_hiding", False)), bool(t.get("allow_refer"))) for t in rows["trunks"]]
    agents = [Agent(
        a["name"], a["url"], a["profile"], a["sample_rate"], region_names.get(a["region_id"]),
        MappingProxyType(dict(a["headers"] or {})),
        MappingProxyType(dict(a["secret_headers"] or {})),
        MappingProxyType(dict(a["custom_parameters"] or {})), a.get("account_sid"),
        a.get("auth_token"), a.get("webhook_url"), tuple(a.get("caller_ids") or ()),
        tuple(a.get("sip_headers") or ()), bool(a.get("record"))) for a in rows["agents"]]
    targets: dict[tuple[int, bool], list[tuple[int, Target]]] = {}
    for t in rows["route_targets"]:
        kind = t["kind"]
        name = {"agent": agent_names.get(t["agent_id"]), "user": user_names.get(t["user_id"]),
                "trunk": trunk_names.get(t["trunk_id"])}.get(kind)
        targets.setdefault((t["number_id"], bool(t.get("unverified"))), []).append(
            (t["position"], Target(kind, name, t["reject_code"],
                                   agent_names.get(t.get("backup_agent_id")))))

    def route(number_id: int, unverified: bool) -> tuple[Target, ...]:
        return tuple(t for _, t in sorted(targets.get((number_id, unverified), ()),
                                          key=lambda p: p[0]))

    numbers = [Number(n["number"], route(n["id"], False), bool(n["enabled"]),
                      route(n["id"], True) if n.get("unverified_when") else (),
                      n.get("unverified_when"), bool(n.get("record"))) for n in rows["numbers"]]
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
                           version=version, user_caller_ids={
                               u["username"]: tuple(u["caller_ids"])
                               for u in rows["users"] if u.get("caller_ids")})
