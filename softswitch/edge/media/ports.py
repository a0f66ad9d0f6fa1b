"""Port pairs of one region: even RTP ports with RTCP on RTP + 1.

The allocator only does the bookkeeping (the relay binds). Ports are handed out least
recently freed first, so a port freed by a call that just ended is reused last: late
packets of the old call meet a closed port (or, once reused, a strict latch) rather
than a new call.
"""

from collections import deque


class PortAllocator:
    def __init__(self, port_min: int, port_max: int):
        first = port_min + (port_min & 1)
        self._free = deque(range(first, port_max, 2))  # port + 1 <= port_max
        self._in_use: set[int] = set()
        self.capacity = len(self._free)

    def take(self) -> int | None:
        """The next free RTP port (its pair is port + 1), or None if none is left."""
        if not self._free:
            return None
        port = self._free.popleft()
        self._in_use.add(port)
        return port

    def release(self, port: int) -> None:
        """Give a pair back (to the end of the queue). Releasing twice is harmless."""
        if port in self._in_use:
            self._in_use.remove(port)
            self._free.append(port)

    @property
    def free(self) -> int:
        return len(self._free)

    @property
    def in_use(self) -> int:
        return len(self._in_use)
