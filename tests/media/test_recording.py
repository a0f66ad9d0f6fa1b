"""media.recording: frames placed by media slot, chunks handed over as the window
slides, pause as silence, stop, and the stereo PCM of a chunk."""

import numpy as np
import pytest

from softswitch.media.g711 import ALAW_DECODE, ULAW_DECODE
from softswitch.media.recording import (
    CALLER,
    FRAME_BYTES,
    KEEP_SLOTS,
    OTHER,
    WINDOW_SLOTS,
    Chunk,
    SlotRecorder,
    silent_pcm,
    stereo_pcm,
)

SILENT = 0xFF


def frame(n: int) -> bytes:
    """A frame whose every byte says which slot it is (never the silence code)."""
    return bytes([n % 200]) * FRAME_BYTES


def assemble(chunks: list[Chunk], total: int) -> tuple[bytes, bytes]:
    """What a writer makes of the chunks: each at its place, silence between."""
    caller = bytearray([SILENT]) * (total * FRAME_BYTES)
    other = bytearray([SILENT]) * (total * FRAME_BYTES)
    for chunk in chunks:
        at = chunk.first_slot * FRAME_BYTES
        caller[at:at + len(chunk.caller)] = chunk.caller
        other[at:at + len(chunk.other)] = chunk.other
    return bytes(caller[:total * FRAME_BYTES]), bytes(other[:total * FRAME_BYTES])


def slot_of(data: bytes, slot: int) -> bytes:
    return data[slot * FRAME_BYTES:(slot + 1) * FRAME_BYTES]


def test_frames_land_at_their_slot_from_the_origin_and_gaps_are_silence():
    chunks = []
    rec = SlotRecorder(1000, chunks.append)
    for slot in range(1000, 1300):
        if slot % 7:  # one slot in seven never comes
            rec.write(CALLER, slot, frame(slot))
        rec.write(OTHER, slot, frame(slot + 1))
    total = rec.stop(1300)
    assert total == 300
    caller, other = assemble(chunks, total)
    for slot in range(1000, 1300):
        expected = frame(slot) if slot % 7 else bytes([SILENT]) * FRAME_BYTES
        assert slot_of(caller, slot - 1000) == expected
        assert slot_of(other, slot - 1000) == frame(slot + 1)
    assert rec.frames == 300 + sum(1 for s in range(1000, 1300) if s % 7)


def test_memory_is_one_window_and_chunks_follow_each_other():
    chunks = []
    rec = SlotRecorder(0, chunks.append)
    for slot in range(1000):
        rec.write(CALLER, slot, frame(slot))
        assert len(chunks) <= slot // KEEP_SLOTS
    rec.stop(1000)
    firsts = [c.first_slot for c in chunks]
    assert firsts == sorted(firsts)
    assert all(a.first_slot + a.slots <= b.first_slot for a, b in zip(chunks, chunks[1:]))
    assert all(c.slots <= WINDOW_SLOTS for c in chunks)
    assert sum(c.slots for c in chunks) == 1000


def test_the_other_channel_a_tick_behind_still_lands_in_place():
    """The bridge writes a tick's caller slots, then its agent slots."""
    chunks = []
    rec = SlotRecorder(0, chunks.append)
    for tick in range(0, 400, 5):
        for slot in range(tick, tick + 5):
            rec.write(CALLER, slot, frame(slot))
        for slot in range(tick, tick + 5):
            rec.write(OTHER, slot, frame(slot + 3))
    rec.stop(400)
    caller, other = assemble(chunks, 400)
    assert all(slot_of(other, s) == frame(s + 3) for s in range(400))
    assert all(slot_of(caller, s) == frame(s) for s in range(400))
    assert rec.late == 0


def test_a_frame_for_a_slot_already_handed_over_is_counted_late_and_dropped():
    chunks = []
    rec = SlotRecorder(0, chunks.append)
    rec.write(CALLER, 0, frame(0))
    rec.write(CALLER, WINDOW_SLOTS + 10, frame(1))  # slides: slots before 60 handed over
    rec.write(OTHER, 5, frame(2))
    assert rec.late == 1
    rec.write(OTHER, -3, frame(3))  # before the recording began: not counted
    assert rec.late == 1


def test_paused_time_is_silence_and_listed_and_later_frames_come_back():
    chunks = []
    rec = SlotRecorder(100, chunks.append)
    for slot in range(100, 400):
        if slot == 150:
            assert rec.pause(150)
        if slot == 250:
            assert rec.resume(250)
        rec.write(CALLER, slot, frame(slot))
        rec.write(OTHER, slot, frame(slot))
    total = rec.stop(400)
    caller, other = assemble(chunks, total)
    for rel in range(300):
        paused = 50 <= rel < 150
        expected = bytes([SILENT]) * FRAME_BYTES if paused else frame(rel + 100)
        assert slot_of(caller, rel) == expected, rel
        assert slot_of(other, rel) == expected, rel
    assert rec.pauses == [(50, 150)]


def test_control_in_the_wrong_state_is_refused_and_stop_while_paused_closes_the_pause():
    rec = SlotRecorder(0, lambda chunk: None)
    assert not rec.resume(1)
    assert rec.pause(10) and not rec.pause(11)
    assert rec.stop(30) == 30
    assert rec.pauses == [(10, 30)]
    assert rec.stop(40) == 0 and not rec.pause(41)
    rec.write(CALLER, 35, frame(1))
    assert rec.frames == 0


def test_a_long_jump_starts_a_fresh_window_without_stale_frames():
    chunks = []
    rec = SlotRecorder(0, chunks.append)
    rec.write(CALLER, 3, frame(3))
    rec.write(CALLER, 5000, frame(9))
    rec.stop(5001)
    caller, _ = assemble(chunks, 5001)
    assert slot_of(caller, 3) == frame(3) and slot_of(caller, 5000) == frame(9)
    assert caller.count(bytes([SILENT])) == (5001 - 2) * FRAME_BYTES


def test_a_recording_with_no_frame_hands_over_nothing():
    chunks = []
    rec = SlotRecorder(0, chunks.append)
    assert rec.stop(50) == 50
    assert chunks == []


@pytest.mark.parametrize("law, table, silence", [("PCMU", ULAW_DECODE, 0xFF),
                                                 ("PCMA", ALAW_DECODE, 0xD5)])
def test_stereo_pcm_is_the_g711_decode_interleaved_caller_first(law, table, silence):
    caller = bytes(range(160))
    other = bytes(range(255, 95, -1))
    pcm = np.frombuffer(stereo_pcm(Chunk(0, caller, other), law), "<i2").reshape(-1, 2)
    assert pcm[:, 0].tolist() == [int(table[b]) for b in caller]
    assert pcm[:, 1].tolist() == [int(table[b]) for b in other]
    silent = np.frombuffer(silent_pcm(3, law), "<i2")
    assert len(silent) == 3 * 160 * 2 and set(silent.tolist()) == {int(table[silence])}


# --- RtpTap: relayed RTP on its timestamps ------------------------------------------------

from softswitch.media.g711 import alaw_to_ulaw  # noqa: E402
from softswitch.media.recording import REANCHOR_SLOTS, RtpTap  # noqa: E402

T0 = 500.0


def tapped(packets, origin=T0):
    """Feed (channel, pt, timestamp, ssrc, payload, now) packets; the assembled file."""
    chunks = []
    rec = SlotRecorder(0, chunks.append)
    tap = RtpTap(rec, origin)
    for packet in packets:
        tap.packet(*packet)
    total = rec.stop(400)
    return assemble(chunks, total), tap


def test_jitter_does_not_move_audio_and_loss_leaves_silence():
    packets = []
    for n in range(100):
        if n == 40:
            continue  # lost
        jitter = (n * 37 % 11) / 1000  # up to 10 ms late
        packets.append((CALLER, 0, 1000 + 160 * n, 7, frame(n), T0 + 0.2 + 0.02 * n + jitter))
    (caller, other), tap = tapped(packets)
    for n in range(100):  # anchored at the first packet's arrival: slot 10
        expected = bytes([SILENT]) * FRAME_BYTES if n == 40 else frame(n)
        assert slot_of(caller, 10 + n) == expected, n


def test_a_sender_clock_drifting_is_followed_by_timestamps_and_a_jump_reanchors():
    packets = [(OTHER, 0, 160 * n, 9, frame(n), T0 + 0.021 * n) for n in range(50)]  # slow
    restart = T0 + 3.0  # a new stream after a pause: a timestamp far from the clock
    packets += [(OTHER, 0, 999_999 + 160 * n, 9, frame(100 + n), restart + 0.02 * n)
                for n in range(10)]
    (caller, other), tap = tapped(packets)
    assert [slot_of(other, n) for n in range(50)] == [frame(n) for n in range(50)]
    assert [slot_of(other, 150 + n) for n in range(10)] == [frame(100 + n) for n in range(10)]
    assert REANCHOR_SLOTS < 100


def test_alaw_is_stored_as_ulaw_other_payloads_ignored_and_40_ms_split():
    alaw = bytes(range(0, 160))
    packets = [(CALLER, 8, 0, 1, alaw, T0),
               (CALLER, 101, 160, 1, b"\x01\x00\x00\xa0", T0 + 0.02),  # telephone-event
               (CALLER, 0, 320, 1, frame(5) + frame(6), T0 + 0.04),  # 40 ms
               (CALLER, 0, 640, 1, b"\x11" * 240, T0 + 0.08)]  # 30 ms: not a 20 ms multiple
    (caller, other), tap = tapped(packets)
    assert slot_of(caller, 0) == alaw_to_ulaw(alaw)
    assert slot_of(caller, 1) == bytes([SILENT]) * FRAME_BYTES
    assert slot_of(caller, 2) == frame(5) and slot_of(caller, 3) == frame(6)
    assert tap.skipped == 1
