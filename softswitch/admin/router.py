"""The route table: every endpoint of the API in one list of ``Route``.

The HTTP resource, the OpenAPI document and the auth test all read the same
table, so an endpoint cannot exist without its schema or skip auth unnoticed.
"""

import re
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import unquote

from pydantic import BaseModel

from softswitch.admin.errors import ApiError
from softswitch.admin.schemas.common import (
    E164_INPUT_PATTERN,
    NAME_PATTERN,
    USERNAME_PATTERN,
    normalise_e164,
)

MAX_ID = 2**63 - 1
MAX_CALL_ID = 256


def _by_pattern(pattern: str, what: str):
    compiled = re.compile(pattern)

    def convert(text: str) -> str:
        if not compiled.match(text):
            raise ValueError(f"not a valid {what}")
        return text
    return convert


def _id(text: str) -> int:
    if not text.isascii() or not text.isdigit() or not 0 < int(text) <= MAX_ID:
        raise ValueError("not a valid id")
    return int(text)


def _address(text: str) -> str:
    # A ban's key: an address, or a network whose '/' came percent-encoded.
    if not 0 < len(text) <= 49 or not all(c in "0123456789abcdefABCDEF.:/" for c in text):
        raise ValueError("not an address or network")
    return text


def _call_id(text: str) -> str:
    # A Call-ID is any word (RFC 3261 §25.1: '@', '/', '%'...); the client
    # percent-encodes what a path cannot hold and split_path decodes it.
    if not 0 < len(text) <= MAX_CALL_ID or not text.isprintable() \
            or any(character.isspace() for character in text):
        raise ValueError("not a valid Call-ID")
    return text


def _recording_id(text: str) -> str:
    if not re.fullmatch(r"RE[0-9a-f]{32}", text):
        raise ValueError("not a valid recording id")
    return text


@dataclass(frozen=True)
class PathParam:
    convert: Callable[[str], Any]  # raises ValueError: the path names nothing (404)
    schema: dict
    description: str


PATH_PARAMS = {
    "name": PathParam(_by_pattern(NAME_PATTERN, "name"),
                      {"type": "string", "pattern": NAME_PATTERN}, "the object's name"),
    "username": PathParam(_by_pattern(USERNAME_PATTERN, "username"),
                          {"type": "string", "pattern": USERNAME_PATTERN}, "the SIP username"),
    "number": PathParam(normalise_e164, {"type": "string", "minLength": 1, "maxLength": 40,
                                         "pattern": E164_INPUT_PATTERN},
                        "E.164 number; '+' may be sent as %2B"),
    "id": PathParam(_id, {"type": "integer", "minimum": 1, "maximum": MAX_ID}, "the id"),
    "address": PathParam(_address, {"type": "string", "minLength": 1, "maxLength": 49,
                                    "pattern": r"^[0-9a-fA-F.:/]+$"},
                         "an IP address, or a CIDR network with '/' sent as %2F"),
    "recording_id": PathParam(_recording_id,
                              {"type": "string", "pattern": r"^RE[0-9a-f]{32}$"},
                              "the recording's id"),
    "call_id": PathParam(_call_id, {"type": "string", "minLength": 1, "maxLength": MAX_CALL_ID,
                                    "pattern": r"^\S+$"},
                         "the SIP Call-ID, percent-encoded where a path needs it ('/' as %2F)"),
}

Handler = Callable[..., Any]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: str
    handler: Handler
    body_model: type[BaseModel] | None = None
    query_model: type[BaseModel] | None = None
    response_model: type[BaseModel] | None = None
    status: int = 200
    summary: str = ""
    tag: str = ""
    public: bool = False
    segments: tuple[str, ...] = field(init=False, repr=False)
    params: tuple[str, ...] = field(init=False, repr=False)

    def __post_init__(self):
        segments = tuple(self.pattern.strip("/").split("/"))
        params = tuple(s[1:-1] for s in segments if s.startswith("{"))
        unknown = set(params) - set(PATH_PARAMS)
        if unknown:
            raise ValueError(f"{self.pattern}: no PATH_PARAMS entry for {unknown}")
        object.__setattr__(self, "segments", segments)
        object.__setattr__(self, "params", params)

    def match(self, segments: list[str]) -> dict | None:
        """The converted path parameters if the path fits this route's pattern."""
        if len(segments) != len(self.segments):
            return None
        values = {}
        for mine, theirs in zip(self.segments, segments):
            if mine.startswith("{"):
                values[mine[1:-1]] = theirs
            elif mine != theirs:
                return None
        return values


@dataclass(frozen=True)
class Call:
    """What a handler gets: converted path parameters, validated body and query."""

    params: dict
    body: BaseModel | None
    query: BaseModel | None


class Router:
    def __init__(self, routes: list[Route]):
        seen = set()
        for route in routes:
            key = (route.method, route.segments)
            if key in seen:
                raise ValueError(f"two routes for {route.method} {route.pattern}")
            seen.add(key)
        # Literal segments win over parameters: /v1/openapi.json before /v1/{x}.
        self.routes = sorted(routes, key=lambda r: tuple(s.startswith("{") for s in r.segments))

    def match(self, method: str, path: str) -> tuple[Route, dict]:
        """The route and converted parameters, or ApiError 404 / 405."""
        segments = split_path(path)
        allowed = []
        for route in self.routes:
            raw = route.match(segments)
            if raw is None:
                continue
            if route.method != method:
                allowed.append(route)
                continue
            return route, _convert(raw, path)
        if allowed:
            methods = ", ".join(sorted({r.method for r in allowed}))
            raise ApiError(405, f"{method} is not allowed on {path}; allowed: {methods}",
                           headers={"Allow": methods})
        raise ApiError(404, f"no such endpoint: {path}")


def split_path(path: str) -> list[str]:
    """'/v1/numbers/%2B1415' -> ['v1', 'numbers', '+1415']; one trailing '/' ignored."""
    if len(path) > 1 and path.endswith("/"):
        path = path[:-1]
    return [unquote(segment, errors="strict") for segment in path.strip("/").split("/")]


def _convert(raw: dict, path: str) -> dict:
    values = {}
    for name, text in raw.items():
        try:
            values[name] = PATH_PARAMS[name].convert(text)
        except ValueError:
            raise ApiError(404, f"nothing at {path}: {text!r} is not a valid {name}") from None
    return values
