"""Adaptive jitter buffer between the caller's RTP and the agent.

A pure ring indexed by `seq % capacity` (aiortc style) with no clock inside: every
input takes `now` (seconds, from the caller's clock). `push(seq, timestamp, payload,
now)` files a packet; `pop(now)`, called every 20 ms by the bridge's pacer, returns the
next `Frame` in order: None until the first packet has been held for the target delay,
then exactly one frame per call, whatever the network does.

Playout model. The playout point is the RTP timestamp of the next frame slot; each pop
plays one slot of `frame_ms`. The packet whose timestamp falls on the slot is played; a
packet whose slot has already been played is *late* and dropped (counted), as is a
duplicate. Reordering within the buffered window is undone by the ring. Timestamps,
not sequence numbers, decide when a packet plays, so a sender that pauses (DTX) leaves
silence of the right length and a talk-spurt after a pause plays on time. One packet is
one frame of `frame_ms` (G.711 at ptime 20, what the switch offers); a stream with
another packet time must be re-framed before it is pushed.

A slot with no packet is filled and marked `concealed`:
- a *hole* (a later packet is buffered, the slot's own is missing) stands for a known
  sequence number, and `Frame.seq` says which;
- an *underrun* (nothing buffered at all: the packet is lost, late, or the sender is
  silent) has `seq=None`; it is counted as concealed once a later packet shows it was a
  loss or a late packet, and as a gap if the sender had simply paused;
- a *gap* (the next packet is buffered but its timestamp is ahead while its sequence
  number is contiguous: the sender paused) is silence, not concealment.

Concealment is payload-agnostic, which for G.711 is what the codec's simplest packet
loss concealment does: the last payload is repeated for `conceal_repeats` frames (2;
each repeat passed through `attenuate` if given, e.g. `g711.ulaw_attenuator(-6)`, so
the repeats fade), then `silence` until audio returns. Repeating longer than 40 ms
turns into an audible buzz, silence is better.

Adaptive delay. The delay is how far the playout point runs behind the mean transit
of the packets (arrival time minus media time, smoothed over about a second). The
target delay moves within [min_delay_ms, max_delay_ms], in whole frames (the playout
point moves by frames; a finer target only makes it flap):
- it grows at once when `JITTER_FACTOR` times the jitter exceeds it by half a frame,
  and on a late packet to the delay that packet needed plus half a frame ("grow fast
  on late losses"); the playout follows by inserting one frame of concealment
  (`seq=None`) per pop until the delay reaches the target;
- it steps down one frame per `SHRINK_INTERVAL` of calm (no late packet, no rise) while
  the jitter needs a whole frame less, and the playout follows by skipping a silent
  slot of a sender's pause when there is one (free), else by dropping one packet, at
  most one every `DROP_INTERVAL` ("shrink slowly, at a bounded rate"). The payload is
  not inspected, so a dropped packet is not chosen for being quiet.
The jitter is the RFC 3550 estimator (A.8, gain 1/16), reported as `jitter_ms`; the
target follows the same estimator smoothed further (gain 1/128), because the 1/16 one
swings by a third either way on steady random jitter and the target would follow it.
The playout keeps the delay within [target - 1/4 frame, target + 5/4 frame).
The initial target is `target_ms` (60 ms by default), held for the first packet.

Re-sync. A packet a ring or more ahead of the playout point, a timestamp a ring's
span or more away from it, or (once a second packet confirms it, as RFC 3550 A.1
asks) a sequence number far behind starts the stream afresh, held for the target
delay; `reset()` does the same on demand (a new SSRC: re-INVITE, transfer). The old
stream's buffered packets still play first, then concealment until the new stream is
due, so the output stays continuous. Statistics, jitter and target carry over.
"""

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Callable

from softswitch.media.g711 import SILENCE_ULAW
from softswitch.media.seqnum import uint16_diff, uint32_diff

JITTER_FACTOR = 3.0  # target delay >= this many times the (slowly smoothed) jitter
SLOW_JITTER_GAIN = 1 / 128  # the RFC 3550 estimator's 1/16 is too nervous for a target
SHRINK_INTERVAL = 2.0  # seconds of calm per one-frame step down of the target
DROP_INTERVAL = 1.0  # at most one frame dropped per this many seconds to shrink
TRANSIT_GAIN = 1 / 64  # smoothing of the mean transit (about a second of packets)
MAX_MISORDER = 100  # packets this far behind the playout point may be a new stream

_IDLE, _BUFFERING, _PLAYING = range(3)


@dataclass(frozen=True, slots=True)
class Frame:
    payload: bytes
    concealed: bool
    seq: int | None  # the sequence number the frame plays or stands for, if known
    # When its packet was pushed (None: concealment); not part of what the frame is.
    arrived: float | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class JitterStats:
    received: int = 0  # packets pushed, duplicates and late ones included
    duplicates: int = 0
    late: int = 0  # arrived after their slot was played
    concealed: int = 0  # slots of lost or late packets filled by concealment
    reordered: int = 0  # arrived after a later packet, still in time
    played: int = 0  # packets played
    underruns: int = 0  # pops that found the buffer empty
    gaps: int = 0  # silent slots where the sender paused
    inserted: int = 0  # frames inserted to grow the delay
    dropped: int = 0  # packets dropped to shrink the delay
    resyncs: int = 0
    depth_ms: float = 0.0  # media buffered ahead of the playout point
    delay_ms: float = 0.0  # playout point behind the mean transit
    target_ms: float = 0.0
    jitter_ms: float = 0.0  # RFC 3550 interarrival jitter


class JitterBuffer:
    __slots__ = (
        "clock_rate", "frame_ms", "min_delay", "max_delay", "initial_target", "capacity",
        "silence", "conceal_repeats", "attenuate", "_spf", "_mask",
        "_slot_seq", "_slot_ts", "_slot_payload", "_slot_arrival",
        "_state", "_started", "_start_at", "_next_seq", "_next_ts", "_max_seq", "_max_ts",
        "_anchor_ts", "_mean_transit", "_last_transit", "_jitter", "_slow_jitter", "_target",
        "_last_step", "_last_drop", "_delay", "_last_payload", "_conceal_payload",
        "_conceal_run", "_pending_underruns", "_probe", "_drain",
        "received", "duplicates", "late", "concealed", "reordered", "played", "underruns",
        "gaps", "inserted", "dropped", "resyncs",
    )

    def __init__(self, clock_rate: int = 8000, frame_ms: int = 20, min_delay_ms: float = 20,
                 max_delay_ms: float = 200, target_ms: float = 60, *,
                 silence: bytes = SILENCE_ULAW, conceal_repeats: int = 2,
                 attenuate: Callable[[bytes], bytes] | None = None,
                 capacity: int | None = None):
        if clock_rate <= 0 or frame_ms <= 0 or clock_rate * frame_ms % 1000:
            raise ValueError(f"{frame_ms} ms frames at {clock_rate} Hz")
        if not 0 <= min_delay_ms <= max_delay_ms:
            raise ValueError(f"delay bounds {min_delay_ms}..{max_delay_ms} ms")
        self.clock_rate = clock_rate
        self.frame_ms = frame_ms
        self.min_delay = min_delay_ms / 1000
        self.max_delay = max_delay_ms / 1000
        self.initial_target = min(max(target_ms / 1000, self.min_delay), self.max_delay)
        if capacity is None:
            needed = 2 * int(max_delay_ms // frame_ms + 1) + 8
            capacity = 16
            while capacity < needed:
                capacity *= 2
        if capacity & (capacity - 1) or capacity < 4:
            raise ValueError(f"capacity {capacity} is not a power of two >= 4")
        self.capacity = capacity
        self.silence = bytes(silence)
        self.conceal_repeats = conceal_repeats
        self.attenuate = attenuate
        self._spf = clock_rate * frame_ms // 1000
        self._mask = capacity - 1
        self._slot_seq = [-1] * capacity  # extended sequence number held, or -1
        self._slot_ts = [0] * capacity
        self._slot_payload: list[bytes | None] = [None] * capacity  # None once consumed
        self._slot_arrival = [0.0] * capacity
        self._target = self.initial_target
        self._jitter = 0.0  # seconds
        self._slow_jitter = 0.0
        self._last_payload = None
        self._conceal_payload = None
        self._conceal_run = 0
        self._started = False
        self._state = _IDLE
        self._drain: deque[tuple[bytes, int, float]] = deque()
        self.received = self.duplicates = self.late = self.concealed = 0
        self.reordered = self.played = self.underruns = self.gaps = 0
        self.inserted = self.dropped = self.resyncs = 0
        self._forget()

    # --- inputs ---

    def push(self, seq: int, timestamp: int, payload: bytes, now: float) -> None:
        self.received += 1
        if self._state == _IDLE:
            self._anchor(seq, timestamp, payload, now)
            return
        ext_seq = self._next_seq + uint16_diff(seq, self._next_seq & 0xFFFF)
        ext_ts = self._next_ts + uint32_diff(timestamp, self._next_ts & 0xFFFFFFFF)
        seq_off = ext_seq - self._next_seq
        slots_ahead = round((ext_ts - self._next_ts) / self._spf)
        if seq_off < -MAX_MISORDER:
            if self._probe == seq:  # a second packet in the new sequence: re-sync
                self._resync(seq, timestamp, payload, now)
            else:  # a stray from long ago (its timing says nothing about the network)
                self._probe = (seq + 1) & 0xFFFF
                self.late += 1
            return
        self._probe = None
        if seq_off >= self.capacity or abs(slots_ahead) >= self.capacity:
            self._resync(seq, timestamp, payload, now)
            return
        index = ext_seq & self._mask
        if self._slot_seq[index] == ext_seq:
            self.duplicates += 1
            return
        transit = now - (ext_ts - self._anchor_ts) / self.clock_rate
        if seq_off < 0 or slots_ahead < 0:
            if self._state == _BUFFERING and seq_off < 0 and slots_ahead < 0:
                self._rewind(ext_seq, ext_ts)  # reordered before playout began
            else:
                self._late(ext_seq, transit, now)
                return
        self._observe(transit, now)
        self._resolve_underruns(ext_seq - slots_ahead - self._next_seq, True)
        if ext_seq < self._max_seq:
            self.reordered += 1
        else:
            self._max_seq, self._max_ts = ext_seq, ext_ts
        self._slot_seq[index] = ext_seq
        self._slot_ts[index] = ext_ts
        self._slot_payload[index] = payload
        self._slot_arrival[index] = now

    def pop(self, now: float) -> Frame | None:
        if self._state != _PLAYING:
            if self._state == _IDLE or now < self._start_at:
                if not self._started:
                    return None
                return self._rebuffering()
            self._state = _PLAYING
            self._started = True
            self._last_step = self._last_drop = now
            if self._drain:  # the old stream's tail ran out of time
                self.dropped += len(self._drain)
                self._drain.clear()
        self._step_target(now)
        frame_s = self.frame_ms / 1000
        delay = now - (self._next_ts - self._anchor_ts) / self.clock_rate - self._mean_transit
        if delay < self._target - 0.25 * frame_s:
            self.inserted += 1
            self._delay = delay + frame_s
            return self._conceal(None)
        if delay >= self._target + 1.25 * frame_s and self._shrink(now):
            delay -= frame_s
        self._delay = delay
        return self._take_slot()

    def reset(self) -> None:
        """Forget the stream's sequence and timestamp spaces (a new SSRC). The packets
        already buffered still play, then concealment until the new stream is held for
        the target delay."""
        self._forget()

    # --- reading ---

    def get_delay_ms(self) -> float:
        """The playout delay: how far the playout point runs behind the mean arrival."""
        return 1000 * (self._delay if self._state == _PLAYING else self._target)

    @property
    def target_ms(self) -> float:
        return round(1000 * self._target, 6)

    @property
    def jitter_ms(self) -> float:
        return 1000 * self._jitter

    @property
    def depth_ms(self) -> float:
        if self._state == _IDLE or self._max_ts < self._next_ts:
            return 0.0
        return 1000 * (self._max_ts + self._spf - self._next_ts) / self.clock_rate

    def stats(self) -> JitterStats:
        return JitterStats(
            received=self.received, duplicates=self.duplicates, late=self.late,
            concealed=self.concealed, reordered=self.reordered, played=self.played,
            underruns=self.underruns, gaps=self.gaps, inserted=self.inserted,
            dropped=self.dropped, resyncs=self.resyncs, depth_ms=self.depth_ms,
            delay_ms=self.get_delay_ms(), target_ms=self.target_ms, jitter_ms=self.jitter_ms,
        )

    # --- internals: the stream ---

    def _forget(self) -> None:
        """Drop the stream; its buffered packets, in order, wait in the drain."""
        for ext_seq in range(self._next_seq, self._max_seq + 1) if self._state else ():
            index = ext_seq & self._mask
            if self._slot_seq[index] == ext_seq and self._slot_payload[index] is not None:
                if len(self._drain) >= self.capacity:  # (pops have stopped: keep it bounded)
                    self._drain.popleft()
                    self.dropped += 1
                self._drain.append((self._slot_payload[index], ext_seq & 0xFFFF,
                                    self._slot_arrival[index]))
        self._state = _IDLE
        self._slot_seq = [-1] * self.capacity
        self._slot_payload = [None] * self.capacity
        self._next_seq = self._max_seq = 0
        self._next_ts = self._max_ts = self._anchor_ts = 0
        self._start_at = 0.0
        self._mean_transit = 0.0
        self._last_transit = None
        self._delay = 0.0
        self._pending_underruns = 0
        self._probe = None
        self._last_step = self._last_drop = 0.0

    def _anchor(self, seq: int, timestamp: int, payload: bytes, now: float) -> None:
        """Start a stream at this packet, held for the target delay."""
        self._state = _BUFFERING
        self._next_seq = self._max_seq = seq
        self._next_ts = self._max_ts = self._anchor_ts = timestamp
        self._start_at = now + self._target
        self._mean_transit = now
        self._last_transit = now
        index = seq & self._mask
        self._slot_seq[index] = seq
        self._slot_ts[index] = timestamp
        self._slot_payload[index] = payload
        self._slot_arrival[index] = now

    def _resync(self, seq: int, timestamp: int, payload: bytes, now: float) -> None:
        self.resyncs += 1
        self._forget()
        self._anchor(seq, timestamp, payload, now)

    def _rewind(self, ext_seq: int, ext_ts: int) -> None:
        """An earlier packet arrived before playout began: begin with it instead."""
        self._next_seq, self._next_ts = ext_seq, ext_ts

    def _observe(self, transit: float, now: float) -> None:
        """RFC 3550 A.8 jitter and the mean transit; the jitter may raise the target."""
        if self._last_transit is not None:
            d = abs(transit - self._last_transit)
            self._jitter += (d - self._jitter) / 16
            self._slow_jitter += (d - self._slow_jitter) * SLOW_JITTER_GAIN
        self._last_transit = transit
        self._mean_transit += (transit - self._mean_transit) * TRANSIT_GAIN
        wanted = JITTER_FACTOR * self._slow_jitter
        if wanted > self._target + self.frame_ms / 2000:  # (a dead band against flapping)
            self._target = self._whole_frames(wanted)
            self._last_step = now

    def _late(self, ext_seq: int, transit: float, now: float) -> None:
        """A packet whose slot has been played: drop it, and raise the target to the
        delay that would have played it."""
        self._resolve_underruns(ext_seq + 1 - self._next_seq, False)
        if ext_seq >= self._next_seq:
            self._next_seq = ext_seq + 1
        self._note_late_transit(transit, now)
        self._observe(transit, now)

    def _note_late_transit(self, transit: float, now: float) -> None:
        self.late += 1
        needed = self._whole_frames(transit - self._mean_transit + self.frame_ms / 2000)
        self._target = max(self._target, needed)
        self._last_step = now

    def _step_target(self, now: float) -> None:
        """One frame down per SHRINK_INTERVAL of calm, not below what the jitter needs."""
        if now - self._last_step < SHRINK_INTERVAL:
            return
        self._last_step = now
        frame_s = self.frame_ms / 1000
        if JITTER_FACTOR * self._slow_jitter < self._target - frame_s:
            self._target = max(self.min_delay, round(self._target - frame_s, 9))

    def _whole_frames(self, delay: float) -> float:
        """A delay rounded up to whole frames (the playout point moves by frames, so a
        finer target would only make it flap), within the bounds."""
        frames = math.ceil(delay * 1000 / self.frame_ms - 1e-9)
        return min(max(round(frames * self.frame_ms / 1000, 9), self.min_delay), self.max_delay)

    def _resolve_underruns(self, passed: int, on_time: bool) -> None:
        """Classify the pops that found the buffer empty, now that a packet shows which
        sequence numbers their slots belonged to: `passed` missing packets whose slots
        have gone by were concealed; if the packet is on time, the other empty pops
        were the sender pausing."""
        pending = self._pending_underruns
        if not pending:
            return
        lost = min(pending, max(passed, 0))
        self.concealed += lost
        pending -= lost
        if on_time:
            self.gaps += pending
            pending = 0
        self._pending_underruns = pending

    # --- internals: playing ---

    def _rebuffering(self) -> Frame:
        """A pop while a new stream is held: the old stream's tail, then concealment."""
        if self._drain:
            payload, seq, arrived = self._drain.popleft()
            self.played += 1
            self._last_payload = payload
            self._conceal_run = 0
            return Frame(payload, False, seq, arrived)
        self.inserted += 1
        return self._conceal(None)

    def _shrink(self, now: float) -> bool:
        """Take one frame out of the delay: a silent slot of a sender's pause at once,
        else the due packet if none was dropped within DROP_INTERVAL."""
        index = self._first_buffered()
        if index is None:
            return False
        ext_seq, ext_ts = self._slot_seq[index], self._slot_ts[index]
        if ext_seq == self._next_seq and ext_ts - self._next_ts >= self._spf:
            self._next_ts += self._spf  # the sender paused here: skip a silent slot
            return True
        if now - self._last_drop < DROP_INTERVAL or ext_seq != self._next_seq \
                or ext_ts - self._next_ts >= self._spf / 2:
            return False
        self._consume(index)
        self.dropped += 1
        self._last_drop = now
        return True

    def _first_buffered(self) -> int | None:
        """Ring index of the first buffered packet at or after the playout point."""
        seq_of, payload_of, mask = self._slot_seq, self._slot_payload, self._mask
        for ext_seq in range(self._next_seq, self._max_seq + 1):
            index = ext_seq & mask
            if seq_of[index] == ext_seq and payload_of[index] is not None:
                return index
        return None

    def _consume(self, index: int) -> bytes:
        payload = self._slot_payload[index]
        self._slot_payload[index] = None
        self._next_seq = self._slot_seq[index] + 1
        self._next_ts = self._slot_ts[index] + self._spf
        return payload

    def _take_slot(self) -> Frame:
        index = self._first_buffered()
        if index is None:
            self.underruns += 1
            self._pending_underruns += 1
            self._next_ts += self._spf
            return self._conceal(None)
        ext_seq = self._slot_seq[index]
        slots_ahead = round((self._slot_ts[index] - self._next_ts) / self._spf)
        if slots_ahead <= 0:
            payload = self._consume(index)
            self.played += 1
            self._last_payload = payload
            self._conceal_run = 0
            return Frame(payload, False, ext_seq & 0xFFFF, self._slot_arrival[index])
        self._next_ts += self._spf
        first_missing = max(self._next_seq, ext_seq - slots_ahead)
        if first_missing < ext_seq:  # a hole: this slot's packet is missing
            self._next_seq = first_missing + 1
            self.concealed += 1
            return self._conceal(first_missing & 0xFFFF)
        self.gaps += 1  # the next packet is contiguous but later: the sender paused
        self._conceal_run = self.conceal_repeats
        return Frame(self.silence, True, None)

    def _conceal(self, seq: int | None) -> Frame:
        run = self._conceal_run
        self._conceal_run += 1
        if run < self.conceal_repeats and self._last_payload is not None:
            if run == 0:
                self._conceal_payload = self._last_payload
            if self.attenuate is not None:
                self._conceal_payload = self.attenuate(self._conceal_payload)
            return Frame(self._conceal_payload, True, seq)
        return Frame(self.silence, True, seq)
