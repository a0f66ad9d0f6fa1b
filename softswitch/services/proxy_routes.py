"""Route mechanics of a proxy (RFC 3261 §16): loop detection by branch hash,
loose routing (popping our own Route), the next hop of a request, and NAT aliases
(Kamailio's add_contact_alias / handle_ruri_alias) so in-dialog requests reach a
phone behind NAT at the address its requests came from."""

import hashlib
import ipaddress
import os

from ..sip.digest import parse_credentials
from ..sip.errors import SipError
from ..sip.fields import BRANCH_MAGIC, parse_name_addr
from ..sip.message import Request
from ..sip.transport import Peer
from ..sip.uri import SipUri, host_for_socket

ALIAS_PARAM = "alias"
CREDENTIAL_HEADERS = ("Proxy-Authorization", "Authorization")


def loop_hash(request: Request) -> str:
    """RFC 3261 §16.6 step 8: the part of our branch that a looped request reproduces."""
    parts = (request.uri, request.from_tag or "", request.to_tag or "", request.call_id,
             str(request.cseq.number), ",".join(request.headers.values("Route")))
    return hashlib.blake2s("|".join(parts).encode("utf-8", "surrogateescape"),
                           digest_size=8).hexdigest()


def proxy_branch(request: Request, counter: int) -> str:
    """Our branch for one forwarded copy of `request`: the loop hash (so a looped copy
    is recognised), then a part unique to this copy. Two requests that differ only in
    what the hash leaves out (their Via branch) must never share a client branch."""
    return f"{BRANCH_MAGIC}{loop_hash(request)}.{counter}{os.urandom(6).hex()}"


def is_loop(request: Request, is_our_address) -> bool:
    """A Via of ours whose branch carries this very request's hash (RFC 3261 §16.3.4).
    A spiral (same request re-targeted, so another hash) is not a loop."""
    ours = [v for v in request.vias if is_our_address(host_for_socket(v.host), v.port or 5060)]
    if not ours:
        return False
    wanted = f"{BRANCH_MAGIC}{loop_hash(request)}."
    return any((v.branch or "").startswith(wanted) for v in ours)


def pop_own_routes(request: Request, is_our_address) -> None:
    """Remove Route entries that point at us (we are the loose router they name)."""
    while True:
        routes = request.headers.get_list("Route")
        if not routes:
            return
        uri = parse_name_addr(routes[0]).uri
        if not isinstance(uri, SipUri) or not is_our_address(
                host_for_socket(uri.host), uri.port or 5060):
            return
        request.headers.pop_first("Route")


def targets_us(request: Request, is_our_address) -> bool:
    """No Route left and a Request-URI naming one of our addresses: forwarding it by
    its Request-URI would send it to ourselves (a UA that ignored Record-Route)."""
    if request.headers.get("Route") is not None:
        return False
    uri = request.ruri
    return isinstance(uri, SipUri) and ALIAS_PARAM not in uri.params and is_our_address(
        host_for_socket(uri.host), uri.port or 5060)


def strip_own_credentials(request: Request, realm: str) -> bool:
    """Remove the credentials meant for our realm (RFC 3261 §22.3: a proxy consumes
    its own); another realm's are for a proxy further on and stay. An unreadable
    value goes too. True when something was removed."""
    removed = False
    for name in CREDENTIAL_HEADERS:
        values = request.headers.values(name)
        if not values:
            continue
        kept = [value for value in values if not _for_realm(value, realm)]
        if len(kept) == len(values):
            continue
        removed = True
        request.headers.remove(name)
        for value in kept:
            request.headers.add(name, value)
    if removed:
        request.invalidate()
    return removed


def _for_realm(value: str, realm: str) -> bool:
    try:
        credentials = parse_credentials(value)
    except SipError:
        return True
    return credentials.realm is None or credentials.realm == realm


STREAM_TRANSPORTS = ("tcp", "tls")


def peer_for_uri(uri, default_transport: str = "udp") -> Peer | None:
    """Where to send a request for `uri` (IP hosts only; an alias wins)."""
    if not isinstance(uri, SipUri):
        return None
    alias = uri.params.get(ALIAS_PARAM)
    if alias:
        peer = decode_alias(alias)
        if peer is not None:
            return peer
    host = host_for_socket(uri.host)
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return None
    if uri.scheme == "sips":
        transport = "tls"  # every hop of a sips: URI is TLS (RFC 3261 §26.2.2)
    else:
        transport = (uri.params.get("transport") or default_transport).lower()
    if transport not in STREAM_TRANSPORTS and transport != "udp":
        return None
    return Peer(transport, host, uri.port or (5061 if transport == "tls" else 5060))


def next_hop(request: Request) -> Peer | None:
    """The top Route if there is one, else the Request-URI."""
    routes = request.headers.get_list("Route")
    if routes:
        peer = peer_for_uri(parse_name_addr(routes[0]).uri)
    else:
        peer = peer_for_uri(request.ruri)
    if peer is not None and peer.transport != "tls" and is_sips(request.uri):
        return None  # a sips: request is never forwarded over a hop without TLS
    return peer


def is_sips(uri_text: str) -> bool:
    return uri_text[:5].lower() == "sips:"


def encode_alias(peer: Peer) -> str:
    return f"{peer.host}~{peer.port}~{peer.transport}"


def decode_alias(text: str) -> Peer | None:
    parts = text.split("~")
    if len(parts) != 3 or not parts[1].isdigit() or \
            (parts[2] != "udp" and parts[2] not in STREAM_TRANSPORTS):
        return None
    try:
        ipaddress.ip_address(parts[0])
    except ValueError:
        return None
    return Peer(parts[2], parts[0], int(parts[1]))


def alias_contact(message, source: Peer) -> None:
    """When a message's Contact is not where it came from (NAT, or a Contact that
    omits ;transport=tcp on a TCP leg), tag the Contact URI with the real source so
    later requests to that Contact go there, the same way."""
    values = message.headers.values("Contact")
    if len(values) != 1:
        return
    try:
        address = parse_name_addr(values[0])
    except Exception:  # a Contact we cannot read is forwarded untouched
        return
    uri = address.uri
    if not isinstance(uri, SipUri) or ALIAS_PARAM in uri.params:
        return
    if host_for_socket(uri.host) == source.host and (uri.port or 5060) == source.port \
            and uri.transport == source.transport:
        return
    uri.params[ALIAS_PARAM] = encode_alias(source)
    message.headers.set("Contact", str(address))
    message.invalidate()


def record_route_value(local_uri: str, secure: bool = False) -> str:
    """Our Record-Route entry; a sips: one in a sips: request's (RFC 5630 §3.1.3: the
    hop is TLS, said with the scheme rather than the deprecated transport=tls)."""
    if secure and local_uri.startswith("sip:") and local_uri.endswith(";transport=tls"):
        local_uri = "sips:" + local_uri[4:-len(";transport=tls")]
    return f"<{local_uri};lr>"
