"""Metric definitions: histogram quantiles, P99 jitter, SLO windows, decision accuracy."""
import math

import numpy as np
import pytest

from mbsim.engine.timers import FifoTimers
from mbsim.metrics.histogram import LogHistogram
from mbsim.metrics.recorder import Recorder
from mbsim.outcome import FALLBACK, MISS, SUCCESS, TIMEOUT
from mbsim.world.slo import Slo


def test_histogram_quantiles_within_relative_error():
    x = np.random.default_rng(1).lognormal(-6, 1.5, 200_000)
    h = LogHistogram()
    h.add(x)
    for q in (0.5, 0.9, 0.99, 0.999, 0.9999):
        exact = np.quantile(x, q, method="inverted_cdf")
        assert h.quantile(q) == pytest.approx(exact, rel=5.0001e-4)  # the documented rel_error
    assert h.mean == pytest.approx(x.mean())


def test_recorder_per_second_p99_jitter_and_slo():
    rec = Recorder(warmup_s=1.0, slo=Slo(target_ms=10, percentile=99, budget=0.2))
    rng = np.random.default_rng(2)
    p99s = []
    for sec in range(1, 6):
        lat = rng.uniform(0, 0.001 * sec, 1000)  # second k: uniform up to k ms
        for i, v in enumerate(lat):
            rec.settle(sec + i / 1000, SUCCESS, v)
        p99s.append(np.percentile(lat, 99) * 1e3)
    rec.settle(0.5, TIMEOUT, 1.0)  # during warm-up: ignored
    rec.finish(6.0)
    s = rec.summary(5.0)
    assert s["requests"] == 5000
    assert s["p99_jitter_ms"] == pytest.approx(np.std(p99s, ddof=1))
    assert s["slo_violation_ratio"] == 0 and s["slo_met"]


def test_slo_window_counts_failures_as_bad():
    rec = Recorder(warmup_s=0.0, slo=Slo(target_ms=10, percentile=99, budget=0.0))
    for i in range(100):
        rec.settle(0.001 * i, SUCCESS, 0.001)
    rec.settle(0.5, MISS, 0.0)  # one fast failure in 101: 0.99 % bad, not > 1 %
    for i in range(100):
        rec.settle(1.0 + 0.001 * i, SUCCESS, 0.001)
    rec.settle(1.5, TIMEOUT, 0.0)
    rec.settle(1.6, TIMEOUT, 0.0)  # two in 102: 1.96 % bad
    rec.finish(2.0)
    rows = rec.seconds
    k = Recorder.COLUMNS.index("slo_violated")
    assert [r[k] for r in rows] == [False, True]
    assert not rec.summary(2.0)["slo_met"]


def test_decision_accuracy_definition():
    rec = Recorder(warmup_s=0.0, slo=Slo())
    # 10 samples: breaker open during 3..6, backend down during 2..6
    for k in range(10):
        rec.sample_state(k, 1 if 3 <= k < 7 else 0, 2 <= k < 7)
    s = rec.summary(10)
    assert s["decision_accuracy"] == 0.9 and s["blocked_share"] == 0.4
    assert rec.transitions == [(0, 0), (3, 1), (7, 0)]


def test_outcome_ratios():
    rec = Recorder(warmup_s=0.0, slo=Slo())
    for kind, n in ((SUCCESS, 6), (FALLBACK, 3), (MISS, 1)):
        for _ in range(n):
            rec.settle(0.1, kind, 0.001)
    rec.finish(1.0)
    s = rec.summary(1.0)
    assert s["success_ratio"] == 0.9 and s["fallback_ratio"] == 0.3 and s["miss_ratio"] == 0.1
    assert s["goodput_rps"] == 9 and s["backend_goodput_rps"] == 6


class Item:
    def __init__(self):
        self.settled = False


def test_fifo_timers_fire_in_order_and_skip_settled():
    import simpy
    env = simpy.Environment()
    fired = []
    timers = FifoTimers(env, 1.0, lambda it, due: fired.append((env.now, due, it)), lambda it, due: it.settled)
    items = [Item() for _ in range(5)]

    def setter(env):
        for it in items:
            timers.set(it, env.now)
            yield env.timeout(0.3)
    env.process(setter(env))
    items[1].settled = True
    env.run(until=10)
    assert [f[2] for f in fired] == [items[0], items[2], items[3], items[4]]
    assert all(math.isclose(now, due) for now, due, _ in fired)
    assert timers.events <= 5
