"""The typed values of SDP lines the switch reads or rewrites (RFC 8866, RFC 3605):
``a=rtpmap``, ``o=``, ``c=`` and ``a=rtcp``, each parsed with the line number an
error names and written back by ``str()``."""

import functools
import ipaddress
import re
from dataclasses import dataclass

from .errors import SdpError

_DIGITS = re.compile(r"[0-9]+\Z")
_FQDN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9\-.]*[A-Za-z0-9])?\Z")
_IPV4_LIKE = re.compile(r"[0-9.]+\Z")


@dataclass(frozen=True, slots=True)
class RtpMap:
    """``a=rtpmap:<payload type> <encoding name>/<clock rate>[/<encoding parameters>]``."""

    payload_type: int
    encoding: str
    clock_rate: int
    parameters: str = ""  # audio: the channel count

    @classmethod
    def parse(cls, value: str, line: int | None = None) -> "RtpMap":
        pt, _, rest = value.strip().partition(" ")
        payload_type = parse_payload_type(pt, line, "a=rtpmap")
        parts = rest.strip().split("/")
        if len(parts) < 2 or not parts[0] or len(parts) > 3:
            raise SdpError(f"a=rtpmap:{value.strip()} is not "
                           "'<pt> <encoding>/<clock rate>[/<parameters>]'", line)
        if not _DIGITS.match(parts[1]) or int(parts[1]) == 0:
            raise SdpError(f"a=rtpmap clock rate {parts[1]!r} is not a positive integer",
                           line)
        return cls(payload_type, parts[0], int(parts[1]), parts[2] if len(parts) == 3 else "")

    def __str__(self) -> str:
        tail = f"/{self.parameters}" if self.parameters else ""
        return f"{self.payload_type} {self.encoding}/{self.clock_rate}{tail}"


# RFC 3551 §6: payload types whose encoding is implied without an a=rtpmap.
STATIC_PAYLOAD_TYPES: dict[int, RtpMap] = {pt: RtpMap(pt, name, rate, ch) for pt, name, rate, ch in (
    (0, "PCMU", 8000, "1"), (3, "GSM", 8000, "1"), (4, "G723", 8000, "1"),
    (5, "DVI4", 8000, "1"), (6, "DVI4", 16000, "1"), (7, "LPC", 8000, "1"),
    (8, "PCMA", 8000, "1"), (9, "G722", 8000, "1"), (10, "L16", 44100, "2"),
    (11, "L16", 44100, "1"), (12, "QCELP", 8000, "1"), (13, "CN", 8000, "1"),
    (14, "MPA", 90000, ""), (15, "G728", 8000, "1"), (16, "DVI4", 11025, "1"),
    (17, "DVI4", 22050, "1"), (18, "G729", 8000, "1"), (25, "CelB", 90000, ""),
    (26, "JPEG", 90000, ""), (28, "nv", 90000, ""), (31, "H261", 90000, ""),
    (32, "MPV", 90000, ""), (33, "MP2T", 90000, ""), (34, "H263", 90000, ""),
)}


@dataclass(frozen=True, slots=True)
class Origin:
    """``o=<username> <sess-id> <sess-version> <nettype> <addrtype> <unicast-address>``."""

    username: str
    session_id: str
    version: int
    nettype: str
    addrtype: str
    address: str

    @classmethod
    def parse(cls, value: str, line: int | None = None) -> "Origin":
        fields = value.split()
        if len(fields) != 6:
            raise SdpError("o= must have 6 fields '<username> <sess-id> <sess-version> "
                           f"<nettype> <addrtype> <address>', got {len(fields)}", line)
        username, session_id, version, nettype, addrtype, address = fields
        if not _DIGITS.match(session_id):
            raise SdpError(f"o= sess-id {session_id!r} is not a number", line)
        if not _DIGITS.match(version):
            raise SdpError(f"o= sess-version {version!r} is not a number", line)
        return cls(username, session_id, int(version), nettype, addrtype, address)

    def __str__(self) -> str:
        return (f"{self.username} {self.session_id} {self.version} "
                f"{self.nettype} {self.addrtype} {self.address}")


@dataclass(frozen=True, slots=True)
class Connection:
    """``c=<nettype> <addrtype> <address>[/<ttl>][/<count>]``; IPv6 without brackets.

    `address` is the host alone; a multicast TTL or address count stays in `suffix`.
    """

    address: str
    addrtype: str = "IP4"
    nettype: str = "IN"
    suffix: str = ""

    @classmethod
    def for_address(cls, address: str) -> "Connection":
        """The IN connection for an IP literal, with IP4 or IP6 chosen from it."""
        return cls(*_canonical_ip(address))

    @classmethod
    def parse(cls, value: str, line: int | None = None, what: str = "c=") -> "Connection":
        fields = value.split()
        if len(fields) != 3:
            raise SdpError(f"{what} must have 3 fields '<nettype> <addrtype> <address>', "
                           f"got {len(fields)}", line)
        nettype, addrtype, spec = fields
        address, slash, suffix = spec.partition("/")
        suffix = slash + suffix
        if nettype == "IN":
            _check_address(addrtype, address, line, what)
        return cls(address, addrtype, nettype, suffix)

    @property
    def is_unspecified(self) -> bool:
        """0.0.0.0 or :: — the RFC 2543 way of putting a stream on hold."""
        return self.address in ("0.0.0.0", "::")

    def __str__(self) -> str:
        return f"{self.nettype} {self.addrtype} {self.address}{self.suffix}"


@functools.lru_cache(maxsize=1024)
def _canonical_ip(address: str) -> tuple[str, str]:
    ip = ipaddress.ip_address(address)
    return str(ip), "IP6" if ip.version == 6 else "IP4"


def _check_address(addrtype: str, address: str, line, what: str) -> None:
    problem = _address_problem(addrtype, address)
    if problem is not None:
        raise SdpError(f"{what} address {address!r} {problem}" if not problem.startswith(
            "addrtype") else f"{what} {problem}", line)


@functools.lru_cache(maxsize=4096)
def _address_problem(addrtype: str, address: str) -> str | None:
    """Why `address` does not fit `addrtype`, or None. Cached: every call's SDP
    names the same few addresses again and again."""
    if address.startswith("["):
        return "must not be bracketed"
    if addrtype == "IP4":
        if _IPV4_LIKE.match(address):
            try:
                ipaddress.IPv4Address(address)
            except ValueError:
                return "is not a valid IPv4 address"
        elif ":" in address:
            return "is IPv6 but addrtype is IP4"
        elif not _FQDN.match(address):
            return "is neither IPv4 nor a host name"
        return None
    if addrtype == "IP6":
        if ":" in address:
            try:
                ipaddress.IPv6Address(address)
            except ValueError:
                return "is not a valid IPv6 address"
        elif _IPV4_LIKE.match(address):
            return "is IPv4 but addrtype is IP6"
        elif not _FQDN.match(address):
            return "is neither IPv6 nor a host name"
        return None
    return f"addrtype {addrtype!r} is neither IP4 nor IP6"


@dataclass(frozen=True, slots=True)
class RtcpAttribute:
    """``a=rtcp:<port> [<nettype> <addrtype> <address>]`` (RFC 3605)."""

    port: int
    connection: Connection | None = None

    @classmethod
    def parse(cls, value: str, line: int | None = None) -> "RtcpAttribute":
        port, _, rest = value.strip().partition(" ")
        number = parse_port(port, line, "a=rtcp")
        connection = Connection.parse(rest, line, "a=rtcp") if rest.strip() else None
        return cls(number, connection)

    def __str__(self) -> str:
        return f"{self.port} {self.connection}" if self.connection else str(self.port)


def parse_payload_type(text: str, line, what: str) -> int:
    if not _DIGITS.match(text) or int(text) > 127:
        raise SdpError(f"{what} payload type {text!r} is not an integer 0-127", line)
    return int(text)


def parse_port(text: str, line, what: str) -> int:
    if not _DIGITS.match(text) or int(text) > 65535:
        raise SdpError(f"{what} port {text!r} is not an integer 0-65535", line)
    return int(text)
