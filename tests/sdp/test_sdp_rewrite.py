"""The relay's SDP rewrites and the RFC 3264 offer/answer checks."""

from pathlib import Path

import pytest

from softswitch.sdp import (
    INACTIVE,
    RECVONLY,
    SENDONLY,
    SENDRECV,
    Connection,
    OriginVersioner,
    RtcpAttribute,
    SdpError,
    answer_direction,
    check_answer,
    is_on_hold,
    parse_sdp,
    replace_connection_address,
    reverse_direction,
    rewrite_for_relay,
    set_stream_ports,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "sdp"


def load(name: str):
    return parse_sdp((FIXTURES / name).read_bytes())


RELAY = "198.51.100.1"


def active_addresses(sdp) -> set[str]:
    return {sdp.connection_for(m).address for m in sdp.media if m.port}


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("*.sdp")))
def test_rewrite_points_every_active_stream_at_the_relay(name):
    original = load(name)
    ports = [(30000 + 4 * i, 30001 + 4 * i) for i in range(len(original.media))]
    out = rewrite_for_relay(original, RELAY, ports)
    assert bytes(original) == bytes(load(name)), "the input is not modified"
    for i, media in enumerate(out.media):
        assert media.port == ports[i][0]
        connection = out.connection_for(media)
        if not original.connection_for(original.media[i]).is_unspecified:
            assert connection == Connection(RELAY)
    assert out.origin.address == RELAY
    assert out.origin.version == original.origin.version
    # Everything else is untouched: the formats, codecs and unknown attributes.
    for before, after in zip(original.media, out.media):
        assert before.formats == after.formats
        assert before.rtpmaps == after.rtpmaps
        assert [a for a in before.attributes() if a[0] != "rtcp"] == \
            [a for a in after.attributes() if a[0] != "rtcp"]
    assert parse_sdp(bytes(out)) == out


def test_carrier_offer_rewrite_is_exactly_these_lines():
    original = load("carrier_sbc_offer.sdp")
    out = rewrite_for_relay(original, RELAY, [(30000, 30001)])
    expected = (bytes(original)
                .replace(b"o=Sonus_UAC 419543 231822 IN IP4 198.51.100.77",
                         b"o=Sonus_UAC 419543 231822 IN IP4 198.51.100.1")
                .replace(b"c=IN IP4 198.51.100.78", b"c=IN IP4 198.51.100.1")
                .replace(b"m=audio 26114 ", b"m=audio 30000 "))
    assert bytes(out) == expected
    assert out.media[0].rtcp is None  # RTCP is on port+1: no a=rtcp needed


def test_existing_rtcp_attribute_is_rewritten_with_the_relay_address():
    out = rewrite_for_relay(load("freeswitch_offer.sdp"), RELAY, [(30000, 30001)])
    assert out.media[0].rtcp == RtcpAttribute(30001, Connection(RELAY))
    assert b"203.0.113.45" not in bytes(out)


def test_rtcp_attribute_is_added_when_rtcp_is_not_port_plus_one():
    out = rewrite_for_relay(load("carrier_sbc_offer.sdp"), RELAY, [(30000, 30007)])
    assert out.media[0].rtcp == RtcpAttribute(30007)
    assert bytes(out).endswith(b"a=ptime:20\r\na=rtcp:30007\r\n")


def test_set_stream_ports_without_address():
    media = load("freeswitch_offer.sdp").media[0]
    set_stream_ports(media, 40000, 40001)
    assert media.port == 40000 and media.rtcp == RtcpAttribute(40001)


def test_ipv6_relay_address():
    out = rewrite_for_relay(load("carrier_sbc_offer.sdp"), "2001:db8::5", [(30000, 30001)])
    assert out.connection == Connection("2001:db8::5", "IP6")
    assert out.origin.addrtype == "IP6" and out.origin.address == "2001:db8::5"
    out = rewrite_for_relay(load("ipv6_carrier_offer.sdp"), RELAY, [(30000, 30001)])
    assert out.connection == Connection(RELAY, "IP4")


def test_rfc2543_hold_address_is_kept():
    out = rewrite_for_relay(load("asterisk_hold_rfc2543.sdp"), RELAY, [(30000, 30001)])
    assert out.connection.is_unspecified
    assert out.media[0].port == 30000
    assert is_on_hold(out, 0)


def test_webrtc_offer_media_level_connections_are_rewritten_and_ice_kept():
    original = load("webrtc_chrome_offer.sdp")
    out = rewrite_for_relay(original, RELAY, [(30000, 30001), None])
    audio, video = out.media
    assert audio.connection == Connection(RELAY) and audio.port == 30000
    assert audio.rtcp == RtcpAttribute(30001, Connection(RELAY))
    assert video.connection == Connection("198.51.100.203") and video.port == 53127
    assert audio.attribute_values("candidate") == original.media[0].attribute_values("candidate")


def test_rejected_streams_keep_port_zero_and_the_port_list_must_match():
    sdp = parse_sdp(b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"
                    b"m=audio 4000 RTP/AVP 0\r\nm=video 0 RTP/AVP 31\r\n")
    out = rewrite_for_relay(sdp, RELAY, [(30000, 30001), (30004, 30005)])
    assert [m.port for m in out.media] == [30000, 0]
    with pytest.raises(ValueError, match="1 port pairs for 2 m= lines"):
        rewrite_for_relay(sdp, RELAY, [(30000, 30001)])


def test_origin_can_be_kept():
    out = rewrite_for_relay(load("yealink_t46_offer.sdp"), RELAY, [(30000, 30001)],
                            replace_origin=False)
    assert out.origin.address == "10.20.0.31"


def test_replace_connection_address_both_levels():
    sdp = parse_sdp(b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"
                    b"m=audio 4000 RTP/AVP 0\r\nc=IN IP4 192.0.2.2\r\n"
                    b"m=audio 4002 RTP/AVP 0\r\n")
    out = replace_connection_address(sdp, RELAY)
    assert out.connection == Connection(RELAY)
    assert out.media[0].connection == Connection(RELAY)
    assert out.media[1].connection is None


# -- o= versioning -------------------------------------------------------------

def test_versioner_keeps_identity_and_bumps_only_on_change():
    versioner = OriginVersioner()
    offer = rewrite_for_relay(load("yealink_t46_offer.sdp"), RELAY, [(30000, 30001)])
    first = versioner.stamp(offer)
    assert first.origin == offer.origin
    # A session refresh with the same body (even if the phone bumped its version).
    refresh = offer.copy()
    refresh.origin = refresh.origin.__class__(**{**_fields(refresh.origin), "version": 99})
    assert versioner.stamp(refresh).origin == first.origin
    # A hold changes the body: the version goes up by one.
    hold = rewrite_for_relay(load("yealink_t46_hold.sdp"), RELAY, [(30000, 30001)])
    held = versioner.stamp(hold)
    assert held.origin.version == first.origin.version + 1
    # A different origin (another callee after a transfer) keeps the first identity.
    other = rewrite_for_relay(load("carrier_sbc_answer.sdp"), RELAY, [(30000, 30001)])
    stamped = versioner.stamp(other)
    assert (stamped.origin.username, stamped.origin.session_id) == ("-", "20025")
    assert stamped.origin.version == held.origin.version + 1
    assert versioner.stamp(other).origin == stamped.origin


def _fields(origin):
    return {name: getattr(origin, name) for name in origin.__dataclass_fields__}


# -- offer/answer --------------------------------------------------------------

def test_check_answer_accepts_a_matching_answer():
    check_answer(load("carrier_sbc_offer.sdp"), load("carrier_sbc_answer.sdp"))


def test_check_answer_rejects_mismatches():
    offer = load("carrier_sbc_offer.sdp")
    with pytest.raises(SdpError, match="answer has 2 m= lines, the offer has 1"):
        check_answer(offer, load("webrtc_chrome_offer.sdp"))
    with pytest.raises(SdpError, match="answer m= line 1 is image, the offer's is audio"):
        check_answer(offer, load("carrier_t38_reinvite.sdp"))
    rejected = offer.copy()
    rejected.media[0].port = 0
    with pytest.raises(SdpError, match="accepts a stream the offer rejected"):
        check_answer(rejected, load("carrier_sbc_answer.sdp"))


@pytest.mark.parametrize("offered,wanted,answered", [
    (SENDRECV, SENDRECV, SENDRECV), (SENDONLY, SENDRECV, RECVONLY),
    (RECVONLY, SENDRECV, SENDONLY), (INACTIVE, SENDRECV, INACTIVE),
    (SENDRECV, RECVONLY, RECVONLY), (SENDONLY, SENDONLY, INACTIVE),
])
def test_answer_direction(offered, wanted, answered):
    assert answer_direction(offered, wanted) == answered


def test_reverse_direction_and_hold():
    assert [reverse_direction(d) for d in (SENDRECV, SENDONLY, RECVONLY, INACTIVE)] == \
        [SENDRECV, RECVONLY, SENDONLY, INACTIVE]
    assert is_on_hold(load("yealink_t46_hold.sdp"), 0)
    assert not is_on_hold(load("yealink_t46_offer.sdp"), 0)
