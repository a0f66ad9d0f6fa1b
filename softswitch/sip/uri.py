"""SIP, SIPS and tel URIs (RFC 3261 §19, RFC 3966), with IPv6 references (RFC 5118).

Parsed values keep the text as received (escapes included) so serialising returns
the same bytes; comparison keys unescape, as RFC 3261 §19.1.4 asks.
"""

from dataclasses import dataclass, field

from .errors import RemoteProtocolError
from .syntax import format_params, parse_params, unescape

MAX_URI_LENGTH = 4096
SIP_SCHEMES = ("sip", "sips")
_HOST_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.")
_IPV6_CHARS = frozenset("0123456789abcdefABCDEF:.")
_FORBIDDEN_IN_URI = frozenset(' \t\r\n<>"')


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
        """The address-of-record: scheme, user and host, nothing else."""
        user = f"{unescape(self.user)}@" if self.user is not None else ""
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


def parse_uri(text: str) -> Uri:
    if len(text) > MAX_URI_LENGTH:
        raise RemoteProtocolError("URI too long", 414)
    if not text or any(c in _FORBIDDEN_IN_URI for c in text):
        raise RemoteProtocolError(f"malformed URI {text[:80]!r}")
    scheme, colon, rest = text.partition(":")
    if not colon or not scheme or not scheme[0].isalpha():
        raise RemoteProtocolError(f"URI without scheme {text[:80]!r}")
    lowered = scheme.lower()
    if lowered in SIP_SCHEMES:
        return _parse_sip(lowered, rest)
    if lowered == "tel":
        number, _, params = rest.partition(";")
        if not number:
            raise RemoteProtocolError("tel URI without number")
        return TelUri(number, parse_params(";" + params, what="tel URI") if params else {})
    if not all(c.isalnum() or c in "+-." for c in scheme):
        raise RemoteProtocolError(f"bad URI scheme {scheme[:40]!r}")
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
        if not inner or not all(c in _IPV6_CHARS for c in inner) or ":" not in inner:
            raise RemoteProtocolError(f"bad IPv6 reference {host!r}")
        after = text[close + 1 :]
        if not after:
            return host, None
        if not after.startswith(":"):
            raise RemoteProtocolError("garbage after IPv6 reference")
        return host, _parse_port(after[1:])
    host, colon, port = text.partition(":")
    if not host or not all(c in _HOST_CHARS for c in host):
        raise RemoteProtocolError(f"bad host {host[:80]!r}")
    return host, _parse_port(port) if colon else None


def _parse_port(text: str) -> int:
    if not text.isdigit() or len(text) > 5 or int(text) > 65535:
        raise RemoteProtocolError(f"bad port {text[:20]!r}")
    return int(text)


def host_for_socket(host: str) -> str:
    """Strip IPv6 brackets for use as a socket address."""
    return host[1:-1] if host.startswith("[") else host
