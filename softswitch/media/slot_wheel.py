"""Many calls' 20 ms schedules served by one timer.

Each agent call's bridge wants to run at its own slot deadlines (start + 20 ms * k).
A timer per call per slot is 50 timers a second per call; instead every deadline is
filed on a shared grid of `resolution` seconds (1 ms by default, the granularity the
reactor's epoll timeout has anyway) and `due(now)` hands out, per grid point, every
member due there, so one timer serves them all. Schedules anchored on the grid
(`align`) have their deadlines exactly on it: nobody waits for the grid.

Pure: no clock inside; the edge asks `next_deadline()`, sets its one timer, and calls
`due(now)` when it fires.
"""

import heapq
import math

_EPSILON = 1e-6  # of a grid step: float error of start + k * period


class SlotWheel:
    __slots__ = ("resolution", "_buckets", "_heap", "_where")

    def __init__(self, resolution: float = 0.001):
        if resolution <= 0:
            raise ValueError(f"resolution {resolution} is not positive")
        self.resolution = resolution
        self._buckets: dict[int, list] = {}
        self._heap: list[int] = []  # grid indices with a bucket (some may be emptied)
        self._where: dict = {}  # member -> its grid index

    def __len__(self) -> int:
        return len(self._where)

    def __contains__(self, member) -> bool:
        return member in self._where

    def align(self, now: float) -> float:
        """The first grid point at or after `now`: where a new schedule starts."""
        return math.ceil(now / self.resolution - _EPSILON) * self.resolution

    def schedule(self, member, deadline: float) -> None:
        """Run `member` at `deadline` (rounded up to the grid: never early); replaces
        its earlier deadline, if any."""
        index = math.ceil(deadline / self.resolution - _EPSILON)
        where = self._where
        old = where.get(member)
        if old == index:
            return
        if old is not None:
            self._buckets[old].remove(member)
        where[member] = index
        bucket = self._buckets.get(index)
        if bucket is None:
            self._buckets[index] = [member]
            heapq.heappush(self._heap, index)
        else:
            bucket.append(member)

    def deadline_of(self, member) -> float | None:
        index = self._where.get(member)
        return None if index is None else index * self.resolution

    def cancel(self, member) -> None:
        index = self._where.pop(member, None)
        if index is not None:
            self._buckets[index].remove(member)

    def next_deadline(self) -> float | None:
        heap, buckets = self._heap, self._buckets
        while heap:
            index = heap[0]
            if buckets.get(index):
                return index * self.resolution
            heapq.heappop(heap)
            buckets.pop(index, None)
        return None

    def due(self, now: float) -> list:
        """Every member whose deadline is at or before `now`, earliest first; they are
        unscheduled (each schedules its next deadline itself)."""
        limit = math.floor(now / self.resolution + _EPSILON)
        heap, buckets, where = self._heap, self._buckets, self._where
        members: list = []
        while heap and heap[0] <= limit:
            bucket = buckets.pop(heapq.heappop(heap), None)
            if bucket:
                members += bucket
                for member in bucket:
                    del where[member]
        return members
