"""The SIP Identity header (RFC 8224 §4.1) in its full form, as SHAKEN uses it:

    Identity: <header>.<claims>.<signature>;info=<https://cert.example/sp.pem>;alg=ES256;ppt=shaken
"""

from dataclasses import dataclass

from .passport import ALGORITHM, PPT_SHAKEN

MAX_IDENTITY_LENGTH = 4096
MAX_IDENTITY_HEADERS = 4  # Identity fields of one request looked at (RFC 8224 allows several)
_TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")


class IdentityHeaderError(ValueError):
    """An Identity header that cannot be read; str() says why."""


@dataclass(frozen=True, slots=True)
class IdentityHeader:
    token: str  # the PASSporT (compact JWS) as it came
    info: str  # where the signer's certificate is (the x5u)
    alg: str
    ppt: str | None


def format_identity(token: str, info: str) -> str:
    """The Identity header value for a SHAKEN PASSporT signed with ES256."""
    return f"{token};info=<{info}>;alg={ALGORITHM};ppt={PPT_SHAKEN}"


def parse_identity(value: str) -> IdentityHeader:
    """Read one Identity header value; IdentityHeaderError when it is not the full
    form of RFC 8224 (the compact form, with an empty claims part, is refused: the
    claims would have to be rebuilt from the request)."""
    if len(value) > MAX_IDENTITY_LENGTH:
        raise IdentityHeaderError("Identity header too long")
    token, _, rest = value.strip().partition(";")
    token = token.strip()
    if not token or not set(token) <= _TOKEN_CHARS or token.count(".") != 2:
        raise IdentityHeaderError("Identity is not a compact JWS")
    if ".." in token:
        raise IdentityHeaderError("compact-form PASSporT (no claims) is not supported")
    params = _params(rest)
    info = params.get("info")
    if info is None or len(info) < 2 or info[0] != "<" or info[-1] != ">":
        raise IdentityHeaderError("Identity without info=<uri>")
    # RFC 8224 §4.1: alg absent means ES256.
    return IdentityHeader(token, info[1:-1].strip(), params.get("alg", ALGORITHM),
                          params.get("ppt", None))


def _params(text: str) -> dict[str, str]:
    params: dict[str, str] = {}
    # info's URI is in angle brackets and may hold ';': split outside of them only.
    depth, start = 0, 0
    parts = []
    for i, char in enumerate(text):
        if char == "<":
            depth += 1
        elif char == ">":
            depth = max(0, depth - 1)
        elif char == ";" and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    for part in parts:
        name, _, value = part.strip().partition("=")
        name = name.strip().lower()
        if name and name not in params:
            params[name] = value.strip().strip('"')
    return params
