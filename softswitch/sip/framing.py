"""Framing SIP messages on a byte stream (TCP, TLS): RFC 3261 §18.3, RFC 5626 §3.5.1.

`StreamFramer.feed(data)` returns the complete raw messages the data finishes, each
ready for `parse_message(raw, stream=True)`. Bring-your-own-I/O, as h11 does: no
socket, no clock; the edge feeds what it reads and answers keep-alive pings.

- CRLFs between messages are skipped (RFC 3261 §7.5). A double CRLF there is a
  keep-alive ping (RFC 5626 §3.5.1): it is counted in `pings`, and `take_pings()`
  tells the edge how many single-CRLF pongs to send.
- The header section ends at the first blank line (CRLF CRLF, or a bare LF LF); the
  body is exactly Content-Length octets, 0 when the header is absent (on a stream it is
  mandatory, RFC 3261 §18.3).
- Conflicting, negative or non-numeric Content-Length, or a message (header section
  included) longer than `limits.max_message_size`, raise RemoteProtocolError: framing is
  lost and the edge closes the connection. The framer never holds more than one
  incomplete message of at most that size.
- A partial message leaves no trace but buffered bytes: any chunking of a stream yields
  the same messages and the same pings.
"""

from .errors import RemoteProtocolError
from .headers import canonical_name
from .message import DEFAULT_LIMITS, Limits, content_length_of

PING = b"\r\n\r\n"
PONG = b"\r\n"
_CR, _LF = 13, 10


class StreamFramer:
    """Cuts a stream into raw SIP messages; one framer per connection."""

    __slots__ = ("_limits", "_buffer", "_scanned", "_length", "_crlf", "_pings", "_taken",
                 "_error")

    def __init__(self, limits: Limits = DEFAULT_LIMITS):
        self._limits = limits
        self._buffer = bytearray()
        self._scanned = 0  # the header terminator is not in buffer[:_scanned]
        self._length = None  # total size of the message at the buffer start, once known
        self._crlf = b""  # tail of the current run of CRLFs between messages (< 4 octets)
        self._pings = 0
        self._taken = 0
        self._error: RemoteProtocolError | None = None

    @property
    def pings(self) -> int:
        """Keep-alive pings (double CRLF between messages) seen so far."""
        return self._pings

    def take_pings(self) -> int:
        """Pings seen since the last call: the number of CRLF pongs to send."""
        count = self._pings - self._taken
        self._taken = self._pings
        return count

    @property
    def buffered(self) -> int:
        """Octets held for an incomplete message."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[bytes]:
        """Add received octets; return the messages they complete, in stream order.

        On a framing error the framer is dead: this and every later call raise a
        RemoteProtocolError, whose `messages` attribute holds the messages completed
        before the fault in that call (the edge may still handle them, then closes)."""
        if self._error is not None:
            error = RemoteProtocolError(str(self._error), self._error.status_hint)
            error.messages = []
            raise error
        self._buffer += data
        messages: list[bytes] = []
        try:
            while self._buffer:
                buffer = self._buffer
                length = self._length
                if length is None:
                    if buffer[0] in (_CR, _LF):
                        if not self._skip_keepalives():
                            break
                        buffer = self._buffer
                    self._crlf = b""  # a message starts: a pending CRLF run is over
                    length = self._length = self._frame_length()
                    if length is None:
                        break
                if len(buffer) < length:
                    break
                messages.append(bytes(buffer[:length]))
                del buffer[:length]
                self._length = None
                self._scanned = 0
        except RemoteProtocolError as exc:
            exc.messages = messages
            self._error = exc
            self._buffer = bytearray()
            raise
        return messages

    def _skip_keepalives(self) -> bool:
        """Drop the CRLFs at the buffer start, counting pings; True if a message follows."""
        buffer = self._buffer
        rest = buffer.lstrip(b"\r\n")
        run = self._crlf + bytes(buffer[: len(buffer) - len(rest)])
        self._buffer = buffer = rest
        # Pings are the non-overlapping double CRLFs of the run, left to right.
        pos = 0
        at = run.find(PING)
        while at >= 0:
            self._pings += 1
            pos = at + 4
            at = run.find(PING, pos)
        if buffer:
            return True
        self._crlf = run[pos:][-3:]
        return False

    def _frame_length(self) -> int | None:
        """Size of the message at the buffer start, or None until its header is in."""
        buffer = self._buffer
        cap = self._limits.max_message_size
        start = max(self._scanned - 3, 0)
        crlf = buffer.find(b"\r\n\r\n", start)
        lf = buffer.find(b"\n\n", start, crlf if crlf >= 0 else len(buffer))
        if lf >= 0:
            end, body_start = lf, lf + 2
        elif crlf >= 0:
            end, body_start = crlf, crlf + 4
        else:
            if len(buffer) > cap:
                raise RemoteProtocolError("header section too long", 513)
            self._scanned = len(buffer)
            return None
        head = bytes(buffer[:end]).decode("utf-8", "surrogateescape")
        length = content_length_of(_content_length_fields(head)) or 0
        total = body_start + length
        if total > cap:
            raise RemoteProtocolError("message too large", 513)
        return total


def _content_length_fields(head: str) -> list[str]:
    """The Content-Length values of a header section, unfolded as parse_message does."""
    values: list[str] = []
    current = False  # the last field seen is a Content-Length
    for line in head.split("\n")[1:]:
        if line[:1] in (" ", "\t"):
            if current:
                values[-1] = f"{values[-1]} {line.strip()}".strip()
            continue
        name, colon, value = line.partition(":")
        current = bool(colon) and canonical_name(name.rstrip(" \t")) == "Content-Length"
        if current:
            values.append(value.strip())
    return values
