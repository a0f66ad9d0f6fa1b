"""Playout queue (re-framing, silence, marks on playout truth, clear, played time) and
the drift-free pacer, driven by explicit times."""

import random

import pytest

from softswitch.media.frames import Reframer
from softswitch.media.g711 import SILENCE_ALAW, SILENCE_ULAW
from softswitch.media.playout import Pacer, Playout

S = SILENCE_ULAW


def audio(n, start=0):
    """n bytes of recognisable non-silence (never 0xFF)."""
    return bytes((start + i) % 255 for i in range(n))


def drain(playout, ticks):
    return [playout.next_frame() for _ in range(ticks)]


# --- Reframer ---

@pytest.mark.parametrize("seed", range(5))
def test_reframer_cuts_any_chunking_into_the_same_frames(seed):
    rng = random.Random(seed)
    data = audio(160 * 37 + 55)
    reframer, frames, i = Reframer(160), [], 0
    while i < len(data):
        n = rng.randint(1, 700)
        frames += reframer.frames(data[i:i + n])
        i += n
    assert all(len(f) == 160 for f in frames) and len(frames) == 37
    assert len(reframer) == 55
    assert b"".join(frames) + reframer.pop_partial() == data
    assert len(reframer) == 0 and reframer.pop() is None


def test_reframer_compacts_without_losing_bytes():
    reframer = Reframer(3)
    data = audio(30000)
    out = []
    for i in range(0, len(data), 1000):
        out += reframer.frames(data[i:i + 1000])
    assert b"".join(out) == data
    assert reframer.clear() == 0
    reframer.push(b"ab")
    assert reframer.clear() == 2 and len(reframer) == 0
    with pytest.raises(ValueError):
        Reframer(0)


# --- Playout ---

def test_empty_queue_gives_silence_never_a_gap():
    playout = Playout()
    for frame, marks in drain(playout, 10):
        assert frame == S and marks == []
    assert playout.frames == playout.silence_frames == 10 and playout.played_ms == 0.0


@pytest.mark.parametrize("sizes", [[160] * 5, [1] * 800, [33, 500, 7, 260], [800], [799, 1]])
def test_chunks_of_any_size_come_out_as_whole_frames_in_order(sizes):
    playout = Playout()
    data = audio(sum(sizes))
    i = 0
    for n in sizes:
        playout.enqueue(data[i:i + n])
        i += n
    assert playout.queued_ms() == pytest.approx(len(data) / 8)
    out = [frame for frame, _ in drain(playout, 6)]
    assert all(len(f) == 160 for f in out)
    assert b"".join(out[:5]) == data and out[5] == S
    assert playout.audio_frames == 5 and playout.played_ms == 100.0


def test_a_partial_chunk_is_padded_with_silence():
    playout = Playout()
    playout.enqueue(audio(200))
    first, _ = playout.next_frame()
    second, _ = playout.next_frame()
    assert first == audio(160)
    assert second == audio(200)[160:] + S[40:]
    assert playout.padded_frames == 1 and playout.played_ms == 25.0
    assert playout.next_frame()[0] == S


def test_a_filler_replaces_the_silence_of_an_empty_queue_only():
    playout = Playout()
    tone = iter(bytes([0x10 + i]) * 160 for i in range(100))
    playout.filler = tone.__next__
    playout.enqueue(audio(160 + 40))
    playout.add_mark("said")
    first, second, third, fourth = drain(playout, 4)
    assert first == (audio(160), [])
    assert second == (audio(200)[160:] + S[40:], ["said"])  # the padding stays silence
    assert third[0] == bytes([0x10]) * 160 and fourth[0] == bytes([0x11]) * 160
    playout.enqueue(audio(160, 7))  # the agent talks again: its audio comes first
    assert playout.next_frame()[0] == audio(160, 7)
    assert playout.next_frame()[0] == bytes([0x12]) * 160  # the filler goes on
    playout.filler = None
    assert playout.next_frame()[0] == S
    assert (playout.audio_frames, playout.padded_frames, playout.silence_frames,
            playout.filler_frames) == (2, 1, 1, 3)


def test_a_mark_is_reported_when_the_audio_before_it_is_taken():
    playout = Playout()
    playout.enqueue(audio(400))
    playout.add_mark("greeting")
    playout.enqueue(audio(160))
    playout.add_mark("end")
    results = drain(playout, 5)
    assert [marks for _, marks in results] == [[], [], ["greeting"], ["end"], []]
    assert results[2][0] == audio(400)[320:] + audio(160)[:80]  # no silence inside
    assert playout.marks_reached == 2


def test_a_mark_with_nothing_before_it_is_reported_at_the_next_tick():
    playout = Playout()
    playout.add_mark("now")
    assert playout.pending_marks == ["now"]
    frame, marks = playout.next_frame()
    assert frame == S and marks == ["now"]
    playout.enqueue(audio(160))
    playout.next_frame()
    playout.add_mark("after")
    assert playout.next_frame() == (S, ["after"])


def test_marks_at_the_same_place_come_together_in_order():
    playout = Playout()
    playout.enqueue(audio(160))
    for name in "abc":
        playout.add_mark(name)
    assert playout.next_frame() == (audio(160), ["a", "b", "c"])


def test_clear_drops_the_queue_at_once_and_returns_the_pending_marks():
    playout = Playout()
    playout.enqueue(audio(1600))
    playout.add_mark("m1")
    playout.enqueue(audio(1600))
    playout.add_mark("m2")
    drain(playout, 3)
    assert playout.clear() == ["m1", "m2"]
    assert playout.queued_ms() == 0.0 and playout.pending_marks == []
    assert playout.next_frame() == (S, [])  # nothing left, and the marks are not repeated
    assert playout.cleared_bytes == 3200 - 480 and playout.clears == 1
    assert playout.marks_cleared == 2
    playout.enqueue(audio(160))  # the queue works after a clear
    playout.add_mark("m3")
    assert playout.next_frame() == (audio(160), ["m3"])


def test_clear_with_nothing_pending_returns_no_marks():
    playout = Playout()
    assert playout.clear() == []


def test_played_ms_counts_audio_actually_taken_per_response():
    playout = Playout()
    playout.enqueue(audio(8000))  # one second queued
    drain(playout, 25)  # 500 ms sent
    assert playout.played_ms == 500.0
    playout.clear()  # barge-in: the caller heard 500 ms of it
    assert playout.played_ms == 500.0
    playout.reset_played()  # next response
    playout.enqueue(audio(100))
    drain(playout, 3)
    assert playout.played_ms == 12.5


def test_other_frame_sizes_and_silence():
    playout = Playout(frame_bytes=640, silence=b"\x00" * 640)  # L16 at 16 kHz
    playout.enqueue(b"\x01" * 1000)
    assert playout.queued_ms() == pytest.approx(1000 / 32)
    assert playout.next_frame()[0] == b"\x01" * 640
    assert playout.next_frame()[0] == b"\x01" * 360 + b"\x00" * 280
    alaw = Playout(silence=SILENCE_ALAW)
    assert alaw.next_frame()[0] == SILENCE_ALAW
    with pytest.raises(ValueError):
        Playout(frame_bytes=160, silence=b"\xff" * 100)


# --- Pacer ---

def test_first_tick_starts_the_schedule():
    pacer = Pacer()
    assert pacer.next_deadline() is None
    assert pacer.tick(100.0) == 1
    assert pacer.next_deadline() == pytest.approx(100.02)
    assert pacer.tick(100.019) == 0  # early wake-up: nothing due
    assert pacer.tick(pacer.next_deadline()) == 1  # exactly on time is due


def test_deadlines_come_from_the_start_and_the_count_not_from_wake_ups():
    pacer = Pacer()
    pacer.begin(1000.0)
    for k in range(10):
        assert pacer.next_deadline() == 1000.0 + k * 0.02
        assert pacer.tick(1000.0 + k * 0.02 + 0.007) == 1  # 7 ms late every time
    assert pacer.next_deadline() == 1000.0 + 10 * 0.02  # the lateness did not add up


def test_an_hour_of_late_wake_ups_does_not_drift():
    rng = random.Random(1)
    pacer, now = Pacer(), 5000.0
    pacer.begin(now)
    sent = 0
    for _ in range(180_000):  # one hour at 50 frames per second
        now = pacer.next_deadline() + rng.uniform(0.0, 0.008)  # the reactor is late
        n = pacer.tick(now)
        assert n == 1
        sent += n
    assert sent == 180_000 and pacer.skipped == 0
    assert pacer.next_deadline() == pytest.approx(5000.0 + 3600.0)


def test_a_short_stall_is_caught_up_with_a_small_burst():
    pacer = Pacer(max_burst=3)
    pacer.begin(0.0)
    assert pacer.tick(0.0) == 1
    assert pacer.tick(0.0605) == 3  # slots 1, 2 and 3 are due
    assert pacer.next_deadline() == pytest.approx(0.08) and pacer.skipped == 0


def test_a_long_stall_skips_ahead_instead_of_bursting():
    pacer = Pacer(max_burst=3)
    pacer.begin(0.0)
    assert pacer.tick(0.0) == 1
    assert pacer.tick(0.5001) == 1  # slots 1..25 due: send one, skip 24
    assert pacer.skipped == 24 and pacer.stalls == 1
    assert pacer.slot == 26 and pacer.next_deadline() == pytest.approx(0.52)
    assert pacer.tick(0.52) == 1 and pacer.sent == 3


def test_pacer_arguments():
    with pytest.raises(ValueError):
        Pacer(period=0)
    with pytest.raises(ValueError):
        Pacer(max_burst=0)


def test_pacer_and_playout_together_send_one_frame_per_slot():
    """The bridge's loop: wake at next_deadline (late by up to 15 ms), send what is due."""
    rng = random.Random(3)
    pacer, playout = Pacer(), Playout()
    data = audio(160 * 200)
    playout.enqueue(data[:5000])
    playout.add_mark("half")
    playout.enqueue(data[5000:])
    playout.add_mark("done")
    now, sent, reached_at = 10.0, [], {}
    pacer.begin(now)
    while len(sent) < 210:
        for _ in range(pacer.tick(now)):
            frame, reached = playout.next_frame()
            sent.append(frame)
            for name in reached:
                reached_at[name] = len(sent)
        now = pacer.next_deadline() + rng.uniform(0, 0.015)
    assert b"".join(sent[:200]) == data and sent[200:] == [S] * 10
    assert reached_at == {"half": 32, "done": 200}  # 5000 bytes end in frame 32
