"""Structured header-field values: Via, name-addr (From/To/Contact/Route), CSeq."""

import re
from dataclasses import dataclass, field

from .errors import RemoteProtocolError
from .syntax import (
    WHITESPACE,
    format_params,
    is_digits,
    is_token,
    parse_params,
    quote,
    read_quoted,
    split_list,
)
from .uri import (
    MAX_URI_LENGTH,
    SIMPLE_SIP_PATTERN,
    AbsoluteUri,
    SipUri,
    Uri,
    parse_hostport,
    parse_uri,
)

MAX_CSEQ = 2**32 - 1
MAX_DELTA_SECONDS = 2**32 - 1
BRANCH_MAGIC = "z9hG4bK"
# The everyday via-parm, 'SIP/2.0/UDP host[:port][;params]' with single spaces; any
# other spelling (LWS around '/', IPv6 oddities...) takes the general path.
_SIMPLE_VIA_RE = re.compile(
    r"SIP/2\.0/([A-Za-z0-9\-.!%*_+`'~]+) "
    r"([A-Za-z0-9\-.]+|\[[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*\])"
    r"(?::([0-9]{1,5}))?"
    r"(;.*)?",
    re.DOTALL,
)
_TOKEN_PATTERN = r"[A-Za-z0-9\-.!%*_+`'~]+"
# The everyday name-addr: optional quoted or token display name, then <sip:...> in the
# form uri.SIMPLE_SIP_PATTERN describes, then header parameters.
_SIMPLE_NAME_ADDR_RE = re.compile(
    r'(?:"((?:[^"\\]|\\.)*)"[ \t]*'
    rf"|({_TOKEN_PATTERN}(?:[ \t]+{_TOKEN_PATTERN})*)[ \t]*)?"
    r"<([Ss][Ii][Pp][Ss]?):"
    + SIMPLE_SIP_PATTERN
    + r">(.*)",
    re.DOTALL,
)
_QUOTED_PAIR_RE = re.compile(r"\\(.)", re.DOTALL)
_QVALUE_RE = re.compile(r"[0-9]{1,5}(?:\.[0-9]{0,10})?|\.[0-9]{1,10}")


@dataclass(slots=True)
class Via:
    transport: str  # upper case: UDP, TCP, TLS, WS, SCTP...
    host: str
    port: int | None = None
    params: dict[str, str | None] = field(default_factory=dict)
    protocol: str = "SIP/2.0"

    @property
    def branch(self) -> str | None:
        return self.params.get("branch")

    @property
    def sent_by(self) -> tuple[str, int | None]:
        return self.host.lower(), self.port

    @property
    def rfc3261_branch(self) -> bool:
        b = self.branch
        return b is not None and b.startswith(BRANCH_MAGIC) and len(b) > len(BRANCH_MAGIC)

    def __str__(self) -> str:
        port = "" if self.port is None else f":{self.port}"
        return f"{self.protocol}/{self.transport} {self.host}{port}{format_params(self.params)}"


def parse_via(value: str) -> Via:
    """Parse one via-parm (one element of a Via header list)."""
    match = _SIMPLE_VIA_RE.fullmatch(value)
    if match is not None:
        transport, host, port, params_text = match.groups()
        if port is not None:
            port = int(port)
            if port > 65535:
                raise RemoteProtocolError(f"bad port {port}")
        if params_text:
            params = parse_params(params_text, what="Via")
            _check_via_params(params)
        else:
            params = {}
        return Via(transport.upper(), host, port, params, "SIP/2.0")
    parts = []
    rest = value
    for _ in range(2):
        token, slash, rest = rest.partition("/")
        if not slash:
            raise RemoteProtocolError("Via without sent-protocol")
        parts.append(token.strip())
    rest = rest.lstrip(WHITESPACE)
    i = 0
    while i < len(rest) and rest[i] not in WHITESPACE + ";":
        i += 1
    transport = rest[:i]
    rest = rest[i:].lstrip(WHITESPACE)
    if not (is_token(parts[0]) and is_token(parts[1]) and is_token(transport)):
        raise RemoteProtocolError("malformed Via sent-protocol")
    j = 0
    while j < len(rest) and rest[j] not in WHITESPACE + ";":
        j += 1
    host, port = parse_hostport(rest[:j])
    params = parse_params(rest[j:], what="Via") if j < len(rest) else {}
    _check_via_params(params)
    return Via(transport.upper(), host, port, params, f"{parts[0]}/{parts[1]}")


def _check_via_params(params: dict[str, str | None]) -> None:
    if "received" in params and not params["received"]:
        raise RemoteProtocolError("empty Via received")
    rport = params.get("rport")
    if rport is not None and (len(rport) > 5 or not is_digits(rport)):
        raise RemoteProtocolError("bad Via rport")


def parse_via_list(value: str) -> list[Via]:
    return [parse_via(v) for v in split_list(value)]


@dataclass(slots=True)
class NameAddr:
    uri: Uri
    display: str | None = None  # unquoted display name
    params: dict[str, str | None] = field(default_factory=dict)

    @property
    def tag(self) -> str | None:
        return self.params.get("tag")

    def __str__(self) -> str:
        display = f"{quote(self.display)} " if self.display else ""
        return f"{display}<{self.uri}>{format_params(self.params)}"


def parse_name_addr(value: str) -> NameAddr:
    """Parse name-addr or addr-spec followed by header parameters."""
    text = value.strip()
    if len(text) <= MAX_URI_LENGTH:
        match = _SIMPLE_NAME_ADDR_RE.fullmatch(text)
        if match is not None:
            quoted, words, scheme, user, host, port, uri_params, rest = match.groups()
            if port is not None:
                port = int(port)
                if port > 65535:
                    raise RemoteProtocolError(f"bad port {port}")
            if quoted is not None:
                display = _QUOTED_PAIR_RE.sub(r"\1", quoted) if "\\" in quoted else quoted
            elif words is not None:
                display = " ".join(words.split())
            else:
                display = None
            uri = SipUri(scheme.lower(), user, host, port, None,
                         parse_params(uri_params, what="URI") if uri_params else {}, None)
            return NameAddr(uri, display, parse_params(rest) if rest.strip() else {})
    display = None
    if text.startswith('"'):
        display, end = read_quoted(text, 0)
        rest = text[end:].lstrip(WHITESPACE)
        if not rest.startswith("<"):
            raise RemoteProtocolError("display name not followed by <URI>")
        return _bracketed(rest, display)
    lt = text.find("<")
    if lt >= 0:
        words = text[:lt].split()
        if words and not all(is_token(w) for w in words):
            raise RemoteProtocolError("non-token characters in unquoted display name")
        display = " ".join(words) or None
        return _bracketed(text[lt:], display)
    semi = text.find(";")
    uri_text = text if semi < 0 else text[:semi]
    if "?" in uri_text or "," in uri_text:
        raise RemoteProtocolError("URI with '?' or ',' must be enclosed in <>")
    uri = parse_uri(uri_text.strip())
    params = parse_params(text[semi:]) if semi >= 0 else {}
    return NameAddr(uri, None, params)


def _bracketed(text: str, display: str | None) -> NameAddr:
    gt = text.find(">")
    if gt < 0:
        raise RemoteProtocolError("unterminated <URI>")
    uri = parse_uri(text[1:gt])
    rest = text[gt + 1 :]
    params = parse_params(rest) if rest.strip() else {}
    return NameAddr(uri, display, params)


@dataclass(frozen=True, slots=True)
class CSeq:
    number: int
    method: str

    def __str__(self) -> str:
        return f"{self.number} {self.method}"


def parse_cseq(value: str) -> CSeq:
    parts = value.split()
    if len(parts) != 2 or not is_digits(parts[0]) or not is_token(parts[1]):
        raise RemoteProtocolError(f"malformed CSeq {value[:60]!r}")
    digits = parts[0]
    if len(digits) > 10:
        digits = digits.lstrip("0") or "0"
        if len(digits) > 10:
            raise RemoteProtocolError("CSeq number out of range")
    number = int(digits)
    if number > MAX_CSEQ:
        raise RemoteProtocolError("CSeq number out of range")
    return CSeq(number, parts[1])


@dataclass(slots=True)
class Contact:
    """One Contact element; wildcard is the '*' of REGISTER."""

    address: NameAddr | None
    wildcard: bool = False

    @property
    def expires(self) -> int | None:
        if self.address is None:
            return None
        value = self.address.params.get("expires")
        if value is None:
            return None
        if not is_digits(value):
            raise RemoteProtocolError("bad Contact expires")
        digits = value.lstrip("0") or "0"
        if len(digits) > 10 or int(digits) > MAX_DELTA_SECONDS:
            raise RemoteProtocolError("Contact expires out of range")
        return int(digits)

    @property
    def q(self) -> float | None:
        if self.address is None or self.address.params.get("q") is None:
            return None
        value = self.address.params["q"]
        if _QVALUE_RE.fullmatch(value) is None:
            raise RemoteProtocolError("bad Contact q-value")
        q = float(value)
        if not 0.0 <= q <= 1.0:
            raise RemoteProtocolError("Contact q-value out of range")
        return q

    def __str__(self) -> str:
        return "*" if self.wildcard else str(self.address)


def parse_contacts(values: list[str]) -> list[Contact]:
    contacts = []
    for raw in values:
        for element in split_list(raw):
            if element == "*":
                contacts.append(Contact(None, wildcard=True))
            else:
                contacts.append(Contact(parse_name_addr(element)))
    return contacts


def is_sip_uri(uri: Uri) -> bool:
    return isinstance(uri, SipUri)


def is_unknown_scheme(uri: Uri) -> bool:
    return isinstance(uri, AbsoluteUri)
