"""SIP digest authentication core: RFC 7616 and RFC 8760, compatible with RFC 2617/2069.

Pure: no I/O and no clock. Anything that depends on the time takes ``now`` in seconds.
Policy (which user, which realm, what to answer) lives in ``softswitch.services.auth``.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import os
import re
import urllib.parse
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Callable, Sequence

from softswitch.sip.errors import LocalProtocolError, RemoteProtocolError

# Offered in challenges, most preferred first (RFC 8760 §2.4).
ALGORITHMS = ("SHA-256", "MD5")

# Upper-cased name -> (canonical name, base algorithm, session variant).
_ALGORITHM_TABLE = {
    "MD5": ("MD5", "MD5", False),
    "MD5-SESS": ("MD5-sess", "MD5", True),
    "SHA-256": ("SHA-256", "SHA-256", False),
    "SHA-256-SESS": ("SHA-256-sess", "SHA-256", True),
}
_HASHES = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256}

# Limits on what a peer may send; longer or larger input is answered with 400.
MAX_CREDENTIALS_LENGTH = 4096
MAX_AUTH_PARAMS = 32

# How far a nonce's timestamp may lie ahead of ``now`` (clock steps, several nodes).
MAX_CLOCK_SKEW = 5.0
MIN_SECRET_LENGTH = 16

# Nonce layout: timestamp (ms, big-endian) + random + truncated HMAC-SHA256.
# 36 bytes is a multiple of 3, so the base64 text has no padding and exactly one
# spelling per nonce (the text is also the key of the nc replay table).
_STAMP_LENGTH = 8
_RANDOM_LENGTH = 8
_TAG_LENGTH = 20
_BODY_LENGTH = _STAMP_LENGTH + _RANDOM_LENGTH
_NONCE_TEXT = re.compile(r"[A-Za-z0-9_-]{48}")

_WS = r"[ \t\r\n]"
_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_SCHEME = re.compile(rf"{_WS}*({_TOKEN})(?:{_WS}+|\Z)")
_SEPARATORS = re.compile(r"[ \t\r\n,]*")
_PARAM = re.compile(
    rf"({_TOKEN}){_WS}*={_WS}*"
    r'(?:"([^"\\]*(?:\\.[^"\\]*)*)"|([^ \t\r\n,"]+))'
    rf"{_WS}*(?:,|\Z)",
    re.DOTALL,
)
_TOKEN68 = re.compile(rf"[A-Za-z0-9\-._~+/]+=*{_WS}*\Z")
_QUOTED_PAIR = re.compile(r"\\(.)", re.DOTALL)
_NAME_THEN_EQUALS = re.compile(rf"({_TOKEN}){_WS}*=")
_NC_VALUE = re.compile(r"[0-9A-Fa-f]{1,8}")


@dataclass(frozen=True, slots=True)
class Credentials:
    """One parsed Authorization / Proxy-Authorization header value."""

    scheme: str
    username: str | None = None
    realm: str | None = None
    nonce: str | None = None
    uri: str | None = None
    response: str | None = None
    algorithm: str = "MD5"
    cnonce: str | None = None
    qop: str | None = None
    nc: str | None = None
    opaque: str | None = None
    userhash: bool = False
    params: dict[str, str] = field(default_factory=dict, hash=False)

    @property
    def is_digest(self) -> bool:
        return self.scheme.lower() == "digest"


class NonceStatus(enum.Enum):
    VALID = "valid"
    STALE = "stale"  # ours but expired: answer with stale=true
    INVALID = "invalid"  # not ours: forged, garbled or from another secret
    REPLAY = "replay"  # nc already used with this nonce


def base_algorithm(algorithm: str) -> str | None:
    """The stored-HA1 algorithm ("MD5" or "SHA-256") for a name, or None if unsupported."""
    entry = _ALGORITHM_TABLE.get(algorithm.upper())
    return entry[1] if entry else None


def compute_ha1(username: str, realm: str, password: str, algorithm: str) -> str:
    """H(username:realm:password) as hex; what sip_users stores instead of the password."""
    base = base_algorithm(algorithm)
    if base is None:
        raise LocalProtocolError(f"unsupported digest algorithm {algorithm!r}")
    return _hex(_HASHES[base], f"{username}:{realm}:{password}")


def parse_credentials(value: str) -> Credentials:
    """Parse one credentials header value; malformed input raises RemoteProtocolError(400)."""
    if len(value) > MAX_CREDENTIALS_LENGTH:
        raise RemoteProtocolError("credentials too long", 400)
    match = _SCHEME.match(value)
    if match is None:
        what = "empty credentials" if not value.strip() else "malformed auth-scheme"
        raise RemoteProtocolError(what, 400)
    scheme = match.group(1)
    pos = match.end()
    if scheme.lower() != "digest" and _TOKEN68.match(value, pos):
        # e.g. "Basic dXNlcjpwYXNz": legal, not ours; the policy answers with a challenge.
        return Credentials(scheme=scheme)
    params = _parse_auth_params(value, pos)
    return _credentials_from(scheme, params)


def _parse_auth_params(value: str, pos: int) -> dict[str, str]:
    params: dict[str, str] = {}
    end = len(value)
    while True:
        pos = _SEPARATORS.match(value, pos).end()
        if pos >= end:
            return params
        match = _PARAM.match(value, pos)
        if match is None:
            raise RemoteProtocolError(_describe_bad_param(value, pos), 400)
        name = match.group(1).lower()
        if name in params:
            raise RemoteProtocolError(f"duplicate auth-param {name!r}", 400)
        if len(params) == MAX_AUTH_PARAMS:
            raise RemoteProtocolError("too many auth-params", 400)
        quoted = match.group(2)
        if quoted is None:
            params[name] = match.group(3)
        elif "\\" in quoted:
            params[name] = _QUOTED_PAIR.sub(r"\1", quoted)
        else:
            params[name] = quoted
        pos = match.end()


def _describe_bad_param(value: str, pos: int) -> str:
    named = _NAME_THEN_EQUALS.match(value, pos)
    if named is None:
        return f"expected name=value at offset {pos}"
    rest = value[named.end():].lstrip(" \t\r\n")
    if rest.startswith('"'):
        return f"unterminated quoted string in {named.group(1)!r}"
    if not rest or rest[0] == ",":
        return f"missing value for {named.group(1)!r}"
    return f"expected ',' after {named.group(1)!r}"


def _credentials_from(scheme: str, params: dict[str, str]) -> Credentials:
    username = params.get("username")
    if "username*" in params:
        # RFC 7616 §3.4.4: non-ASCII user names use the RFC 8187 ext-value form.
        if username is not None:
            raise RemoteProtocolError("both username and username* present", 400)
        username = _decode_ext_value(params["username*"])
    algorithm = params.get("algorithm", "MD5")
    entry = _ALGORITHM_TABLE.get(algorithm.upper())
    return Credentials(
        scheme=scheme,
        username=username,
        realm=params.get("realm"),
        nonce=params.get("nonce"),
        uri=params.get("uri"),
        response=params.get("response"),
        algorithm=entry[0] if entry else algorithm,
        cnonce=params.get("cnonce"),
        qop=params.get("qop"),
        nc=params.get("nc"),
        opaque=params.get("opaque"),
        userhash=params.get("userhash", "false").lower() == "true",
        params=params,
    )


def _decode_ext_value(text: str) -> str:
    charset, _, rest = text.partition("'")
    _language, quote, encoded = rest.partition("'")
    if not quote or charset.upper() != "UTF-8":
        raise RemoteProtocolError("username* must be UTF-8''<percent-encoded>", 400)
    try:
        return urllib.parse.unquote(encoded, encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        raise RemoteProtocolError("username* is not valid UTF-8", 400) from None


def parse_nc(nc: str) -> int | None:
    """The nonce count as an integer, or None if it is not 1-8 hex digits."""
    return int(nc, 16) if _NC_VALUE.fullmatch(nc) else None


def build_challenge(
    realm: str, nonce: str, algorithm: str, stale: bool = False, opaque: str | None = None
) -> str:
    """One WWW-Authenticate / Proxy-Authenticate value offering qop=auth."""
    entry = _ALGORITHM_TABLE.get(algorithm.upper())
    if entry is None:
        raise LocalProtocolError(f"unsupported digest algorithm {algorithm!r}")
    parts = [f"Digest realm={_quote(realm)}", f"nonce={_quote(nonce)}"]
    if opaque is not None:
        parts.append(f"opaque={_quote(opaque)}")
    parts.append(f"algorithm={entry[0]}")
    parts.append('qop="auth"')
    if stale:
        parts.append("stale=true")
    return ", ".join(parts)


def build_challenges(realm: str, nonce: str, stale: bool = False,
                     algorithms: Sequence[str] = ALGORITHMS) -> list[str]:
    """Challenges for every offered algorithm in the order given (one header value
    each; RFC 8760 clients take the first they support)."""
    return [build_challenge(realm, nonce, algorithm, stale) for algorithm in algorithms]


def _quote(text: str) -> str:
    if "\r" in text or "\n" in text:
        raise LocalProtocolError("line break in a challenge parameter")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def expected_response(
    ha1: str, method: str, digest_uri: str, credentials: Credentials, algorithm: str
) -> str:
    """The response a client knowing ``ha1`` would send (qop=auth, or no qop as in RFC 2069)."""
    entry = _ALGORITHM_TABLE.get(algorithm.upper())
    if entry is None:
        raise LocalProtocolError(f"unsupported digest algorithm {algorithm!r}")
    _, base, session = entry
    hash_fn = _HASHES[base]
    nonce = credentials.nonce
    if session:
        ha1 = _hex(hash_fn, f"{ha1}:{nonce}:{credentials.cnonce}")
    ha2 = _hex(hash_fn, f"{method}:{digest_uri}")
    qop = credentials.qop
    if qop is None:
        return _hex(hash_fn, f"{ha1}:{nonce}:{ha2}")
    if qop.lower() != "auth":
        raise LocalProtocolError(f"qop {qop!r} is not supported")
    return _hex(hash_fn, f"{ha1}:{nonce}:{credentials.nc}:{credentials.cnonce}:{qop}:{ha2}")


def verify(credentials: Credentials, method: str, ha1: str) -> bool:
    """True if the credentials' response matches ``ha1``; checks no nonce and no realm."""
    c = credentials
    if None in (c.username, c.nonce, c.uri, c.response):
        return False
    entry = _ALGORITHM_TABLE.get(c.algorithm.upper())
    if entry is None:
        return False
    if c.qop is not None:
        if c.qop.lower() != "auth" or c.cnonce is None or c.nc is None:
            return False  # auth-int is never offered
    elif entry[2]:
        return False  # -sess needs a cnonce, which only comes with qop
    try:
        expected = expected_response(ha1, method, c.uri, c, c.algorithm).encode()
        received = c.response.lower().encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return False
    return hmac.compare_digest(expected, received)


def _hex(hash_fn: Callable, text: str) -> str:
    return hash_fn(text.encode("utf-8", "surrogateescape")).hexdigest()


class NonceManager:
    """Issues and checks stateless nonces; remembers only nonce counts for replay checks.

    Any node sharing ``secret`` accepts the nonces of another; nc history is per node.
    Call ``check`` only for credentials whose response has verified, so forged requests
    cannot use up a client's nonce counts.
    """

    def __init__(
        self,
        secret: bytes,
        lifetime: float = 300.0,
        replay_window: int = 64,
        max_tracked: int = 100_000,
        *,
        random_bytes: Callable[[int], bytes] = os.urandom,
    ):
        if len(secret) < MIN_SECRET_LENGTH:
            raise LocalProtocolError(f"nonce secret needs at least {MIN_SECRET_LENGTH} bytes")
        if lifetime <= 0 or replay_window < 0 or max_tracked < 1:
            raise LocalProtocolError("lifetime and max_tracked must be positive")
        self._secret = bytes(secret)
        self._lifetime_ms = int(lifetime * 1000)
        self._skew_ms = int(MAX_CLOCK_SKEW * 1000)
        self._window = replay_window
        self._window_mask = (1 << replay_window) - 1
        self._max_tracked = max_tracked
        self._random_bytes = random_bytes
        # nonce -> [expires_ms, highest nc, bitmap of nc seen below it]; first-use order.
        self._seen: OrderedDict[str, list[int]] = OrderedDict()
        # Nonces issued up to here may have lost their nc history to eviction.
        self._forgotten_up_to_ms = -1

    @property
    def tracked_count(self) -> int:
        return len(self._seen)

    def issue(self, now: float) -> str:
        body = int(now * 1000).to_bytes(_STAMP_LENGTH, "big") + self._random_bytes(_RANDOM_LENGTH)
        return base64.urlsafe_b64encode(body + self._tag(body)).decode("ascii")

    def check(self, nonce: str, nc: int | None, now: float) -> NonceStatus:
        """Classify a nonce; a VALID answer with an nc records that nc as used."""
        issued_ms = self._authentic_timestamp(nonce)
        if issued_ms is None:
            return NonceStatus.INVALID
        now_ms = int(now * 1000)
        age_ms = now_ms - issued_ms
        if age_ms > self._lifetime_ms or age_ms < -self._skew_ms:
            return NonceStatus.STALE
        if nc is None:
            return NonceStatus.VALID  # no qop (RFC 2069): reuse allowed within the lifetime
        return self._record_nc(nonce, issued_ms, nc, now_ms)

    def _tag(self, body: bytes) -> bytes:
        return hmac.digest(self._secret, body, "sha256")[:_TAG_LENGTH]

    def _authentic_timestamp(self, nonce: str) -> int | None:
        if not isinstance(nonce, str) or not _NONCE_TEXT.fullmatch(nonce):
            return None
        raw = base64.urlsafe_b64decode(nonce)
        body = raw[:_BODY_LENGTH]
        if not hmac.compare_digest(self._tag(body), raw[_BODY_LENGTH:]):
            return None
        return int.from_bytes(body[:_STAMP_LENGTH], "big")

    def _record_nc(self, nonce: str, issued_ms: int, nc: int, now_ms: int) -> NonceStatus:
        if nc < 1:
            return NonceStatus.REPLAY  # counts start at 1
        entry = self._seen.get(nonce)
        if entry is None:
            if issued_ms <= self._forgotten_up_to_ms:
                return NonceStatus.STALE  # its history may be gone: make the client renew
            self._make_room(now_ms)
            self._seen[nonce] = [issued_ms + self._lifetime_ms, nc, 1]
            return NonceStatus.VALID
        highest, seen_below = entry[1], entry[2]
        if nc > highest:
            shift = nc - highest
            # Bit i of the map means highest - i was used; a big jump clears it.
            if shift < self._window:
                entry[2] = ((seen_below << shift) | 1) & self._window_mask
            else:
                entry[2] = 1
            entry[1] = nc
            return NonceStatus.VALID
        offset = highest - nc
        if offset >= self._window or (seen_below >> offset) & 1:
            return NonceStatus.REPLAY
        entry[2] = seen_below | (1 << offset)  # late arrival inside the window (UDP reorder)
        return NonceStatus.VALID

    def _make_room(self, now_ms: int) -> None:
        seen = self._seen
        while seen:
            oldest, entry = next(iter(seen.items()))
            expired = entry[0] < now_ms
            if not expired and len(seen) < self._max_tracked:
                return
            del seen[oldest]
            if not expired:
                # Evicting a live nonce must not reopen it to replays: refuse it and
                # everything issued before it (answered STALE, so clients just renew).
                issued_ms = entry[0] - self._lifetime_ms
                self._forgotten_up_to_ms = max(self._forgotten_up_to_ms, issued_ms)


# -- client side: answering a carrier's challenge (RFC 7616 §3.4, RFC 8760) ----------


def parse_challenge(value: str) -> dict[str, str]:
    """One WWW-Authenticate / Proxy-Authenticate value as ``{"scheme": ..., param: ...}``.

    Parameter names are lower-cased and quoted values unescaped; the scheme keeps its
    spelling. A malformed value raises RemoteProtocolError."""
    if len(value) > MAX_CREDENTIALS_LENGTH:
        raise RemoteProtocolError("challenge too long")
    match = _SCHEME.match(value)
    if match is None:
        raise RemoteProtocolError("malformed challenge")
    scheme = match.group(1)
    if scheme.lower() != "digest" and _TOKEN68.match(value, match.end()):
        return {"scheme": scheme}
    params = _parse_auth_params(value, match.end())
    params["scheme"] = scheme
    return params


def can_answer(challenge: dict[str, str]) -> bool:
    """True for a Digest challenge with a nonce, an algorithm we know and a qop we can
    meet (auth, or none at all)."""
    if challenge.get("scheme", "").lower() != "digest" or not challenge.get("nonce"):
        return False
    entry = _ALGORITHM_TABLE.get(challenge.get("algorithm", "MD5").upper())
    if entry is None:
        return False
    qop = challenge.get("qop")
    if qop is None:
        return not entry[2]  # -sess needs a cnonce, which only comes with qop
    return "auth" in _qop_options(qop)


def select_challenge(values: Sequence[str]) -> str | None:
    """The topmost challenge value we can answer (RFC 8760 §2.4), or None."""
    for value in values:
        try:
            if can_answer(parse_challenge(value)):
                return value
        except RemoteProtocolError:
            continue
    return None


def authorization_for(challenge_value: str, username: str, password: str, method: str,
                      uri: str, cnonce: str, nc: int = 1) -> str:
    """The Authorization / Proxy-Authorization value answering one challenge.

    MD5, SHA-256 and their -sess variants; qop=auth when offered (nc and cnonce
    sent), the RFC 2069 form when the challenge has no qop; realm and opaque are
    echoed. ``uri`` is the digest-uri (the Request-URI as sent). A challenge we cannot
    answer (not Digest, no nonce, unknown algorithm, only auth-int) raises
    RemoteProtocolError; a line break in our own values raises LocalProtocolError."""
    challenge = parse_challenge(challenge_value)
    if not can_answer(challenge):
        raise RemoteProtocolError(f"cannot answer challenge {challenge_value[:80]!r}")
    if not 1 <= nc <= 0xFFFFFFFF:
        raise LocalProtocolError("nonce count out of range")
    realm = challenge.get("realm", "")
    algorithm = _ALGORITHM_TABLE[challenge.get("algorithm", "MD5").upper()][0]
    qop = "auth" if "qop" in challenge else None
    nc_text = f"{nc:08x}"
    credentials = Credentials(
        scheme="Digest", username=username, realm=realm, nonce=challenge["nonce"], uri=uri,
        algorithm=algorithm, cnonce=cnonce if qop else None, qop=qop,
        nc=nc_text if qop else None)
    ha1 = compute_ha1(username, realm, password, algorithm)
    response = expected_response(ha1, method, uri, credentials, algorithm)
    if username.isascii():
        parts = [f"Digest username={_quote(username)}"]
    else:
        parts = [f"Digest username*=UTF-8''{urllib.parse.quote(username, safe='')}"]
    parts += [f"realm={_quote(realm)}", f"nonce={_quote(challenge['nonce'])}",
              f"uri={_quote(uri)}", f"response={_quote(response)}", f"algorithm={algorithm}"]
    if qop:
        parts += [f"cnonce={_quote(cnonce)}", "qop=auth", f"nc={nc_text}"]
    if "opaque" in challenge:
        parts.append(f"opaque={_quote(challenge['opaque'])}")
    return ", ".join(parts)


def _qop_options(qop: str) -> list[str]:
    return [option.strip().lower() for option in qop.split(",")]
