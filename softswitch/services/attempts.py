"""Planning the INVITEs a call sends: one `Attempt` per registered contact of a user,
or per gateway of a trunk in the order calls should try them.

The proxy's branches, outbound calls and transfers plan their attempts here, so a
trunk's gateways are tried in the same order whichever kind of call reaches it."""

from dataclasses import dataclass
from typing import Callable, Iterable, Optional

from ..sip.transport import Peer

MAX_FORKS = 10  # parallel INVITEs of one call to a user's contacts (best q first)

# (trunk, region) -> its gateways in the order to try them (GatewayHealth.order)
GatewayOrder = Callable[[object, Optional[str]], list]


@dataclass(frozen=True, slots=True)
class Attempt:
    """One INVITE to send: where, with which Request-URI, and what it stands for."""

    uri: str
    destination: Peer
    to_uri: str = ""  # the To of a UAC leg's INVITE (the proxy keeps the caller's)
    target: object = None  # routing.Target the proxy is trying
    trunk: object = None  # routing.Trunk for trunk attempts
    gateway: object = None  # routing.Gateway for trunk attempts
    routes: tuple[str, ...] = ()  # a binding's Path
    follow_contact: bool = True


def ordered_gateways(trunk, gateway_order: GatewayOrder | None = None,
                     region: str | None = None) -> list:
    """The trunk's gateways in the order to try them: by health and region when
    `gateway_order` is given, else by priority and then SRV rank (RFC 2782 order
    among the addresses one gateway name resolved to)."""
    if gateway_order is not None:
        return gateway_order(trunk, region)
    return sorted(trunk.gateways, key=lambda g: (g.priority, g.srv_rank))


def trunk_attempts(trunk, number: str, gateway_order: GatewayOrder | None = None,
                   region: str | None = None, target=None) -> list[Attempt]:
    """One Attempt per gateway of `trunk` for `number`, in the order to try them."""
    attempts = []
    for gateway in ordered_gateways(trunk, gateway_order, region):
        transport = "" if gateway.transport == "udp" else f";transport={gateway.transport}"
        attempts.append(Attempt(f"sip:{number}@{gateway.uri_hostport}{transport}",
                                Peer(gateway.transport, gateway.host, gateway.port),
                                f"sip:{number}@{gateway.uri_host}", target=target,
                                trunk=trunk, gateway=gateway))
    return attempts


def user_attempts(bindings: Iterable, to_uri: str, limit: int, target=None,
                  follow_contact: bool = True) -> list[Attempt]:
    """One Attempt per registered contact (best first, as the location service lists
    them) that has a usable source, at most `limit` of them: one call never forks
    more than that, whatever registered."""
    attempts = []
    for binding in bindings:
        destination = peer_from_received(binding.received)
        if destination is None:
            continue
        attempts.append(Attempt(binding.contact, destination, to_uri, target=target,
                                routes=tuple(binding.path), follow_contact=follow_contact))
        if len(attempts) >= limit:
            break
    return attempts


def peer_from_received(received: str | None) -> Peer | None:
    """A binding's source ("udp:203.0.113.5:5060", "tcp:[2001:db8::1]:5060") as a Peer."""
    if not received:
        return None
    transport, _, rest = received.partition(":")
    host, _, port = rest.rpartition(":")
    if not port.isdigit() or not host:
        return None
    return Peer(transport, host.strip("[]"), int(port))


def over_tls(attempts: list[Attempt], secure: bool) -> list[Attempt]:
    """The attempts a sips: request may take: only TLS hops (RFC 3261 §26.2.2, RFC 5630
    §3.1.1); all of them for any other request."""
    if not secure:
        return attempts
    return [attempt for attempt in attempts if attempt.destination.transport == "tls"]
