"""RTCP (RFC 3550 §6): compound packets, sender and receiver reports.

`parse_rtcp(data)` splits a compound packet into its packets; sender (SR) and receiver
(RR) reports are parsed into their report blocks, every other type (SDES, BYE, APP,
feedback, XR...) is kept as an `RtcpPacket` with its body unread. Each packet's
`bytes()` is the bytes it came from, so ``serialize_rtcp(parse_rtcp(x)) == x``.
Malformed or truncated input raises ValueError saying what is wrong.
"""

import struct
from dataclasses import dataclass

RTCP_SR = 200
RTCP_RR = 201
RTCP_SDES = 202
RTCP_BYE = 203
RTCP_APP = 204

_HEADER = struct.Struct("!BBH")
_SSRC = struct.Struct("!I")
_SENDER_INFO = struct.Struct("!QIII")  # NTP timestamp, RTP timestamp, packets, octets
_BLOCK = struct.Struct("!IB3sIIII")
REPORT_BLOCK_SIZE = _BLOCK.size  # 24


@dataclass(frozen=True, slots=True)
class ReportBlock:
    """What a receiver reports about one source (§6.4.1)."""

    ssrc: int
    fraction_lost: int  # lost since the last report, in 1/256ths
    cumulative_lost: int  # signed 24 bits: duplicates can make it negative
    highest_sequence: int  # extended highest sequence number received
    jitter: int  # interarrival jitter, in timestamp units
    last_sr: int = 0
    delay_since_last_sr: int = 0

    def __post_init__(self):
        if not 0 <= self.fraction_lost <= 255:
            raise ValueError(f"fraction lost {self.fraction_lost} is not 8 bits")
        if not -0x800000 <= self.cumulative_lost <= 0x7FFFFF:
            raise ValueError(f"cumulative lost {self.cumulative_lost} is not signed 24 bits")

    @classmethod
    def parse(cls, data: bytes, offset: int = 0) -> "ReportBlock":
        if len(data) - offset < REPORT_BLOCK_SIZE:
            raise ValueError(f"RTCP report block is truncated: {len(data) - offset} bytes, "
                             f"needs {REPORT_BLOCK_SIZE}")
        ssrc, fraction, lost, highest, jitter, lsr, dlsr = _BLOCK.unpack_from(data, offset)
        cumulative = int.from_bytes(lost, "big", signed=True)
        return cls(ssrc, fraction, cumulative, highest, jitter, lsr, dlsr)

    def __bytes__(self) -> bytes:
        return _BLOCK.pack(self.ssrc, self.fraction_lost,
                           self.cumulative_lost.to_bytes(3, "big", signed=True),
                           self.highest_sequence, self.jitter, self.last_sr,
                           self.delay_since_last_sr)


def _header(padding: bytes, count: int, packet_type: int, body_size: int) -> bytes:
    size = 4 + body_size + len(padding)
    return _HEADER.pack(0x80 | (0x20 if padding else 0) | count, packet_type, size // 4 - 1)


def _check_padding(padding: bytes, body_size: int) -> None:
    if padding and padding[-1] != len(padding):
        raise ValueError(f"RTCP padding of {len(padding)} bytes ends with count {padding[-1]}")
    if (body_size + len(padding)) % 4:
        raise ValueError("RTCP packet is not a whole number of 32-bit words")


@dataclass(frozen=True, slots=True)
class SenderReport:
    ssrc: int
    ntp_timestamp: int
    rtp_timestamp: int
    packet_count: int
    octet_count: int
    reports: tuple[ReportBlock, ...] = ()
    extension: bytes = b""  # profile-specific extension, kept as it came
    padding: bytes = b""

    packet_type = RTCP_SR

    def __post_init__(self):
        _check_padding(self.padding, 24 + REPORT_BLOCK_SIZE * len(self.reports)
                       + len(self.extension))
        if len(self.reports) > 31:
            raise ValueError(f"{len(self.reports)} report blocks, at most 31")

    def __bytes__(self) -> bytes:
        body = (_SSRC.pack(self.ssrc)
                + _SENDER_INFO.pack(self.ntp_timestamp, self.rtp_timestamp,
                                    self.packet_count, self.octet_count)
                + b"".join(map(bytes, self.reports)) + self.extension)
        return _header(self.padding, len(self.reports), RTCP_SR, len(body)) + body + \
            self.padding


@dataclass(frozen=True, slots=True)
class ReceiverReport:
    ssrc: int
    reports: tuple[ReportBlock, ...] = ()
    extension: bytes = b""
    padding: bytes = b""

    packet_type = RTCP_RR

    def __post_init__(self):
        _check_padding(self.padding, 4 + REPORT_BLOCK_SIZE * len(self.reports)
                       + len(self.extension))
        if len(self.reports) > 31:
            raise ValueError(f"{len(self.reports)} report blocks, at most 31")

    def __bytes__(self) -> bytes:
        body = _SSRC.pack(self.ssrc) + b"".join(map(bytes, self.reports)) + self.extension
        return _header(self.padding, len(self.reports), RTCP_RR, len(body)) + body + \
            self.padding


@dataclass(frozen=True, slots=True)
class RtcpPacket:
    """Any other RTCP packet: its type, the 5-bit count field and the body unread."""

    packet_type: int
    count: int = 0
    body: bytes = b""
    padding: bytes = b""

    def __post_init__(self):
        if not 0 <= self.count <= 31:
            raise ValueError(f"RTCP count {self.count} is not 5 bits")
        _check_padding(self.padding, len(self.body))

    def __bytes__(self) -> bytes:
        return _header(self.padding, self.count, self.packet_type, len(self.body)) + \
            self.body + self.padding


def _parse_one(data: bytes, pos: int):
    """The packet at `pos` and the offset after it."""
    remaining = len(data) - pos
    if remaining < 4:
        raise ValueError(f"RTCP packet is truncated: {remaining} bytes, the header needs 4")
    first, packet_type, words = _HEADER.unpack_from(data, pos)
    version = first >> 6
    if version != 2:
        raise ValueError(f"RTCP version is {version}, expected 2")
    size = 4 * (words + 1)
    if size > remaining:
        raise ValueError(f"RTCP packet is truncated: its length field says {size} bytes, "
                         f"{remaining} remain")
    end = pos + size
    count = first & 0x1F
    padding = b""
    if first & 0x20:
        length = data[end - 1]
        if length == 0 or length > size - 4:
            raise ValueError(f"RTCP padding length {length} is not within the "
                             f"{size - 4}-byte body")
        padding = bytes(data[end - length:end])
    body = bytes(data[pos + 4:end - len(padding)])
    if packet_type == RTCP_SR:
        need = 24 + REPORT_BLOCK_SIZE * count
        if len(body) < need:
            raise ValueError(f"RTCP SR is truncated: {len(body)} body bytes, "
                             f"{count} report blocks need {need}")
        (ssrc,) = _SSRC.unpack_from(body)
        ntp, rtp_ts, packets, octets = _SENDER_INFO.unpack_from(body, 4)
        reports = tuple(ReportBlock.parse(body, 24 + REPORT_BLOCK_SIZE * i)
                        for i in range(count))
        return SenderReport(ssrc, ntp, rtp_ts, packets, octets, reports, body[need:],
                            padding), end
    if packet_type == RTCP_RR:
        need = 4 + REPORT_BLOCK_SIZE * count
        if len(body) < need:
            raise ValueError(f"RTCP RR is truncated: {len(body)} body bytes, "
                             f"{count} report blocks need {need}")
        (ssrc,) = _SSRC.unpack_from(body)
        reports = tuple(ReportBlock.parse(body, 4 + REPORT_BLOCK_SIZE * i)
                        for i in range(count))
        return ReceiverReport(ssrc, reports, body[need:], padding), end
    return RtcpPacket(packet_type, count, body, padding), end


def parse_rtcp(data: bytes) -> list:
    """The packets of a (compound) RTCP datagram, in order."""
    if not data:
        raise ValueError("RTCP packet is empty")
    packets, pos = [], 0
    while pos < len(data):
        packet, pos = _parse_one(data, pos)
        packets.append(packet)
    return packets


def serialize_rtcp(packets) -> bytes:
    return b"".join(map(bytes, packets))


def report_blocks(data: bytes) -> list[tuple[int, ReportBlock]]:
    """(reporter SSRC, block) for every report block of every SR and RR in `data`."""
    return [(packet.ssrc, block) for packet in parse_rtcp(data)
            if isinstance(packet, (SenderReport, ReceiverReport)) for block in packet.reports]
