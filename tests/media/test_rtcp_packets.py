"""RTCP: compound packets split and round-trip, report blocks read, truncations raise."""

import pytest

from softswitch.media.rtcp import (
    RTCP_BYE,
    RTCP_SDES,
    ReceiverReport,
    ReportBlock,
    RtcpPacket,
    SenderReport,
    parse_rtcp,
    report_blocks,
    serialize_rtcp,
)

BLOCK = ReportBlock(ssrc=0x5EED1234, fraction_lost=26, cumulative_lost=113,
                    highest_sequence=0x00011A2B, jitter=37, last_sr=0x12345678,
                    delay_since_last_sr=0x00018000)
SR = SenderReport(ssrc=0x0BADCAFE, ntp_timestamp=0xE9A0C1D2_80000000, rtp_timestamp=640000,
                  packet_count=4000, octet_count=640000, reports=(BLOCK,))
# SDES with one CNAME item, padded to a word boundary as phones send it.
SDES = RtcpPacket(RTCP_SDES, 1, bytes.fromhex("0badcafe") + b"\x01\x0cphone@10.2.3" + b"\x00\x00")
RR = ReceiverReport(ssrc=0x5EED1234, reports=(ReportBlock(0x0BADCAFE, 0, -3, 70000, 12),))
BYE = RtcpPacket(RTCP_BYE, 1, bytes.fromhex("5eed1234"))
COMPOUND_SR = serialize_rtcp([SR, SDES])
COMPOUND_RR_BYE = serialize_rtcp([RR, BYE])


def test_compound_sr_sdes():
    packets = parse_rtcp(COMPOUND_SR)
    assert packets == [SR, SDES]
    assert serialize_rtcp(packets) == COMPOUND_SR
    assert len(COMPOUND_SR) == 4 + 24 + 24 + 4 + 20
    assert COMPOUND_SR[:4] == bytes.fromhex("81c8000c")


def test_report_block_fields():
    sr = parse_rtcp(COMPOUND_SR)[0]
    (block,) = sr.reports
    assert block == BLOCK
    assert (sr.packet_count, sr.octet_count) == (4000, 640000)
    rr = parse_rtcp(COMPOUND_RR_BYE)[0]
    assert rr.reports[0].cumulative_lost == -3  # signed 24 bits
    assert report_blocks(COMPOUND_RR_BYE) == [(0x5EED1234, rr.reports[0])]
    assert report_blocks(COMPOUND_SR) == [(0x0BADCAFE, BLOCK)]


def test_padding_and_extensions_round_trip():
    padded = ReceiverReport(ssrc=1, reports=(), extension=bytes(8), padding=b"\0\0\0\x04")
    data = bytes(padded)
    assert data[0] == 0xA0 and parse_rtcp(data) == [padded]
    app = RtcpPacket(204, 3, b"abcdNAME" + bytes(4))
    assert parse_rtcp(bytes(app) + bytes(padded)) == [app, padded]


@pytest.mark.parametrize("data", [COMPOUND_SR, COMPOUND_RR_BYE])
def test_every_truncation_round_trips_or_raises(data):
    for length in range(len(data) + 1):
        chunk = data[:length]
        try:
            packets = parse_rtcp(chunk)
        except ValueError as exc:
            assert str(exc).startswith("RTCP "), str(exc)
        else:
            assert serialize_rtcp(packets) == chunk


@pytest.mark.parametrize("data,message", [
    (b"", "RTCP packet is empty"),
    (b"\x81\xc8", "RTCP packet is truncated: 2 bytes, the header needs 4"),
    (b"\x41\xc8\x00\x00", "RTCP version is 1, expected 2"),
    (bytes.fromhex("81c8000c") + bytes(20), "its length field says 52 bytes, 24 remain"),
    (bytes.fromhex("81c80006") + bytes(24), "RTCP SR is truncated: 24 body bytes, "
                                            "1 report blocks need 48"),
    (bytes.fromhex("82c90001") + bytes(4), "RTCP RR is truncated"),
    (bytes.fromhex("a0c90001") + bytes(4), "RTCP padding length 0 is not within"),
    (bytes.fromhex("a0c90001") + bytes(3) + b"\x09", "RTCP padding length 9"),
])
def test_malformed(data, message):
    with pytest.raises(ValueError) as info:
        parse_rtcp(data)
    assert message in str(info.value)


def test_construction_is_validated():
    with pytest.raises(ValueError, match="fraction lost 256"):
        ReportBlock(1, 256, 0, 0, 0)
    with pytest.raises(ValueError, match="signed 24 bits"):
        ReportBlock(1, 0, 1 << 23, 0, 0)
    with pytest.raises(ValueError, match="whole number of 32-bit words"):
        RtcpPacket(204, 0, b"abc")
    with pytest.raises(ValueError, match="count 40"):
        RtcpPacket(204, 40, b"")
