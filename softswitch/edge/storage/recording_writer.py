"""Recording files, written on a thread of their own so the reactor never waits on a
disk.

One thread (a `ThreadPool` of one: its queue keeps each recording's jobs in order)
decodes each `media.recording.Chunk` to 16-bit stereo PCM and appends it to the
recording's WAV file (stdlib `wave`, which rewrites the header's lengths after every
append, so a file cut short by a crash still plays up to its last chunk). A gap
between two chunks (a pause, frames dropped) is written as silence, so positions in
the file stay wall time.

Bounded: at most `max_pending` jobs wait for the thread. A chunk that would go over
is dropped and counted (`dropped`, the metric
softswitch_recording_chunks_dropped_total): the call goes on, and its place in the file
is silence. Opening and closing files always queue (one of each per recording).
Jobs come back to the reactor as Deferreds (`deferToThreadPool`).
"""

import os
import wave

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger
from twisted.python.threadpool import ThreadPool

from ...media.recording import FRAME_BYTES, stereo_pcm, silent_pcm

log = Logger()
SILENCE_PIECE_SLOTS = 500  # a long gap is written 10 s at a time (bounded memory)
WAV_HEADER_BYTES = 44


class _WavFile:
    """One open recording (writer thread only)."""

    def __init__(self, path: str, law: str):
        self.path = path
        self.law = law
        self.slots = 0  # 20 ms slots written so far
        self._wav = wave.open(path, "wb")
        self._wav.setnchannels(2)
        self._wav.setsampwidth(2)
        self._wav.setframerate(8000)

    def append(self, chunk) -> None:
        self.pad_to(chunk.first_slot)
        skip = self.slots - chunk.first_slot  # (never expected: an overlap is not rewritten)
        if skip >= chunk.slots:
            return
        if skip > 0:
            cut = skip * FRAME_BYTES
            chunk = type(chunk)(self.slots, chunk.caller[cut:], chunk.other[cut:])
        self._wav.writeframes(stereo_pcm(chunk, self.law))
        self.slots += chunk.slots

    def pad_to(self, slot: int) -> None:
        while self.slots < slot:
            count = min(slot - self.slots, SILENCE_PIECE_SLOTS)
            self._wav.writeframes(silent_pcm(count, self.law))
            self.slots += count

    def close(self) -> None:
        self._wav.close()


class RecordingWriter:
    def __init__(self, reactor, *, max_pending: int = 2000, pool: ThreadPool | None = None):
        self._reactor = reactor
        self._pool = pool if pool is not None else ThreadPool(1, 1, "recording-writer")
        self._max_pending = max_pending
        self._files: dict[str, _WavFile] = {}  # the writer thread's
        self.pending = 0  # jobs queued or running
        self.chunks_written = 0
        self.dropped = 0  # chunks dropped because the queue was full
        self.failures = 0  # jobs that raised (disk full, directory gone...)

    def start(self) -> None:
        self._pool.start()

    def stop(self) -> None:
        """Waits for the queued jobs (shutdown, after the calls have ended)."""
        self._pool.stop()

    # -- from the reactor thread ---------------------------------------------------------
    def open(self, recording_id: str, path: str, law: str):
        return self._job(self._open, recording_id, path, law)

    def write(self, recording_id: str, chunk) -> bool:
        """Queue a chunk; False (dropped, counted) when the queue is full."""
        if self.pending >= self._max_pending:
            self.dropped += 1
            return False
        self._job(self._append, recording_id, chunk).addErrback(lambda f: None)
        return True

    def close(self, recording_id: str, total_slots: int):
        """A Deferred of (size in bytes, slots written) once the file is complete."""
        return self._job(self._close, recording_id, total_slots)

    def delete(self, path: str):
        """A Deferred that fires once the file is removed (a missing file is fine)."""
        return self._job(_remove, path)

    def _job(self, fn, *args):
        self.pending += 1
        d = deferToThreadPool(self._reactor, self._pool, fn, *args)

        def done(result):
            self.pending -= 1
            return result

        def failed(failure):
            self.pending -= 1
            self.failures += 1
            log.failure("recording file job {job} failed", failure, job=fn.__name__)
            return failure

        return d.addCallbacks(done, failed)

    # -- on the writer thread ------------------------------------------------------------
    def _open(self, recording_id: str, path: str, law: str) -> None:
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        self._files[recording_id] = _WavFile(path, law)

    def _append(self, recording_id: str, chunk) -> None:
        wav = self._files.get(recording_id)
        if wav is not None:  # (its open failed: nothing to write to)
            wav.append(chunk)
            self.chunks_written += 1

    def _close(self, recording_id: str, total_slots: int) -> tuple[int, int]:
        wav = self._files.pop(recording_id, None)
        if wav is None:
            raise OSError(f"recording {recording_id} has no open file")
        try:
            wav.pad_to(total_slots)
        finally:
            wav.close()
        return os.path.getsize(wav.path), wav.slots


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


class RecordingMetrics:
    """Prometheus collector: the writer's counters and the recordings in progress,
    read at scrape time."""

    def __init__(self, writer: RecordingWriter, active=lambda: 0):
        self._writer = writer
        self._active = active

    def collect(self):
        w = self._writer
        for name, text, value in (
                ("softswitch_recording_chunks_written", "Recording chunks written to files",
                 w.chunks_written),
                ("softswitch_recording_chunks_dropped",
                 "Recording chunks dropped because the writer's queue was full", w.dropped),
                ("softswitch_recording_write_failures", "Recording file jobs that failed",
                 w.failures)):
            counter = CounterMetricFamily(name, text)
            counter.add_metric([], value)
            yield counter
        for name, text, value in (
                ("softswitch_recording_queue_depth", "Recording file jobs waiting or running",
                 w.pending),
                ("softswitch_recordings_active", "Recordings in progress (or paused)",
                 self._active())):
            gauge = GaugeMetricFamily(name, text)
            gauge.add_metric([], value)
            yield gauge
