"""The recorder on a hand-made run: every summary metric against hand computation.

Warm-up 1 s, SLO 10 ms at P80 with a 0.4 budget of violating windows, capacity 10 req/s,
overload from 2 to 3 s. Outcomes by second (latency in ms):
  [1, 2): 8 successes of 2, a fallback of 5, a timeout of 50        (11 arrived)
  [2, 3): 3 successes of 2, an error of 1, a rejection of 20        (20 arrived)
  [3, 4): a success of 60                                            (1 arrived)
  [4, 5): nothing                                                    (0 arrived)
  [5, 6): a success of 4                                             (1 arrived)
  [6, 6.5): a success of 3, in the histogram only (a partial second)
"""
from __future__ import annotations

import math
import statistics

import pytest

from mbsim.engine.windows import windows
from mbsim.metrics.recorder import Recorder
from mbsim.outcome import ERROR, FALLBACK, REJECTED, SUCCESS, TIMEOUT
from mbsim.world.slo import Slo


def run(budget: float = 0.4) -> Recorder:
    rec = Recorder(1.0, Slo(target_ms=10.0, percentile=80.0, budget=budget), capacity_rps=10.0, overload=(2.0, 3.0))
    arrived = [0]
    rec.arrivals = lambda: arrived[0]
    rec.settle(0.5, SUCCESS, 0.001)  # warm-up: not counted
    for i in range(8):
        rec.settle(1.1 + i * 0.01, SUCCESS, 0.002)
    rec.settle(1.5, FALLBACK, 0.005)
    rec.settle(1.9, TIMEOUT, 0.050)
    arrived[0] = 11
    for i in range(3):
        rec.settle(2.1 + i * 0.01, SUCCESS, 0.002)
    rec.settle(2.5, ERROR, 0.001)
    rec.settle(2.6, REJECTED, 0.020)
    arrived[0] = 31
    rec.settle(3.5, SUCCESS, 0.060)
    arrived[0] = 32
    rec.settle(5.5, SUCCESS, 0.004)
    arrived[0] = 33
    rec.settle(6.2, SUCCESS, 0.003)
    rec.finish(6.5)
    for now, state, unhealthy in ((0.5, 0, False), (1.0, 0, False), (1.5, 1, True), (2.0, 1, False), (2.5, 0, True)):
        rec.sample_state(now, state, unhealthy)
    return rec


def test_the_per_second_rows():
    rows = run().seconds
    assert [r[0] for r in rows] == [1, 2, 3, 4, 5]
    assert [r[1:4] for r in rows] == [(10, 1, 1), (5, 2, 0), (1, 0, 0), (0, 0, 0), (1, 0, 0)]  # n, failed, fallback
    assert [r[6:] for r in rows] == [(1, False, 11, 8), (2, True, 20, 3), (1, True, 1, 0), (0, False, 0, 0),
                                     (0, False, 1, 1)]  # bad, violated, arrivals, good
    # per-second P99 by linear interpolation: 5 + 0.91 * 45, 2 + 0.96 * 18
    assert rows[0][5] == pytest.approx(45.95) and rows[1][5] == pytest.approx(19.28)
    assert rows[2][4:6] == (pytest.approx(60.0), pytest.approx(60.0)) and math.isnan(rows[3][5])


def test_the_summary_by_hand():
    m = run().summary(5.5)
    lat = sorted([2.0] * 11 + [5.0, 50.0, 1.0, 20.0, 60.0, 4.0, 3.0])  # ms, 18 requests
    assert m["requests"] == 18
    assert m["counts"] == {"success": 14, "fallback": 1, "rejected": 1, "timeout": 1, "error": 1, "miss": 0}
    assert m["success_ratio"] == 15 / 18 and m["real_success_ratio"] == 14 / 18
    for name in ("fallback", "rejected", "timeout", "error"):
        assert m[f"{name}_ratio"] == 1 / 18
    assert m["miss_ratio"] == 0.0
    assert m["goodput_rps"] == 15 / 5.5 and m["backend_goodput_rps"] == 14 / 5.5
    assert m["latency_mean_ms"] == pytest.approx(sum(lat) / 18, rel=1e-9)
    for key, rank in (("p50_ms", 9), ("p90_ms", 17), ("p99_ms", 18), ("p999_ms", 18), ("p9999_ms", 18)):
        assert m[key] == pytest.approx(lat[rank - 1], rel=5e-4), key  # the first value at or above q * n
    assert m["p99_jitter_ms"] == pytest.approx(statistics.stdev([45.95, 19.28, 60.0, 4.0]), rel=1e-9)
    assert (m["slo_target_ms"], m["slo_percentile"], m["slo_budget"]) == (10.0, 80.0, 0.4)
    assert m["slo_violation_ratio"] == 0.4 and m["slo_met"] is True  # 2 of 5 windows, at the budget
    assert m["decision_accuracy"] == 0.5 and m["blocked_share"] == 0.5
    assert m["false_open_share"] == 0.5  # blocked in 1 of the 2 samples while healthy
    assert m["goodput_ratio"] == 12 / 22  # good 8 + 3 + 0 + 0 + 1 over min(arrived, 10)
    assert m["overload_goodput_ratio"] == 0.3  # [2, 3): 3 good of 10 it could answer
    assert m["fresh_share"] == 14 / 15
    assert m["recovery_s"] == 2.0 and m["recovered"] is True  # [5, 6) is back within 20 % of 45.95 ms


def test_a_budget_just_below_the_violations_is_missed():
    assert run(budget=0.39).summary(5.5)["slo_met"] is False


def test_state_changes_are_recorded_from_the_start_and_samples_after_the_warm_up():
    rec = run()
    assert rec.transitions == [(0.5, 0), (1.5, 1), (2.5, 0)]
    assert (rec.state_samples, rec.up_samples) == (4, 2)


def test_an_empty_run():
    rec = Recorder(1.0, Slo())
    rec.finish(1.5)
    m = rec.summary(0.5)
    assert m["requests"] == 0 and math.isnan(m["success_ratio"]) and math.isnan(m["real_success_ratio"])
    assert math.isnan(m["slo_violation_ratio"]) and m["slo_met"] is False
    assert math.isnan(m["p99_jitter_ms"]) and math.isnan(m["decision_accuracy"]) and math.isnan(m["fresh_share"])
    one = Recorder(0.0, Slo())
    one.settle(0.5, SUCCESS, 0.001)
    one.finish(1.0)
    assert math.isnan(one.summary(1.0)["p99_jitter_ms"])  # one window has no spread


def test_answers_exactly_at_the_slo_target_are_in_time():
    rec = Recorder(0.0, Slo(target_ms=10.0, percentile=50.0))
    rec.settle(0.1, SUCCESS, 0.010)
    rec.settle(0.2, FALLBACK, 0.010)
    rec.settle(0.3, ERROR, 0.010)
    rec.settle(0.4, SUCCESS, 0.001)
    rec.settle(0.5, SUCCESS, 0.003)
    rec.finish(1.0)
    (second, n, failed, fallback, p50, p99, bad, violated, _, good), = rec.seconds
    assert second == 0 and violated is False  # 1 bad of 5: P50 allows 2.5
    assert (n, failed, fallback, bad, good) == (5, 1, 1, 1, 3)  # the error is bad; 3 real answers in time
    assert p50 == pytest.approx(10.0) and p99 == pytest.approx(10.0)
    two = Recorder(0.0, Slo())
    two.settle(0.5, SUCCESS, 0.001)
    two.settle(0.6, SUCCESS, 0.003)
    two.settle(1.5, SUCCESS, 0.002)
    two.finish(2.0)
    assert two.seconds[0][4] == pytest.approx(2.0)  # the median of 1 and 3 ms
    assert two.summary(2.0)["p99_jitter_ms"] == pytest.approx(statistics.stdev([2.98, 2.0]), rel=1e-9)


def test_fresh_share_recovery_and_the_first_state():
    rec = Recorder(0.0, Slo(), overload=(1.0, 2.0))
    rec.sample_state(0.0, 1, True)  # the first sample is a change, whatever the state
    rec.settle(0.5, SUCCESS, 0.001)
    rec.settle(0.6, FALLBACK, 0.001)
    rec.settle(2.5, TIMEOUT, 0.050)  # never back under the pre-overload P99
    rec.finish(3.0)
    m = rec.summary(3.0)
    assert rec.transitions == [(0.0, 1)]
    assert m["fresh_share"] == 0.5
    assert math.isnan(m["recovery_s"]) and m["recovered"] is False
    assert run().summary(5.5)["recovered"] is True
    plain = Recorder(0.0, Slo())
    plain.finish(1.0)
    assert plain.summary(1.0)["recovered"] is None  # no overload: not asked


def test_the_process_drops_the_warm_up_and_closes_each_second_as_it_ends():
    import simpy

    env = simpy.Environment()
    rec = Recorder(1.0, Slo())
    arrived = [0]
    rec.arrivals = lambda: arrived[0]
    env.process(windows(env, rec))
    lane = rec.success_lane

    def load(env):
        yield env.timeout(0.5)
        lane(0.001)  # in the warm-up: dropped at 1 s
        arrived[0] = 4
        yield env.timeout(0.7)  # 1.2 s
        lane(0.002)
        arrived[0] = 7
        yield env.timeout(1.0)  # 2.2 s: the window [1, 2) closed at 2 s with one request
        assert len(rec.seconds) == 1
        lane(0.003)

    env.process(load(env))
    env.run(until=3.01)
    assert [r[:2] for r in rec.seconds] == [(1, 1), (2, 1)]
    assert rec.seconds[0][8] == 3  # arrivals counted from the end of the warm-up
