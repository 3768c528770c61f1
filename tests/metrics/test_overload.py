"""The overload metrics on hand-built traces with known answers (mbsim.metrics.overload),
and through the recorder."""
from __future__ import annotations

import math

import pytest

from mbsim.metrics import overload
from mbsim.metrics.recorder import Recorder
from mbsim.outcome import FALLBACK, SUCCESS, TIMEOUT
from mbsim.world.slo import Slo
from mbsim.world.workload import Workload


def test_goodput_ratio_counts_against_what_the_service_could_do():
    # capacity 100/s: 50 arrive (could 50), 300 arrive (could 100), 100 arrive (could 100)
    assert overload.goodput_ratio([50, 90, 95], [50, 300, 100], 100.0) == pytest.approx(235 / 250)
    assert math.isnan(overload.goodput_ratio([], [], 100.0))


def test_overload_interval_of_a_ramp_up_and_down():
    # 50 -> 200 between 2 s and 8 s (crosses 100 at 4 s), holds, steps down to 50 at 12 s
    w = Workload(rate_rps=50.0, ramps=((2.0, 8.0, 200.0),), steps=((12.0, 50.0),))
    on, off = overload.overload_interval(w, 100.0, 20.0)  # type: ignore[misc]  # the fixture's window exists
    assert on == pytest.approx(4.0, abs=0.011) and off == pytest.approx(12.0, abs=0.011)
    assert overload.overload_interval(Workload(rate_rps=50.0), 100.0, 20.0) is None
    assert overload.overload_interval(Workload(rate_rps=150.0), 100.0, 20.0) == (0.0, 20.0)
    assert overload.windows_inside([3, 4, 5, 11, 12], (4.0, 12.0)) == [1, 2, 3]


def test_recovery_time_from_the_per_second_p99():
    secs = list(range(2, 20))
    p99 = [2.0, 2.2, 1.8, 2.0] + [50.0] * 8 + [40.0, 3.0, 2.3, 2.1, 2.0, 2.0]  # overload 6..14
    # pre-overload median 2.0, within 20 %: <= 2.4; windows from 14: 40, 3.0, 2.3 (second 16)
    assert overload.recovery_s(secs, p99, (6.0, 14.0), warmup_s=2.0) == 2.0
    assert overload.recovery_s(secs, p99[:14], (6.0, 14.0), warmup_s=2.0) == math.inf  # ends first
    assert math.isnan(overload.recovery_s(secs, p99, None, warmup_s=2.0))
    assert math.isnan(overload.recovery_s(secs, p99, (1.0, 14.0), warmup_s=2.0))  # nothing before


def test_the_recorder_counts_fresh_good_and_false_open():
    rec = Recorder(0.0, Slo(target_ms=10.0), capacity_rps=4.0, overload=(1.0, 2.0))
    arrived = iter([6, 14])
    rec.arrivals = lambda: next(arrived)
    rec._arr_mark = 0
    # second 0: 3 fast real answers, one slow real answer, one fast snapshot answer, one timeout
    for lat in (0.001, 0.002, 0.003, 0.050):
        rec.settle(0.5, SUCCESS, lat)
    rec.settle(0.5, FALLBACK, 0.005)
    rec.settle(0.6, TIMEOUT, 0.100)
    # second 1 (overloaded: 8 arrive, 4 could be answered): 4 fast real answers, 4 snapshot
    for _ in range(4):
        rec.settle(1.5, SUCCESS, 0.002)
        rec.settle(1.5, FALLBACK, 0.004)
    rec.finish(2.0)
    rows = rec.seconds
    assert [(r[0], r[8], r[9]) for r in rows] == [(0, 6, 3), (1, 8, 4)]
    for t, state, unhealthy in ((0.0, 0, False), (0.01, 1, False), (0.02, 1, True), (0.03, 0, False)):
        rec.sample_state(t, state, unhealthy)
    m = rec.overload_metrics()
    assert m["goodput_ratio"] == pytest.approx((3 + 4) / (4 + 4))
    assert m["overload_goodput_ratio"] == pytest.approx(4 / 4)
    assert m["fresh_share"] == pytest.approx(8 / 13)  # 4 + 4 real, 1 + 4 snapshot
    assert m["false_open_share"] == pytest.approx(1 / 3)  # blocked in 1 of the 3 samples while up
