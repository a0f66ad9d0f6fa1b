"""services.recordings over the real file writer (edge.storage.recording_writer) and
the real store (SQLite): a recorded call's WAV checked sample by sample, pause as a
silent gap, control refused in the wrong state, a full writer queue, the retention
sweep on a Clock."""

import wave

import numpy as np
import pytest
from twisted.internet.task import Clock

from softswitch.edge.storage.recording_store import RecordingStore
from softswitch.edge.storage.recording_writer import RecordingMetrics, RecordingWriter
from softswitch.media.g711 import ULAW_DECODE
from softswitch.media.recording import CALLER, OTHER
from softswitch.services.recordings import (
    DAY,
    RecordingError,
    Recordings,
    RecordingSettings,
)
from softswitch.store import migrate
from softswitch.store import recordings as store
from softswitch.store.database import Database

T0 = 1_790_000_000.0  # the clock's epoch seconds at the call's answer


class SyncReactor(Clock):
    """A Clock whose threads hand results back at once (with SyncPool)."""

    def callFromThread(self, f, *args, **kw):
        f(*args, **kw)


class SyncPool:
    """One thread of work, run in the caller's thread; `hold` queues jobs instead."""

    def __init__(self):
        self.held = None

    def callInThreadWithCallback(self, on_result, f, *args, **kw):
        if self.held is not None:
            self.held.append((on_result, f, args, kw))
            return
        self._run(on_result, f, args, kw)

    @staticmethod
    def _run(on_result, f, args, kw):
        try:
            result = f(*args, **kw)
        except Exception:
            from twisted.python.failure import Failure
            on_result(False, Failure())
        else:
            on_result(True, result)

    def release(self):
        held, self.held = self.held, None
        for job in held:
            self._run(*job)


class SyncDatabase:
    def __init__(self, url):
        self.db = Database(url, reactor=None)

    def run(self, desc, fn, *args):
        from twisted.internet import defer
        return defer.maybeDeferred(self.db.run_sync, fn, *args)


class Source:
    """A call's media clock: slot k is due at T0 + 20 ms * k."""

    law = "PCMU"

    def __init__(self, clock):
        self._clock = clock
        self.recorder = None

    def next_slot(self, now):
        return int(round((now - T0) / 0.02))

    def attach(self, recorder):
        self.recorder = recorder

    def play(self, slots, caller, other):
        """Advance the clock over `slots`, writing each slot's frames if attached."""
        for _ in range(slots):
            slot = self.next_slot(self._clock.seconds())
            if self.recorder is not None:
                self.recorder.write(CALLER, slot, caller(slot))
                self.recorder.write(OTHER, slot, other(slot))
            self._clock.advance(0.02)


def caller_frame(slot):
    return bytes([(slot * 7 + i) % 120 for i in range(160)])


def other_frame(slot):
    return bytes([128 + (slot * 3 + i) % 120 for i in range(160)])


@pytest.fixture
def lab(tmp_path):
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    migrate.upgrade(url)
    clock = SyncReactor()
    clock.advance(T0)
    pool = SyncPool()
    writer = RecordingWriter(clock, max_pending=20, pool=pool)
    database = SyncDatabase(url)
    ids = iter(f"RE{n:032x}" for n in range(1, 100))
    recordings = Recordings(clock, RecordingStore(database), writer,
                            RecordingSettings(directory=str(tmp_path / "rec"),
                                              retention_days=7),
                            new_id=lambda: next(ids))
    yield clock, pool, writer, database, recordings
    database.db.engine.dispose()


def row(database, recording_id):
    return database.db.run_sync(store.get_recording, recording_id)


def read_wav(path):
    with wave.open(path, "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (2, 2, 8000)
        return np.frombuffer(wav.readframes(wav.getnframes()), "<i2").reshape(-1, 2)


def decoded(frames):
    return [int(ULAW_DECODE[b]) for frame in frames for b in frame]


def test_a_call_recorded_from_its_answer_is_both_channels_sample_for_sample(lab):
    clock, pool, writer, database, recordings = lab
    source = Source(clock)
    recordings.call_began("call-1", source, record=True)
    assert recordings.state_of("call-1") == {"id": f"RE{1:032x}", "state": "recording"}
    source.play(250, caller_frame, other_frame)  # 5 s
    recordings.call_ended("call-1")
    assert source.recorder is None
    meta = row(database, f"RE{1:032x}")
    assert meta["state"] == "completed" and meta["duration"] == 5.0
    assert (meta["channels"], meta["sample_rate"], meta["format"]) == (2, 8000, "wav")
    assert meta["started_at"] == T0 and meta["ended_at"] == pytest.approx(T0 + 5.0)
    pcm = read_wav(meta["file_path"])
    assert meta["size"] == 44 + pcm.nbytes
    assert pcm[:, 0].tolist() == decoded(caller_frame(s) for s in range(250))
    assert pcm[:, 1].tolist() == decoded(other_frame(s) for s in range(250))
    assert recordings.take_recording_id("call-1") == f"RE{1:032x}"
    assert recordings.take_recording_id("call-1") is None


def test_pause_leaves_silence_in_its_place_and_is_listed(lab):
    clock, pool, writer, database, recordings = lab
    source = Source(clock)
    recordings.call_began("call-2", source, record=False)
    assert recordings.state_of("call-2") is None
    source.play(50, caller_frame, other_frame)  # not recorded: nobody asked
    started = recordings.start("call-2")
    assert started["state"] == "recording" and started["started_at"] == pytest.approx(T0 + 1.0)
    source.play(100, caller_frame, other_frame)
    assert recordings.pause("call-2")["state"] == "paused"
    assert row(database, started["id"])["state"] == "paused"
    source.play(75, caller_frame, other_frame)  # the card number
    assert recordings.resume("call-2")["state"] == "recording"
    source.play(25, caller_frame, other_frame)
    assert recordings.stop("call-2")["state"] == "stopped"
    source.play(10, caller_frame, other_frame)  # after the stop: not recorded
    meta = row(database, started["id"])
    assert meta["pauses"] == [[2.0, 3.5]] and meta["duration"] == 4.0
    pcm = read_wav(meta["file_path"])
    expected = ([caller_frame(s) for s in range(50, 150)] + [bytes([0xFF]) * 160] * 75
                + [caller_frame(s) for s in range(225, 250)])
    assert pcm[:, 0].tolist() == decoded(expected)
    assert not pcm[100 * 160:175 * 160].any()  # both channels silent while paused


def test_control_in_the_wrong_state_or_for_an_unknown_call_is_refused(lab):
    clock, pool, writer, database, recordings = lab
    source = Source(clock)
    with pytest.raises(RecordingError) as unknown:
        recordings.start("nope")
    assert unknown.value.status == 404
    recordings.call_began("call-3", source, record=False)
    for action in (recordings.pause, recordings.resume, recordings.stop):
        with pytest.raises(RecordingError) as refused:
            action("call-3")
        assert refused.value.status == 409
    recordings.start("call-3")
    with pytest.raises(RecordingError):
        recordings.start("call-3")
    with pytest.raises(RecordingError):
        recordings.resume("call-3")
    recordings.pause("call-3")
    with pytest.raises(RecordingError):
        recordings.pause("call-3")
    recordings.call_ended("call-3")
    with pytest.raises(RecordingError) as gone:
        recordings.resume("call-3")
    assert gone.value.status == 404


def test_a_full_writer_queue_drops_chunks_the_call_goes_on_and_the_file_stays_aligned(lab):
    clock, pool, writer, database, recordings = lab
    source = Source(clock)
    pool.held = []  # the disk stalls: jobs wait
    recordings.call_began("call-4", source, record=True)
    source.play(2000, caller_frame, other_frame)  # 40 s: 39 chunks, 20 jobs fit
    assert writer.dropped > 0 and writer.pending == 20
    metrics = {m.name: m.samples[0].value for m in RecordingMetrics(writer, recordings.active)
               .collect()}
    assert metrics["softswitch_recording_chunks_dropped"] == writer.dropped
    assert metrics["softswitch_recordings_active"] == 1
    recordings.call_ended("call-4")
    pool.release()
    meta = row(database, f"RE{1:032x}")
    assert meta["state"] == "completed" and meta["duration"] == 40.0
    pcm = read_wav(meta["file_path"])
    assert len(pcm) == 2000 * 160
    kept = 0
    for slot in range(2000):  # each slot is its frames, or silence where a chunk dropped
        part = pcm[slot * 160:(slot + 1) * 160]
        if part.any():
            kept += 1
            assert part[:, 0].tolist() == decoded([caller_frame(slot)])
            assert part[:, 1].tolist() == decoded([other_frame(slot)])
    assert kept == 50 * writer.chunks_written == 950  # 19 written; 20 dropped with the last


def test_the_sweep_deletes_files_and_rows_past_the_retention_only(lab):
    clock, pool, writer, database, recordings = lab
    source = Source(clock)
    for call in ("old", "new"):
        recordings.call_began(call, source, record=True)
        source.play(10, caller_frame, other_frame)
        recordings.call_ended(call)
        clock.advance(3 * DAY)
    old, new = row(database, f"RE{1:032x}"), row(database, f"RE{2:032x}")
    clock.advance(1.5 * DAY)  # old ended 7.5 days ago, new 4.5
    deleted = []
    recordings.sweep().addCallback(deleted.append)
    assert deleted == [1]
    assert row(database, old["id"]) is None
    assert row(database, new["id"]) is not None
    import os
    assert not os.path.exists(old["file_path"]) and os.path.exists(new["file_path"])
