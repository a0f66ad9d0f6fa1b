"""SIP requests and responses (RFC 3261 §7): parse, validate, serialise.

Parsing splits the start line and header fields and frames the body; structured
values (Via, CSeq, From/To, Contact, Request-URI) are parsed on first access and
cached, so a message pays only for what its handler reads.
"""

from dataclasses import dataclass

from .errors import LocalProtocolError, RemoteProtocolError
from .fields import (
    CSeq,
    Contact,
    NameAddr,
    Via,
    parse_contacts,
    parse_cseq,
    parse_name_addr,
    parse_via,
    parse_via_list,
)
from .headers import SINGLE_HEADERS, Headers, canonical_name
from .status import reason_for
from .syntax import is_digits, is_token
from .uri import MAX_URI_LENGTH, Uri, parse_uri

SIP_VERSION = "SIP/2.0"
MAX_SCALAR = 2**32 - 1
# Default caps (Limits fields); each names the status a violation is answered with.
MAX_MESSAGE_SIZE = 65535  # 513 Message Too Large
MAX_HEADERS = 200  # 400 Bad Request
MAX_BODY_SIZE = 60000  # 413 Request Entity Too Large
KNOWN_METHODS = frozenset((
    "INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "PRACK", "SUBSCRIBE",
    "NOTIFY", "PUBLISH", "INFO", "REFER", "MESSAGE", "UPDATE",
))


@dataclass(frozen=True, slots=True)
class Limits:
    """Caps on what a peer may send; each violation has its own status."""

    max_message_size: int = MAX_MESSAGE_SIZE  # 513 Message Too Large
    max_headers: int = MAX_HEADERS  # 400
    max_uri_length: int = MAX_URI_LENGTH  # 414 Request-URI Too Long
    max_body_size: int = MAX_BODY_SIZE  # 413 Request Entity Too Large


DEFAULT_LIMITS = Limits()


class Message:
    __slots__ = ("headers", "body", "_vias", "_cseq", "_from", "_to", "_contacts")

    is_request = False

    def __init__(self, headers: Headers | None = None, body: bytes = b""):
        self.headers = headers if headers is not None else Headers()
        self.body = body
        self._vias = self._cseq = self._from = self._to = self._contacts = None

    # -- structured accessors (parsed once, cached) --------------------------
    @property
    def vias(self) -> list[Via]:
        if self._vias is None:
            vias: list[Via] = []
            for key, _, value in self.headers._fields:
                if key == "Via":
                    if "," in value:
                        vias.extend(parse_via_list(value))
                    elif value.strip():
                        vias.append(parse_via(value.strip()))
                    else:
                        # Via = 1#via-parm: an empty line is malformed, and skipping
                        # it would make the top Via differ from the first field.
                        raise RemoteProtocolError("empty Via header")
            self._vias = vias
        return self._vias

    @property
    def top_via(self) -> Via:
        vias = self.vias
        if not vias:
            raise RemoteProtocolError("missing Via")
        return vias[0]

    @property
    def cseq(self) -> CSeq:
        if self._cseq is None:
            value = self.headers.get("CSeq")
            if value is None:
                raise RemoteProtocolError("missing CSeq")
            self._cseq = parse_cseq(value)
        return self._cseq

    @property
    def from_(self) -> NameAddr:
        if self._from is None:
            self._from = self._name_addr("From")
        return self._from

    @property
    def to(self) -> NameAddr:
        if self._to is None:
            self._to = self._name_addr("To")
        return self._to

    @property
    def contacts(self) -> list[Contact]:
        if self._contacts is None:
            self._contacts = parse_contacts(self.headers.values("Contact"))
        return self._contacts

    @property
    def call_id(self) -> str:
        value = self.headers.get("Call-ID")
        if not value:
            raise RemoteProtocolError("missing Call-ID")
        return value

    @property
    def from_tag(self) -> str | None:
        return self.from_.tag

    @property
    def to_tag(self) -> str | None:
        return self.to.tag

    def _name_addr(self, name: str) -> NameAddr:
        value = self.headers.get(name)
        if value is None:
            raise RemoteProtocolError(f"missing {name}")
        return parse_name_addr(value)

    def invalidate(self) -> None:
        """Forget cached parses after the headers were edited."""
        self._vias = self._cseq = self._from = self._to = self._contacts = None

    # -- serialising ----------------------------------------------------------
    def to_bytes(self) -> bytes:
        body = self.body
        lines = [self.start_line()]
        has_length = False
        for key, name, value in self.headers._fields:
            if key == "Content-Length":
                if has_length:
                    continue
                value = str(len(body))
                has_length = True
            lines.append(f"{name}: {value}")
        if not has_length:
            lines.append(f"Content-Length: {len(body)}")
        lines.append("\r\n")
        return "\r\n".join(lines).encode("utf-8", "surrogateescape") + body

    __bytes__ = to_bytes


class Request(Message):
    __slots__ = ("method", "uri", "version", "_ruri", "wire_size")

    is_request = True

    def __init__(self, method: str, uri: str, headers=None, body=b"", version=SIP_VERSION):
        super().__init__(headers, body)
        self.method = method
        self.uri = uri
        self.version = version
        self._ruri = None
        self.wire_size = 0  # bytes on the wire when parsed (0: built here)

    @property
    def ruri(self) -> Uri:
        if self._ruri is None:
            self._ruri = parse_uri(self.uri)
        return self._ruri

    def set_uri(self, uri: str) -> None:
        self.uri = uri
        self._ruri = None

    @property
    def max_forwards(self) -> int | None:
        value = self.headers.get("Max-Forwards")
        return None if value is None else _scalar(value, "Max-Forwards", 255)

    def start_line(self) -> str:
        return f"{self.method} {self.uri} {self.version}"

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.uri}>"


class Response(Message):
    __slots__ = ("status", "reason", "version")

    def __init__(self, status: int, reason: str | None = None, headers=None, body=b"",
                 version=SIP_VERSION):
        super().__init__(headers, body)
        self.status = status
        self.reason = reason_for(status) if reason is None else reason
        self.version = version

    @property
    def method(self) -> str:
        return self.cseq.method

    def start_line(self) -> str:
        return f"{self.version} {self.status} {self.reason}"

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.reason}>"


def _scalar(value: str, name: str, maximum: int = MAX_SCALAR) -> int:
    value = value.strip()
    digits = value.lstrip("0") or "0"
    if not is_digits(value) or len(digits) > 10 or int(digits) > maximum:
        raise RemoteProtocolError(f"bad {name} value {value[:20]!r}")
    return int(digits)


# -- parsing -------------------------------------------------------------------

# Field names exactly as they appear before the colon -> (name as sent, key), for names
# already checked to be tokens. Bounded, so unusual names cannot grow it.
_FIELD_NAMES: dict[str, tuple[str, str]] = {}
_FIELD_NAMES_SIZE = 2048


def parse_message(data: bytes, *, stream: bool = False, limits: Limits = DEFAULT_LIMITS,
                  validate: bool = True) -> Request | Response:
    """Parse one message. For UDP (stream=False) the datagram is the frame: a missing
    Content-Length means the rest of it, extra bytes after the body are ignored. On a
    stream (framing.StreamFramer output) Content-Length is mandatory, absent means 0.

    The header section ends at the first blank line, CRLF CRLF or a bare LF LF, as the
    stream framer has it. Validation (validate_request/validate_response) parses every
    field handlers rely on and leaves the results cached on the message.

    Raises RemoteProtocolError; when the start line and headers could be split, the
    partial message is attached as `exc.partial` so a 4xx can still be addressed.
    """
    if len(data) > limits.max_message_size:
        raise RemoteProtocolError("message too large", 513)
    if data[:1] in (b"\r", b"\n"):
        data = data.lstrip(b"\r\n")
    end = data.find(b"\r\n\r\n")
    sep = 4
    if end < 0:
        end = data.find(b"\n\n")
        sep = 2
    if end < 0:
        if stream or not data.endswith(b"\n"):
            raise RemoteProtocolError("header section not terminated")
        # Some archived messages end right after the last header line.
        end, sep = len(data), 0
        head = data.rstrip(b"\r\n").decode("utf-8", "surrogateescape")
    else:
        head = data[:end].decode("utf-8", "surrogateescape")
    body_start = end + sep
    # Split at LF; the CR of a CRLF stays at the end of the line and is stripped with
    # the value's whitespace (or below, for the start line).
    lines = head.split("\n")
    start_line = lines[0]
    if start_line[-1:] == "\r":
        start_line = start_line[:-1]
    message = _parse_start_line(start_line, limits)
    fields = message.headers._fields
    known = _FIELD_NAMES
    for line in lines[1:]:
        raw_name, colon, value = line.partition(":")
        entry = known.get(raw_name) if colon else None
        if entry is None:
            if line[:1] in (" ", "\t"):
                if not fields:
                    raise RemoteProtocolError("continuation line before any header")
                fields[-1][2] = f"{fields[-1][2]} {line.strip()}".strip()
                continue
            if not line and sep == 4:
                # A bare-LF blank line before the first CRLF CRLF ends the header section.
                bare = data.find(b"\n\n", 0, end)
                if bare >= 0:
                    body_start = bare + 2
                    break
            name = raw_name.rstrip(" \t")
            if not colon or not is_token(name):
                raise _with_partial(
                    RemoteProtocolError(f"malformed header line {line[:60].strip()!r}"),
                    message)
            entry = (name, canonical_name(name))
            if len(known) < _FIELD_NAMES_SIZE:
                known[raw_name] = entry
        fields.append([entry[1], entry[0], value.strip()])
    if len(fields) > limits.max_headers:
        raise RemoteProtocolError("too many header fields", 400)
    message.body = _frame_body(message, data, body_start, stream, limits)
    if message.is_request:
        message.wire_size = len(data)
    if validate:
        try:
            if message.is_request:
                validate_request(message)
            else:
                validate_response(message)
        except RemoteProtocolError as exc:
            raise _with_partial(exc, message)
    return message


def _with_partial(exc: RemoteProtocolError, message: Message) -> RemoteProtocolError:
    exc.partial = message
    return exc


def _parse_start_line(line: str, limits: Limits) -> Request | Response:
    if line.startswith("SIP/"):
        parts = line.split(" ", 2)
        if len(parts) < 2:
            raise RemoteProtocolError("malformed status line")
        version, code = parts[0], parts[1]
        if len(code) != 3 or not is_digits(code) or not 100 <= int(code) <= 699:
            raise RemoteProtocolError(f"bad status code {code[:20]!r}")
        if version.upper() != SIP_VERSION:
            raise RemoteProtocolError("unsupported SIP version", 505)
        return Response(int(code), parts[2] if len(parts) == 3 else "", version=version)
    parts = line.split(" ")
    if len(parts) != 3 or not all(parts):
        raise RemoteProtocolError("malformed request line")
    method, uri, version = parts
    if not is_token(method):
        raise RemoteProtocolError("bad method")
    if version != SIP_VERSION:
        if version.upper() == SIP_VERSION:
            version = SIP_VERSION
        elif version.upper().startswith("SIP/"):
            raise RemoteProtocolError("unsupported SIP version", 505)
        else:
            raise RemoteProtocolError("bad SIP version")
    if len(uri) > limits.max_uri_length:
        raise RemoteProtocolError("Request-URI too long", 414)
    return Request(method, uri, version=version)


def _frame_body(message: Message, data: bytes, start: int, stream: bool,
                limits: Limits) -> bytes:
    available = len(data) - start
    length = content_length_of(message.headers.values("Content-Length"))
    if length is None:
        if stream:
            return b""
        body = data[start:] if available > 0 else b""
    else:
        if length > available:
            raise RemoteProtocolError("Content-Length larger than the message")
        body = data[start : start + length]
    if len(body) > limits.max_body_size:
        raise RemoteProtocolError("body too large", 413)
    return body


def content_length_of(values: list[str]) -> int | None:
    """The body length the Content-Length fields of a message give, None if it has none.

    Several equal fields are tolerated; different ones are an error (RFC 4475 §3.3.9),
    as is anything but 1 to 10 ASCII digits."""
    if not values:
        return None
    if len(values) > 1 and len(set(v.strip() for v in values)) > 1:
        raise RemoteProtocolError("conflicting Content-Length values")
    return content_length_value(values[0])


def content_length_value(text: str) -> int:
    text = text.strip()
    if not is_digits(text) or len(text) > 10:
        raise RemoteProtocolError(f"bad Content-Length {text[:20]!r}")
    return int(text)


_REQUIRED_HEADERS = ("Via", "From", "To", "Call-ID", "CSeq")


def _first_values(headers: Headers) -> dict[str, str]:
    """One pass over the fields: the first value of each header, and no header of
    SINGLE_HEADERS more than once (Headers.check_single)."""
    first: dict[str, str] = {}
    for key, _, value in headers._fields:
        if key not in first:
            first[key] = value
        elif key in SINGLE_HEADERS:
            raise RemoteProtocolError(f"more than one {key} header")
    for name in _REQUIRED_HEADERS:
        if name not in first:
            raise RemoteProtocolError(f"missing {name} header")
    return first


def validate_request(request: Request) -> None:
    """Semantic checks every request handler relies on (RFC 3261 §8.2, §16.3).

    Fills the caches of the structured accessors, so handlers do not parse again."""
    first = _first_values(request.headers)
    request.vias
    cseq = request.cseq
    if cseq.method != request.method:
        status = 400 if request.method in KNOWN_METHODS else 501
        raise RemoteProtocolError("CSeq method does not match the request method", status)
    request.from_
    request.to
    if not first["Call-ID"]:
        raise RemoteProtocolError("missing Call-ID")
    value = first.get("Max-Forwards")
    if value is not None:
        _scalar(value, "Max-Forwards", 255)
    expires = first.get("Expires")
    if expires is not None:
        _scalar(expires, "Expires")
    if "Contact" in first:
        for contact in request.contacts:
            contact.expires
    else:
        request._contacts = []
    uri = request.ruri
    if getattr(uri, "headers", None) is not None:
        raise RemoteProtocolError("headers are not allowed in a Request-URI")


def validate_response(response: Response) -> None:
    _first_values(response.headers)
    response.vias
    response.cseq
    response.from_
    response.to


# -- building ------------------------------------------------------------------

_COPIED_TO_RESPONSE = ("Via", "From", "To", "Call-ID", "CSeq")


def make_response(request: Request, status: int, reason: str | None = None, *,
                  to_tag: str | None = None, body: bytes = b"") -> Response:
    """A response to `request` per RFC 3261 §8.2.6.2 (Via, From, To, Call-ID, CSeq)."""
    fields = []
    for key, name, value in request.headers._fields:
        if key in _COPIED_TO_RESPONSE:
            if key == "To" and to_tag and status != 100 and not _has_tag(value):
                value = f"{value};tag={to_tag}"
            fields.append([key, name, value])
        elif key == "Timestamp" and status == 100:
            fields.append([key, name, value])
    return Response(status, reason, Headers(fields), body)


def _has_tag(to_value: str) -> bool:
    if "tag" not in to_value.lower():
        return False
    try:
        return parse_name_addr(to_value).tag is not None
    except RemoteProtocolError:
        return False


def make_request(method: str, uri: str, *, via: str, from_: str, to: str, call_id: str,
                 cseq: int, routes=(), body: bytes = b"") -> Request:
    """A new request as a UA builds it (RFC 3261 §8.1.1): top Via, the route set,
    Max-Forwards 70, From, To, Call-ID and CSeq; callers add the rest."""
    headers = Headers()
    headers.add("Via", via)
    for route in routes:
        headers.add("Route", route)
    headers.add("Max-Forwards", "70")
    headers.add("From", from_)
    headers.add("To", to)
    headers.add("Call-ID", call_id)
    headers.add("CSeq", f"{cseq} {method}")
    return Request(method, uri, headers, body)


def make_ack(request: Request, response: Response) -> Request:
    """ACK for a non-2xx final response, built by the INVITE client transaction
    (RFC 3261 §17.1.1.3): same R-URI, top Via, From, Call-ID, CSeq number, Route; To
    from the response."""
    if request.method != "INVITE":
        raise LocalProtocolError("ACK is only for INVITE")
    headers = Headers()
    headers.add("Via", str(request.top_via))
    for name in ("Route",):
        for value in request.headers.values(name):
            headers.add(name, value)
    headers.add("Max-Forwards", "70")
    headers.add("From", request.headers.get("From"))
    headers.add("To", response.headers.get("To"))
    headers.add("Call-ID", request.call_id)
    headers.add("CSeq", f"{request.cseq.number} ACK")
    return Request("ACK", request.uri, headers)


def make_cancel(request: Request) -> Request:
    """CANCEL for a pending INVITE (RFC 3261 §9.1)."""
    headers = Headers()
    headers.add("Via", str(request.top_via))
    for value in request.headers.values("Route"):
        headers.add("Route", value)
    headers.add("Max-Forwards", "70")
    headers.add("From", request.headers.get("From"))
    headers.add("To", request.headers.get("To"))
    headers.add("Call-ID", request.call_id)
    headers.add("CSeq", f"{request.cseq.number} CANCEL")
    return Request("CANCEL", request.uri, headers)
