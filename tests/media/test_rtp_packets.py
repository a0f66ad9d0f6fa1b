"""RTP packets round-trip exactly; every truncation is either a valid packet or a
precise ValueError; the hot-path header peek agrees with the full parse."""

import struct

import pytest
from hypothesis import given, strategies as st

from softswitch.media.rtp import (
    RtpExtension,
    RtpPacket,
    is_rtcp,
    peek_header,
)
from softswitch.media.seqnum import (
    uint16_add,
    uint16_diff,
    uint16_gt,
    uint32_add,
    uint32_diff,
    uint32_gt,
)

# A 20 ms G.711 µ-law packet as a carrier sends it: 12-byte header + 160 bytes = 172.
G711 = bytes.fromhex("8000 1a2b 0001f400 5eed1234".replace(" ", "")) + bytes([0xFF] * 160)
# Opus from a browser: marker, two CSRCs, a one-byte-header extension and padding.
WEBRTC = bytes.fromhex(
    "b2ef51af00161cc0deadbeef1111111122222222bede000110aa0000"
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f2021222324252627"
    "00000004")
# RFC 4733 telephone-event, end of digit 5.
DTMF = bytes.fromhex("80e51a2c0001f4005eed1234058a0320")
SAMPLES = {"g711": G711, "webrtc": WEBRTC, "dtmf": DTMF}


def test_g711_packet_fields():
    packet = RtpPacket.parse(G711)
    assert len(G711) == 172
    assert (packet.version, packet.payload_type, packet.marker) == (2, 0, False)
    assert (packet.sequence_number, packet.timestamp, packet.ssrc) == (0x1A2B, 128000,
                                                                       0x5EED1234)
    assert packet.payload == bytes([0xFF] * 160)
    assert packet.csrc == () and packet.extension is None and packet.padding == b""


def test_webrtc_packet_fields():
    packet = RtpPacket.parse(WEBRTC)
    assert packet.marker and packet.payload_type == 111
    assert packet.csrc == (0x11111111, 0x22222222)
    assert packet.extension == RtpExtension(0xBEDE, bytes.fromhex("10aa0000"))
    assert packet.payload == bytes(range(40))
    assert packet.padding == bytes([0, 0, 0, 4])


def test_telephone_event_has_marker_and_payload_type():
    packet = RtpPacket.parse(DTMF)
    assert packet.marker and packet.payload_type == 101
    assert packet.payload == bytes.fromhex("058a0320")


@pytest.mark.parametrize("name", SAMPLES)
def test_round_trip(name):
    data = SAMPLES[name]
    assert bytes(RtpPacket.parse(data)) == data


@pytest.mark.parametrize("name", SAMPLES)
def test_every_truncation_round_trips_or_raises_a_precise_error(name):
    data = SAMPLES[name]
    for length in range(len(data) + 1):
        chunk = data[:length]
        try:
            packet = RtpPacket.parse(chunk)
        except ValueError as exc:
            message = str(exc)
            assert message.startswith("RTP "), message
            assert any(word in message for word in ("truncated", "padding")), message
        else:
            assert bytes(packet) == chunk


@pytest.mark.parametrize("data,message", [
    (b"", "RTP packet is truncated: 0 bytes, the fixed header needs 12"),
    (G711[:11], "RTP packet is truncated: 11 bytes, the fixed header needs 12"),
    (bytes([0x40]) + G711[1:], "RTP version is 1, expected 2"),
    (bytes([0x82]) + G711[1:12] + b"\0\0\0\0", "the header with 2 CSRCs needs 20"),
    (bytes([0x90]) + G711[1:12] + b"\xbe\xde", "the extension header needs 16"),
    (bytes([0x90]) + G711[1:12] + b"\xbe\xde\x00\x02\x00\x00\x00\x00",
     "the 2-word header extension needs 24"),
    (bytes([0xA0]) + G711[1:12], "padding bit is set but there are no bytes after the header"),
    (bytes([0xA0]) + G711[1:12] + b"\x01\x00", "RTP padding length is 0"),
    (bytes([0xA0]) + G711[1:12] + b"\x01\x09", "RTP padding length 9 exceeds the 2 bytes"),
])
def test_malformed_packets(data, message):
    with pytest.raises(ValueError) as info:
        RtpPacket.parse(data)
    assert message in str(info.value)


def test_construction_is_validated():
    for kwargs, message in [
        ({"payload_type": 128}, "payload type 128"),
        ({"sequence_number": 70000}, "sequence number 70000"),
        ({"timestamp": -1}, "timestamp -1"),
        ({"ssrc": 1 << 32}, "SSRC"),
        ({"csrc": (1,) * 16}, "16 CSRCs"),
        ({"padding": b"\x00\x03"}, "ends with count 3"),
    ]:
        with pytest.raises(ValueError, match=message):
            RtpPacket(**kwargs)
    with pytest.raises(ValueError, match="whole number of 32-bit words"):
        RtpExtension(0xBEDE, b"\x01")


def test_peek_header_matches_parse_and_rejects_non_rtp():
    for data in SAMPLES.values():
        packet = RtpPacket.parse(data)
        assert peek_header(data) == (packet.sequence_number, packet.timestamp, packet.ssrc,
                                     packet.payload_type)
    assert peek_header(G711[:11]) is None
    assert peek_header(b"\x00" * 20) is None  # version 0 (e.g. a STUN packet)
    assert peek_header(b"hello world, not rtp") is None
    rtcp = bytes.fromhex("80c90001deadbeef")  # an empty RR
    assert is_rtcp(rtcp) and peek_header(rtcp + bytes(8)) is None
    assert not is_rtcp(G711) and not is_rtcp(b"\x80")


@given(st.integers(0, 127), st.integers(0, 0xFFFF), st.integers(0, 0xFFFFFFFF),
       st.integers(0, 0xFFFFFFFF), st.binary(max_size=64), st.booleans(),
       st.lists(st.integers(0, 0xFFFFFFFF), max_size=15),
       st.one_of(st.none(), st.tuples(st.integers(0, 0xFFFF), st.integers(0, 4))),
       st.integers(0, 8))
def test_any_packet_round_trips(pt, seq, ts, ssrc, payload, marker, csrc, ext, pad):
    extension = None if ext is None else RtpExtension(ext[0], bytes(range(4 * ext[1])))
    padding = bytes(pad - 1) + bytes([pad]) if pad else b""
    packet = RtpPacket(pt, seq, ts, ssrc, payload, marker, tuple(csrc), extension, padding)
    data = bytes(packet)
    assert RtpPacket.parse(data) == packet
    assert peek_header(data) == ((seq, ts, ssrc, pt) if not 64 <= pt <= 95 or not marker
                                 else None)


# -- serial-number arithmetic ---------------------------------------------------

def test_uint16():
    assert uint16_add(0xFFFF, 1) == 0
    assert uint16_add(65000, 1000) == 464
    assert uint16_gt(0, 0xFFFF) and not uint16_gt(0xFFFF, 0)
    assert uint16_gt(100, 99) and not uint16_gt(99, 99)
    assert not uint16_gt(0x8000, 0) and not uint16_gt(0, 0x8000)  # exactly half: neither
    assert uint16_diff(0, 0xFFFF) == 1 and uint16_diff(0xFFFF, 0) == -1
    assert uint16_diff(0x7FFF, 0) == 0x7FFF and uint16_diff(0x8000, 0) == -0x8000


def test_uint32():
    assert uint32_add(0xFFFFFFFF, 2) == 1
    assert uint32_gt(5, 0xFFFFFFF0) and not uint32_gt(0xFFFFFFF0, 5)
    assert uint32_diff(160, 0xFFFFFFFF - 159) == 320
    assert uint32_diff(0, 160) == -160


@given(st.integers(0, 0xFFFF), st.integers(-0x7FFF, 0x7FFF))
def test_uint16_properties(a, step):
    b = uint16_add(a, step)
    assert uint16_diff(b, a) == step
    assert uint16_gt(b, a) == (step > 0)


def test_struct_format_is_network_order():
    assert struct.pack("!H", 0x1A2B) == G711[2:4]
