"""RFC 4475 and RFC 5118 torture messages against the message parser.

One test per INDEX.tsv row asserts what its expectation column says at the parser level;
further tests check the semantics the RFCs spell out for particular messages. What a
service answers (416, 420, 415, 501 with Allow, 483, registrar 400/401) is tested with
the request dispatcher, not here.
"""

import csv
import re
from pathlib import Path

import pytest

from softswitch.sip.errors import RemoteProtocolError
from softswitch.sip.message import Request, Response, parse_message
from softswitch.sip.syntax import split_list, unescape
from softswitch.sip.uri import AbsoluteUri, SipUri, canonical_user

TORTURE = Path(__file__).resolve().parents[1] / "fixtures" / "torture"


def _rows() -> list[dict[str, str]]:
    with open(TORTURE / "INDEX.tsv", newline="", encoding="utf-8") as index:
        return list(csv.DictReader(index, delimiter="\t"))


ROWS = _rows()
ROW_BY_FILE = {row["file"]: row for row in ROWS}
ACCEPTED = ("valid", "valid-but-unusual")

# invalid-must-reject rows whose status hint is not 400.
REJECT_STATUS = {"badvers.dat": 505, "mismatch02.dat": 501}
# invalid-must-reject rows the parser accepts on purpose.
ACCEPTED_ANYWAY = {
    "baddate.dat": "the Date header is never interpreted, so its EST zone is ignored",
}


def read(name: str) -> bytes:
    return (TORTURE / name).read_bytes()


def fix_content_length(data: bytes) -> bytes:
    """Make Content-Length match the body (the RFC 5118 archive quirk)."""
    crlf, lf = data.find(b"\r\n\r\n"), data.find(b"\n\n")
    end, sep = (crlf, 4) if crlf >= 0 and (lf < 0 or crlf < lf) else (lf, 2)
    head, body = data[:end], data[end + sep :]
    head, count = re.subn(rb"(?im)^(content-length|l)([ \t]*:[ \t]*)\d+",
                          rb"\g<1>\g<2>" + str(len(body)).encode(), head)
    assert count == 1
    return head + data[end : end + sep] + body


def load(name: str) -> bytes:
    """The message bytes a test should see: archive quirks repaired where the index
    says the Content-Length does not match."""
    data = read(name)
    if "ARCHIVE QUIRK: Content-Length" in ROW_BY_FILE[name]["note"]:
        data = fix_content_length(data)
    return data


def parse(name: str, **kwargs):
    return parse_message(load(name), **kwargs)


# -- every row ------------------------------------------------------------------------

ROW_IDS = [row["file"] for row in ROWS]


def test_the_rows_tested_are_exactly_the_index_rows_and_the_files():
    with open(TORTURE / "INDEX.tsv", encoding="utf-8") as index:
        indexed = {line.split("\t", 1)[0] for line in list(index)[1:] if line.strip()}
    on_disk = {p.relative_to(TORTURE).as_posix() for p in TORTURE.rglob("*.dat")}
    assert len(ROW_IDS) == len(set(ROW_IDS)) == 62
    assert set(ROW_IDS) == indexed == on_disk
    assert set(REJECT_STATUS) | set(ACCEPTED_ANYWAY) <= {
        r["file"] for r in ROWS if r["expectation"] == "invalid-must-reject"}


@pytest.mark.parametrize("row", ROWS, ids=ROW_IDS)
def test_row(row):
    name = row["file"]
    data = load(name)
    is_response = data.startswith(b"SIP/")
    if row["expectation"] in ACCEPTED or name in ACCEPTED_ANYWAY:
        message = parse_message(data)
        assert isinstance(message, Response if is_response else Request)
        _assert_round_trip(message)
    else:
        assert row["expectation"] == "invalid-must-reject"
        with pytest.raises(RemoteProtocolError) as info:
            parse_message(data)
        if not is_response:  # a bad response is dropped, whatever the hint
            assert info.value.status_hint == REJECT_STATUS.get(name, 400)
    if name in DETAILS:
        DETAILS[name]()


def _assert_round_trip(message):
    data = bytes(message)
    again = parse_message(data)
    assert again.start_line() == message.start_line()
    expected = []
    length_seen = False
    for name, value in message.headers:
        if name.lower() in ("content-length", "l"):
            if length_seen:
                continue
            length_seen = True
            value = str(len(message.body))
        expected.append((name, value))
    if not length_seen:
        expected.append(("Content-Length", str(len(message.body))))
    assert list(again.headers) == expected
    assert again.body == message.body
    assert bytes(again) == data


# -- semantics of particular messages ----------------------------------------------------

def check_wsinv():
    m = parse("wsinv.dat")
    assert m.method == "INVITE"
    assert m.ruri.params == {"unknownparam": None}
    assert m.to.tag == "1918181833n"
    assert str(m.to.uri) == "sip:vivekg@chair-dnrc.example.com"
    assert m.from_.display == 'J Rosenberg \\"'
    assert m.from_.tag == "98asjd8"
    assert m.max_forwards == 68
    assert (m.cseq.number, m.cseq.method) == (9, "INVITE")
    assert m.call_id == "wsinv.ndaksdj@192.0.2.1"
    vias = m.vias
    assert [(v.protocol, v.transport, v.host, v.branch) for v in vias] == [
        ("SIP/2.0", "UDP", "192.0.2.2", "390skdjuw"),
        ("SIP/2.0", "TCP", "spindle.example.com", "z9hG4bK9ikj8"),
        ("SIP/2.0", "UDP", "192.168.255.111", "z9hG4bK30239"),
    ]
    lines = m.headers.values("v")  # the Via line and the compact 'v:' line
    assert len(lines) == 2 and len(split_list(lines[1])) == 2
    assert len(m.headers.get_list("Via")) == 3
    assert [name for name, _ in m.headers if name.lower() in ("via", "v")] == ["Via", "v"]
    (contact,) = m.contacts
    assert contact.address.display == 'Quoted string ""'
    assert contact.address.params == {"newparam": "newvalue", "secondparam": None,
                                      "q": "0.33"}
    assert contact.q == 0.33
    assert m.headers.get("Subject") == ""
    assert m.headers.get("NewFangledHeader") == "newfangled value continued newfangled value"
    assert m.headers.get("UnknownHeaderWithUnusualValue") == ";;,,;;,;"
    assert m.headers.get("Route") == (
        "<sip:services.example.com;lr;unknownwith=value;unknown-no-value>")
    assert len(m.body) == 150 and m.body.startswith(b"v=0\r\n")


def check_intmeth():
    data = read("intmeth.dat")
    m = parse_message(data)
    method = "!interesting-Method0123456789_*+`.%indeed'~"
    assert m.method == method and m.cseq.method == method
    assert m.ruri.user == "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
    assert m.ruri.password == "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"
    assert m.ruri.host == "example.com"
    assert m.to.display == "BEL:\x07 NUL:\x00 DEL:\x7f"
    assert m.from_.display == "token1~` token2'+_ token3*%!.-"
    assert m.from_.tag == "_token~1'+`*%!-."
    assert m.top_via.branch == "z9hG4bK-.!%66*_+`'~"
    assert m.call_id == "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{"
    assert m.headers.get("extensionHeader-!.%*+_`'~") == "\ufeff\u5927\u505c\u96fb"
    out = bytes(m)
    assert b'To: "BEL:\\\x07 NUL:\\\x00 DEL:\\\x7f" <' in out
    assert out.startswith(method.encode() + b" sip:1_unusual.URI~")
    assert parse_message(out).to.display == "BEL:\x07 NUL:\x00 DEL:\x7f"


def check_esc01():
    m = parse("esc01.dat")
    assert unescape("value%2541") == "value%41"
    assert unescape("value%41") == "valueA"
    assert canonical_user("value%2541") != canonical_user("value%41")
    assert m.to.uri.aor() == "sip:user@example.com"
    assert m.ruri.user == "sips%3Auser%40example.com"
    assert m.ruri.aor() == "sip:sips%3Auser%40example.com@example.net"
    assert m.from_.uri.aor() == "sip:I%20have%20spaces@example.net"
    uri = m.contacts[0].address.uri
    assert uri.user == "cal%6Cer" and uri.aor() == "sip:caller@host5.example.net"
    assert uri.params["n%61me"] == "v%61lue%25%34%31"
    assert unescape(uri.params["n%61me"]) == "value%41"
    assert "%6c%72" in uri.params


def check_escnull():
    m = parse("escnull.dat")
    assert m.to.uri.aor() == m.from_.uri.aor() == "sip:null-%00-null@example.com"
    keys = [c.address.uri.aor() for c in m.contacts]
    assert keys == ["sip:%00@host5.example.com", "sip:%00%00@host5.example.com"]
    assert [str(c.address.uri) for c in m.contacts] == keys
    assert all("\x00" not in key for key in keys)


def check_esc02():
    m = parse("esc02.dat")
    assert m.method == "RE%47IST%45R" and m.cseq.method == m.method
    assert m.to.display == "%Z%45"
    assert m.top_via.branch == "z9hG4bK209%fzsnel234"
    assert [c.address.uri.host for c in m.contacts] == [
        "host1.example.com", "host3.example.com"]
    assert m.headers.get("C%6Fntact") == "<sip:alias2@host2.example.com>"


def check_lwsdisp():
    m = parse("lwsdisp.dat")
    assert m.from_.display == "caller"
    assert str(m.from_.uri) == "sip:caller@example.com"
    assert m.from_.tag == "323"


def check_longreq():
    m = parse("longreq.dat")
    assert len(m.vias) == 34
    assert m.to.display.startswith("I have a user name of extreme")
    assert m.to.uri.port == 6000
    assert m.from_.tag.startswith("1298298298") and len(m.from_.tag) > 150
    assert len(m.call_id) == 141
    assert len(m.body) == 150


def check_dblreq():
    data = read("dblreq.dat")
    m = parse_message(data)
    assert m.method == "REGISTER" and m.body == b""
    assert b"INVITE" in data and b"INVITE" not in bytes(m)


def check_semiuri():
    m = parse("semiuri.dat")
    assert m.ruri.user == "user;par=u%40example.net"
    assert m.ruri.host == "example.com"
    assert m.ruri.params == {}
    assert unescape(m.ruri.user) == "user;par=u@example.net"
    assert m.ruri.aor() == "sip:user;par=u%40example.net@example.com"


def check_transports():
    m = parse("transports.dat")
    assert [v.transport for v in m.vias] == ["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"]
    assert [v.host for v in m.vias] == [f"t{i}.example.com" for i in range(1, 6)]


def check_mpart01():
    data = read("mpart01.dat")
    m = parse_message(data)
    start = data.index(b"\r\n\r\n") + 4
    assert len(m.body) == 553
    assert m.body == data[start : start + 553]
    assert b"\x00" in m.body
    assert re.search(rb"[^\r]\n", m.body)  # bare LF octets kept
    assert m.body.endswith(b"--7a9cbec02ceef655--\r\n")
    assert m.headers.get("Content-Type") == "multipart/mixed;boundary=7a9cbec02ceef655"


def check_unreason():
    m = parse("unreason.dat")
    assert m.status == 200
    assert m.reason == ("= 2**3 * 5**2 \u043d\u043e \u0441\u0442\u043e \u0434\u0435\u0432"
                        "\u044f\u043d\u043e\u0441\u0442\u043e \u0434\u0435\u0432\u044f\u0442"
                        "\u044c - \u043f\u0440\u043e\u0441\u0442\u043e\u0435")
    assert len(m.body) == 154


def check_noreason():
    m = parse("noreason.dat")
    assert (m.status, m.reason) == (100, "")
    assert m.start_line() == "SIP/2.0 100 "


def check_cparam01():
    (contact,) = parse("cparam01.dat").contacts
    assert contact.address.uri.params == {}
    assert contact.address.params == {"unknownparam": None}
    assert str(contact.address.uri) == "sip:+19725552222@gw1.example.net"


def check_cparam02():
    (contact,) = parse("cparam02.dat").contacts
    assert contact.address.uri.params == {"unknownparam": None}
    assert contact.address.params == {}
    assert str(contact.address.uri) == "sip:+19725552222@gw1.example.net;unknownparam"


def check_regescrt():
    (contact,) = parse("regescrt.dat").contacts
    uri = contact.address.uri
    assert uri.headers == "Route=%3Csip:sip.example.com%3E"
    assert str(uri) == "sip:user@example.com?Route=%3Csip:sip.example.com%3E"


def check_bcast():
    m = parse("bcast.dat")
    assert [v.host for v in m.vias] == ["192.0.2.198", "255.255.255.255"]


def check_inv2543():
    data = read("inv2543.dat")
    m = parse_message(data)
    assert m.top_via.branch is None and not m.top_via.rfc3261_branch
    assert m.from_tag is None
    assert "Content-Length" not in m.headers
    assert m.max_forwards is None
    assert m.body == data[data.index(b"\r\n\r\n") + 4 :]
    assert m.body.endswith(b"m=audio 49217 RTP/AVP 0\r\n")


def check_badbranch():
    via = parse("badbranch.dat").top_via
    assert via.branch == "z9hG4bK" and not via.rfc3261_branch


def check_unkscm():
    uri = parse("unkscm.dat").ruri
    assert isinstance(uri, AbsoluteUri)
    assert (uri.scheme, uri.rest) == ("nobodyknowsthisscheme", "totallyopaquecontent")


def check_novelsc():
    uri = parse("novelsc.dat").ruri
    assert isinstance(uri, AbsoluteUri) and uri.scheme == "soap.beep"


def check_unksm2():
    m = parse("unksm2.dat")
    assert m.to.uri.scheme == "isbn" and not isinstance(m.to.uri, SipUri)
    assert m.from_.uri.scheme == "http" and m.from_.tag == "3234233"
    assert m.contacts[0].address.uri.scheme == "name"


def check_bext01():
    m = parse("bext01.dat")
    assert m.headers.get_list("Require") == ["nothingSupportsThis", "nothingSupportsThisEither"]
    assert m.headers.get_list("Proxy-Require") == [
        "noProxiesSupportThis", "norDoAnyProxiesSupportThis"]


def check_invut():
    m = parse("invut.dat")
    assert m.headers.get("Content-Type") == "application/unknownformat"
    assert len(m.body) == 40


def check_regaut01():
    m = parse("regaut01.dat")
    assert m.headers.get("Authorization") == "NoOneKnowsThisScheme opaque-data=here"


def check_zeromf():
    assert parse("zeromf.dat").max_forwards == 0


def check_sdp01():
    assert parse("sdp01.dat").headers.get("Accept") == "text/nobodyKnowsThis"


def check_scalar02():
    with pytest.raises(RemoteProtocolError, match="CSeq"):
        parse("scalar02.dat")


def check_badinv01():
    with pytest.raises(RemoteProtocolError) as info:
        parse("badinv01.dat")
    assert info.value.partial.method == "INVITE"  # a 400 can still be addressed


def check_insuf():
    with pytest.raises(RemoteProtocolError) as info:
        parse("insuf.dat")
    assert info.value.status_hint == 400
    assert isinstance(info.value.partial, Request)


def check_multi01():
    with pytest.raises(RemoteProtocolError, match="more than one"):
        parse("multi01.dat")


def check_ipv6_good():
    m = parse("rfc5118/ipv6-good.dat")
    assert (m.ruri.host, m.ruri.port) == ("[2001:db8::10]", None)
    assert m.top_via.host == "[2001:db8::9:1]"
    assert m.contacts[0].address.uri.host == "[2001:db8::1]"


def check_port_ambiguous():
    m = parse("rfc5118/port-ambiguous.dat")
    assert (m.ruri.host, m.ruri.port) == ("[2001:db8::10:5070]", None)


def check_port_unambiguous():
    m = parse("rfc5118/port-unambiguous.dat")
    assert (m.ruri.host, m.ruri.port) == ("[2001:db8::10]", 5070)


def check_received_with_delim():
    via = parse("rfc5118/via-received-param-with-delim.dat").top_via
    assert via.host == "[2001:db8::9:1]"
    assert via.params["received"] == "[2001:db8::9:255]"
    assert via.branch == "z9hG4bKas3-111"


def check_received_no_delim():
    via = parse("rfc5118/via-received-param-no-delim.dat").top_via
    assert via.host == "[2001:db8::9:1]"
    assert via.params["received"] == "2001:db8::9:255"
    assert via.branch == "z9hG4bKas3"


def check_ipv6_in_sdp():
    m = parse("rfc5118/ipv6-in-sdp.dat")
    assert m.ruri.host == m.to.uri.host == "[2001:db8::10]"
    assert m.top_via.host == "[2001:db8::20]"
    assert m.contacts[0].address.uri.host == "[2001:db8::20]"
    assert len(m.body) == 251
    assert b"c=IN IP6 2001:db8::20\r\n" in m.body
    assert m.body.endswith(b"a=rtpmap:107 H263-1998/90000\r\n")


def check_mult_ip_in_header():
    vias = parse("rfc5118/mult-ip-in-header.dat").vias
    assert [(v.host, v.port) for v in vias] == [
        ("[2001:db8::9:1]", 6050), ("192.0.2.1", None), ("[2001:db8::9:255]", None)]
    assert vias[2].params["received"] == "192.0.2.200"
    assert vias[2].transport == "TCP"


def check_mult_ip_in_sdp():
    m = parse("rfc5118/mult-ip-in-sdp.dat")
    assert m.ruri.host == "[2001:db8::10]"
    assert m.top_via.host == "[2001:db8::9:1]"
    assert m.contacts[0].address.uri.host == "[2001:db8::9:1]"
    assert len(m.body) == 189
    assert b"c=IN IP4 192.0.2.1\r\n" in m.body and b"c=IN IP6 2001:db8::1\r\n" in m.body


def check_ipv4_mapped():
    m = parse("rfc5118/ipv4-mapped-ipv6.dat")
    assert [(v.host, v.port) for v in m.vias] == [
        ("[::ffff:192.0.2.10]", 19823), ("[::ffff:192.0.2.2]", None)]
    assert m.contacts[0].address.uri.host == "[::ffff:192.0.2.2]"
    assert m.contacts[0].address.display == "T. desk phone"
    assert len(m.body) == 245
    assert b"c=IN IP6 ::ffff:192.0.2.2\r\n" in m.body


def check_three_colons():
    m = parse("rfc5118/ipv6-bug-abnf-3-colons.dat")
    assert m.ruri.host == m.to.uri.host == "[2001:db8:::192.0.2.1]"


def check_two_colons():
    m = parse("rfc5118/ipv6-correct-abnf-2-colons.dat")
    assert m.ruri.host == m.to.uri.host == "[2001:db8::192.0.2.1]"


DETAILS = {
    "wsinv.dat": check_wsinv,
    "intmeth.dat": check_intmeth,
    "esc01.dat": check_esc01,
    "escnull.dat": check_escnull,
    "esc02.dat": check_esc02,
    "lwsdisp.dat": check_lwsdisp,
    "longreq.dat": check_longreq,
    "dblreq.dat": check_dblreq,
    "semiuri.dat": check_semiuri,
    "transports.dat": check_transports,
    "mpart01.dat": check_mpart01,
    "unreason.dat": check_unreason,
    "noreason.dat": check_noreason,
    "cparam01.dat": check_cparam01,
    "cparam02.dat": check_cparam02,
    "regescrt.dat": check_regescrt,
    "bcast.dat": check_bcast,
    "inv2543.dat": check_inv2543,
    "badbranch.dat": check_badbranch,
    "unkscm.dat": check_unkscm,
    "novelsc.dat": check_novelsc,
    "unksm2.dat": check_unksm2,
    "bext01.dat": check_bext01,
    "invut.dat": check_invut,
    "regaut01.dat": check_regaut01,
    "zeromf.dat": check_zeromf,
    "sdp01.dat": check_sdp01,
    "scalar02.dat": check_scalar02,
    "badinv01.dat": check_badinv01,
    "insuf.dat": check_insuf,
    "multi01.dat": check_multi01,
    "rfc5118/ipv6-good.dat": check_ipv6_good,
    "rfc5118/port-ambiguous.dat": check_port_ambiguous,
    "rfc5118/port-unambiguous.dat": check_port_unambiguous,
    "rfc5118/via-received-param-with-delim.dat": check_received_with_delim,
    "rfc5118/via-received-param-no-delim.dat": check_received_no_delim,
    "rfc5118/ipv6-in-sdp.dat": check_ipv6_in_sdp,
    "rfc5118/mult-ip-in-header.dat": check_mult_ip_in_header,
    "rfc5118/mult-ip-in-sdp.dat": check_mult_ip_in_sdp,
    "rfc5118/ipv4-mapped-ipv6.dat": check_ipv4_mapped,
    "rfc5118/ipv6-bug-abnf-3-colons.dat": check_three_colons,
    "rfc5118/ipv6-correct-abnf-2-colons.dat": check_two_colons,
}


def test_detail_checks_name_real_rows():
    assert set(DETAILS) <= set(ROW_BY_FILE)


# -- archive quirks ---------------------------------------------------------------------

@pytest.mark.parametrize("name", ["rfc5118/ipv6-in-sdp.dat", "rfc5118/mult-ip-in-sdp.dat",
                                  "rfc5118/ipv4-mapped-ipv6.dat"])
def test_archive_content_length_quirk_as_shipped(name):
    """Unrepaired, a too-large Content-Length is a 400 on UDP and a too-small one cuts
    the body: the parser never reads past the announced length."""
    data = read(name)
    declared = int(re.search(rb"Content-Length: (\d+)", data).group(1))
    body = data[data.index(b"\r\n\r\n") + 4 :]
    if declared > len(body):
        with pytest.raises(RemoteProtocolError):
            parse_message(data)
    else:
        assert parse_message(data).body == body[:declared]


def test_unterminated_header_section_in_a_datagram_is_accepted_but_not_on_a_stream():
    data = read("rfc5118/ipv6-correct-abnf-2-colons.dat")
    assert not data.endswith(b"\r\n\r\n")
    assert parse_message(data).body == b""
    with pytest.raises(RemoteProtocolError):
        parse_message(data, stream=True)


RAW = sorted(p.name for p in (TORTURE / "rfc5118" / "archive-raw").iterdir())


@pytest.mark.parametrize("name", RAW)
def test_rfc5118_bare_lf_archive_parses_like_the_crlf_copy(name):
    raw = read(f"rfc5118/archive-raw/{name}")
    crlf = read(f"rfc5118/{name}.dat")
    assert raw.replace(b"\n", b"\r\n") == crlf
    if ROW_BY_FILE[f"rfc5118/{name}.dat"]["expectation"] == "invalid-must-reject":
        with pytest.raises(RemoteProtocolError):
            parse_message(raw)
        return
    if b"\n\n" in raw:
        raw = fix_content_length(raw)
    m, expected = parse_message(raw), parse(f"rfc5118/{name}.dat")
    assert m.start_line() == expected.start_line()
    assert list(m.headers)[:-1] == list(expected.headers)[:-1]  # all but Content-Length
    assert m.body.replace(b"\n", b"\r\n") == expected.body
