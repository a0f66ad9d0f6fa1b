"""SDP parsing: real-world bodies round-trip byte for byte, typed views read them, and
malformed input raises SdpError naming the line."""

from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from softswitch.sdp import (
    INACTIVE,
    MAX_MEDIA_DESCRIPTIONS,
    MAX_SDP_SIZE,
    RECVONLY,
    SENDONLY,
    SENDRECV,
    Connection,
    Origin,
    RtcpAttribute,
    RtpMap,
    SdpError,
    parse_sdp,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "sdp"
ALL_FIXTURES = sorted(FIXTURES.glob("*.sdp"))


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def sdp_text(*lines: str, eol: str = "\r\n") -> bytes:
    return "".join(line + eol for line in lines).encode()


MINIMAL = ("v=0", "o=- 1 1 IN IP4 192.0.2.1", "s=-", "c=IN IP4 192.0.2.1", "t=0 0",
           "m=audio 4000 RTP/AVP 0")


def test_there_are_fixtures_from_each_kind_of_device():
    names = {p.name for p in ALL_FIXTURES}
    for expected in ("polycom_vvx_offer.sdp", "yealink_t46_offer.sdp", "carrier_sbc_offer.sdp",
                     "freeswitch_offer.sdp", "asterisk_offer.sdp", "webrtc_chrome_offer.sdp"):
        assert expected in names


@pytest.mark.parametrize("path", ALL_FIXTURES, ids=lambda p: p.name)
def test_every_fixture_round_trips_exactly(path):
    data = path.read_bytes()
    sdp = parse_sdp(data)
    assert bytes(sdp) == data
    assert bytes(sdp.copy()) == data
    assert parse_sdp(data.decode("utf-8", "surrogateescape")) == sdp


def test_polycom_offer_views():
    sdp = parse_sdp(fixture("polycom_vvx_offer.sdp"))
    assert sdp.version == 0
    assert sdp.origin == Origin("-", "1714406382", 1714406382, "IN", "IP4", "192.168.1.57")
    assert sdp.session_name == "Polycom IP Phone"
    assert sdp.connection == Connection("192.168.1.57")
    assert sdp.direction == SENDRECV
    (audio,) = sdp.media
    assert (audio.media, audio.port, audio.proto) == ("audio", 2230, "RTP/AVP")
    assert audio.formats == ["9", "102", "0", "8", "18", "127"]
    assert audio.rtpmaps[102] == RtpMap(102, "G7221", 16000)
    assert audio.codec(127).encoding == "telephone-event"
    assert audio.fmtp == {"102": "bitrate=32000", "18": "annexb=no"}
    assert audio.connection is None
    assert sdp.connection_for(audio) == Connection("192.168.1.57")
    # The direction is only at session level here.
    assert audio.direction is None and sdp.direction_of(audio) == SENDRECV
    assert audio.ptime is None and audio.rtcp is None and not audio.rtcp_mux


def test_carrier_offer_views():
    sdp = parse_sdp(fixture("carrier_sbc_offer.sdp"))
    (audio,) = sdp.media
    assert sdp.origin.address == "198.51.100.77"
    assert sdp.connection.address == "198.51.100.78"
    assert audio.formats == ["0", "8", "101"]
    assert [audio.codec(pt).encoding for pt in (0, 8, 101)] == ["PCMU", "PCMA",
                                                               "telephone-event"]
    assert audio.fmtp["101"] == "0-15"
    assert audio.ptime == 20.0
    assert audio.attribute("maxptime") == "20"
    assert audio.direction == SENDRECV
    assert audio.attribute_values("rtpmap") == ["0 PCMU/8000", "8 PCMA/8000",
                                                "101 telephone-event/8000"]


def test_freeswitch_offer_has_rtcp_with_address():
    audio = parse_sdp(fixture("freeswitch_offer.sdp")).media[0]
    assert audio.rtcp == RtcpAttribute(24583, Connection("203.0.113.45"))
    assert audio.codec(13) == RtpMap(13, "CN", 8000)


def test_asterisk_offer_uses_static_payload_types():
    audio = parse_sdp(fixture("asterisk_offer.sdp")).media[0]
    assert audio.formats[:3] == ["8", "0", "3"]
    assert audio.codec(3) == RtpMap(3, "GSM", 8000)
    assert audio.attribute("maxptime") == "150"


def test_codecs_of_every_format_in_order():
    audio = parse_sdp(fixture("polycom_vvx_offer.sdp")).media[0]
    assert audio.codecs() == [audio.codec(int(fmt)) for fmt in audio.formats]
    assert [c.encoding for c in audio.codecs()] == [
        "G722", "G7221", "PCMU", "PCMA", "G729", "telephone-event"]
    # A dynamic payload type without a=rtpmap names no encoding: it is left out.
    unknown = parse_sdp(b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\n"
                        b"t=0 0\r\nm=audio 4000 RTP/AVP 96 0\r\n").media[0]
    assert [c.payload_type for c in unknown.codecs()] == [0]


def test_holds():
    yealink = parse_sdp(fixture("yealink_t46_hold.sdp"))
    assert yealink.origin.version == 20026
    assert yealink.media[0].direction == SENDONLY
    asterisk = parse_sdp(fixture("asterisk_hold_rfc2543.sdp"))
    assert asterisk.connection.is_unspecified


def test_ipv6_connection_without_brackets():
    sdp = parse_sdp(fixture("ipv6_carrier_offer.sdp"))
    assert sdp.connection == Connection("2001:db8:100::8", "IP6")
    assert sdp.origin.addrtype == "IP6"
    assert sdp.media[0].direction is None and sdp.direction_of(sdp.media[0]) == SENDRECV


def test_webrtc_offer_is_parsed_and_its_ice_and_srtp_lines_kept():
    data = fixture("webrtc_chrome_offer.sdp")
    sdp = parse_sdp(data)
    assert sdp.connection is None
    audio, video = sdp.media
    assert audio.proto == "UDP/TLS/RTP/SAVPF" and audio.is_rtp
    assert audio.connection == Connection("198.51.100.203")
    assert audio.rtcp == RtcpAttribute(9, Connection("0.0.0.0"))
    assert audio.rtcp_mux
    assert audio.rtpmaps[111] == RtpMap(111, "opus", 48000, "2")
    assert len(audio.attribute_values("candidate")) == 3
    assert audio.attribute("ice-ufrag") == "Xk3l"
    assert audio.attribute("fingerprint").startswith("sha-256 4A:AD")
    assert sdp.attribute("group") == "BUNDLE 0 1"
    assert sdp.attribute("extmap-allow-mixed") == ""
    assert video.media == "video" and video.formats == ["96", "97", "45"]
    assert video.fmtp["97"] == "apt=96"
    assert sdp.origin.session_id == "4611731400430051336"


def test_t38_image_stream_is_not_rtp():
    sdp = parse_sdp(fixture("carrier_t38_reinvite.sdp"))
    (image,) = sdp.media
    assert (image.media, image.proto, image.formats) == ("image", "udptl", ["t38"])
    assert not image.is_rtp
    assert image.attribute("T38FaxMaxDatagram") == "176"


def test_lf_only_and_missing_final_newline_and_latin1_round_trip():
    lf = fixture("linphone_lf_only.sdp")
    assert b"\r" not in lf
    sdp = parse_sdp(lf)
    assert sdp.eol == "\n" and bytes(sdp) == lf
    sdp.media[0].add_attribute("ptime", "20")
    assert b"a=ptime:20\n" in bytes(sdp) and b"\r" not in bytes(sdp)

    latin = fixture("latin1_no_final_newline.sdp")
    sdp = parse_sdp(latin)
    assert bytes(sdp) == latin
    # A line added after the unterminated last line does not glue onto it.
    sdp.media[0].add_attribute("ptime", "20")
    assert bytes(sdp).endswith(b"a=sendrecv\r\na=ptime:20")
    assert parse_sdp(bytes(sdp)).media[0].ptime == 20.0


def test_unknown_lines_and_mixed_line_ends_round_trip():
    data = (b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\ns=-\r\ni=Some info\r\nu=http://example.com/\r\n"
            b"e=ops@example.com\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nr=7d 1h 0 25h\r\n"
            b"z=2882844526 -1h\r\nk=prompt\r\ny=0123456789\r\nx=vendor thing\r\n"
            b"a=weird:value with spaces  \r\nm=audio 4000/2 RTP/AVP 0\r\n"
            b"i=audio\r\nb=TIAS:64000\r\n\r\n")
    sdp = parse_sdp(data)
    assert bytes(sdp) == data
    assert sdp.media[0].port == 4000 and sdp.media[0].port_count == 2
    assert sdp.attribute("weird") == "value with spaces  "


def test_setters_replace_only_their_line_and_keep_its_line_end():
    data = fixture("freeswitch_offer.sdp")
    sdp = parse_sdp(data)
    audio = sdp.media[0]
    audio.port = 30000
    sdp.connection = Connection("198.51.100.1")
    sdp.origin = Origin("FreeSWITCH", "1714391042", 1714391044, "IN", "IP4", "198.51.100.1")
    audio.rtcp = RtcpAttribute(30001)
    audio.direction = RECVONLY
    expected = (data.replace(b"m=audio 24582", b"m=audio 30000")
                .replace(b"c=IN IP4 203.0.113.45", b"c=IN IP4 198.51.100.1")
                .replace(b"1714391043 IN IP4 203.0.113.45", b"1714391044 IN IP4 198.51.100.1")
                .replace(b"a=rtcp:24583 IN IP4 203.0.113.45", b"a=rtcp:30001")
                .replace(b"a=sendrecv", b"a=recvonly"))
    assert bytes(sdp) == expected


def test_port_setter_keeps_the_port_count():
    sdp = parse_sdp(sdp_text(*MINIMAL[:-1], "m=video 5000/2 RTP/AVP 31"))
    sdp.media[0].port = 6000
    assert bytes(sdp).endswith(b"m=video 6000/2 RTP/AVP 31\r\n")
    with pytest.raises(ValueError):
        sdp.media[0].port = 70000


def test_new_lines_go_where_rfc_8866_orders_them():
    sdp = parse_sdp(sdp_text("v=0", "o=- 1 1 IN IP4 192.0.2.1", "s=-", "t=0 0",
                             "m=audio 4000 RTP/AVP 0", "c=IN IP4 192.0.2.1",
                             "a=rtpmap:0 PCMU/8000"))
    sdp.connection = Connection("192.0.2.9")
    sdp.media[0].direction = INACTIVE
    sdp.media[0].add_attribute("ptime", "20")
    text = bytes(sdp).decode()
    assert "s=-\r\nc=IN IP4 192.0.2.9\r\nt=0 0\r\n" in text
    assert text.endswith("a=rtpmap:0 PCMU/8000\r\na=inactive\r\na=ptime:20\r\n")
    sdp.media[0].direction = None
    sdp.connection = None
    assert "a=inactive" not in str(sdp) and sdp.connection is None


def test_attribute_helpers():
    sdp = parse_sdp(fixture("carrier_sbc_offer.sdp"))
    audio = sdp.media[0]
    assert audio.remove_attribute("rtpmap") == 3
    assert audio.rtpmaps == {}
    audio.set_attribute("ptime", "30")
    assert audio.attribute_values("ptime") == ["30"]
    audio.set_attribute("rtcp-mux")
    assert audio.rtcp_mux and audio.attribute("rtcp-mux") == ""
    assert audio.attribute("absent") is None
    with pytest.raises(ValueError):
        audio.direction = "sideways"


def test_multicast_connection_keeps_its_suffix():
    c = Connection.parse("IN IP4 233.252.0.1/127/3")
    assert (c.address, c.suffix) == ("233.252.0.1", "/127/3")
    assert str(c) == "IN IP4 233.252.0.1/127/3"
    assert Connection.parse("IN IP4 media.example.com").address == "media.example.com"
    assert Connection.for_address("2001:db8::1") == Connection("2001:db8::1", "IP6")


def test_rejected_stream_needs_no_connection():
    sdp = parse_sdp(sdp_text("v=0", "o=- 1 1 IN IP4 192.0.2.1", "s=-", "t=0 0",
                             "m=audio 0 RTP/AVP 0"))
    assert sdp.media[0].port == 0


# -- errors --------------------------------------------------------------------

def replace_line(old: str, new: str | None) -> bytes:
    lines = [new if line == old else line for line in MINIMAL]
    return sdp_text(*[line for line in lines if line is not None])


ERRORS = [
    (b"", "is empty"),
    (b"\r\n\r\n", "is empty"),
    (sdp_text("o=- 1 1 IN IP4 192.0.2.1", "v=0"), "line 1: SDP must start with v=0"),
    (replace_line("v=0", "v=1"), "line 1: SDP must start with v=0, got 'v=1'"),
    (replace_line("s=-", "this is not sdp"), "line 3: expected '<type>=<value>'"),
    (replace_line("s=-", "s=a\rb"), "line 3: contains a bare CR"),
    (replace_line("s=-", "s=a\x00b"), "contains a NUL byte"),
    (replace_line("o=- 1 1 IN IP4 192.0.2.1", None), "has no o= line"),
    (replace_line("o=- 1 1 IN IP4 192.0.2.1", "o=- 1 1 IN IP4"),
     "line 2: o= must have 6 fields"),
    (replace_line("o=- 1 1 IN IP4 192.0.2.1", "o=- 1 x IN IP4 192.0.2.1"),
     "line 2: o= sess-version 'x' is not a number"),
    (replace_line("o=- 1 1 IN IP4 192.0.2.1", "o=- abc 1 IN IP4 192.0.2.1"),
     "line 2: o= sess-id 'abc' is not a number"),
    (replace_line("s=-", "o=- 1 1 IN IP4 192.0.2.1"), "line 3: more than one o= line"),
    (replace_line("s=-", "v=0"), "line 3: more than one v= line"),
    (replace_line("c=IN IP4 192.0.2.1", "c=IN IP4"), "line 4: c= must have 3 fields"),
    (replace_line("c=IN IP4 192.0.2.1", "c=IN IP4 192.0.2.300"),
     "line 4: c= address '192.0.2.300' is not a valid IPv4 address"),
    (replace_line("c=IN IP4 192.0.2.1", "c=IN IP4 2001:db8::1"),
     "line 4: c= address '2001:db8::1' is IPv6 but addrtype is IP4"),
    (replace_line("c=IN IP4 192.0.2.1", "c=IN IP6 [2001:db8::1]"),
     "line 4: c= address '[2001:db8::1]' must not be bracketed"),
    (replace_line("c=IN IP4 192.0.2.1", "c=IN IP6 2001:db8:::1"),
     "line 4: c= address '2001:db8:::1' is not a valid IPv6 address"),
    (replace_line("c=IN IP4 192.0.2.1", "c=IN IP6 192.0.2.1"),
     "line 4: c= address '192.0.2.1' is IPv4 but addrtype is IP6"),
    (replace_line("c=IN IP4 192.0.2.1", "c=IN IPX 192.0.2.1"),
     "line 4: c= addrtype 'IPX' is neither IP4 nor IP6"),
    (replace_line("c=IN IP4 192.0.2.1", "c=IN IP4 bad_host!"),
     "line 4: c= address 'bad_host!' is neither IPv4 nor a host name"),
    (replace_line("c=IN IP4 192.0.2.1", None),
     "line 5: m=audio has no c= line and there is no session-level c="),
    (replace_line("m=audio 4000 RTP/AVP 0", "m=audio 4000 RTP/AVP"),
     "line 6: m= must be '<media> <port>[/<count>] <proto> <fmt> ...'"),
    (replace_line("m=audio 4000 RTP/AVP 0", "m=audio 70000 RTP/AVP 0"),
     "line 6: m= port '70000' is not an integer 0-65535"),
    (replace_line("m=audio 4000 RTP/AVP 0", "m=audio four RTP/AVP 0"),
     "line 6: m= port 'four' is not an integer 0-65535"),
    (replace_line("m=audio 4000 RTP/AVP 0", "m=audio 4000/0 RTP/AVP 0"),
     "line 6: m= port count '0' is not a positive integer"),
    (replace_line("m=audio 4000 RTP/AVP 0", "m=audio 4000 RTP/AVP 0 128"),
     "line 6: m= payload type '128' is not an integer 0-127"),
    (replace_line("m=audio 4000 RTP/AVP 0", "m=aud(io 4000 RTP/AVP 0"),
     "line 6: m= media 'aud(io' is not a token"),
    (sdp_text(*MINIMAL, "a=rtpmap:0 PCMU"),
     "line 7: a=rtpmap:0 PCMU is not '<pt> <encoding>/<clock rate>[/<parameters>]'"),
    (sdp_text(*MINIMAL, "a=rtpmap:x PCMU/8000"),
     "line 7: a=rtpmap payload type 'x' is not an integer 0-127"),
    (sdp_text(*MINIMAL, "a=rtpmap:0 PCMU/0"),
     "line 7: a=rtpmap clock rate '0' is not a positive integer"),
    (sdp_text(*MINIMAL, "a=fmtp:"), "line 7: a=fmtp has no format"),
    (sdp_text(*MINIMAL, "a=ptime:twenty"), "line 7: a=ptime value 'twenty' is not a number"),
    (sdp_text(*MINIMAL, "a=ptime:0"), "line 7: a=ptime value '0' is out of range"),
    (sdp_text(*MINIMAL, "a=rtcp:port"), "line 7: a=rtcp port 'port' is not an integer"),
    (sdp_text(*MINIMAL, "a=rtcp:4001 IN IP4"), "line 7: a=rtcp must have 3 fields"),
    (sdp_text(*MINIMAL, "a=sendonly:yes"), "line 7: a=sendonly takes no value"),
    (sdp_text(*MINIMAL, "a="), "line 7: a= has no attribute name"),
    (sdp_text(*MINIMAL[:5], "a=ptime:x", *MINIMAL[5:]), "line 6: a=ptime value 'x'"),
]


@pytest.mark.parametrize("data,message", ERRORS, ids=[m for _, m in ERRORS])
def test_malformed_sdp_raises_a_precise_error(data, message):
    with pytest.raises(SdpError) as info:
        parse_sdp(data)
    assert message in str(info.value)
    assert isinstance(info.value, ValueError)


def test_error_carries_the_line_number():
    with pytest.raises(SdpError) as info:
        parse_sdp(replace_line("c=IN IP4 192.0.2.1", "c=IN IP4 999.1.1.1"))
    assert info.value.line == 4


def test_size_limit():
    base = sdp_text(*MINIMAL)
    padding = b"a=x-pad:" + b"x" * (MAX_SDP_SIZE - len(base) - 10) + b"\r\n"
    assert len(base + padding) <= MAX_SDP_SIZE
    parse_sdp(base + padding)
    too_big = base + padding + b"a=x:yy\r\n"
    with pytest.raises(SdpError, match=f"exceeds the {MAX_SDP_SIZE}-byte limit"):
        parse_sdp(too_big)
    with pytest.raises(SdpError, match="limit"):
        parse_sdp(too_big.decode())


def test_media_count_limit():
    streams = ["m=audio 4000 RTP/AVP 0"] * MAX_MEDIA_DESCRIPTIONS
    assert len(parse_sdp(sdp_text(*MINIMAL[:-1], *streams)).media) == MAX_MEDIA_DESCRIPTIONS
    with pytest.raises(SdpError, match=f"more than {MAX_MEDIA_DESCRIPTIONS} m= lines"):
        parse_sdp(sdp_text(*MINIMAL[:-1], *streams, "m=audio 4000 RTP/AVP 0"))


@given(st.lists(st.sampled_from(["\r\n", "\n"]), min_size=12, max_size=12),
       st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")),
                        max_size=20), min_size=3, max_size=3))
def test_any_line_ends_and_unknown_values_round_trip(eols, values):
    lines = ["v=0", "o=- 7 7 IN IP4 192.0.2.1", f"s={values[0]}", "t=0 0",
             f"x={values[1]}", "m=audio 4000 RTP/AVP 0 8", "c=IN IP4 192.0.2.1",
             f"a=x-thing:{values[2]}", "a=rtpmap:8 PCMA/8000", "a=ptime:20", "a=sendrecv",
             "b=AS:64"]
    data = "".join(line + eol for line, eol in zip(lines, eols)).encode()
    assert bytes(parse_sdp(data)) == data
