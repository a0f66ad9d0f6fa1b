"""WebSocket text frames on the media path (RFC 6455 §5.2), cut and built beside wsproto.

Every agent call sends and receives a text message every 20 ms. wsproto's generic frame
path costs about 10 µs per message pair, a fifth of a call's CPU in the profile of 300
calls. wsproto stays the protocol engine — handshake, control frames, binary and
fragmented messages, closing, every error — and this module takes only the one shape the
media path is made of: a whole text message in one frame, no extension.

`FrameSplitter` cuts the bytes received after the handshake at frame boundaries. Each
complete frame comes out either as `str` (final, unmasked, no RSV bit, text opcode, valid
UTF-8, no fragmented message open: the message itself) or as `bytes` (anything else,
the whole frame: feed it to wsproto, which so only ever sees whole frames and holds no
partial state between them). Bytes wsproto was given before the splitter took over (a
handshake answer's trailing frames) are declared with `skip`: the splitter only tracks
their boundaries, and owes wsproto the rest of a frame they end inside. A frame that
declares a payload over `max_payload` switches the splitter to passing every later byte
through unparsed, so a peer cannot make it buffer without bound; wsproto then streams
that message and the caller's own size limit applies.

`mask_text` builds a client's (masked) text frame.
"""

import os
import struct

_LEN16 = struct.Struct("!H")
_LEN64 = struct.Struct("!Q")
TEXT = 0x1
FIN = 0x80


class FrameSplitter:
    __slots__ = ("max_payload", "_parts", "_held", "_need", "_fed", "_open_message",
                 "_passthrough")

    def __init__(self, max_payload: int):
        self.max_payload = max_payload
        # An incomplete frame's bytes, joined once it is whole (a large message comes
        # in many reads: joining at each would copy it over and over).
        self._parts: list[bytes] = []
        self._held = 0  # their length
        self._need = 0  # the length that completes the frame (0: header incomplete)
        self._fed = 0  # bytes at the buffer's start that wsproto already has
        self._open_message = False  # a fragmented data message is under way
        self._passthrough = False

    @property
    def passthrough(self) -> bool:
        return self._passthrough

    def pass_through(self) -> None:
        """Cut nothing from here on: every byte is wsproto's."""
        self._passthrough = True
        self._parts, self._held, self._need = [], 0, 0
        self._fed = 0

    def skip(self, data: bytes) -> None:
        """`data` was fed to wsproto already (the splitter is fresh): track its frame
        boundaries only."""
        if data:
            self.feed(data, fed=True)

    def feed(self, data: bytes, *, fed: bool = False) -> list:
        """The frames `data` completes, in order: str (a text message) or bytes (for
        wsproto)."""
        if self._passthrough:
            return [] if fed else [data]
        if self._parts:
            self._parts.append(data)
            self._held += len(data)
            if self._held < self._need:
                return []
            data = b"".join(self._parts)
            self._parts, self._held, self._need = [], 0, 0
        owed = len(data) if fed else self._fed  # leading bytes wsproto already has
        out = []
        position, size = 0, len(data)
        while position < size:
            end, payload_at, first, second, length = _measure(data, position, size)
            if end < 0:  # incomplete
                if length > self.max_payload:
                    self._passthrough = True
                    rest = data[max(position, owed):]
                    if rest:
                        out.append(rest)
                    self._fed = 0
                    return out
                rest = data[position:]
                self._parts, self._held = [rest], len(rest)
                self._need = payload_at - position + length if length >= 0 else 0
                self._fed = max(0, owed - position)
                return out
            if owed > position:  # wsproto has this frame's start: give it the rest
                if owed < end:
                    out.append(data[owed:end])
            elif (first == FIN | TEXT and second < 0x80 and not self._open_message
                  and length <= self.max_payload):
                try:
                    out.append(str(data[payload_at:end], "utf-8"))
                except UnicodeDecodeError:
                    out.append(data[position:end])  # wsproto closes with 1007
            else:
                out.append(data[position:end])
            if first & 0x0F < 0x8:  # data frames open and close fragmented messages
                self._open_message = not first & FIN
            position = end
        self._fed = 0
        return out


def _measure(data: bytes, at: int, size: int):
    """(end of frame or -1 if incomplete, payload offset, byte 0, byte 1, payload
    length or -1 if the header itself is incomplete)."""
    if size - at < 2:
        return -1, 0, 0, 0, -1
    first, second = data[at], data[at + 1]
    length = second & 0x7F
    header = 2
    if length == 126:
        if size - at < 4:
            return -1, 0, first, second, -1
        length = _LEN16.unpack_from(data, at + 2)[0]
        header = 4
    elif length == 127:
        if size - at < 10:
            return -1, 0, first, second, -1
        length = _LEN64.unpack_from(data, at + 2)[0]
        header = 10
    if second & 0x80:
        header += 4
    end = at + header + length
    if end > size:
        return -1, at + header, first, second, length
    return end, at + header, first, second, length


class _KeyPool:
    """Masking keys from the OS's random source, fetched 4 KiB at a time (RFC 6455
    §5.3: unpredictable keys), so a frame does not cost a system call."""

    __slots__ = ("_pool", "_at")

    def __init__(self):
        self._pool = b""
        self._at = 0

    def take(self) -> bytes:
        if self._at + 4 > len(self._pool):
            self._pool, self._at = os.urandom(4096), 0
        key = self._pool[self._at:self._at + 4]
        self._at += 4
        return key


_keys = _KeyPool()


def mask_text(payload: bytes, key: bytes | None = None) -> bytes:
    """A client's final text frame carrying `payload` (UTF-8 bytes), masked."""
    if key is None:
        key = _keys.take()
    size = len(payload)
    if size < 126:
        header = bytes((FIN | TEXT, 0x80 | size))
    elif size < 65536:
        header = bytes((FIN | TEXT, 0x80 | 126)) + _LEN16.pack(size)
    else:
        header = bytes((FIN | TEXT, 0x80 | 127)) + _LEN64.pack(size)
    mask = (key * (size // 4 + 1))[:size]
    masked = (int.from_bytes(payload, "little") ^ int.from_bytes(mask, "little")) \
        .to_bytes(size, "little")
    return header + key + masked
