"""Digest authentication policy for the registrar and the proxy.

Decides which credentials to use, looks the user up, and says what to answer. Unknown
users and wrong passwords look the same from outside (same status, same challenge,
same hashing work) so the switch cannot be used to enumerate accounts.
"""

from __future__ import annotations

import hmac
import os
from dataclasses import dataclass
from typing import Callable, Sequence

from softswitch.sip.digest import (
    ALGORITHMS,
    Credentials,
    NonceManager,
    NonceStatus,
    base_algorithm,
    build_challenges,
    parse_credentials,
    parse_nc,
    verify,
)
from softswitch.sip.errors import RemoteProtocolError

# (username, realm, base algorithm "MD5" | "SHA-256") -> stored HA1 hex, or None if unknown.
LookupHa1 = Callable[[str, str, str], str | None]

_HA1_HEX_LENGTH = {"MD5": 32, "SHA-256": 64}

# What an accepted nonce status turns into when the response itself was right.
_NONCE_FAILURES = {
    NonceStatus.STALE: "stale-nonce",
    NonceStatus.REPLAY: "replay",
    NonceStatus.INVALID: "bad-nonce",
}


@dataclass(frozen=True)
class AuthOutcome:
    """Result of one authentication attempt.

    ``reason`` is for logs and metrics only; never put it on the wire.
    """

    ok: bool
    username: str | None
    challenges: list[str]
    status_hint: int
    reason: str
    claimed_user: str | None = None  # the username the refused credentials gave


class DigestAuthenticator:
    """Checks Authorization (or Proxy-Authorization) values against one realm."""

    def __init__(
        self,
        realm: str,
        nonces: NonceManager,
        lookup_ha1: LookupHa1,
        *,
        challenge_status: int = 401,
        algorithms: Sequence[str] = ALGORITHMS,
        strict_uri: bool = False,
    ):
        unknown = [a for a in algorithms if base_algorithm(a) != a]
        if not algorithms or unknown:
            raise ValueError(f"digest algorithms must be among {ALGORITHMS}: {unknown}")
        self.algorithms = tuple(algorithms)
        # Off by default, as in Kamailio and Asterisk: some clients (SIPp among them)
        # put the next hop, not the Request-URI, in the digest uri; the response still
        # covers that uri, and nonce expiry and counts stop replays.
        self._strict_uri = strict_uri
        self.realm = realm
        self._nonces = nonces
        self._lookup_ha1 = lookup_ha1
        self._challenge_status = challenge_status  # 407 for a proxy
        self._dummy_key = os.urandom(32)

    def authenticate(
        self, method: str, request_uri: str, header_values: Sequence[str], now: float
    ) -> AuthOutcome:
        if not header_values:
            return self._challenge("no-credentials", now)
        credentials, failure = self._select(header_values)
        if credentials is None:
            if failure == "malformed":
                return self._malformed()
            return self._challenge(failure, now)

        c = credentials
        if None in (c.username, c.nonce, c.uri, c.response):
            return self._malformed()
        base = base_algorithm(c.algorithm)
        # Only an offered algorithm: a switch set to SHA-256 must not take MD5 answers.
        if base is None or base not in self.algorithms:
            return self._challenge("unsupported-algorithm", now)
        nc = None
        if c.qop is not None:
            if c.qop.lower() != "auth":
                return self._challenge("unsupported-qop", now)
            nc = parse_nc(c.nc) if c.nc is not None else None
            if nc is None or c.cnonce is None:
                return self._malformed()
        elif c.algorithm.lower().endswith("-sess"):
            return self._malformed()  # a session key needs the cnonce that qop brings
        if self._strict_uri and c.uri.strip() != request_uri.strip():
            return self._challenge("uri-mismatch", now)

        # From here on, known and unknown users take the same path and do the same work.
        # Hashed user names (userhash=true) are never offered, so they match no one.
        stored = None if c.userhash else self._lookup_ha1(c.username, self.realm, base)
        dummy = self._dummy_ha1(c.username, base)
        response_ok = verify(c, method, stored if stored is not None else dummy)
        if stored is None:
            return self._challenge("unknown-user", now, user=c.username)
        if not response_ok:
            return self._challenge("bad-password", now, user=c.username)

        status = self._nonces.check(c.nonce, nc, now)
        if status is NonceStatus.VALID:
            return AuthOutcome(True, c.username, [], 200, "ok")
        # The client knows the password; stale=true lets it retry without asking the
        # user (RFC 7616 §3.3 sets stale for any bad nonce with a valid response).
        return self._challenge(_NONCE_FAILURES[status], now, stale=True)

    def _select(self, header_values: Sequence[str]) -> tuple[Credentials | None, str]:
        """Our realm's Digest credentials, or why there are none."""
        malformed = saw_digest = False
        for value in header_values:
            try:
                credentials = parse_credentials(value)
            except RemoteProtocolError:
                malformed = True
                continue
            if not credentials.is_digest:
                continue
            if credentials.realm is None:
                malformed = True
                continue
            saw_digest = True
            if credentials.realm == self.realm:
                return credentials, ""
        if malformed:
            return None, "malformed"
        return None, "realm-mismatch" if saw_digest else "unsupported-scheme"

    def _dummy_ha1(self, username: str, base: str) -> str:
        # Stable per user within this process, so repeated probes of one name behave alike.
        text = f"{base}:{username}".encode("utf-8", "surrogatepass")
        return hmac.digest(self._dummy_key, text, "sha256").hex()[: _HA1_HEX_LENGTH[base]]

    def _challenge(self, reason: str, now: float, stale: bool = False,
                   user: str | None = None) -> AuthOutcome:
        challenges = build_challenges(self.realm, self._nonces.issue(now), stale=stale,
                                      algorithms=self.algorithms)
        return AuthOutcome(False, None, challenges, self._challenge_status, reason, user)

    @staticmethod
    def _malformed() -> AuthOutcome:
        return AuthOutcome(False, None, [], 400, "malformed")
