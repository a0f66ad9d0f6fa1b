"""Slowing token guessing on the admin listener: after `limit` bad bearer tokens from
one address within `window` seconds, every request from it gets 429 with Retry-After
for `block` seconds (doubled on each block that follows, up to `max_block`).

Pure: the clock is injected and the table of addresses is bounded (the least recently
seen address is forgotten first), so a flood of sources cannot grow it."""

import math
from collections import OrderedDict
from dataclasses import dataclass

MAX_ADDRESSES = 4096


@dataclass
class _Record:
    failures: int
    window_start: float
    blocked_until: float = 0.0
    blocks: int = 0


class BadTokenThrottle:
    def __init__(self, clock, limit: int = 10, window: float = 60.0, block: float = 60.0,
                 max_block: float = 3600.0, max_addresses: int = MAX_ADDRESSES):
        if limit < 1 or window <= 0 or block <= 0 or max_addresses < 1:
            raise ValueError("limit, window, block and max_addresses must be positive")
        self._clock = clock
        self._limit = limit
        self._window = window
        self._block = block
        self._max_block = max(block, max_block)
        self._max_addresses = max_addresses
        self._records: OrderedDict[str, _Record] = OrderedDict()

    def __len__(self) -> int:
        return len(self._records)

    def retry_after(self, host: str) -> int:
        """Whole seconds until `host` may try again; 0 when it may now."""
        record = self._records.get(host)
        if record is None:
            return 0
        left = record.blocked_until - self._clock.seconds()
        return math.ceil(left) if left > 0 else 0

    def failed(self, host: str) -> None:
        """Count one bad token from `host`; block it once it reaches the limit."""
        now = self._clock.seconds()
        record = self._records.get(host)
        if record is None:
            while len(self._records) >= self._max_addresses:
                self._records.popitem(last=False)
            record = self._records[host] = _Record(0, now)
        else:
            self._records.move_to_end(host)
        if now - record.window_start >= self._window:
            record.failures, record.window_start = 0, now
        record.failures += 1
        if record.failures >= self._limit and record.blocked_until <= now:
            record.blocked_until = now + min(self._block * 2 ** record.blocks, self._max_block)
            record.blocks += 1
            record.failures, record.window_start = 0, now


def client_host(request) -> str:
    """The address a twisted.web request came from ("" for a UNIX socket)."""
    return str(getattr(request.getClientAddress(), "host", ""))
