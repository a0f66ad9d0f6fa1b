"""RFC 3550 receiver statistics from (seq, timestamp, arrival): loss, duplicates,
reordering, wrap-around, SSRC changes, sequence jumps and interarrival jitter."""

import random

from hypothesis import given, strategies as st

import pytest

from softswitch.media.stats import MAX_DROPOUT, ReceiverStats, StreamStats

SSRC = 0x5EED1234
PCMU = 0
SIZE = 172


def feed(stats, seqs, start_ts=1000, arrival=None, ssrc=SSRC, pt=PCMU, t0=0.0):
    """Feed packets with 20 ms / 160-sample spacing derived from each sequence number."""
    base = seqs[0]
    for i, seq in enumerate(seqs):
        offset = (seq - base) & 0xFFFF
        ts = (start_ts + 160 * offset) & 0xFFFFFFFF
        at = arrival[i] if arrival is not None else t0 + 0.02 * offset
        stats.update(seq, ts, ssrc, pt, at, SIZE)


def test_in_order_stream():
    stats = ReceiverStats()
    feed(stats, list(range(100, 200)))
    snap = stats.snapshot()
    assert (snap.packets, snap.bytes, snap.expected, snap.lost) == (100, 100 * SIZE, 100, 0)
    assert (snap.duplicates, snap.reordered) == (0, 0)
    assert snap.jitter == pytest.approx(0.0, abs=1e-9)
    assert snap.ssrc == SSRC and snap.loss_ratio == 0.0
    assert stats.extended_highest_sequence == 199


def test_losses_are_counted_from_the_sequence_gap():
    stats = ReceiverStats()
    seqs = [s for s in range(0, 1000) if s % 10 != 3]
    feed(stats, seqs)
    snap = stats.snapshot()
    assert snap.expected == 1000 and snap.lost == 100 and snap.packets == 900
    assert snap.loss_ratio == pytest.approx(0.1)


def test_wrap_around_extends_the_highest_sequence():
    stats = ReceiverStats()
    seqs = [(65500 + i) & 0xFFFF for i in range(100)]
    feed(stats, seqs)
    assert stats.extended_highest_sequence == 65536 + 63
    assert stats.expected == 100 and stats.lost == 0


def test_duplicates_are_not_counted_as_received_twice():
    stats = ReceiverStats()
    feed(stats, [1, 2, 3, 3, 4, 2, 5])
    snap = stats.snapshot()
    assert snap.duplicates == 2 and snap.expected == 5 and snap.lost == 0
    assert snap.packets == 7


def test_reordered_packets_fill_their_gap():
    stats = ReceiverStats()
    feed(stats, [1, 2, 4, 5, 3, 6])
    snap = stats.snapshot()
    assert snap.reordered == 1 and snap.lost == 0 and snap.duplicates == 0
    # A late packet seen twice is a duplicate the second time.
    stats.update(3, 0, SSRC, PCMU, 1.0, SIZE)
    assert stats.duplicates == 1


def test_late_duplicate_across_wrap():
    stats = ReceiverStats()
    feed(stats, [65534, 65535, 1, 0, 0])
    assert stats.reordered == 1 and stats.duplicates == 1 and stats.lost == 0


def test_a_sequence_jump_is_confirmed_by_a_second_packet():
    stats = ReceiverStats()
    feed(stats, list(range(0, 10)))
    jump = 10 + MAX_DROPOUT + 500
    stats.update(jump, 0, SSRC, PCMU, 1.0, SIZE)  # one stray: ignored
    assert stats.expected == 10
    stats.update(10, 1600, SSRC, PCMU, 1.0, SIZE)
    stats.update(jump, 0, SSRC, PCMU, 1.02, SIZE)
    stats.update(jump + 1, 160, SSRC, PCMU, 1.04, SIZE)  # two in a row: the sender restarted
    assert stats.expected == 11 + 1 and stats.lost == 0
    feed(stats, list(range(jump + 2, jump + 12)), t0=1.06)
    assert stats.expected == 11 + 11 and stats.lost == 0


def test_new_ssrc_starts_a_new_sequence_space_and_keeps_totals():
    stats = ReceiverStats()
    feed(stats, [s for s in range(0, 50) if s != 10])  # 1 lost
    feed(stats, list(range(30000, 30050)), ssrc=0xCAFE, t0=2.0)
    snap = stats.snapshot()
    assert snap.ssrc == 0xCAFE and snap.ssrc_changes == 1
    assert snap.expected == 100 and snap.lost == 1 and snap.packets == 99


def test_jitter_follows_rfc_3550_a8():
    stats = ReceiverStats(clock_rate=8000)
    # Arrivals alternate 10 ms early/late around the 20 ms cadence: |D| = 80 units.
    arrivals = [0.02 * i + (0.01 if i % 2 else 0.0) for i in range(400)]
    feed(stats, list(range(400)), arrival=arrivals)
    expected = 0.0
    for i in range(1, 400):
        expected += (80.0 - expected) / 16.0
    assert stats.jitter == pytest.approx(expected)
    assert stats.snapshot().jitter_ms == pytest.approx(expected / 8)


def test_jitter_ignores_timestamp_wrap_and_excluded_payload_types():
    stats = ReceiverStats(jitter_excluded=frozenset({101}))
    start = 0xFFFFFFFF - 160 * 20
    feed(stats, list(range(50)), start_ts=start)
    assert stats.jitter == pytest.approx(0.0, abs=1e-6)
    # Telephone-event packets keep their event's timestamp: they add no jitter, and the
    # audio after them is compared with the audio before them.
    for seq in (50, 51, 52):
        stats.update(seq, 12345, SSRC, 101, 0.02 * seq, 16)
    stats.update(53, (start + 160 * 53) & 0xFFFFFFFF, SSRC, PCMU, 0.02 * 53, SIZE)
    assert stats.jitter == pytest.approx(0.0, abs=1e-6)
    assert stats.expected == 54 and stats.lost == 0


def test_a_payload_type_switch_resets_the_jitter_baseline():
    stats = ReceiverStats()
    feed(stats, list(range(10)))
    stats.update(10, 777777, SSRC, 8, 0.2, SIZE)  # a codec switch with a new timeline
    stats.update(11, 777777 + 160, SSRC, 8, 0.22, SIZE)
    assert stats.jitter == pytest.approx(0.0, abs=1e-6)


def test_jitter_of_a_random_network_is_bounded_by_its_spread():
    rng = random.Random(7)
    stats = ReceiverStats()
    arrivals = [0.02 * i + rng.uniform(0, 0.004) for i in range(2000)]
    feed(stats, list(range(2000)), arrival=arrivals)
    assert 0.5 < stats.snapshot().jitter_ms < 4.0


def test_remote_reports_are_kept():
    stats = ReceiverStats()
    assert stats.snapshot().reported_fraction_lost is None
    stats.record_report(fraction_lost=64, cumulative_lost=12, jitter=80)
    stats.record_sender_counts(packet_count=500, octet_count=80000)
    snap = stats.snapshot()
    assert snap.reported_fraction_lost == 0.25 and snap.reported_cumulative_lost == 12
    assert snap.reported_jitter_ms == 10.0
    assert (snap.sender_packet_count, snap.sender_octet_count) == (500, 80000)


def test_empty_stats():
    snap = ReceiverStats().snapshot()
    assert snap == StreamStats()
    with pytest.raises(ValueError):
        ReceiverStats(clock_rate=0)


def test_configure_sets_clock_rate_and_exclusions():
    stats = ReceiverStats()
    stats.configure(16000, frozenset({101}))
    arrivals = [0.02 * i + (0.01 if i % 2 else 0.0) for i in range(200)]
    for i, at in enumerate(arrivals):
        stats.update(i, 320 * i, SSRC, 9, at, SIZE)
    stats.update(200, 5, SSRC, 101, 4.0, 16)
    snap = stats.snapshot()
    assert snap.clock_rate == 16000
    assert snap.jitter == pytest.approx(160.0, rel=0.01)  # 10 ms at 16 kHz
    assert snap.jitter_ms == pytest.approx(10.0, rel=0.01)
    with pytest.raises(ValueError):
        stats.configure(0, frozenset())


def test_late_packets_within_max_misorder_are_told_apart_from_duplicates():
    stats = ReceiverStats()
    feed(stats, [s for s in range(200) if s != 150])
    assert stats.lost == 1
    stats.update(150, 0, SSRC, PCMU, 5.0, SIZE)  # 49 back: late, fills the gap
    stats.update(150, 0, SSRC, PCMU, 5.0, SIZE)  # and again: a duplicate
    stats.update(100, 0, SSRC, PCMU, 5.0, SIZE)  # 99 back and seen: a duplicate
    assert (stats.reordered, stats.duplicates, stats.lost) == (1, 2, 0)
    # More than MAX_MISORDER (100) back is a jump candidate (A.1): not counted.
    stats.update(60, 0, SSRC, PCMU, 5.0, SIZE)
    assert (stats.reordered, stats.duplicates, stats.expected) == (1, 2, 200)


def test_last_arrival_is_every_packets_arrival():
    stats = ReceiverStats(jitter_excluded=frozenset({101}))
    assert stats.last_arrival is None
    stats.update(1, 0, SSRC, PCMU, 1.5, SIZE)
    stats.update(1, 0, SSRC, PCMU, 2.5, SIZE)  # a duplicate is still activity
    stats.update(2, 0, SSRC, 101, 3.5, SIZE)
    assert stats.last_arrival == 3.5


def test_a_big_gap_remembers_only_what_can_still_arrive_late():
    stats = ReceiverStats()
    feed(stats, [0, 1, 2000, 1999, 1950, 1899, 1899])
    # 1999 and 1950 fill the gap; 1899 is more than MAX_MISORDER back: a jump candidate.
    assert (stats.reordered, stats.duplicates) == (2, 0)
    assert stats.expected == 2001 and stats.lost == 2001 - 5
    assert len(stats._missing) <= 2 * 100


@given(st.integers(1, 400), st.randoms(use_true_random=False))
def test_counts_match_a_brute_force_reference(count, rng):
    seqs = [s for s in range(count) if s == 0 or rng.random() > 0.1]  # 10 % lost
    seqs += [rng.choice(seqs) for _ in range(rng.randrange(0, 5))]  # duplicates
    order = sorted(range(len(seqs)), key=lambda i: seqs[i] + rng.uniform(0, 30))
    arrivals = [seqs[i] for i in order]
    stats = ReceiverStats()
    for n, seq in enumerate(arrivals):
        stats.update((seq + 65000) & 0xFFFF, 0, SSRC, PCMU, n * 0.02, SIZE)
    seen, highest, reordered, duplicates = set(), -1, 0, 0
    for seq in arrivals:
        if seq in seen:
            duplicates += 1
        elif seq < highest:
            reordered += 1
        seen.add(seq)
        highest = max(highest, seq)
    assert stats.duplicates == duplicates
    assert stats.reordered == reordered
    assert stats.expected == highest - min(seen) + 1
    assert stats.lost == highest - min(seen) + 1 - len(seen)


def test_a_packet_from_before_the_first_one_extends_the_stream_backwards():
    stats = ReceiverStats()
    feed(stats, [10, 11, 12])
    stats.update(8, 0, SSRC, PCMU, 1.0, SIZE)
    assert (stats.reordered, stats.duplicates, stats.expected, stats.lost) == (1, 0, 5, 1)
    stats.update(9, 0, SSRC, PCMU, 1.0, SIZE)
    stats.update(8, 0, SSRC, PCMU, 1.0, SIZE)
    assert (stats.reordered, stats.duplicates, stats.expected, stats.lost) == (2, 1, 5, 0)
    wrapped = ReceiverStats()
    feed(wrapped, [1, 2])
    wrapped.update(65534, 0, SSRC, PCMU, 1.0, SIZE)
    assert (wrapped.expected, wrapped.lost, wrapped.reordered) == (5, 2, 1)
