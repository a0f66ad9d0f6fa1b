"""Per-frame latency counts: buckets, quantiles, sums."""

import pytest

from softswitch.media.latency import LatencyHistogram


def test_values_land_in_the_first_bucket_at_or_above_them():
    counts = LatencyHistogram((0.001, 0.002, 0.005))
    for value in (0.0005, 0.001, 0.0015, 0.004, 0.3):
        counts.observe(value)
    assert counts.counts == [2, 1, 1, 1]
    assert counts.count == 5
    assert counts.sum == pytest.approx(0.307)
    assert counts.max == 0.3
    assert counts.cumulative() == [("0.001", 2), ("0.002", 3), ("0.005", 4), ("+Inf", 5)]


def test_quantiles_interpolate_within_the_bucket_and_never_pass_the_maximum():
    counts = LatencyHistogram((0.01, 0.02))
    for _ in range(100):
        counts.observe(0.015)
    assert counts.quantile(0.5) == pytest.approx(0.015)  # capped by the max seen
    counts.observe(0.005)
    assert 0.01 <= counts.quantile(0.99) <= 0.015
    assert LatencyHistogram().quantile(0.5) is None
    with pytest.raises(ValueError):
        counts.quantile(1.5)


def test_summary_in_milliseconds_for_a_call_record():
    counts = LatencyHistogram()
    for value in [0.002] * 98 + [0.05, 0.07]:
        counts.observe(value)
    summary = counts.summary_ms()
    assert summary["count"] == 100
    assert summary["p50"] <= 2.0
    assert 40 <= summary["p99"] <= 70
    assert summary["max"] == 70.0
    assert LatencyHistogram().summary_ms() == {"count": 0, "p50": None, "p95": None,
                                              "p99": None, "max": None}


def test_adding_histograms():
    a, b = LatencyHistogram(), LatencyHistogram()
    a.observe(0.001)
    b.observe(0.5)
    a.add(b)
    assert a.count == 2 and a.max == 0.5
    with pytest.raises(ValueError):
        a.add(LatencyHistogram((1.0,)))
    with pytest.raises(ValueError):
        LatencyHistogram((0.2, 0.1))
