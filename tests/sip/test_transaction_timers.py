"""Timer values (RFC 3261 Table 4, RFC 6026) and the deadline heap behind get_timer()."""

import dataclasses

import pytest

from softswitch.sip.timers import TimerConfig, TimerHeap


def test_defaults_follow_rfc3261_table_4_and_rfc6026():
    config = TimerConfig()
    assert (config.t1, config.t2, config.t4) == (0.5, 4.0, 5.0)
    assert (config.A, config.E, config.G) == (0.5, 0.5, 0.5)
    assert (config.B, config.F, config.H, config.J) == (32.0, 32.0, 32.0, 32.0)
    assert config.D == 32.0
    assert (config.I, config.K) == (5.0, 5.0)
    assert (config.L, config.M) == (32.0, 32.0)
    assert config.trying == 0.2


def test_derived_timers_follow_t1_and_t4_and_d_stays_above_32_seconds():
    config = TimerConfig(t1=1.0, t2=8.0, t4=10.0)
    assert (config.B, config.F, config.H, config.J, config.L, config.M) == (64.0,) * 6
    assert (config.I, config.K) == (10.0, 10.0)
    assert config.D == 64.0
    assert TimerConfig(t1=0.1).D == 32.0


def test_config_is_frozen_and_validated():
    config = TimerConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.t1 = 1.0
    for bad in (dict(t1=0), dict(t1=5.0, t2=4.0), dict(t4=0), dict(trying=-1)):
        with pytest.raises(ValueError):
            TimerConfig(**bad)


class Owner:
    def __init__(self, name):
        self.name = name
        self.timers = {}


def test_heap_fires_due_timers_in_deadline_order_then_arming_order():
    heap = TimerHeap()
    a, b = Owner("a"), Owner("b")
    heap.arm(a, "E", 2.0)
    heap.arm(b, "F", 1.0)
    heap.arm(b, "E", 2.0)
    assert heap.next_deadline() == 1.0
    assert list(heap.pop_due(0.999)) == []
    assert [(o.name, t) for o, t in heap.pop_due(2.0)] == [("b", "F"), ("a", "E"), ("b", "E")]
    assert heap.next_deadline() is None and a.timers == {} and b.timers == {}


def test_rearmed_and_cancelled_timers_are_skipped_lazily():
    heap = TimerHeap()
    owner = Owner("x")
    heap.arm(owner, "E", 1.0)
    heap.arm(owner, "E", 3.0)  # re-armed: the 1.0 entry is stale
    heap.arm(owner, "F", 2.0)
    heap.cancel(owner, "F")
    heap.cancel(owner, "F")  # twice is harmless
    assert heap.next_deadline() == 3.0
    assert [t for _, t in heap.pop_due(10.0)] == ["E"]
    assert len(heap) == 0


def test_a_timer_armed_while_firing_fires_too_when_already_due():
    heap = TimerHeap()
    owner = Owner("x")
    heap.arm(owner, "A", 1.0)
    fired = []
    for _, timer in heap.pop_due(5.0):
        fired.append(timer)
        if timer == "A":
            heap.arm(owner, "B", 4.0)
            heap.arm(owner, "C", 6.0)
    assert fired == ["A", "B"]
    assert heap.next_deadline() == 6.0


def test_stale_entries_are_swept_when_they_outnumber_live_ones():
    heap = TimerHeap()
    owners = [Owner(i) for i in range(20_000)]
    for i, owner in enumerate(owners):
        heap.arm(owner, "F", 32.0 + i)
    for owner in owners[:15_000]:
        heap.cancel_all(owner)
    assert len(heap) < 10_000
    assert heap.next_deadline() == 32.0 + 15_000


def test_a_timer_that_raises_drops_its_transaction_and_the_run_goes_on(monkeypatch):
    """One machine's fault must not cost the other transactions their timers."""
    from softswitch.sip import transaction_server
    from softswitch.sip.transaction import TimerFailed, TransactionLayer, TransactionTerminated
    from test_transaction_wire import UDP_PEER, build_request

    layer = TransactionLayer()
    keys = []
    for _ in range(2):
        [event] = layer.receive_request(build_request("INVITE"), UDP_PEER, 0.0)
        keys.append(event.key)
    original = transaction_server.InviteServerTransaction.fire

    def fire(self, timer, now, out):
        if self.key == keys[0]:
            raise RuntimeError("a machine bug")
        original(self, timer, now, out)

    monkeypatch.setattr(transaction_server.InviteServerTransaction, "fire", fire)
    events = layer.handle_timer(0.2)
    failed = [e for e in events if isinstance(e, TimerFailed)]
    assert [e.key for e in failed] == [keys[0]]
    assert TransactionTerminated(keys[0]) in events
    assert [e for e in events if getattr(e, "key", None) == keys[1]]  # its 100 Trying
    assert len(layer) == 1
