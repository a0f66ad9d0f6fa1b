"""SIP, SIPS, tel and other URIs (RFC 3261 §19, RFC 3966, RFC 5118)."""

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from softswitch.sip import fields, uri as uri_module
from softswitch.sip.errors import RemoteProtocolError
from softswitch.sip.fields import parse_name_addr, parse_via
from softswitch.sip.syntax import parse_params, unescape
from softswitch.sip.uri import (
    MAX_URI_LENGTH,
    AbsoluteUri,
    SipUri,
    TelUri,
    canonical_user,
    host_for_socket,
    number_part,
    parse_hostport,
    parse_uri,
)


def test_sip_uri_parts():
    uri = parse_uri("sip:alice:secret@Atlanta.example.com:5061;transport=TCP;lr?subject=x&h=y")
    assert isinstance(uri, SipUri)
    assert (uri.scheme, uri.user, uri.password) == ("sip", "alice", "secret")
    assert (uri.host, uri.port) == ("Atlanta.example.com", 5061)
    assert uri.params == {"transport": "TCP", "lr": None}
    assert uri.headers == "subject=x&h=y"
    assert uri.transport == "tcp"
    assert uri.host_key == "atlanta.example.com"
    assert str(uri) == "sip:alice:secret@Atlanta.example.com:5061;transport=TCP;lr?subject=x&h=y"


def test_minimal_and_default_forms():
    uri = parse_uri("sip:example.com")
    assert (uri.user, uri.host, uri.port, uri.params, uri.headers) == (
        None, "example.com", None, {}, None)
    assert uri.transport == "udp"
    sips = parse_uri("SIPS:bob@example.com")
    assert sips.scheme == "sips" and sips.transport == "tls"
    assert str(sips) == "sips:bob@example.com"


def test_params_with_lws_and_case():
    uri = parse_uri("sip:a@b;Maddr=239.255.255.1;TTL=15;method=REGISTER")
    assert uri.params == {"maddr": "239.255.255.1", "ttl": "15", "method": "REGISTER"}


def test_user_may_hold_user_unreserved_characters():
    uri = parse_uri("sip:+1-212-555-0199;phone-context=example.com@gw.example.com;user=phone")
    assert uri.user == "+1-212-555-0199;phone-context=example.com"
    assert uri.params == {"user": "phone"}


@pytest.mark.parametrize("text,host,port", [
    ("sip:[2001:db8::10]", "[2001:db8::10]", None),
    ("sip:user@[2001:db8::10]:5070", "[2001:db8::10]", 5070),
    ("sip:[2001:db8::10:5070]", "[2001:db8::10:5070]", None),
    ("sip:[::ffff:192.0.2.2];transport=tcp", "[::ffff:192.0.2.2]", None),
    ("sips:[2001:DB8::1]:5061", "[2001:DB8::1]", 5061),
    ("sip:[2001:db8:::192.0.2.1]", "[2001:db8:::192.0.2.1]", None),
    ("sip:192.0.2.1:0", "192.0.2.1", 0),
    ("sip:host:65535", "host", 65535),
])
def test_hosts_and_ports(text, host, port):
    uri = parse_uri(text)
    assert (uri.host, uri.port) == (host, port)
    assert str(uri) == text.replace("SIPS", "sips")


@pytest.mark.parametrize("text", [
    "sip:2001:db8::10",  # IPv6 must be bracketed (RFC 5118 §4.2)
    "sip:[2001:db8::10",
    "sip:[]",
    "sip:[zz::1]",
    "sip:[192.0.2.1]",
    "sip:[::1]x",
    "sip:[::1]:",
    "sip:host:65536",
    "sip:host:123456",
    "sip:host:-1",
    "sip:host:\u0665",
    "sip:host:",
    "sip:",
    "sip:@host",
    "sip:user@",
    "sip:ho_st",
    "sip:a@b;",
    "sip:a@b;;lr",
    "sip:a@b;=x",
    "sip:a@b;x=",
    "sip:a b@c",
    "sip:<a@b>",
    'sip:"a"@b',
    "sip:a@b\r\n",
    "no-scheme",
    ":x",
    "1sip:a@b",
    "s\u00edp:a@b",
    "si(p:a@b",
    "",
    "tel:",
    "tel:;x=y",
])
def test_malformed_uris(text):
    with pytest.raises(RemoteProtocolError) as info:
        parse_uri(text)
    assert info.value.status_hint == 400


def test_uri_length_limit_is_414():
    host = "a" * (MAX_URI_LENGTH - len("sip:"))
    assert parse_uri("sip:" + host).host == host
    with pytest.raises(RemoteProtocolError) as info:
        parse_uri("sip:" + host + "a")
    assert info.value.status_hint == 414
    with pytest.raises(RemoteProtocolError) as info:
        parse_name_addr("<sip:" + host + "a>")
    assert info.value.status_hint == 414


def test_tel_uri():
    uri = parse_uri("tel:+1-201-555-0123;ext=1234;phone-context=example.com")
    assert isinstance(uri, TelUri)
    assert uri.number == "+1-201-555-0123"
    assert uri.params == {"ext": "1234", "phone-context": "example.com"}
    assert str(uri) == "tel:+1-201-555-0123;ext=1234;phone-context=example.com"
    assert parse_uri("TEL:911").scheme == "tel"


@pytest.mark.parametrize("text,scheme,rest", [
    ("nobodyKnowsThisScheme:totallyopaquecontent", "nobodyknowsthisscheme",
     "totallyopaquecontent"),
    ("soap.beep://192.0.2.103:3002", "soap.beep", "//192.0.2.103:3002"),
    ("isbn:2983792873", "isbn", "2983792873"),
    ("http://www.example.com", "http", "//www.example.com"),
    ("urn:service:sos", "urn", "service:sos"),
    ("x-a+b.c-d:", "x-a+b.c-d", ""),
])
def test_unknown_schemes_are_opaque(text, scheme, rest):
    uri = parse_uri(text)
    assert isinstance(uri, AbsoluteUri)
    assert (uri.scheme, uri.rest) == (scheme, rest)
    assert str(uri) == f"{scheme}:{rest}"


def test_parse_hostport_and_host_for_socket():
    assert parse_hostport("example.com") == ("example.com", None)
    assert parse_hostport("192.0.2.1:5060") == ("192.0.2.1", 5060)
    assert parse_hostport("[::1]:5060") == ("[::1]", 5060)
    assert host_for_socket("[::1]") == "::1"
    assert host_for_socket("192.0.2.1") == "192.0.2.1"
    for bad in ("", ":5060", "[::1", "a b", "host:x"):
        with pytest.raises(RemoteProtocolError):
            parse_hostport(bad)


# -- AOR keys and comparison rules (RFC 3261 §19.1.4) -------------------------------------

def test_aor_host_is_case_insensitive_user_is_not():
    assert parse_uri("sip:alice@ATLANTA.example.COM").aor() == "sip:alice@atlanta.example.com"
    assert parse_uri("sip:Alice@a.com").aor() != parse_uri("sip:alice@a.com").aor()


def test_aor_drops_port_params_password_and_headers():
    uri = parse_uri("sip:alice:pw@a.com:5070;transport=tcp;lr?x=y")
    assert uri.aor() == "sip:alice@a.com"
    assert parse_uri("sips:alice@a.com").aor() == "sips:alice@a.com"
    assert parse_uri("sip:a.com").aor() == "sip:a.com"
    assert parse_uri("sip:[2001:DB8::1]").aor() == "sip:[2001:db8::1]"


def test_aor_user_escapes_compare_after_unescaping():
    assert parse_uri("sip:%61lice@a.com").aor() == parse_uri("sip:alice@a.com").aor()
    assert parse_uri("sip:%61lice@a.com").aor() == "sip:alice@a.com"
    # an escaped character that needs escaping stays escaped, in upper-case hex
    assert parse_uri("sip:a%3ab@a.com").aor() == "sip:a%3Ab@a.com"
    assert parse_uri("sip:a%40b@a.com").aor() == "sip:a%40b@a.com"
    # escaped NUL is kept escaped: two distinct keys, never truncated
    assert parse_uri("sip:%00@a.com").aor() == "sip:%00@a.com"
    assert parse_uri("sip:%00%00@a.com").aor() == "sip:%00%00@a.com"


@pytest.mark.parametrize("user,key", [
    ("alice", "alice"),
    ("%41lice", "Alice"),
    ("value%2541", "value%2541"),
    ("value%41", "valueA"),
    ("a%20b", "a%20b"),
    ("+1;phone-context=x", "+1;phone-context=x"),
    ("a%3b", "a;"),
    ("bad%zz", "bad%25zz"),
    ("trailing%4", "trailing%254"),
    ("\u00e9", "%C3%A9"),
    ("%c3%a9", "%C3%A9"),
])
def test_canonical_user(user, key):
    assert canonical_user(user) == key


_user_text = st.text(alphabet="aAfF09%;:@?/&=+$,-_.!~*'()\u00e9\x00 ", max_size=12)


@settings(max_examples=500, deadline=None)
@given(_user_text, _user_text)
def test_canonical_users_are_equal_exactly_when_unescaped_users_are(first, second):
    key = canonical_user(first)
    assert canonical_user(key) == key
    assert unescape(key) == unescape(first)
    assert re.fullmatch(r"(?:[A-Za-z0-9\-_.!~*'()&=+$,;?/]|%[0-9A-F]{2})*", key)
    assert (key == canonical_user(second)) == (unescape(first) == unescape(second))


def test_unescape_is_not_recursive():
    assert unescape("value%2541") == "value%41"
    assert unescape("%zz%4") == "%zz%4"
    assert unescape("%00") == "\x00"


# -- fuzzing ---------------------------------------------------------------------------

@settings(max_examples=500, deadline=None)
@given(st.text(max_size=100))
def test_fuzz_parse_uri_text(text):
    try:
        parse_uri(text)
    except RemoteProtocolError:
        pass


_PIECES = ["sip:", "sips:", "tel:", "x:", "SIP:", "user", "%41", "%00", "%", "@", ":", "5060",
           "99999", "[", "]", "2001:db8::1", "::ffff:1.2.3.4", "host.example.com", ";", "=",
           "lr", "transport=tcp", "?", "&", "h=v", " ", "\t", "<", ">", '"', ",", "\u00e9",
           "\u0665", "-", "."]


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=14))
def test_fuzz_parse_uri_grammar_soup(pieces):
    text = "".join(pieces)
    try:
        uri = parse_uri(text)
    except RemoteProtocolError:
        return
    if isinstance(uri, SipUri):
        uri.aor()
        assert parse_uri(str(uri)) == uri


# -- fast paths agree with the general parsers ------------------------------------------

NEVER = re.compile(r"(?!)")

def _mostly(valid: list[str], odd: list[str]):
    """Valid pieces four times as often as odd ones, so both parsers' paths get work."""
    return st.sampled_from(valid * 4 + odd)


_user = st.one_of(
    st.text(alphabet="abcXYZ019-_.!~*'()&=+$,%/", min_size=1, max_size=8),
    st.text(alphabet="abc%;?:@ ", min_size=0, max_size=4),
)
_host = _mostly(
    ["example.com", "Host-1.Example.NET", "192.0.2.1", "[2001:db8::1]", "[::ffff:192.0.2.2]",
     "[2001:db8::10:5070]", "[2001:DB8:::1]"],
    ["h_st", "[1.2.3.4]", "", "[::1", "::1", "a:b", "[x::1]", "h st", "[]"],
)
_port = _mostly([":5060", "", ":0", ":65535", ":05060"], [":65536", ":123456", ":", ":x", "::1"])
_param = st.tuples(
    _mostly([""], [" ", "\t"]),
    _mostly(["lr", "transport", "user", "maddr", "TTL", "x-y"], ["", "a b", "%41", "@", "é"]),
    _mostly(["=", ""], [" = ", "=\t"]),
    _mostly(["tcp", "phone", "1.2.3.4", "[::1]"], ["", "v a", "x=y", "a@b", "<", '"q"']),
).map(lambda p: f";{p[0]}{p[1]}{p[2]}{p[3] if p[2] else ''}")
_sip_tail = st.builds(
    lambda user, host, port, params, headers: f"{user}{host}{port}{''.join(params)}{headers}",
    st.one_of(st.just(""), _user.map(lambda u: u + "@")),
    _host, _port, st.lists(_param, max_size=3),
    _mostly([""], ["?x=y", "?", "@x"]),
)


def _outcome(fn, text):
    try:
        return repr(fn(text))
    except RemoteProtocolError as exc:
        return ("error", exc.status_hint)


@settings(max_examples=600, deadline=None)
@given(scheme=st.sampled_from(["sip:", "sips:", "SIP:"]), tail=_sip_tail)
def test_uri_fast_path_matches_general_path(scheme, tail):
    text = scheme + tail
    fast = _outcome(parse_uri, text)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(uri_module, "_SIMPLE_SIP_RE", NEVER)
        general = _outcome(parse_uri, text)
    assert fast == general


@settings(max_examples=600, deadline=None)
@given(
    display=_mostly(["", '"Bob" ', '"A \\"q\\"" ', "Bob ", "Bob  Smith\t", '"x"', "Bob"],
                    ["B@d ", '"open ', '"\\', " "]),
    scheme=_mostly(["sip:", "sips:", "SiP:"], ["tel:", "x:"]),
    tail=_sip_tail,
    params=st.lists(_param, max_size=3),
    close=_mostly([">"], ["", "> ", ">>"]),
)
def test_name_addr_fast_path_matches_general_path(display, scheme, tail, params, close):
    text = f"{display}<{scheme}{tail}{close}{''.join(params)}"
    fast = _outcome(parse_name_addr, text)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(fields, "_SIMPLE_NAME_ADDR_RE", NEVER)
        patch.setattr(uri_module, "_SIMPLE_SIP_RE", NEVER)
        general = _outcome(parse_name_addr, text)
    assert fast == general


@settings(max_examples=600, deadline=None)
@given(
    protocol=_mostly(["SIP/2.0/"], ["SIP / 2.0 / ", "sip/2.0/", "SIP/2.0", "SIP/2.0 /"]),
    transport=_mostly(["UDP", "tcp", "TLS", "WS"], ["X-Y", "", "U(P"]),
    space=_mostly([" "], ["  ", "\t", ""]),
    host=_host, port=_port, params=st.lists(_param, max_size=4),
    extra=_mostly(["", ";rport", ";rport=5060", ";received=192.0.2.1",
                   ";received=[2001:db8::9]"],
                  [";rport=x", ";received", " ;branch=z9hG4bK1", ";rport=123456", ","]),
)
def test_via_fast_path_matches_general_path(protocol, transport, space, host, port, params,
                                            extra):
    text = f"{protocol}{transport}{space}{host}{port}{''.join(params)}{extra}"
    fast = _outcome(parse_via, text)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(fields, "_SIMPLE_VIA_RE", NEVER)
        general = _outcome(parse_via, text)
    assert fast == general


@settings(max_examples=600, deadline=None)
@given(st.lists(_param, max_size=5), st.sampled_from(["", " ", "x", ";", '"q"', ';a="b;c"']))
def test_params_split_path_matches_the_scanner(params, extra):
    from softswitch.sip.syntax import _parse_params_quoted

    text = "".join(params) + extra
    assert _outcome(parse_params, text) == _outcome(
        lambda t: _parse_params_quoted(t, "header"), text)


@pytest.mark.parametrize("text, number", [
    ("sip:+14155550100;phone-context=x;user=phone@example.com;user=phone", "+14155550100"),
    ("sip:alice@example.com", "alice"),
    ("sip:example.com", None),
    ("tel:+14155550100;ext=1", "+14155550100"),
    ("urn:service:sos", None),
])
def test_the_number_part_of_a_uri(text, number):
    assert number_part(parse_uri(text)) == number
