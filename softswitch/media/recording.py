"""One call's dual-channel recording as pure data: G.711 frames placed on the media
clock, cut into chunks for a writer, with pause, resume and stop.

Channels: `CALLER` (0, the left channel) is the caller; `OTHER` (1, the right) is the
other side of the call (the agent, or the human a transfer reached).

Time. Every frame comes with its media slot: the 20 ms slot of the call's own clock
(for an agent call the bridge's pacer slot, due at answer + 20 ms * slot), never a
count of frames received, so a late, lost or skipped frame leaves silence at its place
and the two channels stay aligned with wall time. Position 0 of the recording is
`origin`, the slot at which it was started.

Memory. Frames are copied into a window of `WINDOW_SLOTS` slots per channel
(`2 * WINDOW_SLOTS * 160` bytes for the call, allocated once); a frame for a slot past
the window hands the older part of it to `emit` as a `Chunk` and slides. A frame for
a slot already handed over (more than about one second late) is counted in `late`
and dropped. Slots nobody wrote are silence.

Pause. While paused nothing is copied: the paused time is silence in the file (a gap,
not a cut), so positions stay wall time and the pauses are listed with the recording.
Frames already copied before the pause are kept.

`emit(chunk)` is the writer's (edge.storage.recording_writer): it must only queue.
"""

from dataclasses import dataclass

import numpy as np

from softswitch.media.g711 import ALAW_DECODE, ULAW_DECODE, alaw_to_ulaw

FRAME_BYTES = 160  # 20 ms of G.711 at 8 kHz
FRAME_MS = 20
WINDOW_SLOTS = 100  # 2 s per channel held in memory
KEEP_SLOTS = 50  # after a slide, the newest 1 s stays open for the other channel's frames
CALLER, OTHER = 0, 1

RECORDING, PAUSED, STOPPED = "recording", "paused", "stopped"
SILENCE_CODES = {"PCMU": 0xFF, "PCMA": 0xD5}
_DECODE = {"PCMU": ULAW_DECODE, "PCMA": ALAW_DECODE}


@dataclass(frozen=True, slots=True)
class Chunk:
    """Two channels of G.711 for the slots [first_slot, first_slot + len(caller)//160)
    of the recording (0 = its start)."""

    first_slot: int
    caller: bytes
    other: bytes

    @property
    def slots(self) -> int:
        return len(self.caller) // FRAME_BYTES


class SlotRecorder:
    """The per-call tap's state. `silence` is the law's silent code byte (0xFF for
    µ-law, 0xD5 for A-law)."""

    __slots__ = ("origin", "state", "late", "frames", "pauses", "_emit", "_silence",
                 "_base", "_bufs", "_high", "_paused_at")

    def __init__(self, origin: int, emit, silence: int = 0xFF):
        self.origin = origin
        self.state = RECORDING
        self.late = 0  # frames for slots already handed over (dropped)
        self.frames = 0  # frames copied
        self.pauses: list[tuple[int, int | None]] = []  # (first slot, end slot) per pause
        self._emit = emit
        self._silence = silence
        self._base = origin  # the window's first slot (absolute)
        self._bufs = (self._blank(WINDOW_SLOTS), self._blank(WINDOW_SLOTS))
        self._high = origin  # one past the newest slot written (absolute)
        self._paused_at: int | None = None

    # -- the tap (per frame: one bounds check and one copy) ---------------------------
    def write(self, channel: int, slot: int, payload: bytes) -> None:
        if self.state is not RECORDING:
            return
        rel = slot - self._base
        if rel < 0:
            if slot >= self.origin:
                self.late += 1
            return
        if rel >= WINDOW_SLOTS:
            self._slide(slot)
            rel = slot - self._base
        at = rel * FRAME_BYTES
        self._bufs[channel][at:at + FRAME_BYTES] = payload[:FRAME_BYTES]
        self.frames += 1
        if slot >= self._high:
            self._high = slot + 1

    # -- control -----------------------------------------------------------------------
    def pause(self, slot: int) -> bool:
        """From `slot` on (the next slot due), nothing is copied."""
        if self.state is not RECORDING:
            return False
        self.state = PAUSED
        self._paused_at = max(slot, self.origin)
        return True

    def resume(self, slot: int) -> bool:
        if self.state is not PAUSED:
            return False
        self.state = RECORDING
        self.pauses.append((self._paused_at - self.origin, max(slot, self._paused_at)
                            - self.origin))
        self._paused_at = None
        return True

    def stop(self, slot: int) -> int:
        """Hands over what is held and returns the recording's length in slots
        (`slot`, the next slot due, is where it ends)."""
        if self.state is STOPPED:
            return 0
        end = max(slot, self.origin)
        if self.state is PAUSED:
            self.pauses.append((self._paused_at - self.origin, end - self.origin))
        self.state = STOPPED
        upto = min(max(self._high, self._base), self._base + WINDOW_SLOTS, max(end, self._base))
        self._hand_over(upto)
        return end - self.origin

    # -- internals -----------------------------------------------------------------------
    def _blank(self, slots: int) -> bytearray:
        return bytearray([self._silence]) * (slots * FRAME_BYTES)

    def _slide(self, slot: int) -> None:
        """Hand over the window's older part so that `slot` fits, keeping the newest
        KEEP_SLOTS before it open."""
        new_base = slot - KEEP_SLOTS
        self._hand_over(min(new_base, self._base + WINDOW_SLOTS))
        if new_base >= self._base + WINDOW_SLOTS:  # a long jump: start a fresh window
            self._bufs[CALLER][:] = self._blank(WINDOW_SLOTS)
            self._bufs[OTHER][:] = self._blank(WINDOW_SLOTS)
        else:
            cut = (new_base - self._base) * FRAME_BYTES
            pad = self._blank(new_base - self._base)
            for buf in self._bufs:
                del buf[:cut]
                buf += pad
        self._base = new_base

    def _hand_over(self, upto: int) -> None:
        """Emit the window's slots [base, upto) unless nothing was ever written there."""
        count = upto - self._base
        if count <= 0 or self._high <= self._base:
            return
        size = count * FRAME_BYTES
        caller, other = self._bufs
        self._emit(Chunk(self._base - self.origin, bytes(caller[:size]), bytes(other[:size])))


def stereo_pcm(chunk: Chunk, law: str) -> bytes:
    """The chunk as 16-bit little-endian stereo PCM (caller left, other right): the
    G.711 decode, sample for sample."""
    table = _DECODE[law]
    out = np.empty((chunk.slots * FRAME_BYTES, 2), dtype="<i2")
    out[:, 0] = table[np.frombuffer(chunk.caller, np.uint8)]
    out[:, 1] = table[np.frombuffer(chunk.other, np.uint8)]
    return out.tobytes()


def silent_pcm(slots: int, law: str) -> bytes:
    """`slots` of stereo silence as `stereo_pcm` writes it."""
    code = bytes([SILENCE_CODES[law]]) * (slots * FRAME_BYTES)
    return stereo_pcm(Chunk(0, code, code), law)


REANCHOR_SLOTS = 25  # an RTP timestamp this far (0.5 s) from the clock: anchored again


class RtpTap:
    """Feeds a `SlotRecorder` from the RTP of a relayed call's two directions (the
    media relay's taps: nothing is decoded here, one G.711 frame copy per packet).

    Media clock: each direction's RTP timestamps (8 kHz), anchored to the arrival of
    its first packet: slot = anchor slot + (timestamp - anchor timestamp) / 160, where
    the anchor slot is the arrival's time since `origin_time` in 20 ms slots. A new
    SSRC, or a timestamp that has moved more than `REANCHOR_SLOTS` from the arrival
    clock (a restart, a jump after hold), anchors again. So jitter does not move audio,
    loss leaves silence in its place, and a sender's clock drift cannot accumulate.

    G.711 only (payload types 0 and 8; A-law is stored as µ-law, the recording's law),
    20 ms frames or multiples; anything else is counted in `skipped`."""

    __slots__ = ("recorder", "origin_time", "skipped", "_anchors")

    def __init__(self, recorder: SlotRecorder, origin_time: float):
        self.recorder = recorder
        self.origin_time = origin_time
        self.skipped = 0
        self._anchors = [None, None]  # per channel: (ssrc, anchor slot, anchor timestamp)

    def packet(self, channel: int, payload_type: int, timestamp: int, ssrc: int,
               payload: bytes, now: float) -> None:
        if payload_type == 0:
            pass
        elif payload_type == 8:
            payload = payload.translate(_ALAW_TO_ULAW)
        else:
            return  # telephone-event, comfort noise...: not audio to record
        size = len(payload)
        if size == 0 or size % FRAME_BYTES:
            self.skipped += 1
            return
        clock_slot = (now - self.origin_time) * 1000 / FRAME_MS
        anchor = self._anchors[channel]
        if anchor is not None and anchor[0] == ssrc:
            delta = (timestamp - anchor[2]) & 0xFFFFFFFF
            if delta >= 0x80000000:
                delta -= 0x100000000
            slot = anchor[1] + delta // FRAME_BYTES
            if abs(slot - clock_slot) > REANCHOR_SLOTS:
                anchor = None
        else:
            anchor = None
        if anchor is None:
            slot = round(clock_slot)
            self._anchors[channel] = (ssrc, slot, timestamp)
        write = self.recorder.write
        for at in range(0, size, FRAME_BYTES):
            write(channel, slot, payload[at:at + FRAME_BYTES])
            slot += 1


_ALAW_TO_ULAW = alaw_to_ulaw(bytes(range(256)))  # a bytes.translate table
