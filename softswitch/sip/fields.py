"""Structured header-field values: Via, name-addr (From/To/Contact/Route), CSeq."""

from dataclasses import dataclass, field

from .errors import RemoteProtocolError
from .syntax import (
    WHITESPACE,
    format_params,
    is_token,
    parse_params,
    quote,
    read_quoted,
    split_list,
)
from .uri import AbsoluteUri, SipUri, Uri, parse_hostport, parse_uri

MAX_CSEQ = 2**32 - 1
BRANCH_MAGIC = "z9hG4bK"


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
    for key in ("received",):
        if key in params and not params[key]:
            raise RemoteProtocolError("empty Via received")
    if "rport" in params and params["rport"] is not None and not params["rport"].isdigit():
        raise RemoteProtocolError("bad Via rport")
    return Via(transport.upper(), host, port, params, f"{parts[0]}/{parts[1]}")


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
    if len(parts) != 2 or not parts[0].isdigit() or not is_token(parts[1]):
        raise RemoteProtocolError(f"malformed CSeq {value[:60]!r}")
    number = int(parts[0])
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
        if not value.isdigit():
            raise RemoteProtocolError("bad Contact expires")
        return int(value)

    @property
    def q(self) -> float | None:
        if self.address is None or self.address.params.get("q") is None:
            return None
        try:
            q = float(self.address.params["q"])
        except ValueError as exc:
            raise RemoteProtocolError("bad Contact q-value") from exc
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
