"""One reactor timer for every call's 20 ms slots, on a Clock."""


from twisted.internet.task import Clock

from softswitch.edge.media.slot_ticker import SlotTicker


class Member:
    """Re-schedules itself every 20 ms from its aligned start, like an agent session."""

    def __init__(self, ticker, clock, start, stop_after=None):
        self.ticker, self.clock = ticker, clock
        self.start, self.slot = start, 0
        self.calls = []
        self.stop_after = stop_after
        ticker.schedule(self, start)

    def slot_due(self, now):
        self.calls.append(now)
        # Every slot due by now is handled in this call (as the bridge's pacer does).
        self.slot = max(self.slot + 1, int((now - self.start) / 0.02 + 1e-9) + 1)
        if self.stop_after is None or self.slot < self.stop_after:
            self.ticker.schedule(self, self.start + self.slot * 0.02)


def test_many_members_are_served_by_one_timer_at_their_own_deadlines():
    clock = Clock()
    clock.advance(1000.0004)
    ticker = SlotTicker(clock)
    members = []
    for n in range(30):
        start = ticker.align(clock.seconds() + n * 0.0007)
        members.append(Member(ticker, clock, start))
    assert len(clock.getDelayedCalls()) == 1
    for _ in range(2000):  # 1 s in 0.5 ms steps
        clock.advance(0.0005)
        assert len(clock.getDelayedCalls()) == 1
    for member in members:
        assert len(member.calls) == int((1000.0004 + 1.0 - member.start) / 0.02) + 1
        for slot, at in enumerate(member.calls):
            assert 0 <= at - (member.start + slot * 0.02) < 0.0006


def test_a_stalled_reactor_serves_everyone_due_at_once():
    clock = Clock()
    ticker = SlotTicker(clock)
    members = [Member(ticker, clock, ticker.align(n * 0.001)) for n in range(10)]
    clock.advance(0.2)
    assert all(len(m.calls) == 1 and m.calls[0] == 0.2 for m in members)


def test_no_timer_is_left_when_the_last_member_leaves():
    clock = Clock()
    ticker = SlotTicker(clock)
    a = Member(ticker, clock, 0.0)
    b = Member(ticker, clock, 0.01, stop_after=1)
    clock.advance(0.011)
    ticker.cancel(a)
    assert len(ticker) == 0
    assert clock.getDelayedCalls() == []
    assert b.calls == [0.011] and a.calls == [0.011]


def test_a_member_that_raises_does_not_stop_the_others():
    clock = Clock()
    ticker = SlotTicker(clock)

    class Broken:
        def slot_due(self, now):
            raise RuntimeError("boom")

    ticker.schedule(Broken(), 0.0)
    good = Member(ticker, clock, 0.0, stop_after=3)
    for _ in range(10):
        clock.advance(0.02)
    assert good.calls == [0.02, 0.04]  # (slot 1 caught up at 0.02), then slot 2


def _ticker_with_member(deadline: float):
    clock = Clock()
    ticker = SlotTicker(clock, preempt_within=0.010)
    member = Member(ticker, clock, deadline, stop_after=2)
    return clock, ticker, member


def test_a_slot_just_due_runs_between_reads_without_its_timer():
    clock, ticker, member = _ticker_with_member(0.020)
    clock.rightNow = 0.0203  # time has passed; the reactor is busy reading, not at its timers
    ticker.run_due()
    assert member.calls == [0.0203]
    # The timer it no longer needs is gone; one is armed for the next slot.
    assert [call.getTime() for call in clock.getDelayedCalls()] == [0.040]
    clock.advance(0)
    assert member.calls == [0.0203]


def test_a_slot_not_yet_due_waits():
    clock, ticker, member = _ticker_with_member(0.020)
    clock.rightNow = 0.0199
    ticker.run_due()
    assert member.calls == []
    assert [call.getTime() for call in clock.getDelayedCalls()] == [0.020]


def test_after_a_stall_slots_wait_for_the_reads_and_their_timer():
    # 15 ms late: the caller packets those slots play may still be unread.
    clock, ticker, member = _ticker_with_member(0.020)
    clock.rightNow = 0.035
    ticker.run_due()
    assert member.calls == []
    clock.advance(0)  # the reactor's timers, after the batch of reads
    assert member.calls == [0.035]


def test_run_due_inside_a_firing_does_nothing():
    clock = Clock()
    ticker = SlotTicker(clock)

    class Reentrant:
        calls = 0

        def slot_due(self, now):
            self.calls += 1
            ticker.run_due()  # (a member that reads sockets itself)

    member = Reentrant()
    ticker.schedule(member, 0.001)
    other = Member(ticker, clock, 0.001, stop_after=1)
    clock.advance(0.001)
    assert member.calls == 1 and other.calls == [0.001]
