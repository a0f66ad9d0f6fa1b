"""Per-trunk call limits: `max_concurrent` (calls up at once) and `max_cps` (new calls
per second, a token bucket).

Both limits apply to each direction separately: a trunk with max_concurrent=100 may
carry 100 inbound and 100 outbound calls at once, and max_cps=10 admits 10 new inbound
and 10 new outbound calls per second. The bucket holds max(1, max_cps) tokens, starts
full and refills continuously on the clock, so a trunk with max_cps=300 takes a burst
of 300 calls at once and then 300 a second. A limit of None is no limit.

A refused call is the caller's to answer (503 with Retry-After); it is counted in
`softswitch_trunk_limit_refusals_total{trunk,reason}`, never dropped silently.
Counts are kept by trunk name, so a snapshot reload keeps the calls in progress and
new limits apply from the next call.
"""

import math
from dataclasses import dataclass

from twisted.internet.interfaces import IReactorTime

from .routing import Trunk

DIRECTIONS = ("inbound", "outbound")
# Retry-After for a call refused because the trunk is full: when a call ends is unknown.
DEFAULT_CONCURRENT_RETRY_AFTER = 5
# Refill arithmetic in floats: 1/300 s at 300 tokens/s must make a whole token.
_EPSILON = 1e-9


class Admission:
    """The answer to `TrunkLimiter.acquire`: admitted (hold it, `release()` when the
    call ends; releasing twice is harmless) or refused with `reason` and
    `retry_after` seconds."""

    __slots__ = ("admitted", "trunk", "direction", "reason", "retry_after", "_limiter")

    def __init__(self, trunk: str, direction: str, limiter: "TrunkLimiter | None" = None,
                 reason: str | None = None, retry_after: int = 0):
        self.admitted = limiter is not None
        self.trunk = trunk
        self.direction = direction
        self.reason = reason  # "concurrent" | "cps" when refused
        self.retry_after = retry_after
        self._limiter = limiter

    def release(self) -> None:
        limiter, self._limiter = self._limiter, None
        if limiter is not None:
            limiter._release(self.trunk, self.direction)

    def __repr__(self) -> str:
        if self.admitted:
            return f"<Admission {self.trunk} {self.direction}>"
        return f"<Refusal {self.trunk} {self.direction} {self.reason} {self.retry_after}s>"


@dataclass(slots=True)
class _Bucket:
    tokens: float
    stamp: float


class TrunkLimiter:
    def __init__(self, clock: IReactorTime, *, metrics=None,
                 concurrent_retry_after: int = DEFAULT_CONCURRENT_RETRY_AFTER):
        self._clock = clock
        self._metrics = metrics
        self._concurrent_retry_after = concurrent_retry_after
        self._active: dict[tuple[str, str], int] = {}
        self._buckets: dict[tuple[str, str], _Bucket] = {}

    def acquire(self, trunk: Trunk, direction: str) -> Admission:
        """Admit one new call on `trunk` in `direction` ("inbound" | "outbound")."""
        if direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {DIRECTIONS}, not {direction!r}")
        key = (trunk.name, direction)
        active = self._active.get(key, 0)
        if trunk.max_concurrent is not None and active >= trunk.max_concurrent:
            return self._refuse(trunk.name, direction, "concurrent",
                                self._concurrent_retry_after)
        if trunk.max_cps is not None:
            wait = self._take_token(key, trunk.max_cps)
            if wait is not None:
                return self._refuse(trunk.name, direction, "cps", wait)
        self._active[key] = active + 1
        self._export(key)
        return Admission(trunk.name, direction, self)

    def active(self, trunk_name: str, direction: str) -> int:
        """Calls admitted on the trunk in that direction and not released yet."""
        return self._active.get((trunk_name, direction), 0)

    def status(self) -> list[dict]:
        """Active calls per trunk and direction, for the API."""
        return [{"trunk": name, "direction": direction, "active": count}
                for (name, direction), count in sorted(self._active.items())]

    # -- internals ----------------------------------------------------------------------
    def _take_token(self, key: tuple[str, str], rate: float) -> int | None:
        """Take a token; None if one was there, else the whole seconds until one is."""
        now = self._clock.seconds()
        capacity = max(1.0, rate)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(capacity, now)
        elapsed = max(0.0, now - bucket.stamp)
        bucket.tokens = min(capacity, bucket.tokens + elapsed * rate)
        bucket.stamp = now
        if bucket.tokens >= 1.0 - _EPSILON:
            bucket.tokens = max(0.0, bucket.tokens - 1.0)
            return None
        if rate <= 0:
            return self._concurrent_retry_after
        return max(1, math.ceil((1.0 - bucket.tokens) / rate))

    def _refuse(self, trunk: str, direction: str, reason: str, retry_after: int) -> Admission:
        if self._metrics is not None:
            self._metrics.trunk_limit_refusals.labels(trunk, reason).inc()
        return Admission(trunk, direction, reason=reason, retry_after=retry_after)

    def _release(self, trunk: str, direction: str) -> None:
        key = (trunk, direction)
        count = self._active.get(key, 0) - 1
        if count > 0:
            self._active[key] = count
        else:
            self._active.pop(key, None)
        self._export(key)

    def _export(self, key: tuple[str, str]) -> None:
        if self._metrics is not None:
            self._metrics.trunk_active_calls.labels(*key).set(self._active.get(key, 0))
