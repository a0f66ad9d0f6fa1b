"""SIP, SIPS and tel URIs (RFC 3261 §19, RFC 3966), with IPv6 references (RFC 5118).

Parsed values keep the text as received (escapes included) so serialising returns
the same bytes; comparison keys (aor, canonical_user) compare user parts after
unescaping, as RFC 3261 §19.1.4 asks, in one canonical escaped spelling.
"""

import re
from dataclasses import dataclass, field

from .errors import RemoteProtocolError
from .syntax import DIGITS, format_params, parse_params

MAX_URI_LENGTH = 4096
SIP_SCHEMES = ("sip", "sips")
_HOST_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.")
_IPV6_CHARS = frozenset("0123456789abcdefABCDEF:.")
_FORBIDDEN_IN_URI = frozenset(' \t\r\n<>"')
_SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+\-.]*")
# The everyday SIP URI after 'sip:': user@host[:port][;params], no password, no headers
# and no '@' or '?' after the host. Groups: user, host, port, params. Anything else takes
# the general path; both give equal results for what this matches.
SIMPLE_SIP_PATTERN = (
    r"(?:([A-Za-z0-9\-_.!~*'()&=+$,%/]+)@)?"
    r"([A-Za-z0-9\-.]+|\[[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*\])"
    r"(?::([0-9]{1,5}))?"
    r"(;[^@?<>\"\s]*)?"
)
_SIMPLE_SIP_RE = re.compile(SIMPLE_SIP_PATTERN)
# RFC 3261 §25.1: characters a user part may carry unescaped (unreserved and
# user-unreserved); everything else is compared and keyed in its %HH form.
_USER_LITERAL = frozenset(
    b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.!~*'()&=+$,;?/"
)
_HEX = frozenset(b"0123456789abcdefABCDEF")


def canonical_user(user: str) -> str:
    """The user part in one canonical spelling for keys and comparison (§19.1.4).

    Escapes of characters that need none are decoded (%75 -> u), every other octet is
    written %HH in upper case, so two user parts are equal after unescaping exactly when
    their canonical forms are equal. Unescaping happens once (value%2541 stays distinct
    from valueA) and an escaped NUL stays %00, never a raw NUL that could truncate a key.
    """
    raw = user.encode("utf-8", "surrogateescape")
    if b"%" not in raw and _USER_LITERAL.issuperset(raw):
        return user
    out = []
    i = 0
    end = len(raw)
    while i < end:
        b = raw[i]
        if b == 0x25 and i + 2 < end and raw[i + 1] in _HEX and raw[i + 2] in _HEX:
            b = int(raw[i + 1 : i + 3], 16)
            i += 3
        else:
            i += 1
        out.append(chr(b) if b in _USER_LITERAL else f"%{b:02X}")
    return "".join(out)


@dataclass(slots=True)
class SipUri:
    scheme: str
    user: str | None
    host: str
    port: int | None = None
    password: str | None = None
    params: dict[str, str | None] = field(default_factory=dict)
    headers: str | None = None  # the raw '?h=v&...' part, without '?'

    @property
    def transport(self) -> str:
        value = self.params.get("transport")
        if value:
            return value.lower()
        return "tls" if self.scheme == "sips" else "udp"

    @property
    def host_key(self) -> str:
        return self.host.lower()

    def aor(self) -> str:
        """The address-of-record key: scheme, user and host, nothing else.

        The user part is case-sensitive and canonically escaped (canonical_user); the
        host is case-insensitive and lower-cased (RFC 3261 §19.1.4)."""
        user = f"{canonical_user(self.user)}@" if self.user is not None else ""
        return f"{self.scheme}:{user}{self.host.lower()}"

    def __str__(self) -> str:
        out = [self.scheme, ":"]
        if self.user is not None:
            out.append(self.user)
            if self.password is not None:
                out += [":", self.password]
            out.append("@")
        out.append(self.host)
        if self.port is not None:
            out += [":", str(self.port)]
        out.append(format_params(self.params))
        if self.headers is not None:
            out += ["?", self.headers]
        return "".join(out)


@dataclass(slots=True)
class TelUri:
    number: str
    params: dict[str, str | None] = field(default_factory=dict)
    scheme: str = "tel"

    def __str__(self) -> str:
        return f"tel:{self.number}{format_params(self.params)}"


@dataclass(slots=True)
class AbsoluteUri:
    """Any other scheme: parsed only as far as scheme and opaque rest."""

    scheme: str
    rest: str

    def __str__(self) -> str:
        return f"{self.scheme}:{self.rest}"


Uri = SipUri | TelUri | AbsoluteUri


def number_part(uri) -> str | None:
    """The number (or user name) a URI names: a sip: URI's user before any ';'
    (user=phone and visual separators), a tel: URI's number; None for others."""
    if isinstance(uri, SipUri):
        return None if uri.user is None else uri.user.split(";", 1)[0]
    if isinstance(uri, TelUri):
        return uri.number
    return None


def parse_uri(text: str) -> Uri:
    if len(text) > MAX_URI_LENGTH:
        raise RemoteProtocolError("URI too long", 414)
    if not text or not _FORBIDDEN_IN_URI.isdisjoint(text):
        raise RemoteProtocolError(f"malformed URI {text[:80]!r}")
    scheme, colon, rest = text.partition(":")
    if not colon or not scheme:
        raise RemoteProtocolError(f"URI without scheme {text[:80]!r}")
    lowered = scheme.lower()
    if lowered == "sip" or lowered == "sips":
        match = _SIMPLE_SIP_RE.fullmatch(rest)
        if match is not None:
            user, host, port, params = match.groups()
            if port is not None:
                port = int(port)
                if port > 65535:
                    raise RemoteProtocolError(f"bad port {port}")
            return SipUri(lowered, user, host, port, None,
                          parse_params(params, what="URI") if params else {}, None)
        return _parse_sip(lowered, rest)
    if _SCHEME_RE.fullmatch(scheme) is None:
        if not scheme[0].isalpha():
            raise RemoteProtocolError(f"URI without scheme {text[:80]!r}")
        raise RemoteProtocolError(f"bad URI scheme {scheme[:40]!r}")
    if lowered == "tel":
        number, _, params = rest.partition(";")
        if not number:
            raise RemoteProtocolError("tel URI without number")
        return TelUri(number, parse_params(";" + params, what="tel URI") if params else {})
    return AbsoluteUri(lowered, rest)


def _parse_sip(scheme: str, rest: str) -> SipUri:
    user = password = None
    at = rest.find("@")
    if at >= 0:
        userinfo, rest = rest[:at], rest[at + 1 :]
        user, colon, pw = userinfo.partition(":")
        if colon:
            password = pw
        if not user:
            raise RemoteProtocolError("SIP URI with empty user part")
    headers = None
    q = rest.find("?")
    if q >= 0:
        rest, headers = rest[:q], rest[q + 1 :]
    semi = rest.find(";")
    params: dict[str, str | None] = {}
    if semi >= 0:
        params = parse_params(rest[semi:], what="URI")
        rest = rest[:semi]
    host, port = parse_hostport(rest)
    return SipUri(scheme, user, host, port, password, params, headers)


def parse_hostport(text: str) -> tuple[str, int | None]:
    """Split 'host[:port]'; IPv6 references must be bracketed (RFC 5118 §4.2)."""
    if text.startswith("["):
        close = text.find("]")
        if close < 0:
            raise RemoteProtocolError("unterminated IPv6 reference")
        host = text[: close + 1]
        inner = host[1:-1]
        if ":" not in inner or not _IPV6_CHARS.issuperset(inner):
            raise RemoteProtocolError(f"bad IPv6 reference {host!r}")
        after = text[close + 1 :]
        if not after:
            return host, None
        if not after.startswith(":"):
            raise RemoteProtocolError("garbage after IPv6 reference")
        return host, _parse_port(after[1:])
    host, colon, port = text.partition(":")
    if not host or not _HOST_CHARS.issuperset(host):
        raise RemoteProtocolError(f"bad host {host[:80]!r}")
    return host, _parse_port(port) if colon else None


def _parse_port(text: str) -> int:
    if not text or len(text) > 5 or not DIGITS.issuperset(text) or int(text) > 65535:
        raise RemoteProtocolError(f"bad port {text[:20]!r}")
    return int(text)


def host_for_socket(host: str) -> str:
    """Strip IPv6 brackets for use as a socket address."""
    return host[1:-1] if host.startswith("[") else host
