"""Bearer-token checks with a short-lived cache of tokens already verified.

A request whose token was verified less than ``ttl`` seconds ago is let in
without a trip to the database thread. Revocation through this node's API
drops the token from the cache at once; a revocation made on another node
(several switches on one PostgreSQL) takes effect here within ``ttl``.
"""

from twisted.internet import defer
from twisted.python.failure import Failure

from softswitch.admin.errors import ApiError
from softswitch.store import tokens

DEFAULT_TTL = 5.0
MAX_ENTRIES = 10_000
REALM = "softswitch"


class TokenCache:
    def __init__(self, database, clock, ttl: float = DEFAULT_TTL):
        if not 0 <= ttl <= DEFAULT_TTL:
            raise ValueError(f"token cache ttl must be within 0..{DEFAULT_TTL} s, not {ttl}")
        self._database = database
        self._clock = clock
        self._ttl = ttl
        self._valid: dict[str, tuple[int, float]] = {}  # token hash -> (token id, expiry)
        self._pending: dict[str, list[defer.Deferred]] = {}
        # Revocation is final: a verification that raced a revocation here
        # must not put the token back in the cache.
        self._revoked: set[int] = set()

    def check(self, token: str) -> defer.Deferred:
        """Fires with the token's id if it is valid, with None if not."""
        if not token:
            return defer.succeed(None)
        key = tokens.hash_token(token)
        cached = self._valid.get(key)
        now = self._clock.seconds()
        if cached is not None and cached[1] > now:
            return defer.succeed(cached[0])
        waiter = defer.Deferred()
        if key in self._pending:  # one database trip for a burst of the same token
            self._pending[key].append(waiter)
            return waiter
        self._pending[key] = [waiter]
        d = self._database.run("tokens.verify", tokens.verify_token, token)
        d.addBoth(self._verified, key)
        return waiter

    def forget(self, token_id: int) -> None:
        """Drop a revoked token from the cache; it is refused from now on."""
        self._revoked.add(token_id)
        for key in [k for k, (i, _) in self._valid.items() if i == token_id]:
            del self._valid[key]

    def _verified(self, result, key: str) -> None:
        waiters = self._pending.pop(key, [])
        if isinstance(result, Failure):
            for waiter in waiters:
                waiter.errback(result)
            return None
        token_id = None
        if result is not None and result["id"] not in self._revoked:
            if len(self._valid) >= MAX_ENTRIES:
                self._expire()
            token_id = result["id"]
            self._valid[key] = (token_id, self._clock.seconds() + self._ttl)
        for waiter in waiters:
            waiter.callback(token_id)
        return None

    def _expire(self) -> None:
        now = self._clock.seconds()
        for key in [k for k, (_, expiry) in self._valid.items() if expiry <= now]:
            del self._valid[key]
        if len(self._valid) >= MAX_ENTRIES:
            self._valid.clear()


def bearer_token(authorization: bytes | None) -> str | None:
    """The token of an ``Authorization: Bearer TOKEN`` header, or None."""
    if not authorization:
        return None
    scheme, _, token = authorization.decode("latin-1").strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def unauthorized(message: str, invalid: bool) -> ApiError:
    challenge = f'Bearer realm="{REALM}"'
    if invalid:
        challenge += ', error="invalid_token"'
    return ApiError(401, message, headers={"WWW-Authenticate": challenge})
