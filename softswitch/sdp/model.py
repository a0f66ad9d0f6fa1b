"""SDP (RFC 8866, which obsoletes RFC 4566) as lines that round-trip exactly, with
typed views of the lines the switch reads or rewrites.

A `SessionDescription` is the session-level lines plus one `MediaDescription` per
``m=`` line. Every line is kept as it came (type letter, value and its own line end),
so ``bytes(parse_sdp(x)) == x`` for any accepted input, unknown lines included; the
typed views (`origin`, `connection`, `port`, `rtpmaps`, `rtcp`, `direction`...) are
parsed from those lines when read and written back into them when set. A setter
replaces only the line it concerns.

`parse_sdp` validates what the switch relies on (``v=0`` first, one ``o=``, the ``c=``,
``m=``, ``a=rtpmap``, ``a=fmtp``, ``a=ptime`` and ``a=rtcp`` syntax, a connection for
every active stream) and raises `SdpError` naming the line. Other lines pass through
unread. Bytes that are not UTF-8 survive the round trip (surrogateescape).
"""

import re
from collections.abc import Iterator
from dataclasses import dataclass

from .errors import SdpError
from .values import (
    STATIC_PAYLOAD_TYPES,
    Connection,
    Origin,
    RtcpAttribute,
    RtpMap,
    parse_payload_type,
    parse_port,
)

MAX_SDP_SIZE = 65536
MAX_MEDIA_DESCRIPTIONS = 32

SENDRECV = "sendrecv"
SENDONLY = "sendonly"
RECVONLY = "recvonly"
INACTIVE = "inactive"
DIRECTIONS = frozenset((SENDRECV, SENDONLY, RECVONLY, INACTIVE))

CRLF = "\r\n"
_LINE_END = re.compile(r"(\r\n|\n)")
_TYPED_LINE = re.compile(r"([A-Za-z])=(.*)\Z", re.S)
_DIGITS = re.compile(r"[0-9]+\Z")
_TOKEN = re.compile(r"[!#$%&'*+\-.0-9A-Z^_`a-z{|}~]+\Z")

# RFC 8866 §5: the order of lines within a section; new lines are inserted in order.
_SESSION_ORDER = {kind: i for i, kind in enumerate("vosiuepcbtrzka")}
_MEDIA_ORDER = {kind: i for i, kind in enumerate("micbka")}


# -- lines ---------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Line:
    """One line as it came: its type letter, its value and its own line end.

    A blank line (kept so that the input round-trips) has kind "" and its raw text as
    value.
    """

    kind: str
    value: str
    eol: str = CRLF

    def __str__(self) -> str:
        return f"{self.kind}={self.value}{self.eol}" if self.kind else self.value + self.eol


def _split_attribute(value: str) -> tuple[str, str | None]:
    name, colon, rest = value.partition(":")
    return name.strip(), (rest if colon else None)


# -- sections ------------------------------------------------------------------

class _Section:
    """Lines of one level (session or media) and the accessors both levels share."""

    __slots__ = ("lines", "eol")
    _ORDER: dict[str, int] = {}

    def __init__(self, lines: list[Line], eol: str = CRLF):
        self.lines = lines
        self.eol = eol

    def __str__(self) -> str:
        return "".join(map(str, self.lines))

    def _index(self, kind: str) -> int | None:
        for i, line in enumerate(self.lines):
            if line.kind == kind:
                return i
        return None

    def _value(self, kind: str) -> str | None:
        i = self._index(kind)
        return None if i is None else self.lines[i].value

    def _replace(self, index: int, value: str) -> None:
        old = self.lines[index]
        self.lines[index] = Line(old.kind, value, old.eol)

    def _insert(self, kind: str, value: str) -> None:
        """Insert a new line where RFC 8866's order puts it (after its predecessors)."""
        rank = self._ORDER[kind]
        at = 1  # never before the v= or m= line
        for i, line in enumerate(self.lines):
            if line.kind in self._ORDER and self._ORDER[line.kind] <= rank:
                at = i + 1
        # A line inserted after a final line that lacked its end must not glue to it.
        if at == len(self.lines) and self.lines and not self.lines[-1].eol:
            last = self.lines[-1]
            self.lines[-1] = Line(last.kind, last.value, self.eol)
            self.lines.insert(at, Line(kind, value, ""))
        else:
            self.lines.insert(at, Line(kind, value, self.eol))

    # attributes

    def attributes(self) -> Iterator[tuple[str, str | None]]:
        """(name, value) of every a= line in order; value None for a property flag."""
        for line in self.lines:
            if line.kind == "a":
                yield _split_attribute(line.value)

    def attribute(self, name: str) -> str | None:
        """The first value of attribute `name` ("" for a flag), or None if absent."""
        for key, value in self.attributes():
            if key == name:
                return "" if value is None else value
        return None

    def attribute_values(self, name: str) -> list[str]:
        return ["" if value is None else value
                for key, value in self.attributes() if key == name]

    def has_attribute(self, name: str) -> bool:
        return any(key == name for key, _ in self.attributes())

    def add_attribute(self, name: str, value: str | None = None) -> None:
        self._insert("a", name if value is None else f"{name}:{value}")

    def set_attribute(self, name: str, value: str | None = None) -> None:
        """Replace the first `name` attribute in place (dropping any others), or add it."""
        text = name if value is None else f"{name}:{value}"
        found = False
        kept = []
        for line in self.lines:
            if line.kind == "a" and _split_attribute(line.value)[0] == name:
                if found:
                    continue
                found = True
                line = Line("a", text, line.eol)
            kept.append(line)
        self.lines[:] = kept
        if not found:
            self._insert("a", text)

    def remove_attribute(self, name: str) -> int:
        """Remove every `name` attribute; returns how many were removed."""
        before = len(self.lines)
        self.lines[:] = [line for line in self.lines
                         if not (line.kind == "a" and _split_attribute(line.value)[0] == name)]
        return before - len(self.lines)

    # connection and direction

    @property
    def connection(self) -> Connection | None:
        """This level's own (first) c= line, or None."""
        value = self._value("c")
        return None if value is None else Connection.parse(value)

    @connection.setter
    def connection(self, connection: Connection | None) -> None:
        """Replace every c= line of this level (or add one); None removes them."""
        if connection is None:
            self.lines[:] = [line for line in self.lines if line.kind != "c"]
            return
        indexes = [i for i, line in enumerate(self.lines) if line.kind == "c"]
        if not indexes:
            self._insert("c", str(connection))
        for i in indexes:
            self._replace(i, str(connection))

    @property
    def direction(self) -> str | None:
        """This level's own direction attribute, or None if it has none."""
        for key, value in self.attributes():
            if key in DIRECTIONS and value is None:
                return key
        return None

    @direction.setter
    def direction(self, direction: str | None) -> None:
        if direction is not None and direction not in DIRECTIONS:
            raise ValueError(f"{direction!r} is not an SDP direction")
        kept, replaced = [], False
        for line in self.lines:
            if line.kind == "a" and line.value.strip() in DIRECTIONS:
                if replaced or direction is None:
                    continue
                replaced = True
                line = Line("a", direction, line.eol)
            kept.append(line)
        self.lines[:] = kept
        if direction is not None and not replaced:
            self._insert("a", direction)


class MediaDescription(_Section):
    """One ``m=`` line and the lines under it; `lines[0]` is the m= line."""

    __slots__ = ()
    _ORDER = _MEDIA_ORDER

    def copy(self) -> "MediaDescription":
        return MediaDescription(list(self.lines), self.eol)

    def _fields(self) -> list[str]:
        return self.lines[0].value.split()

    @property
    def media(self) -> str:
        return self._fields()[0]

    @property
    def port(self) -> int:
        return int(self._fields()[1].partition("/")[0])

    @port.setter
    def port(self, port: int) -> None:
        if not 0 <= port <= 65535:
            raise ValueError(f"port {port} is out of range")
        fields = self._fields()
        _, slash, count = fields[1].partition("/")
        fields[1] = f"{port}{slash}{count}"
        self._replace(0, " ".join(fields))

    @property
    def port_count(self) -> int:
        _, slash, count = self._fields()[1].partition("/")
        return int(count) if slash else 1

    @property
    def proto(self) -> str:
        return self._fields()[2]

    @property
    def formats(self) -> list[str]:
        return self._fields()[3:]

    @property
    def is_rtp(self) -> bool:
        """Whether the transport protocol is an RTP profile (RTP/AVP, RTP/SAVPF...)."""
        return "RTP/" in self.proto.upper()

    @property
    def rtpmaps(self) -> dict[int, RtpMap]:
        """The explicit a=rtpmap lines, by payload type."""
        return {m.payload_type: m for m in map(RtpMap.parse, self.attribute_values("rtpmap"))}

    def codec(self, payload_type: int) -> RtpMap | None:
        """The encoding of `payload_type`: its a=rtpmap, else the RFC 3551 static one."""
        return self.rtpmaps.get(payload_type) or STATIC_PAYLOAD_TYPES.get(payload_type)

    def codecs(self) -> list[RtpMap]:
        """The encodings of the m= line's formats, in its order (`codec` of each numeric
        format; formats without one are left out), the a=rtpmap lines read once."""
        rtpmaps = self.rtpmaps
        found = (rtpmaps.get(int(fmt)) or STATIC_PAYLOAD_TYPES.get(int(fmt))
                 for fmt in self.formats if fmt.isdigit())
        return [codec for codec in found if codec is not None]

    @property
    def fmtp(self) -> dict[str, str]:
        """a=fmtp parameters by format."""
        result = {}
        for value in self.attribute_values("fmtp"):
            fmt, _, params = value.partition(" ")
            result[fmt] = params.strip()
        return result

    @property
    def ptime(self) -> float | None:
        value = self.attribute("ptime")
        return None if value is None else float(value)

    @property
    def rtcp(self) -> RtcpAttribute | None:
        value = self.attribute("rtcp")
        return None if value is None else RtcpAttribute.parse(value)

    @rtcp.setter
    def rtcp(self, rtcp: RtcpAttribute | None) -> None:
        if rtcp is None:
            self.remove_attribute("rtcp")
        else:
            self.set_attribute("rtcp", str(rtcp))

    @property
    def rtcp_mux(self) -> bool:
        return self.has_attribute("rtcp-mux")


class SessionDescription(_Section):
    """A whole SDP body: session-level `lines` (from v=) and the `media` sections."""

    __slots__ = ("media",)
    _ORDER = _SESSION_ORDER

    def __init__(self, lines: list[Line], media: list[MediaDescription], eol: str = CRLF):
        super().__init__(lines, eol)
        self.media = media

    def __bytes__(self) -> bytes:
        return str(self).encode("utf-8", "surrogateescape")

    def __str__(self) -> str:
        return "".join(map(str, self.lines)) + "".join(map(str, self.media))

    def __eq__(self, other) -> bool:
        return isinstance(other, SessionDescription) and str(self) == str(other)

    __hash__ = None

    def __repr__(self) -> str:
        return f"<SessionDescription {len(self.media)} media, origin {self._value('o')!r}>"

    def copy(self) -> "SessionDescription":
        return SessionDescription(list(self.lines), [m.copy() for m in self.media], self.eol)

    @property
    def version(self) -> int:
        return int(self._value("v"))

    @property
    def origin(self) -> Origin:
        return Origin.parse(self._value("o"))

    @origin.setter
    def origin(self, origin: Origin) -> None:
        self._replace(self._index("o"), str(origin))

    @property
    def session_name(self) -> str | None:
        return self._value("s")

    def connection_for(self, media: MediaDescription) -> Connection | None:
        """The connection a stream uses: its own c= line, else the session's."""
        return media.connection or self.connection

    def direction_of(self, media: MediaDescription) -> str:
        """The stream's direction: its own attribute, else the session's, else sendrecv."""
        return media.direction or self.direction or SENDRECV


# -- parsing -------------------------------------------------------------------

def _split_lines(text: str) -> list[Line]:
    pieces = _LINE_END.split(text)
    lines = []
    for i in range(0, len(pieces), 2):
        raw = pieces[i]
        eol = pieces[i + 1] if i + 1 < len(pieces) else ""
        if not raw and not eol:
            continue  # what follows the last line end
        lineno = len(lines) + 1
        if "\r" in raw:
            raise SdpError("contains a bare CR (lines end with CRLF or LF)", lineno)
        if not raw.strip():
            lines.append(Line("", raw, eol))
            continue
        match = _TYPED_LINE.match(raw)
        if match is None:
            raise SdpError(f"expected '<type>=<value>', got {raw[:40]!r}", lineno)
        lines.append(Line(match.group(1), match.group(2), eol))
    return lines


def parse_sdp(data: bytes | str) -> SessionDescription:
    """Parse and validate an SDP body; raises `SdpError` naming the line at fault."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        data = bytes(data)
        if len(data) > MAX_SDP_SIZE:
            raise SdpError(f"body of {len(data)} bytes exceeds the {MAX_SDP_SIZE}-byte limit")
        text = data.decode("utf-8", "surrogateescape")
    else:
        text = data
        if len(text.encode("utf-8", "surrogateescape")) > MAX_SDP_SIZE:
            raise SdpError(f"body exceeds the {MAX_SDP_SIZE}-byte limit")
    if "\x00" in text:
        raise SdpError("contains a NUL byte")
    lines = _split_lines(text)
    typed = [(n, line) for n, line in enumerate(lines, 1) if line.kind]
    if not typed:
        raise SdpError("is empty")
    first_no, first = typed[0]
    if first.kind != "v" or first.value.strip() != "0":
        raise SdpError(f"SDP must start with v=0, got {str(first).strip()[:40]!r}", first_no)
    eol = next((line.eol for line in lines if line.eol), CRLF)

    session: list[Line] = []
    sections: list[list[tuple[int, Line]]] = []
    for n, line in enumerate(lines, 1):
        if line.kind == "m":
            sections.append([])
            if len(sections) > MAX_MEDIA_DESCRIPTIONS:
                raise SdpError(f"more than {MAX_MEDIA_DESCRIPTIONS} m= lines", n)
        if sections:
            sections[-1].append((n, line))
        else:
            session.append(line)

    _validate_session([(n, line) for n, line in enumerate(session, 1)])
    media = []
    for section in sections:
        _validate_media(section)
        media.append(MediaDescription([line for _, line in section], eol))
    sdp = SessionDescription(session, media, eol)
    session_connection = sdp.connection
    for section, m in zip(sections, media):
        if m.port != 0 and session_connection is None and m.connection is None:
            raise SdpError(f"m={m.media} has no c= line and there is no session-level c=",
                           section[0][0])
    return sdp


def _validate_session(numbered: list[tuple[int, Line]]) -> None:
    counts: dict[str, int] = {}
    for n, line in numbered:
        counts[line.kind] = counts.get(line.kind, 0) + 1
        if line.kind == "v" and counts["v"] > 1:
            raise SdpError("more than one v= line", n)
        if line.kind == "o":
            if counts["o"] > 1:
                raise SdpError("more than one o= line", n)
            Origin.parse(line.value, n)
        elif line.kind == "c":
            Connection.parse(line.value, n)
        elif line.kind == "a":
            _validate_attribute(line.value, n)
    if "o" not in counts:
        raise SdpError("has no o= line")


def _validate_media(numbered: list[tuple[int, Line]]) -> None:
    n, m_line = numbered[0]
    fields = m_line.value.split()
    if len(fields) < 4:
        raise SdpError("m= must be '<media> <port>[/<count>] <proto> <fmt> ...', "
                       f"got {m_line.value.strip()[:60]!r}", n)
    media, port, proto, formats = fields[0], fields[1], fields[2], fields[3:]
    if not _TOKEN.match(media):
        raise SdpError(f"m= media {media!r} is not a token", n)
    number, slash, count = port.partition("/")
    parse_port(number, n, "m=")
    if slash and (not _DIGITS.match(count) or int(count) == 0):
        raise SdpError(f"m= port count {count!r} is not a positive integer", n)
    if not all(_TOKEN.match(part) for part in proto.split("/")):
        raise SdpError(f"m= proto {proto[:40]!r} is not a token", n)
    if "RTP/" in proto.upper():
        for fmt in formats:
            parse_payload_type(fmt, n, "m=")
    else:
        for fmt in formats:
            if not _TOKEN.match(fmt):
                raise SdpError(f"m= format {fmt[:40]!r} is not a token", n)
    for n, line in numbered[1:]:
        if line.kind == "c":
            Connection.parse(line.value, n)
        elif line.kind == "a":
            _validate_attribute(line.value, n)


def _validate_attribute(value: str, n: int) -> None:
    name, rest = _split_attribute(value)
    if not name:
        raise SdpError("a= has no attribute name", n)
    if name in DIRECTIONS and rest is not None:
        raise SdpError(f"a={name} takes no value", n)
    if name == "rtpmap":
        RtpMap.parse(rest or "", n)
    elif name == "rtcp":
        RtcpAttribute.parse(rest or "", n)
    elif name == "fmtp":
        fmt, _, params = (rest or "").partition(" ")
        if not fmt.strip():
            raise SdpError("a=fmtp has no format", n)
    elif name in ("ptime", "maxptime"):
        try:
            ms = float(rest or "")
        except ValueError:
            raise SdpError(f"a={name} value {rest!r} is not a number", n) from None
        if not 0 < ms <= 10000:
            raise SdpError(f"a={name} value {rest!r} is out of range", n)
