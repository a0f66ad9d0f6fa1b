"""One reactor timer for the 20 ms slots of every agent call (media.slot_wheel).

Members implement `slot_due(now)` and re-schedule themselves from it. New schedules
start on the wheel's grid (`align`), so their deadlines fall exactly on it.

The reactor runs its timers only between batches of reads, and a read group's batch
(edge.polling) can take a millisecond or more with hundreds of calls: `run_due`, called
between its reads, serves the slots that have just come due without waiting for the
batch's end. Only slots due within `preempt_within` seconds (half the jitter buffer's
smallest delay) go ahead of the reads: further behind, the reactor has stalled, and the
caller packets those slots should play may be among the reads still queued; the timer
serves them after the batch, as before."""

from twisted.logger import Logger

from ...media.slot_wheel import SlotWheel

log = Logger()


class SlotTicker:
    def __init__(self, reactor, resolution: float = 0.001, preempt_within: float = 0.010):
        self._reactor = reactor
        self._preempt_within = preempt_within
        self._wheel = SlotWheel(resolution)
        self._timer = None
        self._armed_for = 0.0
        self._firing = False

    def __len__(self) -> int:
        return len(self._wheel)

    def align(self, now: float) -> float:
        return self._wheel.align(now)

    def schedule(self, member, deadline: float) -> None:
        self._wheel.schedule(member, deadline)
        if not self._firing:
            self._arm()

    def cancel(self, member) -> None:
        self._wheel.cancel(member)
        if not self._firing and not self._wheel:
            self._arm()  # nobody left: no timer

    def _arm(self) -> None:
        deadline = self._wheel.next_deadline()
        timer = self._timer
        if timer is not None:
            if deadline is not None and self._armed_for <= deadline:
                return
            timer.cancel()
            self._timer = None
        if deadline is None:
            return
        self._armed_for = deadline
        self._timer = self._reactor.callLater(max(0.0, deadline - self._reactor.seconds()),
                                              self._fire)

    def run_due(self) -> None:
        """Between reads: serve now the slots that came due within `preempt_within`."""
        timer = self._timer
        if timer is None or self._firing:
            return
        late = self._reactor.seconds() - self._armed_for
        if 0 <= late < self._preempt_within:
            timer.cancel()
            self._fire()

    def _fire(self) -> None:
        self._timer = None
        self._firing = True
        try:
            now = self._reactor.seconds()
            for member in self._wheel.due(now):
                try:
                    member.slot_due(now)
                except Exception:
                    log.failure("agent call slot failed")
        finally:
            self._firing = False
        self._arm()
