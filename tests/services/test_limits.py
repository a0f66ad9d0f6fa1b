"""Trunk limits on a Clock: concurrent calls, calls per second, releases, metrics."""

import pytest
from twisted.internet.task import Clock

from softswitch.metrics import Metrics
from softswitch.services.limits import DEFAULT_CONCURRENT_RETRY_AFTER, TrunkLimiter
from softswitch.services.routing import Trunk


@pytest.fixture
def clock():
    clock = Clock()
    clock.advance(1_000_000)
    return clock


@pytest.fixture
def metrics():
    return Metrics()


@pytest.fixture
def limiter(clock, metrics):
    return TrunkLimiter(clock, metrics=metrics)


def trunk(max_concurrent=None, max_cps=None, name="carrier"):
    return Trunk(name, (), max_concurrent=max_concurrent, max_cps=max_cps)


def sample(metrics, name, **labels):
    return metrics.registry.get_sample_value(name, labels)


def test_a_burst_of_300_calls_in_one_second_without_limits_is_all_admitted(clock, limiter):
    unlimited = trunk()
    admissions = []
    for i in range(300):
        if i % 10 == 0:
            clock.advance(1 / 30)
        admissions.append(limiter.acquire(unlimited, "inbound"))
    assert all(a.admitted for a in admissions)
    assert limiter.active("carrier", "inbound") == 300


def test_a_burst_up_to_max_cps_is_admitted_at_once_then_refused(limiter, metrics):
    limited = trunk(max_cps=300, max_concurrent=1000)
    assert all(limiter.acquire(limited, "outbound").admitted for _ in range(300))
    refused = limiter.acquire(limited, "outbound")
    assert not refused.admitted and refused.reason == "cps" and refused.retry_after == 1
    assert sample(metrics, "softswitch_trunk_limit_refusals_total", trunk="carrier",
                  reason="cps") == 1
    assert limiter.active("carrier", "outbound") == 300


def test_tokens_refill_continuously(clock, limiter):
    limited = trunk(max_cps=10)
    assert all(limiter.acquire(limited, "inbound").admitted for _ in range(10))
    assert not limiter.acquire(limited, "inbound").admitted
    clock.advance(0.1)
    assert limiter.acquire(limited, "inbound").admitted
    assert not limiter.acquire(limited, "inbound").admitted
    clock.advance(0.35)  # three and a half tokens
    assert [limiter.acquire(limited, "inbound").admitted for _ in range(4)] == [
        True, True, True, False]
    clock.advance(60)  # the bucket never holds more than max_cps
    assert sum(limiter.acquire(limited, "inbound").admitted for _ in range(20)) == 10


def test_fractional_cps_holds_one_token_and_retry_after_rounds_up(clock, limiter):
    slow = trunk(max_cps=0.25)
    assert limiter.acquire(slow, "outbound").admitted
    refused = limiter.acquire(slow, "outbound")
    assert refused.reason == "cps" and refused.retry_after == 4
    clock.advance(3)
    assert limiter.acquire(slow, "outbound").retry_after == 1
    clock.advance(1)
    assert limiter.acquire(slow, "outbound").admitted


def test_concurrent_cap_and_release(limiter, metrics):
    capped = trunk(max_concurrent=2)
    first, second = limiter.acquire(capped, "inbound"), limiter.acquire(capped, "inbound")
    refused = limiter.acquire(capped, "inbound")
    assert not refused.admitted and refused.reason == "concurrent"
    assert refused.retry_after == DEFAULT_CONCURRENT_RETRY_AFTER
    assert sample(metrics, "softswitch_trunk_active_calls", trunk="carrier",
                  direction="inbound") == 2
    first.release()
    first.release()  # idempotent: frees one slot, not two
    assert limiter.active("carrier", "inbound") == 1
    assert limiter.acquire(capped, "inbound").admitted
    assert not limiter.acquire(capped, "inbound").admitted
    refused.release()  # releasing a refusal does nothing
    assert limiter.active("carrier", "inbound") == 2
    second.release()
    assert sample(metrics, "softswitch_trunk_active_calls", trunk="carrier",
                  direction="inbound") == 1
    assert sample(metrics, "softswitch_trunk_limit_refusals_total", trunk="carrier",
                  reason="concurrent") == 2


def test_directions_are_counted_separately_against_the_same_limits(limiter):
    capped = trunk(max_concurrent=1, max_cps=1)
    assert limiter.acquire(capped, "inbound").admitted
    assert limiter.acquire(capped, "outbound").admitted
    assert not limiter.acquire(capped, "inbound").admitted
    assert not limiter.acquire(capped, "outbound").admitted
    assert limiter.status() == [
        {"trunk": "carrier", "direction": "inbound", "active": 1},
        {"trunk": "carrier", "direction": "outbound", "active": 1}]


def test_trunks_do_not_share_limits(limiter):
    assert limiter.acquire(trunk(max_concurrent=1, name="a"), "inbound").admitted
    assert limiter.acquire(trunk(max_concurrent=1, name="b"), "inbound").admitted


def test_a_full_trunk_does_not_spend_a_token(clock, limiter):
    limited = trunk(max_concurrent=1, max_cps=1)
    call = limiter.acquire(limited, "inbound")
    assert limiter.acquire(limited, "inbound").reason == "concurrent"
    call.release()
    clock.advance(1)
    assert limiter.acquire(limited, "inbound").admitted


def test_new_limits_from_a_reload_apply_to_calls_in_progress(limiter):
    calls = [limiter.acquire(trunk(max_concurrent=5), "outbound") for _ in range(4)]
    assert all(c.admitted for c in calls)
    assert not limiter.acquire(trunk(max_concurrent=3), "outbound").admitted
    for call in calls[:2]:
        call.release()
    assert limiter.acquire(trunk(max_concurrent=3), "outbound").admitted


def test_an_unknown_direction_is_our_bug(limiter):
    with pytest.raises(ValueError):
        limiter.acquire(trunk(), "sideways")
