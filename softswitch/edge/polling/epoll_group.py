"""Descriptors served behind one epoll descriptor that the reactor reads (an
`IReadDescriptor`): the base of the RTP relay's UDP group and of the agent sockets'
read group. One reactor wake-up serves every ready member; a subclass reads them in its
`_read(ready)`, which must never raise into the reactor (a raising reader is
disconnected, and every member with it).

`between_reads`, if given, is called after every `READS_BETWEEN` members read: the
agent calls' slot ticker serves the 20 ms slots that have just come due there, instead
of after the whole batch (hundreds of sockets at a few µs each: the largest share of
the caller-audio latency of 300 calls on one core). Like `_read`, it must not raise
(`SlotTicker.run_due` logs what a call's slot raises). The ready list is read in
slices of that many, so that a packet pays almost nothing for it."""

import select
from abc import ABC, abstractmethod
from typing import Callable

MAX_BATCH = 512  # ready descriptors served per reactor wake-up
READS_BETWEEN = 8  # members read between two calls of `between_reads`


class EpollGroup(ABC):
    log_prefix = "EpollGroup"

    def __init__(self, reactor, between_reads: Callable[[], None] | None = None):
        self._reactor = reactor
        self._between_reads = between_reads
        self._poller = select.epoll()
        self._members: dict[int, tuple] = {}  # fd -> what the subclass reads it with
        self._watched = False

    def __len__(self) -> int:
        return len(self._members)

    def fileno(self) -> int:
        return self._poller.fileno()

    def logPrefix(self) -> str:
        return self.log_prefix

    def connectionLost(self, reason) -> None:
        self._watched = False

    def _add(self, fd: int, entry: tuple) -> None:
        self._members[fd] = entry
        self._poller.register(fd, select.EPOLLIN)
        if not self._watched:
            self._reactor.addReader(self)
            self._watched = True

    def _remove(self, fd: int) -> tuple | None:
        entry = self._members.pop(fd, None)
        if entry is not None:
            try:
                self._poller.unregister(fd)
            except OSError:
                pass  # closed already: the kernel dropped it from the epoll set
        if not self._members and self._watched:
            self._reactor.removeReader(self)
            self._watched = False
        return entry

    def doRead(self) -> None:
        ready = self._poller.poll(0, MAX_BATCH)
        between = self._between_reads
        if between is None or len(ready) <= READS_BETWEEN:
            self._read(ready)
            return
        for start in range(0, len(ready), READS_BETWEEN):
            if start:
                between()
            self._read(ready[start:start + READS_BETWEEN])

    @abstractmethod
    def _read(self, ready: list) -> None:
        """Read the members `ready` names ((fd, events) pairs from epoll)."""
