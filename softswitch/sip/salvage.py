"""Best-effort recovery of the fields needed to address an error response to a
request too broken to parse (RFC 4475 §3.1.2: answer 400 rather than stay silent)."""

from .headers import Headers, canonical_name
from .message import Request

_NEEDED = ("Via", "From", "To", "Call-ID", "CSeq")


def salvage_request(data: bytes) -> Request | None:
    """A Request carrying only Via/From/To/Call-ID/CSeq as sent, or None when any
    of them is missing (then no response can be addressed)."""
    end = data.find(b"\r\n\r\n")
    head = data if end < 0 else data[:end]
    lines = head.decode("utf-8", "surrogateescape").replace("\r\n", "\n").split("\n")
    fields: dict[str, list[str]] = {}
    last = None
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and last is not None:
            last[2] = f"{last[2]} {line.strip()}"
            continue
        name, colon, value = line.partition(":")
        if not colon:
            last = None
            continue
        key = canonical_name(name.strip())
        if key in _NEEDED and key not in fields:
            last = [key, name.strip(), value.strip()]
            fields[key] = last
        else:
            last = None
    if any(k not in fields for k in _NEEDED):
        return None
    method = lines[0].split(" ", 1)[0] or "UNKNOWN"
    return Request(method, "sip:invalid", Headers([fields[k] for k in _NEEDED]))
