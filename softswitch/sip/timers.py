"""SIP transaction timers (RFC 3261 §17, Table 4; RFC 6026 §8.11) as pure deadlines.

Nothing here reads a clock or schedules a callback: `TimerConfig` derives every timer
value from T1, T2 and T4, and `TimerHeap` keeps the deadlines of many transactions in
one heap so the caller can ask for the earliest one and fire whatever is due at `now`.
"""

import heapq
import itertools
from dataclasses import dataclass
from typing import Any, Iterator

# Timer D must be "> 32 s" over unreliable transports whatever T1 is (RFC 3261 §17.1.1.2).
MIN_TIMER_D = 32.0


@dataclass(frozen=True, slots=True)
class TimerConfig:
    """T1, T2, T4 and the timers derived from them, named as in RFC 3261 Table 4.

    Timers D, I, J and K are given for unreliable transports; over reliable ones the
    transaction uses zero instead (it leaves the state at once). A, E and G are the
    initial retransmission intervals: A doubles without a cap, E and G double up to T2.
    `trying` is not an RFC timer letter: it is how long an INVITE server transaction
    waits for the TU before sending 100 Trying itself (RFC 3261 §17.2.1: 200 ms).
    """

    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0
    trying: float = 0.2

    def __post_init__(self):
        if not 0 < self.t1 <= self.t2:
            raise ValueError("timers need 0 < T1 <= T2")
        if self.t4 <= 0 or self.trying < 0:
            raise ValueError("T4 must be positive and the trying delay not negative")

    @property
    def A(self) -> float:
        """INVITE request retransmit interval (initial; doubles, no cap), unreliable only."""
        return self.t1

    @property
    def B(self) -> float:
        """INVITE transaction timeout."""
        return 64 * self.t1

    @property
    def D(self) -> float:
        """Wait time for response retransmits of an INVITE client (0 if reliable)."""
        return max(MIN_TIMER_D, 64 * self.t1)

    @property
    def E(self) -> float:
        """Non-INVITE request retransmit interval (initial; doubles up to T2)."""
        return self.t1

    @property
    def F(self) -> float:
        """Non-INVITE transaction timeout."""
        return 64 * self.t1

    @property
    def G(self) -> float:
        """INVITE response retransmit interval (initial; doubles up to T2)."""
        return self.t1

    @property
    def H(self) -> float:
        """Wait time for ACK receipt."""
        return 64 * self.t1

    @property
    def I(self) -> float:  # noqa: E743 - the RFC's name
        """Wait time for ACK retransmits (0 if reliable)."""
        return self.t4

    @property
    def J(self) -> float:
        """Wait time for non-INVITE request retransmits (0 if reliable)."""
        return 64 * self.t1

    @property
    def K(self) -> float:
        """Wait time for non-INVITE response retransmits (0 if reliable)."""
        return self.t4

    @property
    def L(self) -> float:
        """Wait time for accepted INVITE request retransmits (RFC 6026)."""
        return 64 * self.t1

    @property
    def M(self) -> float:
        """Wait time for retransmission of 2xx to INVITE or additional 2xx from other
        branches of a forked INVITE (RFC 6026)."""
        return 64 * self.t1


class TimerHeap:
    """Deadlines of many owners in one heap, with lazy deletion.

    An owner is any object with a `timers` dict; it maps a timer name to the heap
    entry that is live for it. Re-arming or cancelling only updates that dict: the old
    entry stays in the heap and is skipped when it reaches the top, so every operation
    is O(log n). Stale entries are swept out when they outnumber the live ones, which
    keeps memory bounded when most timers are cancelled before they fire (Timer F of
    every answered request, for instance).
    """

    __slots__ = ("_heap", "_order", "_stale")

    COMPACT_MIN_STALE = 4096

    def __init__(self):
        self._heap: list[tuple[float, int, Any, str]] = []
        # Equal deadlines fire in the order they were armed, and owners never compare.
        self._order = itertools.count()
        self._stale = 0

    def __len__(self) -> int:
        """Entries held, stale ones included (for memory checks)."""
        return len(self._heap)

    def arm(self, owner, name: str, deadline: float) -> None:
        entry = (deadline, next(self._order), owner, name)
        if owner.timers.get(name) is not None:
            self._stale += 1
        owner.timers[name] = entry
        heapq.heappush(self._heap, entry)

    def cancel(self, owner, name: str) -> None:
        if owner.timers.pop(name, None) is not None:
            self._stale += 1
            self._maybe_compact()

    def cancel_all(self, owner) -> None:
        if owner.timers:
            self._stale += len(owner.timers)
            owner.timers.clear()
            self._maybe_compact()

    def next_deadline(self) -> float | None:
        heap = self._heap
        while heap and not _is_live(heap[0]):
            heapq.heappop(heap)
            self._stale -= 1
        return heap[0][0] if heap else None

    def pop_due(self, now: float) -> Iterator[tuple[Any, str]]:
        """Yield (owner, name) for each live deadline <= now, earliest first.

        Timers armed while the caller handles one are seen too if they are already due.
        """
        heap = self._heap
        while heap and heap[0][0] <= now:
            entry = heapq.heappop(heap)
            owner, name = entry[2], entry[3]
            if owner.timers.get(name) is entry:
                del owner.timers[name]
                yield owner, name
            else:
                self._stale -= 1

    def _maybe_compact(self) -> None:
        if self._stale > self.COMPACT_MIN_STALE and 2 * self._stale > len(self._heap):
            self._heap = [entry for entry in self._heap if _is_live(entry)]
            heapq.heapify(self._heap)
            self._stale = 0


def _is_live(entry: tuple[float, int, Any, str]) -> bool:
    return entry[2].timers.get(entry[3]) is entry
