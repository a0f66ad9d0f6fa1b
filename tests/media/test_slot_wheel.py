"""The shared 1 ms grid that serves every call's 20 ms slots."""

import pytest

from softswitch.media.slot_wheel import SlotWheel


def test_align_rounds_up_to_the_grid_and_keeps_grid_points():
    wheel = SlotWheel(0.001)
    assert wheel.align(10.0003) == pytest.approx(10.001)
    assert wheel.align(10.001) == pytest.approx(10.001)


def test_members_come_due_at_their_grid_point_earliest_first():
    wheel = SlotWheel(0.001)
    start = wheel.align(100.0004)
    wheel.schedule("a", start + 0.020)
    wheel.schedule("b", start + 0.005)
    wheel.schedule("c", start + 0.005)
    assert wheel.next_deadline() == pytest.approx(start + 0.005)
    assert wheel.due(start + 0.0049) == []
    assert wheel.due(start + 0.005) == ["b", "c"]
    assert "b" not in wheel and len(wheel) == 1
    assert wheel.due(start + 0.5) == ["a"]
    assert wheel.next_deadline() is None


def test_a_deadline_between_grid_points_is_never_early():
    wheel = SlotWheel(0.001)
    wheel.schedule("a", 5.0004)
    assert wheel.next_deadline() == pytest.approx(5.001)
    assert wheel.due(5.0009) == []
    assert wheel.due(5.001) == ["a"]


def test_twenty_ms_schedules_stay_on_their_grid_point_for_an_hour():
    wheel = SlotWheel(0.001)
    start = wheel.align(12345.6789)
    slot = 3600 * 50  # an hour of slots later, float error and all
    deadline = start + slot * 0.02
    wheel.schedule("a", deadline)
    assert wheel.deadline_of("a") == pytest.approx(deadline, abs=1e-9)


def test_rescheduling_moves_a_member_and_cancel_removes_it():
    wheel = SlotWheel(0.001)
    wheel.schedule("a", 1.010)
    wheel.schedule("a", 1.002)
    wheel.schedule("b", 1.010)
    assert wheel.next_deadline() == pytest.approx(1.002)
    wheel.cancel("a")
    wheel.cancel("a")  # (twice: nothing)
    assert wheel.next_deadline() == pytest.approx(1.010)
    assert wheel.due(2.0) == ["b"]


def test_a_stall_hands_out_every_member_whose_time_passed():
    wheel = SlotWheel(0.001)
    for index in range(20):
        wheel.schedule(index, 1.0 + index * 0.001)
    assert sorted(wheel.due(1.5)) == list(range(20))


def test_resolution_must_be_positive():
    with pytest.raises(ValueError):
        SlotWheel(0)
