"""SIP headers to and from agents: which header names an agent may be given or may
set, and their values made safe. Values come from callers and agents, both
untrusted: no CR, LF or other control character survives (no header injection),
lengths and counts are capped, and the headers that carry routing, transaction or
credential state are never read out or written."""

import re

from ..sip.identity import IDENTITY_HEADERS
from ..sip.message import Request
from .profiles import ProfileError

MAX_NAMES = 16  # header names an agent asks for, and headers it may set at once
MAX_NAME_LENGTH = 64
MAX_VALUE_LENGTH = 512  # User-to-User carries up to 128 bytes of hex and parameters
TOKEN = re.compile(r"^[A-Za-z0-9.!%*_+`'~-]{1,64}$")  # RFC 3261 §25.1 token
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Routing, transaction, dialog, body and credential headers (long and compact forms):
# an agent neither reads them as its "parameters" nor sets them.
FORBIDDEN = frozenset(name.lower() for name in (
    "Via", "v", "Call-ID", "i", "CSeq", "Route", "Record-Route", "From", "f", "To", "t",
    "Contact", "m", "Max-Forwards", "Content-Length", "l", "Content-Type", "c",
    "Content-Encoding", "e", "Authorization", "Proxy-Authorization", "WWW-Authenticate",
    "Proxy-Authenticate", "Proxy-Require", "Require", "Supported", "k", "Session-Expires",
    "x", "Min-SE", "Allow", "Expires", "Refer-To", "r", "Referred-By", "b", "Replaces",
    "Event", "o", "Subscription-State", "Path", "Service-Route", "Security-Client",
    "Security-Server", "Security-Verify", "RAck", "RSeq", "Identity", "Identity-Info",
    "Privacy",
))


def _any_case(name: str) -> str:
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else re.escape(c)
                   for c in name)


# What the API's document states for a name: a token that is none of FORBIDDEN (in any
# case). JSON Schema regexes have no case-insensitive flag, hence the classes.
NAME_PATTERN = (r"^(?!(?:" + "|".join(_any_case(n) for n in sorted(FORBIDDEN)) + r")$)"
                + TOKEN.pattern[1:])
# Identity headers are read only from sources whose identity is believed.
_IDENTITY = frozenset(name.lower() for name in IDENTITY_HEADERS)


class HeaderRefused(ValueError):
    """A header name or value the policy does not take; str() says why."""


def check_name(name: str) -> str:
    """A header name an agent may read or set, or HeaderRefused."""
    if not isinstance(name, str) or not TOKEN.fullmatch(name):
        raise HeaderRefused(f"{name!r} is not a SIP header name (a token of 1-64 "
                            "letters, digits or -.!%*_+`'~)")
    if name.lower() in FORBIDDEN:
        raise HeaderRefused(f"{name} carries routing, transaction or credential state "
                            "and cannot be passed to or set by an agent")
    return name


def clean_value(value: str) -> str:
    """A header value with control characters (CR, LF...) replaced by spaces and
    trimmed to MAX_VALUE_LENGTH."""
    return _CONTROL.sub(" ", value)[:MAX_VALUE_LENGTH].strip()


def headers_for_agent(request: Request, names, identity_trusted: bool) -> dict[str, str]:
    """The values of `names` in the INVITE, by the name as configured (several lines
    of one header joined with ", "); identity headers only from a trusted source."""
    found = {}
    for name in names:
        if name.lower() in _IDENTITY and not identity_trusted:
            continue
        values = request.headers.values(name)
        if values:
            found[name] = clean_value(", ".join(values))
    return found


def headers_from_agent(value) -> tuple[tuple[str, str], ...]:
    """The headers an agent asked to set ({"X-Outcome": "sale", ...}) as checked
    pairs; HeaderRefused for anything that is not."""
    if value is None:
        return ()
    if not isinstance(value, dict):
        raise HeaderRefused("headers must be an object of name: value")
    if len(value) > MAX_NAMES:
        raise HeaderRefused(f"at most {MAX_NAMES} headers")
    pairs = []
    for name, text in value.items():
        check_name(name)
        if not isinstance(text, str):
            raise HeaderRefused(f"the value of {name} must be a string")
        if _CONTROL.search(text):
            raise HeaderRefused(f"the value of {name} has a control character (CR, LF...)")
        if len(text) > MAX_VALUE_LENGTH:
            raise HeaderRefused(f"the value of {name} is longer than {MAX_VALUE_LENGTH}")
        if not text.strip():
            raise HeaderRefused(f"the value of {name} is empty")
        pairs.append((name, text.strip()))
    return tuple(pairs)


def agent_set_headers(value) -> tuple[tuple[str, str], ...]:
    """headers_from_agent for a profile: a refusal is the profile's error (the
    message is refused, logged, and the call goes on)."""
    try:
        return headers_from_agent(value)
    except HeaderRefused as exc:
        raise ProfileError(f"headers: {exc}") from None
