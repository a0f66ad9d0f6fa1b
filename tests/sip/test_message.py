"""Message model: header table, Headers container, builders, limits and fuzzing."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from softswitch.sip.errors import LocalProtocolError, RemoteProtocolError
from softswitch.sip.fields import Via, parse_contacts, parse_cseq, parse_name_addr, parse_via
from softswitch.sip.headers import (
    CANONICAL,
    COMPACT,
    HEADER_TABLE,
    LIST_HEADERS,
    Headers,
    canonical_name,
    compact_form,
)
from softswitch.sip.message import (
    DEFAULT_LIMITS,
    MAX_BODY_SIZE,
    MAX_HEADERS,
    MAX_MESSAGE_SIZE,
    Limits,
    Request,
    Response,
    content_length_of,
    make_ack,
    make_cancel,
    make_response,
    parse_message,
)
from softswitch.sip.status import reason_for
from softswitch.sip.uri import MAX_URI_LENGTH

INVITE = (
    b"INVITE sip:+14155550100@198.51.100.20;user=phone SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 203.0.113.10:5060;branch=z9hG4bKinv1;rport\r\n"
    b"Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKinv0, SIP/2.0/TCP 10.0.0.2;branch=z9hG4bKx\r\n"
    b"Route: <sip:edge1.example.net;lr>, <sip:edge2.example.net;lr>\r\n"
    b"Route: <sip:edge3.example.net;lr>\r\n"
    b"Max-Forwards: 69\r\n"
    b'From: "Caller" <sip:+12125550199@203.0.113.10;user=phone>;tag=as5f2c\r\n'
    b"To: <sip:+14155550100@198.51.100.20;user=phone>\r\n"
    b"Call-ID: 4c2f1e6a@203.0.113.10\r\n"
    b"CSeq: 102 INVITE\r\n"
    b"Contact: <sip:+12125550199@203.0.113.10:5060>\r\n"
    b"Timestamp: 54\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: 10\r\n"
    b"\r\n"
    b"v=0\r\ns=-\r\n"
)

RESPONSE_180 = (
    b"SIP/2.0 180 Ringing\r\n"
    b"Via: SIP/2.0/UDP 203.0.113.10:5060;branch=z9hG4bKinv1;rport=5060\r\n"
    b'From: "Caller" <sip:+12125550199@203.0.113.10;user=phone>;tag=as5f2c\r\n'
    b"To: <sip:+14155550100@198.51.100.20;user=phone>;tag=callee1\r\n"
    b"Call-ID: 4c2f1e6a@203.0.113.10\r\n"
    b"CSeq: 102 INVITE\r\n"
    b"Content-Length: 0\r\n"
    b"\r\n"
)


def invite() -> Request:
    return parse_message(INVITE)


# -- header table -----------------------------------------------------------------------

@pytest.mark.parametrize("name,compact", [(n, c) for n, c, _ in HEADER_TABLE if c])
def test_compact_forms_map_both_ways(name, compact):
    assert canonical_name(compact) == name
    assert canonical_name(compact.upper()) == name
    assert compact_form(name) == compact
    assert compact_form(name.upper()) == compact
    assert compact_form(compact) == compact
    assert COMPACT[name] == compact


def test_well_known_compact_forms():
    assert {canonical_name(c) for c in "vftimlcskeo"} == {
        "Via", "From", "To", "Call-ID", "Contact", "Content-Length", "Content-Type",
        "Subject", "Supported", "Content-Encoding", "Event"}
    assert compact_form("CSeq") is None
    assert compact_form("X-Unknown") is None


@pytest.mark.parametrize("spelling", ["Via", "via", "VIA", "vIa", "v", "V"])
def test_names_are_case_insensitive(spelling):
    assert canonical_name(spelling) == "Via"


def test_unknown_names_are_keyed_lower_case():
    assert canonical_name("X-Custom-Thing") == "x-custom-thing"
    assert canonical_name("x-CUSTOM-thing") == "x-custom-thing"


def test_table_is_consistent():
    names = [n for n, _, _ in HEADER_TABLE]
    assert len(names) == len(set(n.lower() for n in names))
    compacts = [c for _, c, _ in HEADER_TABLE if c]
    assert len(compacts) == len(set(compacts))
    assert all(len(c) == 1 and c.islower() for c in compacts)
    assert {"Via", "Route", "Record-Route", "Contact"} <= LIST_HEADERS
    assert "Call-ID" not in LIST_HEADERS
    assert all(CANONICAL[n.lower()] == n for n in names)


def test_canonical_name_cache_is_bounded():
    for i in range(5000):
        canonical_name(f"X-Generated-{i}")
    from softswitch.sip import headers
    assert len(headers._KEY_CACHE) <= headers._KEY_CACHE_SIZE
    assert canonical_name("X-Generated-4999") == "x-generated-4999"


# -- Headers container -------------------------------------------------------------------

def sample_headers() -> Headers:
    return Headers.from_pairs([
        ("v", "SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/UDP b;branch=z9hG4bK2"),
        ("Via", "SIP/2.0/UDP c;branch=z9hG4bK3"),
        ("From", "<sip:a@x>;tag=1"),
        ("route", "<sip:r1;lr>"),
        ("Route", "<sip:r2;lr>, <sip:r3;lr>"),
        ("X-Thing", "one"),
    ])


def test_get_returns_first_value_in_any_spelling():
    h = sample_headers()
    assert h.get("VIA") == "SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/UDP b;branch=z9hG4bK2"
    assert h.get("f") == "<sip:a@x>;tag=1"
    assert h.get("x-thing") == "one"
    assert h.get("To") is None
    assert h.get("To", "none") == "none"


def test_values_and_get_list():
    h = sample_headers()
    assert h.values("Via") == [
        "SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/UDP b;branch=z9hG4bK2",
        "SIP/2.0/UDP c;branch=z9hG4bK3"]
    assert h.get_list("v") == [
        "SIP/2.0/UDP a;branch=z9hG4bK1", "SIP/2.0/UDP b;branch=z9hG4bK2",
        "SIP/2.0/UDP c;branch=z9hG4bK3"]
    assert h.get_list("Route") == ["<sip:r1;lr>", "<sip:r2;lr>", "<sip:r3;lr>"]
    assert h.get_list("To") == []
    assert h.count("Route") == 2 and "ROUTE" in h and "To" not in h
    assert len(h) == 6


def test_names_as_sent_are_kept_for_serialising():
    h = sample_headers()
    assert [name for name, _ in h] == ["v", "Via", "From", "route", "Route", "X-Thing"]


def test_get_list_respects_quotes_and_brackets():
    h = Headers.from_pairs([("Contact", '"a, b" <sip:x@y;p=1,2>, <sip:z@w>')])
    assert h.get_list("m") == ['"a, b" <sip:x@y;p=1,2>', "<sip:z@w>"]


def test_add_appends_or_prepends():
    h = sample_headers()
    h.add("X-New", "1")
    assert list(h)[-1] == ("X-New", "1")
    h.add("Via", "SIP/2.0/TCP top;branch=z9hG4bK0", first=True)
    assert list(h)[0] == ("Via", "SIP/2.0/TCP top;branch=z9hG4bK0")


def test_insert_before_puts_a_new_top_via():
    h = Headers.from_pairs([("From", "<sip:a@x>"), ("Via", "SIP/2.0/UDP a")])
    h.insert_before("Via", "SIP/2.0/UDP new")
    assert list(h) == [("From", "<sip:a@x>"), ("Via", "SIP/2.0/UDP new"),
                       ("Via", "SIP/2.0/UDP a")]
    h.insert_before("Record-Route", "<sip:p;lr>")  # absent: appended
    assert list(h)[-1] == ("Record-Route", "<sip:p;lr>")


def test_set_replaces_every_field_in_place_of_the_first():
    h = sample_headers()
    h.set("route", "<sip:only;lr>")
    assert h.values("Route") == ["<sip:only;lr>"]
    assert [n for n, _ in h].index("route") == 3
    h.set("Max-Forwards", "70")  # absent: appended
    assert list(h)[-1] == ("Max-Forwards", "70")


def test_remove():
    h = sample_headers()
    h.remove("v")
    assert "Via" not in h and len(h) == 4


def test_pop_first_takes_the_top_element_across_lines():
    h = sample_headers()
    assert h.pop_first("Route") == "<sip:r1;lr>"
    assert h.values("Route") == ["<sip:r2;lr>, <sip:r3;lr>"]
    assert h.pop_first("Route") == "<sip:r2;lr>"
    assert h.values("Route") == ["<sip:r3;lr>"]
    assert h.pop_first("Route") == "<sip:r3;lr>"
    assert h.pop_first("Route") is None
    assert "Route" not in h


def test_pop_first_via():
    h = sample_headers()
    assert h.pop_first("Via") == "SIP/2.0/UDP a;branch=z9hG4bK1"
    assert h.get_list("Via") == ["SIP/2.0/UDP b;branch=z9hG4bK2", "SIP/2.0/UDP c;branch=z9hG4bK3"]


def test_replace_first_rewrites_the_top_element_only():
    h = sample_headers()
    h.replace_first("Via", "SIP/2.0/UDP a;branch=z9hG4bK1;received=192.0.2.1")
    assert h.get_list("Via") == [
        "SIP/2.0/UDP a;branch=z9hG4bK1;received=192.0.2.1",
        "SIP/2.0/UDP b;branch=z9hG4bK2", "SIP/2.0/UDP c;branch=z9hG4bK3"]
    with pytest.raises(KeyError):
        h.replace_first("Record-Route", "<sip:x>")


def test_copy_is_independent():
    h = sample_headers()
    c = h.copy()
    c.set("X-Thing", "two")
    assert h.get("X-Thing") == "one" and c.get("X-Thing") == "two"


def test_check_single():
    Headers.from_pairs([("Via", "a"), ("Via", "b"), ("To", "t")]).check_single()
    with pytest.raises(RemoteProtocolError):
        Headers.from_pairs([("To", "a"), ("t", "b")]).check_single()


# -- parsing basics ---------------------------------------------------------------------

def test_parse_request():
    m = invite()
    assert isinstance(m, Request) and m.is_request
    assert (m.method, m.uri, m.version) == (
        "INVITE", "sip:+14155550100@198.51.100.20;user=phone", "SIP/2.0")
    assert m.ruri.params == {"user": "phone"}
    assert [v.host for v in m.vias] == ["203.0.113.10", "10.0.0.1", "10.0.0.2"]
    assert m.top_via.branch == "z9hG4bKinv1" and m.top_via.params["rport"] is None
    assert m.from_tag == "as5f2c" and m.to_tag is None
    assert m.from_.display == "Caller"
    assert (m.cseq.number, m.cseq.method) == (102, "INVITE")
    assert m.call_id == "4c2f1e6a@203.0.113.10"
    assert m.max_forwards == 69
    assert m.contacts[0].address.uri.port == 5060
    assert m.body == b"v=0\r\ns=-\r\n"


def test_parse_response():
    m = parse_message(RESPONSE_180)
    assert isinstance(m, Response) and not m.is_request
    assert (m.status, m.reason, m.method) == (180, "Ringing", "INVITE")
    assert m.to_tag == "callee1"


def test_bytes_round_trip_rewrites_content_length():
    m = invite()
    m.body = b"v=0\r\n"
    again = parse_message(bytes(m))
    assert again.headers.get("Content-Length") == "5" and again.body == b"v=0\r\n"


def test_leading_crlf_before_the_start_line_is_ignored():
    assert parse_message(b"\r\n\r\n" + INVITE).method == "INVITE"


def test_bare_lf_message():
    m = parse_message(INVITE.replace(b"\r\n", b"\n").replace(b"Content-Length: 10",
                                                             b"Content-Length: 8"))
    assert m.body == b"v=0\ns=-\n" and m.call_id == "4c2f1e6a@203.0.113.10"


def test_bare_lf_blank_line_before_a_later_crlf_crlf_ends_the_header_section():
    data = RESPONSE_180.replace(b"Content-Length: 0\r\n\r\n", b"Content-Length: 4\n\nab\r\n\r\n")
    m = parse_message(data)
    assert m.body == b"ab\r\n"


def test_header_folding_and_lws_around_colon():
    data = INVITE.replace(b"Call-ID: 4c2f1e6a@203.0.113.10",
                          b"Call-ID   :\r\n   4c2f1e6a@203.0.113.10")
    assert parse_message(data).call_id == "4c2f1e6a@203.0.113.10"


def test_continuation_before_any_header_is_rejected():
    with pytest.raises(RemoteProtocolError):
        parse_message(b"OPTIONS sip:a@b SIP/2.0\r\n folded: x\r\n\r\n")


def test_header_line_without_colon_is_rejected_with_the_partial_message():
    with pytest.raises(RemoteProtocolError) as info:
        parse_message(INVITE.replace(b"Timestamp: 54", b"Timestamp 54"))
    assert info.value.partial.method == "INVITE"


def test_stream_requires_terminated_header_and_defaults_to_empty_body():
    data = INVITE.replace(b"Content-Length: 10\r\n", b"")
    assert parse_message(data, stream=True).body == b""
    assert parse_message(data).body == b"v=0\r\ns=-\r\n"  # UDP: the rest of the datagram


@pytest.mark.parametrize("start,status", [
    (b"INVITE sip:a@b SIP/3.0", 505),
    (b"INVITE sip:a@b sip/2.0", None),
    (b"INVITE sip:a@b HTTP/1.1", 400),
    (b"INVITE  sip:a@b SIP/2.0", 400),
    (b"INVITE sip:a@b SIP/2.0 ", 400),
    (b"INV(TE sip:a@b SIP/2.0", 400),
    (b"SIP/2.0 99 Too Small", 400),
    (b"SIP/2.0 700 Too Big", 400),
    (b"SIP/2.0 2OO OK", 400),
    (b"SIP/2.0 \xc2\xb200 OK", 400),
    (b"SIP/3.0 200 OK", 505),
])
def test_start_lines(start, status):
    head = b"\r\n".join(INVITE.split(b"\r\n")[1:])
    data = start + b"\r\n" + head
    if status is None:
        assert parse_message(data).version == "SIP/2.0"
    else:
        with pytest.raises(RemoteProtocolError) as info:
            parse_message(data, validate=False)
        assert info.value.status_hint == status


@pytest.mark.parametrize("old,new", [
    (b"CSeq: 102 INVITE", b"CSeq: 4294967296 INVITE"),
    (b"CSeq: 102 INVITE", b"CSeq: 1\xc2\xb2 INVITE"),
    (b"CSeq: 102 INVITE", b"CSeq: 102 BYE"),
    (b"CSeq: 102 INVITE", b"CSeq: 102"),
    (b"Max-Forwards: 69", b"Max-Forwards: 256"),
    (b"Max-Forwards: 69", b"Max-Forwards: " + b"9" * 5000),
    (b"Max-Forwards: 69", b"Max-Forwards: -1"),
    (b"Timestamp: 54", b"Expires: 4294967296"),
    (b"Timestamp: 54", b"Expires: " + b"1" * 5000),
    (b"Contact: <sip:+12125550199@203.0.113.10:5060>",
     b"Contact: <sip:+12125550199@203.0.113.10:5060>;expires=4294967296"),
    (b"Contact: <sip:+12125550199@203.0.113.10:5060>",
     b"Contact: <sip:x@y>;expires=" + b"1" * 5000),
    (b"Contact: <sip:+12125550199@203.0.113.10:5060>", b"Contact: <sip:x@y>;expires=soon"),
    (b"Call-ID: 4c2f1e6a@203.0.113.10", b"Call-ID: "),
    (b"Call-ID: 4c2f1e6a@203.0.113.10\r\n", b""),
    (b"Via: SIP/2.0/UDP 203.0.113.10:5060;branch=z9hG4bKinv1;rport\r\n"
     b"Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKinv0, SIP/2.0/TCP 10.0.0.2;branch=z9hG4bKx\r\n",
     b""),
    (b"To: <sip:+14155550100@198.51.100.20;user=phone>",
     b"To: <sip:a@b>\r\nTo: <sip:c@d>"),
    (b"INVITE sip:+14155550100@198.51.100.20;user=phone",
     b"INVITE sip:+14155550100@198.51.100.20;user=phone?Route=x"),
    (b"Via: SIP/2.0/UDP 203.0.113.10:5060;branch=z9hG4bKinv1;rport",
     b"Via: SIP/2.0/UDP 203.0.113.10:5060;branch=z9hG4bKinv1;rport=abc"),
    (b"Via: SIP/2.0/UDP 203.0.113.10:5060;branch=z9hG4bKinv1;rport",
     b"Via: SIP/2.0/UDP 203.0.113.10:5060;received;branch=z9hG4bKinv1"),
    (b"Via: SIP/2.0/UDP 203.0.113.10:5060;", b"Via: SIP/2.0/UDP 203.0.113.10:65536;"),
])
def test_validation_rejects_with_400(old, new):
    assert old in INVITE
    with pytest.raises(RemoteProtocolError) as info:
        parse_message(INVITE.replace(old, new))
    assert info.value.status_hint == 400


def test_validation_is_skipped_on_request():
    m = parse_message(INVITE.replace(b"CSeq: 102 INVITE", b"CSeq: x"), validate=False)
    with pytest.raises(RemoteProtocolError):
        m.cseq


def test_leading_zeros_and_largest_scalars_are_accepted():
    m = parse_message(INVITE.replace(b"CSeq: 102", b"CSeq: 0004294967295")
                      .replace(b"Max-Forwards: 69", b"Max-Forwards: 00255"))
    assert m.cseq.number == 2**32 - 1 and m.max_forwards == 255


def test_unknown_method_with_mismatched_cseq_is_501():
    data = INVITE.replace(b"INVITE sip:", b"FOO sip:")
    with pytest.raises(RemoteProtocolError) as info:
        parse_message(data)
    assert info.value.status_hint == 501


def test_validation_fills_the_caches():
    m = invite()
    assert m._vias is not None and m._cseq is not None and m._from is not None
    assert m._to is not None and m._contacts is not None and m._ruri is not None


def test_invalidate_after_editing_headers():
    m = invite()
    assert m.top_via.host == "203.0.113.10"
    m.headers.pop_first("Via")
    m.invalidate()
    assert m.top_via.host == "10.0.0.1"


def test_content_length_helpers():
    assert content_length_of([]) is None
    assert content_length_of(["5", " 5"]) == 5
    for bad in (["5", "6"], ["-1"], ["0x5"], ["12345678901"], ["\u0665"]):
        with pytest.raises(RemoteProtocolError):
            content_length_of(bad)


# -- limits -----------------------------------------------------------------------------

def test_limit_constants():
    assert DEFAULT_LIMITS == Limits()
    assert Limits().max_message_size == MAX_MESSAGE_SIZE == 65535
    assert Limits().max_headers == MAX_HEADERS == 200
    assert Limits().max_uri_length == MAX_URI_LENGTH == 4096
    assert Limits().max_body_size == MAX_BODY_SIZE == 60000


def test_message_size_limit_is_513():
    limits = Limits(max_message_size=len(INVITE))
    parse_message(INVITE, limits=limits)
    with pytest.raises(RemoteProtocolError) as info:
        parse_message(INVITE + b"x", limits=limits)
    assert info.value.status_hint == 513
    with pytest.raises(RemoteProtocolError) as info:
        parse_message(INVITE + b"x" * MAX_MESSAGE_SIZE)
    assert info.value.status_hint == 513


def test_header_count_limit_is_400():
    count = len(invite().headers)
    parse_message(INVITE, limits=Limits(max_headers=count))
    with pytest.raises(RemoteProtocolError) as info:
        parse_message(INVITE, limits=Limits(max_headers=count - 1))
    assert info.value.status_hint == 400
    many = INVITE.replace(b"Timestamp: 54\r\n", b"X-H: 1\r\n" * MAX_HEADERS)
    with pytest.raises(RemoteProtocolError) as info:
        parse_message(many)
    assert info.value.status_hint == 400


def test_request_uri_length_limit_is_414():
    uri = invite().uri
    parse_message(INVITE, limits=Limits(max_uri_length=len(uri)))
    with pytest.raises(RemoteProtocolError) as info:
        parse_message(INVITE, limits=Limits(max_uri_length=len(uri) - 1))
    assert info.value.status_hint == 414
    long_uri = b"sip:" + b"a" * MAX_URI_LENGTH + b"@example.com"
    with pytest.raises(RemoteProtocolError) as info:
        parse_message(INVITE.replace(uri.encode(), long_uri))
    assert info.value.status_hint == 414


def test_body_size_limit_is_413():
    parse_message(INVITE, limits=Limits(max_body_size=10))
    with pytest.raises(RemoteProtocolError) as info:
        parse_message(INVITE, limits=Limits(max_body_size=9))
    assert info.value.status_hint == 413
    body = b"x" * (MAX_BODY_SIZE + 1)
    big = INVITE.replace(b"Content-Length: 10", f"Content-Length: {len(body)}".encode())
    with pytest.raises(RemoteProtocolError) as info:
        parse_message(big[: big.index(b"\r\n\r\n") + 4] + body)
    assert info.value.status_hint == 413


# -- builders ---------------------------------------------------------------------------

def test_make_response_copies_the_dialog_and_transaction_headers():
    request = invite()
    response = make_response(request, 486, to_tag="t1")
    assert isinstance(response, Response)
    assert (response.status, response.reason) == (486, "Busy Here")
    assert response.headers.values("Via") == request.headers.values("Via")
    for name in ("From", "Call-ID", "CSeq"):
        assert response.headers.get(name) == request.headers.get(name)
    assert response.headers.get("To") == request.headers.get("To") + ";tag=t1"
    for name in ("Route", "Contact", "Max-Forwards", "Content-Type", "Timestamp"):
        assert name not in response.headers
    again = parse_message(bytes(response))
    assert again.to_tag == "t1" and again.body == b""
    assert [v.branch for v in again.vias] == [v.branch for v in request.vias]


def test_make_response_keeps_an_existing_to_tag():
    request = parse_message(INVITE.replace(b"user=phone>\r\nCall-ID",
                                           b"user=phone>;tag=existing\r\nCall-ID"))
    response = make_response(request, 200, to_tag="new")
    assert parse_message(bytes(response)).to_tag == "existing"
    folded = parse_message(INVITE.replace(b"user=phone>\r\nCall-ID",
                                          b"user=phone> ; TAG = odd\r\nCall-ID"))
    assert make_response(folded, 200, to_tag="new").headers.get("To").lower().count("tag") == 1


def test_make_response_tag_is_not_confused_by_a_uri_parameter():
    request = parse_message(INVITE.replace(b"user=phone>\r\nCall-ID",
                                           b"user=phone;tag=inuri>\r\nCall-ID"))
    response = parse_message(bytes(make_response(request, 200, to_tag="new")))
    assert response.to_tag == "new"
    assert response.to.uri.params["tag"] == "inuri"


def test_make_response_100_has_no_tag_but_keeps_timestamp():
    response = make_response(invite(), 100, to_tag="t1")
    assert response.to_tag is None
    assert response.headers.get("Timestamp") == "54"
    assert response.reason == "Trying"


def test_make_response_without_tag_and_with_reason_and_body():
    response = make_response(invite(), 183, "Early Media", body=b"v=0\r\n")
    assert response.to_tag is None and response.reason == "Early Media"
    assert parse_message(bytes(response)).body == b"v=0\r\n"


def test_reason_phrases():
    assert reason_for(200) == "OK" and reason_for(513) == "Message Too Large"
    assert reason_for(299) == "OK" and reason_for(499) == "Bad Request"


def test_make_ack_for_a_non_2xx_final_response():
    """RFC 3261 §17.1.1.3."""
    request = invite()
    final = parse_message(RESPONSE_180.replace(b"180 Ringing", b"486 Busy Here"))
    ack = make_ack(request, final)
    assert (ack.method, ack.uri) == ("ACK", request.uri)
    assert len(ack.vias) == 1 and ack.top_via == request.top_via
    assert ack.headers.get("From") == request.headers.get("From")
    assert ack.headers.get("To") == final.headers.get("To")
    assert ack.call_id == request.call_id
    assert (ack.cseq.number, ack.cseq.method) == (102, "ACK")
    assert ack.headers.get_list("Route") == request.headers.get_list("Route")
    assert ack.max_forwards == 70
    again = parse_message(bytes(ack))
    assert again.method == "ACK" and again.body == b"" and again.to_tag == "callee1"


def test_make_ack_only_for_invite():
    bye = parse_message(INVITE.replace(b"INVITE", b"BYE"))
    with pytest.raises(LocalProtocolError):
        make_ack(bye, parse_message(RESPONSE_180))


def test_make_cancel():
    """RFC 3261 §9.1: same R-URI, Call-ID, From, To, CSeq number, top Via and Route."""
    request = invite()
    cancel = make_cancel(request)
    assert (cancel.method, cancel.uri) == ("CANCEL", request.uri)
    assert len(cancel.vias) == 1 and cancel.top_via == request.top_via
    assert cancel.top_via.branch == request.top_via.branch
    for name in ("From", "To", "Call-ID"):
        assert cancel.headers.get(name) == request.headers.get(name)
    assert (cancel.cseq.number, cancel.cseq.method) == (102, "CANCEL")
    assert cancel.headers.get_list("Route") == request.headers.get_list("Route")
    assert parse_message(bytes(cancel)).method == "CANCEL"


def test_new_messages_serialise():
    headers = Headers()
    headers.add("Via", str(Via("UDP", "192.0.2.1", 5060, {"branch": "z9hG4bKnew"})))
    for name, value in (("From", "<sip:a@b>;tag=1"), ("To", "<sip:c@d>"),
                        ("Call-ID", "x"), ("CSeq", "1 OPTIONS"), ("Max-Forwards", "70")):
        headers.add(name, value)
    request = Request("OPTIONS", "sip:c@d", headers)
    assert repr(request) == "<Request OPTIONS sip:c@d>"
    again = parse_message(bytes(request))
    assert again.top_via.branch == "z9hG4bKnew" and again.top_via.port == 5060


# -- field parsers ----------------------------------------------------------------------

def test_parse_via_forms():
    assert str(parse_via("SIP/2.0/UDP host")) == "SIP/2.0/UDP host"
    via = parse_via("SIP / 2.0 / tcp [2001:db8::1]:5061 ; branch = z9hG4bKx ; rport")
    assert (via.transport, via.host, via.port) == ("TCP", "[2001:db8::1]", 5061)
    assert via.params == {"branch": "z9hG4bKx", "rport": None}
    assert via.sent_by == ("[2001:db8::1]", 5061)
    assert parse_via("SIP/2.0/UDP Host.Example.COM").sent_by == ("host.example.com", None)
    assert parse_via("SIP/2.0/UDP h;rport=5060;received=192.0.2.1").params == {
        "rport": "5060", "received": "192.0.2.1"}
    for bad in ("SIP/2.0 UDP h", "SIP/2.0/UDP", "SIP/2.0/UDP h;", "SIP/2.0/UDP h;;x",
                "SIP/2.0/UDP h:99999", "SIP/2.0/UDP h x", "SIP/2.0/U(P h"):
        with pytest.raises(RemoteProtocolError):
            parse_via(bad)


def test_parse_name_addr_forms():
    na = parse_name_addr('"A \\"B\\"" <sip:a@b;transport=tcp>;tag=x;q=0.5')
    assert (na.display, str(na.uri), na.params) == (
        'A "B"', "sip:a@b;transport=tcp", {"tag": "x", "q": "0.5"})
    assert str(na) == '"A \\"B\\"" <sip:a@b;transport=tcp>;tag=x;q=0.5'
    na = parse_name_addr("Bob  Smith <sip:b@c>")
    assert na.display == "Bob Smith"
    na = parse_name_addr("sip:a@b;tag=1")
    assert na.uri.params == {} and na.params == {"tag": "1"}
    assert parse_name_addr("<tel:+15551234;phone-context=x>").uri.number == "+15551234"
    for bad in ('"open <sip:a@b>', "<sip:a@b", "Bell, Alex <sip:a@b>",
                "sip:a@b?x=y", '"x" sip:a@b', "<sip:a@b>;;"):
        with pytest.raises(RemoteProtocolError):
            parse_name_addr(bad)


def test_parse_cseq_and_contacts():
    assert parse_cseq("  0009   INVITE ").number == 9
    contacts = parse_contacts(["<sip:a@b>;expires=60;q=0.7, <sip:c@d>", "*"])
    assert [c.expires for c in contacts] == [60, None, None]
    assert [c.q for c in contacts] == [0.7, None, None]
    assert contacts[2].wildcard and str(contacts[2]) == "*"
    for bad_q in ("1.5", "abc", "nan", "inf", "1_0", "\u0661"):
        with pytest.raises(RemoteProtocolError):
            parse_contacts([f"<sip:a@b>;q={bad_q}"])[0].q


# -- fuzzing: hostile input raises RemoteProtocolError and nothing else ------------------

ACCESSORS = ("vias", "cseq", "from_", "to", "contacts", "call_id", "ruri", "max_forwards")


def _parse_and_touch(data: bytes, **kwargs) -> None:
    try:
        message = parse_message(data, **kwargs)
    except RemoteProtocolError:
        return
    bytes(message)
    for name in ACCESSORS:
        try:
            value = getattr(message, name)
        except RemoteProtocolError:
            continue
        except AttributeError:
            assert name in ("ruri", "max_forwards")  # requests only
            continue
        if name == "contacts":
            for contact in value:
                for attribute in ("expires", "q"):
                    try:
                        getattr(contact, attribute)
                    except RemoteProtocolError:
                        pass
        if name == "ruri" and hasattr(value, "aor"):
            value.aor()


SEEDS = [INVITE, RESPONSE_180]
_MUTATION_BYTES = b" \t\r\n;:,=<>\"@[]%?/\\.0123456789abcSIPsip-_*!~+\x00\xff\xc2\xb2"


@st.composite
def mutated(draw):
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 6))):
        i = draw(st.integers(0, len(data)))
        op = draw(st.integers(0, 3))
        if op == 0 and data:
            del data[i : i + draw(st.integers(1, 4))]
        elif op == 1:
            data[i:i] = draw(st.binary(max_size=4)) or bytes(
                [draw(st.sampled_from(_MUTATION_BYTES))])
        elif op == 2 and data:
            data[min(i, len(data) - 1)] = draw(st.sampled_from(_MUTATION_BYTES))
        else:
            j = draw(st.integers(0, len(data)))
            a, b = sorted((i, j))
            data[a:a] = data[a:b][:40]
    return bytes(data)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=400))
def test_fuzz_random_bytes(data):
    _parse_and_touch(data)
    _parse_and_touch(data, validate=False, stream=True)


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_fuzz_mutated_messages(data):
    _parse_and_touch(data)
    _parse_and_touch(data, validate=False)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=120))
def test_fuzz_name_addr_text(text):
    try:
        parse_name_addr(text)
    except RemoteProtocolError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(['"', "\\", "<", ">", "sip:", "a", "@", ";", "=", " ", ",",
                                 "tag", "[", "]", ":", "5060", "?", "%", "\t", "\u00e9"]),
                max_size=25))
def test_fuzz_name_addr_grammar_soup(pieces):
    try:
        parse_name_addr("".join(pieces))
    except RemoteProtocolError:
        pass
