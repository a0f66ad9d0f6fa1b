"""RTP packets (RFC 3550 §5.1).

`RtpPacket.parse(data)` and `bytes(packet)` round-trip every well-formed packet
exactly (CSRCs, header extension, padding included); malformed or truncated input
raises ValueError saying what is missing.

The relay's hot path builds no object per packet: `peek_header` reads the four fields
the statistics need with one `struct.unpack_from` and returns None for anything that is
not RTP (too short, wrong version, or an RTCP packet multiplexed on the RTP port,
RFC 5761).
"""

import struct
from dataclasses import dataclass

RTP_VERSION = 2
RTP_HEADER_SIZE = 12
MAX_CSRC = 15

RTP_HEADER = struct.Struct("!BBHII")  # V/P/X/CC, M/PT, sequence, timestamp, SSRC
_EXTENSION_HEADER = struct.Struct("!HH")
_CSRC = struct.Struct("!I")


def is_rtcp(data: bytes) -> bool:
    """Whether a datagram looks like RTCP (version 2, packet type 192-223, RFC 5761 §4)."""
    return len(data) >= 2 and data[0] & 0xC0 == 0x80 and 192 <= data[1] <= 223


def peek_header(data: bytes) -> tuple[int, int, int, int] | None:
    """(sequence number, timestamp, SSRC, payload type) of an RTP packet, or None if
    `data` is not one. Reads only the 12-byte fixed header."""
    if len(data) < RTP_HEADER_SIZE:
        return None
    first, second, seq, timestamp, ssrc = RTP_HEADER.unpack_from(data)
    if first & 0xC0 != 0x80 or 192 <= second <= 223:
        return None
    return seq, timestamp, ssrc, second & 0x7F



def payload_of(data: bytes, first: int) -> bytes | None:
    """The payload of an RTP packet whose first header byte is `first` (CSRCs, header
    extension and padding skipped), or None if the packet is truncated."""
    offset = 12 + 4 * (first & 0x0F)
    if first & 0x10:  # header extension
        if len(data) < offset + 4:
            return None
        offset += 4 + 4 * int.from_bytes(data[offset + 2:offset + 4], "big")
    end = len(data) - (data[-1] if first & 0x20 else 0)
    if offset > end:
        return None
    return data[offset:end]

@dataclass(frozen=True, slots=True)
class RtpExtension:
    """A header extension (§5.3.1): the 16-bit profile word and the data (whole words)."""

    profile: int
    data: bytes = b""

    def __post_init__(self):
        if not 0 <= self.profile <= 0xFFFF:
            raise ValueError(f"RTP extension profile {self.profile} is not 16 bits")
        if len(self.data) % 4:
            raise ValueError(f"RTP extension data of {len(self.data)} bytes "
                             "is not a whole number of 32-bit words")


@dataclass(frozen=True, slots=True)
class RtpPacket:
    payload_type: int = 0
    sequence_number: int = 0
    timestamp: int = 0
    ssrc: int = 0
    payload: bytes = b""
    marker: bool = False
    csrc: tuple[int, ...] = ()
    extension: RtpExtension | None = None
    padding: bytes = b""  # the padding bytes as sent; the last one is their count
    version: int = RTP_VERSION

    def __post_init__(self):
        if not 0 <= self.payload_type <= 127:
            raise ValueError(f"RTP payload type {self.payload_type} is not 0-127")
        if not 0 <= self.sequence_number <= 0xFFFF:
            raise ValueError(f"RTP sequence number {self.sequence_number} is not 16 bits")
        if not 0 <= self.timestamp <= 0xFFFFFFFF:
            raise ValueError(f"RTP timestamp {self.timestamp} is not 32 bits")
        if not 0 <= self.ssrc <= 0xFFFFFFFF:
            raise ValueError(f"RTP SSRC {self.ssrc} is not 32 bits")
        if len(self.csrc) > MAX_CSRC:
            raise ValueError(f"{len(self.csrc)} CSRCs, at most {MAX_CSRC}")
        if self.padding and self.padding[-1] != len(self.padding):
            raise ValueError(f"RTP padding of {len(self.padding)} bytes ends with count "
                             f"{self.padding[-1]}")
        if not 0 <= self.version <= 3:
            raise ValueError(f"RTP version {self.version} is not 2 bits")

    @classmethod
    def parse(cls, data: bytes) -> "RtpPacket":
        size = len(data)
        if size < RTP_HEADER_SIZE:
            raise ValueError(f"RTP packet is truncated: {size} bytes, "
                             f"the fixed header needs {RTP_HEADER_SIZE}")
        first, second, seq, timestamp, ssrc = RTP_HEADER.unpack_from(data)
        version = first >> 6
        if version != RTP_VERSION:
            raise ValueError(f"RTP version is {version}, expected {RTP_VERSION}")
        count = first & 0x0F
        pos = RTP_HEADER_SIZE + 4 * count
        if size < pos:
            raise ValueError(f"RTP packet is truncated: {size} bytes, "
                             f"the header with {count} CSRCs needs {pos}")
        csrc = tuple(_CSRC.unpack_from(data, RTP_HEADER_SIZE + 4 * i)[0] for i in range(count))
        extension = None
        if first & 0x10:
            if size < pos + 4:
                raise ValueError(f"RTP packet is truncated: {size} bytes, "
                                 f"the extension header needs {pos + 4}")
            profile, words = _EXTENSION_HEADER.unpack_from(data, pos)
            end = pos + 4 + 4 * words
            if size < end:
                raise ValueError(f"RTP packet is truncated: {size} bytes, "
                                 f"the {words}-word header extension needs {end}")
            extension = RtpExtension(profile, bytes(data[pos + 4:end]))
            pos = end
        padding = b""
        if first & 0x20:
            if size == pos:
                raise ValueError("RTP padding bit is set but there are no bytes "
                                 "after the header")
            length = data[-1]
            if length == 0:
                raise ValueError("RTP padding length is 0")
            if length > size - pos:
                raise ValueError(f"RTP padding length {length} exceeds the "
                                 f"{size - pos} bytes after the header")
            padding = bytes(data[size - length:])
            size -= length
        return cls(second & 0x7F, seq, timestamp, ssrc, bytes(data[pos:size]),
                   bool(second & 0x80), csrc, extension, padding, version)

    def __bytes__(self) -> bytes:
        first = (self.version << 6) | (0x20 if self.padding else 0) | \
            (0x10 if self.extension else 0) | len(self.csrc)
        second = (0x80 if self.marker else 0) | self.payload_type
        parts = [RTP_HEADER.pack(first, second, self.sequence_number, self.timestamp,
                                 self.ssrc)]
        parts += [_CSRC.pack(c) for c in self.csrc]
        if self.extension is not None:
            parts.append(_EXTENSION_HEADER.pack(self.extension.profile,
                                                len(self.extension.data) // 4))
            parts.append(self.extension.data)
        parts += [self.payload, self.padding]
        return b"".join(parts)
