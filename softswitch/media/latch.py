"""Symmetric RTP latching with strict source, for one leg of a relayed stream.

A `Latch` is built with the address the leg's SDP advertised. While LEARNING it
decides where the peer really is:

- a packet from the advertised address latches at once;
- otherwise (the peer is behind a NAT) the first other source becomes the candidate,
  and the latch settles on it once it has sent `learn_packets` packets or has been
  sending for `learn_seconds`, whichever comes first. Packets before that are dropped,
  so a single spoofed packet can never capture the leg. A candidate silent for
  `learn_seconds` gives way to the next source.

Once LATCHED the source is strict: only the latched address is accepted; anything
else is dropped and counted (no RTP bleed from a previous call on a recycled port, no
injection). `reopen(address)` — a re-INVITE or hold moved the leg's SDP address —
starts learning again; the previous peer stays accepted meanwhile and may latch again
as an ordinary candidate (a NAT'd phone keeps its public address).

Pure: addresses are (host, port) tuples, `now` is a parameter.
"""

import functools
import ipaddress
from dataclasses import dataclass

LEARNING = "LEARNING"
LATCHED = "LATCHED"

Address = tuple[str, int]


@dataclass(frozen=True, slots=True)
class LatchPolicy:
    learn_packets: int = 3
    learn_seconds: float = 0.5

    def __post_init__(self):
        if self.learn_packets < 1:
            raise ValueError("learn_packets must be at least 1")
        if self.learn_seconds < 0:
            raise ValueError("learn_seconds must not be negative")


def normalize_address(address: Address | None) -> Address | None:
    """The address with its host in canonical form; None for no usable address (none,
    port 0, or the unspecified address of an RFC 2543 hold). A host name is kept."""
    if address is None or not address[1]:
        return None
    host, port = address
    canonical = _canonical_host(host)
    return None if canonical is None else (canonical, port)


@functools.lru_cache(maxsize=4096)
def _canonical_host(host: str) -> str | None:
    """The canonical spelling of an IP literal (a host name as it is); None for the
    unspecified address. Cached: offers repeat the same addresses."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host
    return None if ip.is_unspecified else str(ip)


class Latch:
    __slots__ = ("policy", "state", "advertised", "peer", "previous", "dropped",
                 "dropped_learning", "_candidate", "_count", "_first", "_last")

    def __init__(self, advertised: Address | None, policy: LatchPolicy = LatchPolicy()):
        self.policy = policy
        self.state = LEARNING
        self.advertised = normalize_address(advertised)
        self.peer: Address | None = None  # the latched address
        self.previous: Address | None = None  # the peer before the last reopen
        self.dropped = 0  # packets from other sources after latching
        self.dropped_learning = 0  # packets dropped while learning
        self._candidate = None
        self._count = 0
        self._first = 0.0
        self._last = 0.0

    def accept(self, source: Address, now: float) -> bool:
        """Whether a packet from `source` is the leg's peer's. Once latched, a packet
        from `peer` is always accepted and changes nothing (the hot path checks
        `source == latch.peer` itself and calls this only otherwise)."""
        if self.state == LATCHED:
            if source == self.peer:
                return True
            self.dropped += 1
            return False
        if source == self.advertised:
            self._latch(source)
            return True
        candidate = self._candidate
        if candidate is not None and source != candidate and \
                now - self._last >= self.policy.learn_seconds:
            candidate = None  # gone quiet: let the next source try
        if candidate is None:
            self._candidate = candidate = source
            self._count = 0
            self._first = now
        if source == candidate:
            self._count += 1
            self._last = now
            if self._count >= self.policy.learn_packets or \
                    now - self._first >= self.policy.learn_seconds:
                self._latch(source)
                return True
        if source == self.previous:
            return True
        self.dropped_learning += 1
        return False

    def confirm(self, source: Address) -> None:
        """Latch to `source` now, on evidence from elsewhere (e.g. RTCP from the host
        whose RTP is already latched)."""
        self._latch(source)

    def _latch(self, source: Address) -> None:
        self.state = LATCHED
        self.peer = source
        self.previous = None
        self._candidate = None

    def reopen(self, advertised: Address | None, keep_previous: bool = True) -> bool:
        """The leg's SDP now advertises `advertised`. Learning starts again unless the
        leg is latched and the address is unchanged; returns whether it did. With
        `keep_previous` False (the leg now belongs to another party, e.g. another fork
        answered) the old peer is forgotten at once."""
        advertised = normalize_address(advertised)
        if advertised == self.advertised and self.state == LATCHED and keep_previous:
            return False
        self.advertised = advertised
        if not keep_previous:
            self.previous = None
        elif self.state == LATCHED:
            self.previous = self.peer
        self.state = LEARNING
        self.peer = None
        self._candidate = None
        return True

    @property
    def destination(self) -> Address | None:
        """Where to send to this leg: the latched peer, else the advertised address."""
        return self.peer or self.advertised
