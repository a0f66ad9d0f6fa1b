"""Answers over UDP never much larger than the request (RFC 3261 §26.3.2.4 style
amplification bound, as QUIC's 3x limit before address validation).

A UDP source address is not verified: whoever forges it aims our answers at a victim.
A request costs the sender its own bytes, so an answer at most AMPLIFICATION times that
size makes the switch a poor amplifier. Real phones' requests are large enough that
nothing is trimmed; a minimal hand-made request gets an answer without the fields it
can do without: extra challenges beyond the first, Warning, Server and the optional
capability headers of an OPTIONS answer.
"""

from .message import Response

AMPLIFICATION = 3

CHALLENGES = ("WWW-Authenticate", "Proxy-Authenticate")
# Dropped in this order, until the answer fits.
OPTIONAL_FIELDS = ("Warning", "Server", "Accept-Language", "Accept-Encoding", "Supported",
                   "User-Agent", "Organization")


def fit_bytes(response: Response, data: bytes, request_size: int) -> bytes:
    """`data` (the bytes of `response`), or those of `fit_answer(...)` when they are
    over the bound: one comparison in the usual case."""
    if not request_size or len(data) <= AMPLIFICATION * request_size:
        return data
    return fit_answer(response, request_size).to_bytes()


def fit_answer(response: Response, request_size: int) -> Response:
    """`response`, or a copy without optional fields, so that it stays within
    AMPLIFICATION times `request_size` where that is possible; 0 means unknown."""
    if not request_size:
        return response
    if response.status < 300 and response.method == "INVITE":
        return response  # a call's answer (its SDP, Supported: timer...) is end to end
    budget = AMPLIFICATION * request_size
    if _exact(response) <= budget:
        return response
    trimmed = Response(response.status, response.reason, response.headers.copy(),
                       response.body, response.version)
    fields = trimmed.headers._fields
    for name in CHALLENGES:  # keep the first (our preferred algorithm) of each
        positions = [i for i, f in enumerate(fields) if f[0] == name]
        for i in reversed(positions[1:]):
            del fields[i]
            if _exact(trimmed) <= budget:
                return trimmed
    for name in OPTIONAL_FIELDS:
        if name in trimmed.headers:
            trimmed.headers.remove(name)
            if _exact(trimmed) <= budget:
                return trimmed
    return trimmed


def _exact(message) -> int:
    return len(message.to_bytes())
