"""Latency counts cheap enough to take for every 20 ms frame of every call.

A `LatencyHistogram` files durations (seconds) into fixed buckets, Prometheus-style
(a value lands in the first bucket whose upper bound is at or above it; the last bucket
is unbounded), with their count, sum and maximum. One `observe` is a bisection and
three additions, a fraction of a labelled `prometheus_client` histogram's cost. Each
call keeps its own (its percentiles go to its call record); the metrics endpoint adds
them up when it is scraped.
"""

from bisect import bisect_left

# Upper bounds in seconds: 0.5 ms to 2 s.
LATENCY_BOUNDS = (0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03,
                  0.04, 0.06, 0.08, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0, 2.0)


class LatencyHistogram:
    __slots__ = ("bounds", "counts", "count", "sum", "max")

    def __init__(self, bounds: tuple[float, ...] = LATENCY_BOUNDS):
        if list(bounds) != sorted(set(bounds)) or not bounds:
            raise ValueError("bucket bounds must be increasing")
        self.bounds = tuple(bounds)
        self.counts = [0] * (len(bounds) + 1)
        self.count = 0
        self.sum = 0.0
        self.max = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect_left(self.bounds, seconds)] += 1
        self.count += 1
        self.sum += seconds
        if seconds > self.max:
            self.max = seconds

    def add(self, other: "LatencyHistogram") -> None:
        """Add `other`'s counts (same bounds) to these."""
        if other.bounds != self.bounds:
            raise ValueError("histograms with different buckets")
        counts = self.counts
        for index, n in enumerate(other.counts):
            counts[index] += n
        self.count += other.count
        self.sum += other.sum
        self.max = max(self.max, other.max)

    def quantile(self, q: float) -> float | None:
        """The q-quantile, interpolated within its bucket as Prometheus's
        histogram_quantile does (never above the largest value seen); None if empty."""
        if not 0 <= q <= 1:
            raise ValueError(f"quantile {q} is not within [0, 1]")
        if not self.count:
            return None
        rank = q * self.count
        seen = 0
        lower = 0.0
        for index, n in enumerate(self.counts):
            upper = self.bounds[index] if index < len(self.bounds) else self.max
            if n and seen + n >= rank:
                value = lower + (upper - lower) * ((rank - seen) / n)
                return min(value, self.max)
            seen += n
            lower = upper
        return self.max

    def cumulative(self) -> list[tuple[str, int]]:
        """(upper bound, cumulative count) pairs, "+Inf" last: a Prometheus histogram's
        buckets."""
        pairs = []
        total = 0
        for index, n in enumerate(self.counts):
            total += n
            bound = repr(float(self.bounds[index])) if index < len(self.bounds) else "+Inf"
            pairs.append((bound, total))
        return pairs

    def summary_ms(self) -> dict:
        """Count, p50, p95, p99 and max in milliseconds (for a call record)."""
        def ms(value):
            return None if value is None else round(value * 1000, 2)
        return {"count": self.count, "p50": ms(self.quantile(0.5)),
                "p95": ms(self.quantile(0.95)), "p99": ms(self.quantile(0.99)),
                "max": ms(self.max) if self.count else None}
