"""Playout of agent audio to the caller, and the drift-free 20 ms schedule that paces it.

Both are pure: no clock is read, nothing is scheduled.

`Playout` is the queue between the agent and the RTP sender. `enqueue(audio)` takes
chunks of any size; `next_frame()` is called once per 20 ms tick and always returns one
whole frame: queued audio, the last partial chunk padded with silence, or silence when
the queue is empty (the RTP stream never has a gap). A `filler` (any callable returning
one frame, such as `tones.ToneSource.next_frame`) replaces that silence while it is
set: a transfer's ringback once the agent's last words have played. Unset (None, the
default) costs one attribute test per empty frame. Marks follow playout truth: a mark
is reported by the `next_frame()` call that takes the last byte queued before it (a mark
with nothing before it, by the next call), never earlier. `clear()` (barge-in) drops the
queued audio at once and returns the marks that were pending, which must be
acknowledged then (Twilio Media Streams semantics). `played_ms` counts the agent audio
actually taken for sending since `reset_played()` (one response), which is what
`conversation.item.truncate` wants as `audio_end_ms`.

`Pacer` tells when frames are due. Frame k is due at `start + k * period`, computed from
the start time and the frame counter (never by adding the period to the last wake-up),
so late wake-ups do not accumulate: after an hour of timer jitter, the frame count
matches the elapsed time exactly. `tick(now)` returns how many frames are due. A short
stall (at most `max_burst` frames due at once) is caught up by sending them
back to back: the far end's jitter buffer absorbs a burst that small. A longer stall is
skipped instead of burst: one frame is sent, the other due slots are abandoned and
counted in `skipped`, and the schedule carries on from the current slot. Audio is not
dropped by a skip: it is still queued and plays late. The sender should advance its
RTP timestamp by one frame per slot (`slot` numbers them: RTP timestamp = base +
slot * samples per frame) but its sequence number only per packet sent, so the far end
sees a pause, not a loss and not a burst.
"""

from collections import deque

from softswitch.media.frames import Reframer
from softswitch.media.g711 import SILENCE_ULAW

FRAME_MS = 20


class Playout:
    __slots__ = (
        "frame_bytes", "frame_ms", "silence", "_queue", "_marks", "_written", "_read",
        "_played_bytes", "frames", "audio_frames", "padded_frames", "silence_frames",
        "enqueued_bytes", "cleared_bytes", "clears", "marks_reached", "marks_cleared",
        "filler", "filler_frames",
    )

    def __init__(self, frame_bytes: int = 160, silence: bytes = SILENCE_ULAW,
                 frame_ms: int = FRAME_MS):
        if len(silence) != frame_bytes:
            raise ValueError(f"silence frame of {len(silence)} bytes for {frame_bytes}-byte frames")
        self.frame_bytes = frame_bytes
        self.frame_ms = frame_ms
        self.silence = bytes(silence)
        self._queue = Reframer(frame_bytes)
        self._marks: deque[tuple[int, str]] = deque()  # (stream position, name)
        self._written = 0  # bytes ever enqueued (position of the queue's end)
        self._read = 0  # bytes ever taken or cleared (position of the queue's head)
        self._played_bytes = 0
        self.frames = 0
        self.audio_frames = 0  # whole frames of agent audio
        self.padded_frames = 0  # a partial chunk completed with silence
        self.silence_frames = 0  # nothing queued: silence
        self.filler_frames = 0  # nothing queued: the filler's frame (ringback)
        self.enqueued_bytes = 0
        self.cleared_bytes = 0
        self.clears = 0
        self.marks_reached = 0
        self.marks_cleared = 0
        self.filler = None  # () -> frame_bytes bytes, played instead of silence

    def enqueue(self, audio: bytes) -> None:
        if audio:
            self._queue.push(audio)
            self._written += len(audio)
            self.enqueued_bytes += len(audio)

    def add_mark(self, name: str) -> None:
        """A mark at the current end of the queue."""
        self._marks.append((self._written, name))

    def next_frame(self) -> tuple[bytes, list[str]]:
        """The frame to send now and the marks its sending reaches."""
        self.frames += 1
        frame = self._queue.pop()
        if frame is not None:
            self.audio_frames += 1
            taken = len(frame)
        elif len(self._queue):
            chunk = self._queue.pop_partial()
            taken = len(chunk)
            frame = chunk + self.silence[taken:]
            self.padded_frames += 1
        else:
            filler = self.filler
            if filler is None:
                frame = self.silence
                self.silence_frames += 1
            else:
                frame = filler()
                self.filler_frames += 1
            taken = 0
        self._read += taken
        self._played_bytes += taken
        reached = []
        marks = self._marks
        while marks and marks[0][0] <= self._read:
            reached.append(marks.popleft()[1])
        self.marks_reached += len(reached)
        return frame, reached

    def clear(self) -> list[str]:
        """Drop all queued audio now; returns the pending marks, in order."""
        dropped = self._queue.clear()
        self._read = self._written
        self.cleared_bytes += dropped
        self.clears += 1
        pending = [name for _, name in self._marks]
        self._marks.clear()
        self.marks_cleared += len(pending)
        return pending

    @property
    def written(self) -> int:
        """Stream position of the queue's end: bytes ever enqueued."""
        return self._written

    @property
    def taken(self) -> int:
        """Stream position of the queue's head: bytes ever taken for sending or cleared."""
        return self._read

    def queued_ms(self) -> float:
        return len(self._queue) * self.frame_ms / self.frame_bytes

    @property
    def pending_marks(self) -> list[str]:
        return [name for _, name in self._marks]

    @property
    def played_ms(self) -> float:
        """Agent audio taken for sending since the last `reset_played()`."""
        return self._played_bytes * self.frame_ms / self.frame_bytes

    def reset_played(self) -> None:
        """Start counting a new response."""
        self._played_bytes = 0


class Pacer:
    __slots__ = ("period", "max_burst", "start", "slot", "sent", "skipped", "stalls")

    def __init__(self, period: float = FRAME_MS / 1000, max_burst: int = 3):
        if period <= 0:
            raise ValueError(f"period {period} is not positive")
        if max_burst < 1:
            raise ValueError(f"max_burst {max_burst} is below 1")
        self.period = period
        self.max_burst = max_burst
        self.start: float | None = None
        self.slot = 0  # index of the next frame slot (sent or skipped)
        self.sent = 0
        self.skipped = 0
        self.stalls = 0  # times slots were skipped

    def begin(self, now: float) -> None:
        """Anchor the schedule: slot 0 is due at `now`. (The first `tick` does this
        when it has not been done.)"""
        self.start = now
        self.slot = 0

    def deadline(self, slot: int) -> float:
        return self.start + slot * self.period

    def next_deadline(self) -> float | None:
        """When the next frame is due (None before the schedule starts)."""
        return None if self.start is None else self.deadline(self.slot)

    def tick(self, now: float) -> int:
        """How many frames to send now."""
        if self.start is None:
            self.begin(now)
        if now < self.deadline(self.slot):
            return 0
        # Slots whose deadline has passed: the last one is the largest k with
        # deadline(k) <= now (recomputed with the same expression, so a wake-up at
        # exactly next_deadline() is never early by a rounding error).
        last = max(self.slot, int((now - self.start) / self.period))
        while self.deadline(last + 1) <= now:
            last += 1
        while last > self.slot and self.deadline(last) > now:
            last -= 1
        due = last + 1 - self.slot
        if due > self.max_burst:
            self.skipped += due - 1
            self.stalls += 1
            due = 1
        self.slot = last + 1
        self.sent += due
        return due
