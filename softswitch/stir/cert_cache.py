"""Certificates fetched from x5u URLs, kept by URL until they expire: a bounded table
(least recently used out first), so a stream of calls naming new URLs costs at most
`max_entries` entries. Refusals and unreachable URLs are kept too, for less time, so
one bad x5u is not fetched again for every call."""

from collections import OrderedDict
from dataclasses import dataclass

from .certificates import StiCertificate


@dataclass(frozen=True, slots=True)
class CertificateRefused:
    """The x5u served something that does not verify (bad chain, no TNAuthList...)."""

    reason: str


@dataclass(frozen=True, slots=True)
class CertificateUnavailable:
    """The x5u could not be fetched (timeout, HTTP error, too big, not https)."""

    reason: str


CertificateOutcome = StiCertificate | CertificateRefused | CertificateUnavailable


class CertCache:
    def __init__(self, max_entries: int = 1000, ttl: float = 3600.0,
                 failure_ttl: float = 60.0):
        if max_entries < 1:
            raise ValueError("a certificate cache holds at least one entry")
        self.max_entries = max_entries
        self.ttl = ttl
        self.failure_ttl = failure_ttl
        self._entries: OrderedDict[str, tuple[float, CertificateOutcome]] = OrderedDict()
        self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, url: str, now: float) -> CertificateOutcome | None:
        entry = self._entries.get(url)
        if entry is None or entry[0] <= now:
            if entry is not None:
                del self._entries[url]
            self.misses += 1
            return None
        self._entries.move_to_end(url)
        self.hits += 1
        return entry[1]

    def put(self, url: str, outcome: CertificateOutcome, now: float) -> None:
        if isinstance(outcome, StiCertificate):
            expires = min(now + self.ttl, outcome.not_after)
        else:
            expires = now + self.failure_ttl
        self._entries[url] = (expires, outcome)
        self._entries.move_to_end(url)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
