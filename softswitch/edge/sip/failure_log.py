"""Per-message failures, logged once per (source, kind) per interval.

A peer that sends the same broken message 60,000 times must cost 60,000 counter
increments and one log line a minute, not 60,000 tracebacks. The table is bounded and
runs on the injected clock: when it is full, entries whose interval is over are swept,
and if none is, the new key is only counted (never an unbounded dict keyed by peers).
"""

from twisted.logger import Logger

log = Logger()

LOG_INTERVAL = 60.0  # seconds between two lines for one (source, kind)
MAX_KEYS = 1024


def failure_kind(exc: BaseException) -> str:
    """A short, bounded name for where a failure comes from: the exception type and
    the innermost frame of our code (so two bugs never share one rate limit). Walks
    the traceback's frames only: no source lines are read, it runs per failure."""
    where = ""
    tb = exc.__traceback__
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if "softswitch" in filename:
            where = f"{filename.rsplit('/', 1)[-1]}:{tb.tb_lineno}"
        tb = tb.tb_next
    return f"{type(exc).__name__}@{where}" if where else type(exc).__name__


class FailureLog:
    """Rate-limited log lines for failures caused by (or met while handling) one
    peer's message; `now` comes from the caller's clock."""

    def __init__(self, interval: float = LOG_INTERVAL, max_keys: int = MAX_KEYS):
        self._interval = interval
        self._max_keys = max_keys
        # (source host, kind) -> [time of the last line, failures since that line]
        self._seen: dict[tuple[str, str], list] = {}
        self.suppressed = 0  # lines not written because of the limits, for tests

    def __len__(self) -> int:
        return len(self._seen)

    def failed(self, now: float, source: str, kind: str, what: str, detail: str) -> bool:
        """Count one failure; log it unless (source, kind) was logged within the
        interval. True when a line was written."""
        key = (source, kind)
        entry = self._seen.get(key)
        if entry is not None and now - entry[0] < self._interval:
            entry[1] += 1
            self.suppressed += 1
            return False
        if entry is None and len(self._seen) >= self._max_keys:
            self._sweep(now)
            if len(self._seen) >= self._max_keys:
                self.suppressed += 1
                return False
        repeats = entry[1] if entry is not None else 0
        self._seen[key] = [now, 0]
        log.warn("{what} from {source} failed ({kind}): {detail}{repeats}", what=what,
                 source=source, kind=kind, detail=detail[:200],
                 repeats=f" ({repeats} more since the last line)" if repeats else "")
        return True

    def _sweep(self, now: float) -> None:
        interval = self._interval
        for key in [k for k, (last, _) in self._seen.items() if now - last >= interval]:
            del self._seen[key]
