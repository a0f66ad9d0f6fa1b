"""RFC 3263 §4.2 for trunk gateways, without I/O: which names to look up for a
configured gateway, and how the answers become the `Gateway`s calls are sent to.

A gateway row names a host, a transport and maybe a port. An IP address is used as
it is. A host name with a port is looked up for its addresses only. A host name
without a port is looked up with SRV for its transport (`_sip._udp`, `_sip._tcp`,
`_sips._tcp` for TLS); each SRV target's addresses become gateways on the target's
port. With no SRV records the name's own addresses are used on the default port
(5060, 5061 for TLS). NAPTR is not looked up: the transport is part of the row.

Addresses: A records; AAAA only when a name has no A record (the switch usually
listens on IPv4, and an IPv4 socket cannot send to IPv6).

Ordering. A row's `priority` still ranks it among the trunk's other rows. Within a
row, SRV priorities become `srv_rank` (0 for the lowest SRV priority, 1 for the next
one...), the key `order_gateways` sorts on after priority: the first SRV priority of
a row competes with the trunk's other rows of equal priority, its backups come after
them. The row's `weight` is shared among the targets of one SRV priority in
proportion to their SRV weights (evenly when they are all 0), and a target's share
evenly among its addresses, so a row keeps its share against the trunk's other rows
however many records the carrier publishes.
"""

from dataclasses import dataclass

from .routing import Gateway, GatewayRow, default_port, is_address

_SRV_PREFIXES = {"udp": "_sip._udp", "tcp": "_sip._tcp", "tls": "_sips._tcp"}


@dataclass(frozen=True, slots=True)
class SrvTarget:
    """One SRV record and the addresses of its target."""

    priority: int
    weight: int
    port: int
    host: str  # "." means "no service here" (RFC 2782)
    addresses: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class HostAnswer:
    """What DNS said about one gateway host.

    `srv` is None when SRV was not asked (a port was given) and () when it was asked
    and there were no records; `addresses` are the host's own addresses, looked up
    when SRV was not asked or found nothing."""

    srv: tuple[SrvTarget, ...] | None = None
    addresses: tuple[str, ...] = ()


def needs_lookup(row: GatewayRow) -> bool:
    return not is_address(row.host)


def uses_srv(row: GatewayRow) -> bool:
    """RFC 3263 §4.2: SRV only for a name given without a port."""
    return row.port is None and not is_address(row.host)


def srv_name(host: str, transport: str) -> str:
    return f"{_SRV_PREFIXES[transport]}.{host.rstrip('.')}"


def expand_gateway(row: GatewayRow, answer: HostAnswer | None) -> list[Gateway]:
    """The gateways one row stands for, best first (module docstring). An address
    needs no answer; a name with no usable answer gives no gateway."""
    if not needs_lookup(row):
        return [row.as_configured()]
    if answer is None:
        return []
    if answer.srv:
        # Records found: only their targets count, even when none resolves (§4.2);
        # a target "." says there is no SIP over this transport (RFC 2782).
        return _from_srv(row, [t for t in answer.srv if t.host.rstrip(".") and t.addresses])
    port = row.port if row.port is not None else default_port(row.transport)
    return _dedup(_spread(row, answer.addresses, port, row.weight, 0))


def _from_srv(row: GatewayRow, targets: list[SrvTarget]) -> list[Gateway]:
    priorities = sorted({t.priority for t in targets})
    gateways: list[Gateway] = []
    for rank, priority in enumerate(priorities):
        group = [t for t in targets if t.priority == priority]
        total = sum(t.weight for t in group)
        # Heaviest first, so a duplicate address keeps its biggest share.
        for target in sorted(group, key=lambda t: -t.weight):
            share = row.weight * (target.weight / total if total else 1 / len(group))
            gateways += _spread(row, target.addresses, target.port, share, rank)
    return _dedup(gateways)


def _spread(row: GatewayRow, addresses, port: int, weight: float, rank: int) -> list[Gateway]:
    if not addresses:
        return []
    share = weight / len(addresses)
    return [Gateway(row.trunk, address, port, row.transport, row.region, row.priority,
                    share, rank, row.host, row.port is None) for address in addresses]


def _dedup(gateways: list[Gateway]) -> list[Gateway]:
    """One gateway per address (a target may be listed twice), the first kept."""
    seen: set[str] = set()
    kept = []
    for gateway in gateways:
        if gateway.key not in seen:
            seen.add(gateway.key)
            kept.append(gateway)
    return kept
