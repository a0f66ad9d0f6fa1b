"""sips: and transport=tls in the proxy's routing (RFC 3261 §26.2.2, RFC 5630): TLS hops
from URIs, aliases of TLS sources, a sips: request never over a hop without TLS, and
sips: Record-Route entries."""

from softswitch.services.attempts import Attempt, over_tls
from softswitch.services.proxy_routes import (
    decode_alias,
    encode_alias,
    is_sips,
    next_hop,
    peer_for_uri,
    record_route_value,
)
from softswitch.sip.message import parse_message
from softswitch.sip.transport import Peer
from softswitch.sip.uri import parse_uri


def invite(uri: str, route: str | None = None):
    lines = [f"INVITE {uri} SIP/2.0", "Via: SIP/2.0/TLS 192.0.2.1:5061;branch=z9hG4bK-1",
             "From: <sip:a@example.com>;tag=1", "To: <sip:b@example.com>", "Call-ID: sips-1",
             "CSeq: 1 INVITE", "Max-Forwards: 70"]
    if route:
        lines.append(f"Route: {route}")
    return parse_message(("\r\n".join(lines) + "\r\nContent-Length: 0\r\n\r\n").encode())


def test_uris_name_tls_hops_by_scheme_or_transport_with_5061_by_default():
    assert peer_for_uri(parse_uri("sips:bob@192.0.2.5")) == Peer("tls", "192.0.2.5", 5061)
    assert peer_for_uri(parse_uri("sips:bob@192.0.2.5;transport=tcp")) == \
        Peer("tls", "192.0.2.5", 5061)  # sips is TLS whatever the parameter says
    assert peer_for_uri(parse_uri("sip:bob@192.0.2.5:5071;transport=TLS")) == \
        Peer("tls", "192.0.2.5", 5071)
    assert peer_for_uri(parse_uri("sip:bob@192.0.2.5;transport=sctp")) is None


def test_a_tls_source_survives_an_alias():
    peer = Peer("tls", "198.51.100.7", 40123)
    assert decode_alias(encode_alias(peer)) == peer
    assert decode_alias("198.51.100.7~40123~ws") is None


def test_a_sips_request_is_never_sent_over_a_hop_without_tls():
    assert next_hop(invite("sips:bob@192.0.2.5")) == Peer("tls", "192.0.2.5", 5061)
    assert next_hop(invite("sips:bob@192.0.2.5", "<sip:192.0.2.9;lr>")) is None
    assert next_hop(invite("sips:bob@192.0.2.5", "<sip:192.0.2.9;transport=tls;lr>")) == \
        Peer("tls", "192.0.2.9", 5061)
    assert next_hop(invite("sip:bob@192.0.2.5", "<sip:192.0.2.9;lr>")) == \
        Peer("udp", "192.0.2.9", 5060)
    assert is_sips("SIPS:bob@example.com") and not is_sips("sip:bob@example.com")


def test_a_sips_call_forks_only_to_tls_contacts():
    tls = Attempt("sips:b@192.0.2.5", Peer("tls", "192.0.2.5", 40000))
    udp = Attempt("sip:b@192.0.2.6", Peer("udp", "192.0.2.6", 5060))
    assert over_tls([tls, udp], secure=True) == [tls]
    assert over_tls([tls, udp], secure=False) == [tls, udp]


def test_record_route_says_tls_with_the_scheme_in_a_sips_request():
    assert record_route_value("sip:203.0.113.1:5061;transport=tls", secure=True) == \
        "<sips:203.0.113.1:5061;lr>"
    assert record_route_value("sip:203.0.113.1:5061;transport=tls") == \
        "<sip:203.0.113.1:5061;transport=tls;lr>"
    assert record_route_value("sip:203.0.113.1:5060", secure=True) == "<sip:203.0.113.1:5060;lr>"
