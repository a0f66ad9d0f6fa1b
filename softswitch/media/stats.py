"""Receiver statistics of one RTP stream (RFC 3550 Appendix A.1, A.3 and A.8).

`ReceiverStats.update(seq, timestamp, ssrc, payload_type, arrival, size)` takes the
fields `rtp.peek_header` returns plus the arrival time (seconds, from the caller's
clock: nothing here reads a clock) and the datagram size. It keeps:

- packets and bytes received (every datagram, duplicates included), and the arrival
  time of the last one (`last_arrival`, for inactivity);
- expected packets from the extended highest sequence number (A.1, A.3), lost as
  expected minus the distinct packets received, duplicates and reordered (late)
  packets: a gap records the numbers it skipped (the last MAX_MISORDER of them), and a
  late packet is reordered if it fills one, a duplicate otherwise;
- interarrival jitter (A.8) in timestamp units and milliseconds, over the payload
  types not in `jitter_excluded` (telephone-event keeps one timestamp for a whole
  digit; comfort noise is sparse), with the transit baseline reset when the payload
  type changes;
- a new SSRC (a re-INVITE, a transfer, a restarted phone) starts a new sequence space;
  the totals carry on;
- what the far end reported by RTCP: the receiver's report block about this stream
  and the sender's own packet and octet counts.

The common case — the next sequence number, the same payload type — touches nothing
but this object's own slots (the relay calls `update` for every packet).

`snapshot()` returns the frozen `StreamStats` for call records and metrics.
"""

from dataclasses import dataclass, fields

MAX_DROPOUT = 3000
MAX_MISORDER = 100
_PRUNE_AT = 2 * MAX_MISORDER
_SEQ_MOD = 1 << 16


@dataclass(frozen=True, slots=True)
class StreamStats:
    packets: int = 0
    bytes: int = 0
    expected: int = 0
    lost: int = 0
    duplicates: int = 0
    reordered: int = 0
    jitter: float = 0.0  # timestamp units
    jitter_ms: float = 0.0
    ssrc: int | None = None
    ssrc_changes: int = 0
    clock_rate: int = 8000
    # What the far end reported by RTCP (None until it did).
    reported_fraction_lost: float | None = None  # 0..1, since the receiver's last report
    reported_cumulative_lost: int | None = None
    reported_jitter_ms: float | None = None
    sender_packet_count: int | None = None
    sender_octet_count: int | None = None

    @property
    def loss_ratio(self) -> float:
        return self.lost / self.expected if self.expected > 0 and self.lost > 0 else 0.0

    def to_dict(self) -> dict:
        """Plain data, as `dataclasses.asdict` gives it (every field is a number or
        None), without its deep copy of each value: call records take this per stream."""
        return {name: getattr(self, name) for name in _STREAM_FIELDS}


_STREAM_FIELDS = tuple(f.name for f in fields(StreamStats))


class ReceiverStats:
    __slots__ = (
        "clock_rate", "packets", "bytes", "duplicates", "reordered", "ssrc", "ssrc_changes",
        "last_arrival", "_base_seq", "_max_seq", "_cycles", "_bad_seq", "_received",
        "_missing",
        "_prior_expected", "_prior_received",
        "_last_arrival", "_last_timestamp", "_last_pt", "_jitter",
        "_reported", "_sender_counts", "_excluded",
    )

    def __init__(self, clock_rate: int = 8000, jitter_excluded: frozenset[int] = frozenset()):
        if clock_rate <= 0:
            raise ValueError(f"clock rate {clock_rate} is not positive")
        self.clock_rate = clock_rate
        self.packets = 0
        self.bytes = 0
        self.duplicates = 0
        self.reordered = 0
        self.ssrc = None
        self.ssrc_changes = 0
        self.last_arrival: float | None = None
        self._base_seq = 0
        self._max_seq = 0
        self._cycles = 0
        self._bad_seq = -1
        self._received = 0
        self._missing: set[int] = set()
        self._prior_expected = 0
        self._prior_received = 0
        self._last_arrival = 0.0
        self._last_timestamp = 0
        self._last_pt = -1
        self._jitter = 0.0
        self._reported = None
        self._sender_counts = None
        self._excluded = frozenset(jitter_excluded)

    def configure(self, clock_rate: int, jitter_excluded: frozenset[int]) -> None:
        """Set the stream's clock rate and jitter exclusions (from SDP, when it arrives)."""
        if clock_rate <= 0:
            raise ValueError(f"clock rate {clock_rate} is not positive")
        if clock_rate != self.clock_rate:
            self._jitter *= clock_rate / self.clock_rate
            self.clock_rate = clock_rate
        self._excluded = frozenset(jitter_excluded)

    def update(self, seq: int, timestamp: int, ssrc: int, payload_type: int,
               arrival: float, size: int) -> None:
        self.packets += 1
        self.bytes += size
        self.last_arrival = arrival
        delta = (seq - self._max_seq) & 0xFFFF
        if ssrc != self.ssrc:
            if self.ssrc is not None:
                self.ssrc_changes += 1
            self.ssrc = ssrc
            self._restart(seq)
        elif delta == 1:  # the next one
            if seq == 0:
                self._cycles += _SEQ_MOD
            self._max_seq = seq
            self._received += 1
        elif delta == 0:
            self.duplicates += 1
            return
        elif delta < MAX_DROPOUT:  # a gap: remember what it skipped
            self._note_missing(seq, delta)
            if seq < self._max_seq:
                self._cycles += _SEQ_MOD
            self._max_seq = seq
            self._received += 1
        elif delta <= _SEQ_MOD - MAX_MISORDER:
            # A jump: the sender restarted, or garbage. Two in a row confirm it (A.1).
            if seq != self._bad_seq:
                self._bad_seq = (seq + 1) & 0xFFFF
                return
            self._restart(seq)
        elif seq in self._missing:  # late, filling a gap
            self._missing.discard(seq)
            self.reordered += 1
            self._received += 1
        elif not self._precedes_base(seq):  # late, and already received
            self.duplicates += 1
            return
        # Interarrival jitter (A.8), only between packets of one payload type.
        if payload_type == self._last_pt:
            d = (arrival - self._last_arrival) * self.clock_rate - \
                (((timestamp - self._last_timestamp + 0x80000000) & 0xFFFFFFFF) - 0x80000000)
            if d < 0:
                d = -d
            self._jitter += (d - self._jitter) / 16.0
        elif payload_type in self._excluded:
            return
        else:
            self._last_pt = payload_type
        self._last_arrival = arrival
        self._last_timestamp = timestamp

    def _precedes_base(self, seq: int) -> bool:
        """A late packet from before the first one received (the stream began before
        we heard it): the sequence space starts earlier. Only while the stream is young
        enough (MAX_MISORDER) for this to be unambiguous."""
        before = (self._base_seq - seq) & 0xFFFF
        if before == 0 or \
                self._cycles + self._max_seq - self._base_seq + before > MAX_MISORDER:
            return False
        for k in range(1, before):
            self._missing.add((seq + k) & 0xFFFF)
        self._base_seq -= before  # may go below 0: it is an extended number
        self.reordered += 1
        self._received += 1
        return True

    def _note_missing(self, seq: int, delta: int) -> None:
        missing = self._missing
        for back in range(1, min(delta, MAX_MISORDER + 1)):
            missing.add((seq - back) & 0xFFFF)
        if len(missing) > _PRUNE_AT:
            self._missing = {s for s in missing if (seq - s) & 0xFFFF <= MAX_MISORDER}

    def _restart(self, seq: int) -> None:
        """Begin a new sequence space at `seq`, keeping what the previous one counted."""
        if self._received:
            self._prior_expected += self._cycles + self._max_seq - self._base_seq + 1
            self._prior_received += self._received
        self._base_seq = seq
        self._max_seq = seq
        self._cycles = 0
        self._bad_seq = -1
        self._received = 1
        self._missing = set()
        self._last_pt = -1

    @property
    def expected(self) -> int:
        current = self._cycles + self._max_seq - self._base_seq + 1 if self._received else 0
        return self._prior_expected + current

    @property
    def lost(self) -> int:
        return self.expected - self._prior_received - self._received

    @property
    def extended_highest_sequence(self) -> int:
        return self._cycles + self._max_seq

    @property
    def jitter(self) -> float:
        return self._jitter

    def record_report(self, fraction_lost: int, cumulative_lost: int, jitter: int) -> None:
        """The far end's receiver report block about this stream (§6.4.1 fields)."""
        self._reported = (fraction_lost, cumulative_lost, jitter)

    def record_sender_counts(self, packet_count: int, octet_count: int) -> None:
        """The sender's own counts from its sender report."""
        self._sender_counts = (packet_count, octet_count)

    def snapshot(self) -> StreamStats:
        reported = self._reported
        counts = self._sender_counts
        return StreamStats(
            packets=self.packets, bytes=self.bytes, expected=self.expected, lost=self.lost,
            duplicates=self.duplicates, reordered=self.reordered, jitter=self._jitter,
            jitter_ms=self._jitter * 1000.0 / self.clock_rate, ssrc=self.ssrc,
            ssrc_changes=self.ssrc_changes, clock_rate=self.clock_rate,
            reported_fraction_lost=None if reported is None else reported[0] / 256.0,
            reported_cumulative_lost=None if reported is None else reported[1],
            reported_jitter_ms=None if reported is None
            else reported[2] * 1000.0 / self.clock_rate,
            sender_packet_count=None if counts is None else counts[0],
            sender_octet_count=None if counts is None else counts[1],
        )
