"""DTMF: RFC 4733 telephone-event payloads, a detector that turns a packet stream into
one digit per key press, a generator of the packets for one digit, and the SIP INFO
bodies (`application/dtmf-relay`, `application/dtmf`) some phones send instead.

`TelephoneEvent.parse(payload)` and `bytes(event)` round-trip every 4-byte payload
(the reserved bit included); a shorter payload raises ValueError saying so. Longer ones
(trailing padding from some gateways) are parsed from their first 4 bytes.
"""

import math
import struct
from collections import deque
from dataclasses import dataclass

EVENT_DIGITS = "0123456789*#ABCD"  # event codes 0-15 (RFC 4733 §3.2)
FLASH = 16
_EVENT = struct.Struct("!BBH")
MAX_VOLUME = 63  # -dBm0: 0 is the loudest
MAX_DURATION = 0xFFFF  # timestamp units in one event segment
END_PACKETS = 3  # the final packet is sent three times (§2.5.1.4)


def digit_to_event(digit: str) -> int:
    index = EVENT_DIGITS.find(digit.upper()) if len(digit) == 1 else -1
    if index < 0:
        raise ValueError(f"{digit!r} is not a DTMF digit (0-9, *, #, A-D)")
    return index


def event_to_digit(event: int) -> str | None:
    """The digit an event code stands for, None for other events (flash, tones)."""
    return EVENT_DIGITS[event] if 0 <= event < len(EVENT_DIGITS) else None


@dataclass(frozen=True, slots=True)
class TelephoneEvent:
    event: int
    end: bool = False
    volume: int = 10
    duration: int = 0  # timestamp units since the event's timestamp
    reserved: bool = False  # the R bit: sent as 0, ignored on receipt

    def __post_init__(self):
        if not 0 <= self.event <= 255:
            raise ValueError(f"event code {self.event} is not 8 bits")
        if not 0 <= self.volume <= MAX_VOLUME:
            raise ValueError(f"volume {self.volume} is not 0..{MAX_VOLUME}")
        if not 0 <= self.duration <= MAX_DURATION:
            raise ValueError(f"duration {self.duration} is not 16 bits")

    @property
    def digit(self) -> str | None:
        return event_to_digit(self.event)

    @classmethod
    def parse(cls, data: bytes) -> "TelephoneEvent":
        if len(data) < _EVENT.size:
            raise ValueError(f"telephone-event payload of {len(data)} bytes, "
                             f"needs {_EVENT.size}")
        event, flags, duration = _EVENT.unpack_from(data)
        return cls(event, bool(flags & 0x80), flags & 0x3F, duration, bool(flags & 0x40))

    def __bytes__(self) -> bytes:
        flags = (0x80 if self.end else 0) | (0x40 if self.reserved else 0) | self.volume
        return _EVENT.pack(self.event, flags, self.duration)


def parse_event(payload: bytes) -> TelephoneEvent:
    return TelephoneEvent.parse(payload)


def encode_event(event: int, end: bool = False, volume: int = 10, duration: int = 0) -> bytes:
    return bytes(TelephoneEvent(event, end, volume, duration))


# --- receiving ---

@dataclass(frozen=True, slots=True)
class DtmfDigit:
    """A key press, reported once, on the first packet of the event that arrives."""

    digit: str
    event: int
    timestamp: int  # the event's RTP timestamp
    volume: int
    duration: int  # timestamp units, as far as that packet knew


class DtmfDetector:
    """One `DtmfDigit` per key press from a stream of telephone-event packets.

    RFC 4733 §2.5: every packet of an event carries the event's start timestamp; the
    updates and the three end packets repeat it, so a new timestamp means a new event.
    The digit is reported on the first packet seen, so a press is not missed when its
    start or its end packets are lost, and a retransmission or a reordered packet of an
    event already reported (a timestamp among the last `memory`) is ignored, as is a
    packet older than the current event. A long press continues in a new segment with a
    new timestamp (§2.5.2.3: previous timestamp + previous duration, no marker, same
    event, previous segment not ended): that is the same press, not reported again.
    Events other than the 16 DTMF ones are counted and not reported.
    """

    __slots__ = ("clock_rate", "memory", "_recent", "_current", "digits", "packets",
                 "malformed", "other_events")

    def __init__(self, clock_rate: int = 8000, memory: int = 16):
        self.clock_rate = clock_rate
        self.memory = memory
        self._recent: deque[int] = deque(maxlen=memory)
        self._current = None  # [timestamp, event, ended, duration] of the latest event
        self.digits = 0
        self.packets = 0
        self.malformed = 0
        self.other_events = 0

    def push(self, timestamp: int, marker: bool, payload: bytes) -> DtmfDigit | None:
        self.packets += 1
        try:
            event = TelephoneEvent.parse(payload)
        except ValueError:
            self.malformed += 1
            return None
        current = self._current
        if timestamp in self._recent:
            if current is not None and current[0] == timestamp:
                current[2] = current[2] or event.end
                current[3] = max(current[3], event.duration)
            return None
        if current is not None:
            since = (timestamp - current[0]) & 0xFFFFFFFF
            if since >= 0x80000000:
                return None  # older than the current event: a straggler
            continuing = (not marker and not current[2] and event.event == current[1]
                          and since <= current[3] + self.clock_rate // 50)
            if continuing:
                self._recent.append(timestamp)
                self._current = [timestamp, event.event, event.end, event.duration]
                return None
        self._recent.append(timestamp)
        self._current = [timestamp, event.event, event.end, event.duration]
        digit = event.digit
        if digit is None:
            self.other_events += 1
            return None
        self.digits += 1
        return DtmfDigit(digit, event.event, timestamp, event.volume, event.duration)


# --- sending ---

@dataclass(frozen=True, slots=True)
class DtmfPacket:
    payload: bytes
    timestamp: int  # the same for every packet of the event
    marker: bool  # set on the first packet only
    end: bool
    offset: float  # seconds after the first packet at which to send this one


class DtmfGenerator:
    """The telephone-event packets for one digit, one per packet interval: the first
    with the marker bit, updates with the growing duration, then the final packet
    (E bit, full duration) three times. Each packet takes the next RTP sequence
    number; all carry `timestamp`, the RTP timestamp at which the event starts.
    """

    __slots__ = ("digit", "event", "duration_ms", "volume", "clock_rate", "timestamp",
                 "packet_ms")

    def __init__(self, digit: str, duration_ms: int = 100, volume: int = 10,
                 clock_rate: int = 8000, timestamp: int = 0, packet_ms: int = 20):
        self.digit = digit
        self.event = digit_to_event(digit)
        if packet_ms <= 0 or duration_ms < packet_ms:
            raise ValueError(f"a {duration_ms} ms digit in {packet_ms} ms packets")
        if duration_ms * clock_rate // 1000 > MAX_DURATION:
            raise ValueError(f"{duration_ms} ms does not fit one event segment at {clock_rate} Hz")
        if not 0 <= volume <= MAX_VOLUME:
            raise ValueError(f"volume {volume} is not 0..{MAX_VOLUME}")
        self.duration_ms = duration_ms
        self.volume = volume
        self.clock_rate = clock_rate
        self.timestamp = timestamp & 0xFFFFFFFF
        self.packet_ms = packet_ms

    def __iter__(self):
        step = self.clock_rate * self.packet_ms // 1000
        count = math.ceil(self.duration_ms / self.packet_ms)
        total = min(self.duration_ms * self.clock_rate // 1000, MAX_DURATION)
        interval = self.packet_ms / 1000
        for k in range(1, count):
            payload = encode_event(self.event, False, self.volume, k * step)
            yield DtmfPacket(payload, self.timestamp, k == 1, False, (k - 1) * interval)
        final = encode_event(self.event, True, self.volume, total)
        for i in range(END_PACKETS):
            yield DtmfPacket(final, self.timestamp, count == 1 and i == 0, True,
                             (count - 1 + i) * interval)

    def packets(self) -> list[DtmfPacket]:
        return list(self)


# --- SIP INFO ---

DTMF_RELAY = "application/dtmf-relay"
DTMF = "application/dtmf"
INFO_CONTENT_TYPES = (DTMF_RELAY, DTMF)


@dataclass(frozen=True, slots=True)
class InfoDigit:
    digit: str
    duration_ms: int | None


def _info_signal(value: str) -> str:
    value = value.strip()
    if value.isdigit() and len(value) <= 2:
        code = int(value)
        if code <= 9 and len(value) == 1:
            return value
        if 10 <= code <= 15:  # some phones send the event code for * # A-D
            return EVENT_DIGITS[code]
    elif len(value) == 1 and value.upper() in EVENT_DIGITS:
        return value.upper()
    raise ValueError(f"DTMF signal {value!r} is not a digit")


def parse_info_dtmf(content_type: str, body: bytes | str) -> InfoDigit:
    """The digit in a SIP INFO body: `application/dtmf-relay` ("Signal=5\\r\\n
    Duration=160\\r\\n", the duration in ms) or `application/dtmf` (the digit, or its
    event code, alone). Raises ValueError for anything else."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    if media_type == DTMF:
        return InfoDigit(_info_signal(text), None)
    if media_type != DTMF_RELAY:
        raise ValueError(f"{content_type!r} is not a DTMF INFO body")
    fields = {}
    for line in text.splitlines():
        name, sep, value = line.partition("=")
        if sep:
            fields[name.strip().lower()] = value.strip()
    if "signal" not in fields:
        raise ValueError("dtmf-relay body has no Signal")
    duration = fields.get("duration")
    if duration is not None:
        if not duration.isdigit() or len(duration) > 6:
            raise ValueError(f"dtmf-relay Duration {duration!r} is not a number of ms")
        duration = int(duration)
    return InfoDigit(_info_signal(fields["signal"]), duration)


def format_dtmf_relay(digit: str, duration_ms: int = 160) -> bytes:
    """An `application/dtmf-relay` body for sending a digit by INFO."""
    digit_to_event(digit)
    return f"Signal={digit.upper()}\r\nDuration={int(duration_ms)}\r\n".encode()
