"""Low-level RFC 3261 §25 lexing shared by URI and header-field parsers.

Everything here works on already unfolded text (no CRLF inside values).
"""

import re

from .errors import RemoteProtocolError

TOKEN_CHARS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~"
)
WHITESPACE = " \t"
DIGITS = frozenset("0123456789")
_QUOTED_RE = re.compile(r'"((?:[^"\\]|\\.)*)"', re.DOTALL)
_QUOTED_PAIR_RE = re.compile(r"\\(.)", re.DOTALL)


def is_token(text: str) -> bool:
    return bool(text) and TOKEN_CHARS.issuperset(text)


def is_digits(text: str) -> bool:
    """ASCII digits only (str.isdigit() also accepts '²' and other Unicode digits)."""
    return bool(text) and DIGITS.issuperset(text)


def quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def read_quoted(text: str, start: int) -> tuple[str, int]:
    """Read a quoted-string whose opening quote is at text[start].

    Returns the unescaped content and the index just past the closing quote.
    """
    match = _QUOTED_RE.match(text, start)
    if match is not None:
        inner = match.group(1)
        if "\\" in inner:
            inner = _QUOTED_PAIR_RE.sub(r"\1", inner)
        return inner, match.end()
    raise RemoteProtocolError("unterminated quoted string")


def split_list(value: str) -> list[str]:
    """Split a comma-separated header value, respecting quotes and <...>."""
    if "," not in value:
        stripped = value.strip()
        return [stripped] if stripped else []
    parts = []
    depth = 0
    start = 0
    i = 0
    end = len(value)
    while i < end:
        c = value[i]
        if c == '"':
            _, i = read_quoted(value, i)
            continue
        if c == "<":
            depth += 1
        elif c == ">":
            depth -= 1
        elif c == "," and depth <= 0:
            parts.append(value[start:i].strip())
            start = i + 1
        i += 1
    parts.append(value[start:].strip())
    if any(not p for p in parts):
        raise RemoteProtocolError("empty element in comma-separated header value")
    return parts


def parse_params(text: str, *, what: str = "header") -> dict[str, str | None]:
    """Parse ';name=value;flag' into an ordered dict (text must start with ';' after
    optional LWS; empty text gives no parameters).

    Names are lower-cased (they are case-insensitive); values keep their case.
    LWS around ';' and '=' is allowed, as RFC 3261 SEMI and EQUAL permit.
    """
    if '"' in text:
        return _parse_params_quoted(text, what)
    pieces = text.split(";")
    if pieces[0] and pieces[0].strip(WHITESPACE):
        raise RemoteProtocolError(f"expected ';' in {what} parameters")
    params: dict[str, str | None] = {}
    for piece in pieces[1:]:
        name, eq, value = piece.partition("=")
        if " " in name or "\t" in name:
            name = name.strip(WHITESPACE)
        if not name or not TOKEN_CHARS.issuperset(name):
            raise RemoteProtocolError(f"bad {what} parameter name {name[:40]!r}")
        if eq:
            if " " in value or "\t" in value:
                value = value.strip(WHITESPACE)
                if " " in value or "\t" in value:
                    raise RemoteProtocolError(f"expected ';' in {what} parameters")
            if not value:
                raise RemoteProtocolError(f"empty value for {what} parameter {name!r}")
            params[name.lower()] = value
        else:
            params[name.lower()] = None
    return params


def _parse_params_quoted(text: str, what: str) -> dict[str, str | None]:
    """The general scanner, for parameter lists holding a quoted-string value."""
    params: dict[str, str | None] = {}
    i = 0
    end = len(text)
    while i < end:
        while i < end and text[i] in WHITESPACE:
            i += 1
        if i >= end:
            break
        if text[i] != ";":
            raise RemoteProtocolError(f"expected ';' in {what} parameters")
        i += 1
        while i < end and text[i] in WHITESPACE:
            i += 1
        j = i
        while j < end and text[j] not in "=; \t":
            j += 1
        name = text[i:j]
        if not name or not is_token(name):
            raise RemoteProtocolError(f"bad {what} parameter name {name[:40]!r}")
        i = j
        while i < end and text[i] in WHITESPACE:
            i += 1
        value = None
        if i < end and text[i] == "=":
            i += 1
            while i < end and text[i] in WHITESPACE:
                i += 1
            if i < end and text[i] == '"':
                inner, i = read_quoted(text, i)
                value = quote(inner)
            else:
                j = i
                while j < end and text[j] not in "; \t":
                    j += 1
                value = text[i:j]
                i = j
                if not value:
                    raise RemoteProtocolError(f"empty value for {what} parameter {name!r}")
        params[name.lower()] = value
    return params


def format_params(params: dict[str, str | None]) -> str:
    return "".join(f";{k}" if v is None else f";{k}={v}" for k, v in params.items())


def unescape(text: str) -> str:
    """%HEX unescaping, once (value%2541 is value%41, never valueA)."""
    if "%" not in text:
        return text
    out = bytearray()
    raw = text.encode("utf-8", "surrogateescape")
    i = 0
    while i < len(raw):
        b = raw[i]
        if b == 0x25 and i + 2 < len(raw) + 0 and _is_hex(raw[i + 1 : i + 3]):
            out.append(int(raw[i + 1 : i + 3], 16))
            i += 3
            continue
        out.append(b)
        i += 1
    return out.decode("utf-8", "surrogateescape")


def _is_hex(pair: bytes) -> bool:
    return len(pair) == 2 and all(c in b"0123456789abcdefABCDEF" for c in pair)
