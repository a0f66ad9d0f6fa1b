"""The location service (Kamailio's usrloc): bindings per address-of-record, kept in
memory, expired on the injected clock and written through to a BindingStore so a
restart restores them. Registrar policy lives in registrar.py, not here."""

import heapq
from dataclasses import dataclass
from typing import Protocol

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

log = Logger()


@dataclass(frozen=True, slots=True)
class Binding:
    aor: str
    contact: str  # the contact URI as registered (escapes and URI params kept)
    expires_at: float
    q: float | None = None
    call_id: str = ""
    cseq: int = 0
    received: str | None = None  # "udp:203.0.113.5:5060": where the REGISTER came from
    path: tuple[str, ...] = ()
    user_agent: str | None = None
    instance_id: str | None = None
    reg_id: int | None = None

    @property
    def key(self) -> tuple[str, str]:
        return self.aor, self.contact

    def remaining(self, now: float) -> int:
        return max(0, int(self.expires_at - now + 0.5))


class BindingStore(Protocol):
    """Where bindings are written through; implementations batch as they like."""

    def save(self, bindings: list[Binding]) -> None: ...

    def remove(self, keys: list[tuple[str, str]]) -> None: ...


class LocationService:
    def __init__(self, clock: IReactorTime, store: BindingStore | None = None,
                 on_change=None):
        self._clock = clock
        self._store = store
        self._bindings: dict[str, dict[str, Binding]] = {}
        self._expiry_heap: list[tuple[float, str, str]] = []
        self._sweep_call = None
        self._count = 0
        self._on_change = on_change

    def __len__(self) -> int:
        return self._count

    def lookup(self, aor: str) -> list[Binding]:
        """Live bindings of an AOR, best q first (absent q counts as 1.0)."""
        now = self._clock.seconds()
        bindings = [b for b in self._bindings.get(aor, {}).values() if b.expires_at > now]
        bindings.sort(key=lambda b: -(1.0 if b.q is None else b.q))
        return bindings

    def all_bindings(self) -> list[Binding]:
        now = self._clock.seconds()
        return [b for per_aor in self._bindings.values() for b in per_aor.values()
                if b.expires_at > now]

    def get(self, aor: str, contact: str) -> Binding | None:
        return self._bindings.get(aor, {}).get(contact)

    def apply(self, upserts: list[Binding], removals: list[tuple[str, str]]) -> None:
        """Add/refresh and remove bindings as one REGISTER asked; writes through once."""
        removed = []
        for aor, contact in removals:
            if self._forget(aor, contact):
                removed.append((aor, contact))
        for binding in upserts:
            per_aor = self._bindings.setdefault(binding.aor, {})
            if binding.contact not in per_aor:
                self._count += 1
            per_aor[binding.contact] = binding
            heapq.heappush(self._expiry_heap, (binding.expires_at, binding.aor, binding.contact))
        if len(self._expiry_heap) > 2 * self._count + 1024:
            self._compact_heap()
        self._schedule_sweep()
        if self._store is not None:
            if upserts:
                self._store.save(upserts)
            if removed:
                self._store.remove(removed)
        if self._on_change is not None:
            self._on_change(self._count)

    def restore(self, bindings: list[Binding]) -> None:
        """Load bindings read back from the store at start-up (no write-back)."""
        now = self._clock.seconds()
        for binding in bindings:
            if binding.expires_at <= now:
                continue
            per_aor = self._bindings.setdefault(binding.aor, {})
            if binding.contact not in per_aor:
                self._count += 1
            per_aor[binding.contact] = binding
            heapq.heappush(self._expiry_heap, (binding.expires_at, binding.aor, binding.contact))
        self._schedule_sweep()
        if self._on_change is not None:
            self._on_change(self._count)

    def _compact_heap(self) -> None:
        # Refreshes leave stale heap entries behind; rebuild from live bindings so
        # memory follows the number of bindings, not the number of REGISTERs.
        self._expiry_heap = [(b.expires_at, b.aor, b.contact)
                             for per_aor in self._bindings.values() for b in per_aor.values()]
        heapq.heapify(self._expiry_heap)

    def _forget(self, aor: str, contact: str) -> bool:
        per_aor = self._bindings.get(aor)
        if not per_aor or contact not in per_aor:
            return False
        del per_aor[contact]
        if not per_aor:
            del self._bindings[aor]
        self._count -= 1
        return True

    def _schedule_sweep(self) -> None:
        if not self._expiry_heap:
            return
        due = self._expiry_heap[0][0]
        if self._sweep_call is not None and self._sweep_call.active():
            if self._sweep_call.getTime() <= due:
                return
            self._sweep_call.cancel()
        delay = max(0.0, due - self._clock.seconds())
        self._sweep_call = self._clock.callLater(delay, self._sweep)

    def _sweep(self) -> None:
        self._sweep_call = None
        now = self._clock.seconds()
        expired = []
        heap = self._expiry_heap
        while heap and heap[0][0] <= now:
            _, aor, contact = heapq.heappop(heap)
            binding = self._bindings.get(aor, {}).get(contact)
            # Heap entries of refreshed bindings are stale: only a binding whose own
            # expiry has passed goes.
            if binding is not None and binding.expires_at <= now:
                self._forget(aor, contact)
                expired.append((aor, contact))
        if expired:
            log.debug("expired {count} bindings", count=len(expired))
            if self._store is not None:
                self._store.remove(expired)
            if self._on_change is not None:
                self._on_change(self._count)
        self._schedule_sweep()

    def stop(self) -> None:
        if self._sweep_call is not None and self._sweep_call.active():
            self._sweep_call.cancel()
        self._sweep_call = None

