"""The shared re-tuning (:mod:`mbsim.mbb.retune`) against hand computation: what history
it keeps, when it re-tunes, its statistics, and the concurrency limit from P95."""
from __future__ import annotations

import math
from typing import Any

import pytest
from helpers import Reading

from mbsim.mbb.buffer import BufferSettings
from mbsim.mbb.retune import Interval, Retuner
from mbsim.mbb.topology import TopologySettings


def iv(offered: int, lat: list[float]) -> Interval:
    return Interval(offered, len(lat), sum(lat), sum(x * x for x in lat), list(lat))


def retuner(keep: bool = False, **settings: Any) -> tuple[Retuner, list[Any]]:
    applied: list[Any] = []
    return Retuner(BufferSettings(**settings), keep, lambda w, c, lim: applied.append((w, c, lim))), applied


def test_it_starts_at_the_narrowest_window_and_the_largest_capacity_with_no_limit():
    r, _ = retuner(True, window_min_ms=60.0, capacity_max=128)
    assert (r.window_s, r.capacity, r.limit) == (0.06, 128, math.inf)


@pytest.mark.parametrize("keep, settings, maxlen", [
    (True, {}, 200),  # the 10 s concurrency window in 50 ms samples
    (False, {}, 160),  # the 8 s long window
    (False, {"concurrency_window_s": 20.0}, 160),  # read only with latencies kept
    (True, {"concurrency_window_s": 20.0}, 400),
    (False, {"adjust_s": 30.0}, 600),
    (False, {"adjust_s": 0.05, "topology": TopologySettings(short_ms=50, medium_ms=50, long_ms=50, decline_ms=50)}, 1),
    (False, {"adjust_s": 0.001, "topology": TopologySettings(sample_ms=1, long_ms=5000)}, math.ceil(5.0 / 0.001)),
])
def test_the_history_keeps_the_longest_span_a_re_tune_reads(keep, settings, maxlen):
    r, _ = retuner(keep, **settings)
    assert r.history.maxlen == maxlen


def test_it_re_tunes_every_adjust_s():
    r, applied = retuner(adjust_s=2.0)  # 40 samples of 50 ms
    for k in range(1, 40):
        r.step(k * 0.05, iv(10, [0.001]), None)
    assert applied == []
    r.step(2.0, iv(10, [0.001]), None)
    assert len(applied) == 1 and r.retunes[0][:2] == (2.0, "period")
    every, _ = retuner(adjust_s=0.05, topology=TopologySettings(long_ms=50, short_ms=50, medium_ms=50, decline_ms=50))
    for k in range(1, 4):
        every.step(k * 0.05, iv(10, [0.001]), None)
    assert [cause for _, cause, *_ in every.retunes] == ["period"] * 3


def test_stats_by_hand():
    r, _ = retuner(True)
    assert r.stats(1.0)[:2] == (0.0, 0.0) and math.isnan(r.stats(1.0)[2])  # nothing measured yet
    r.history.append(iv(10, [0.001, 0.003]))
    r.history.append(iv(30, [0.002, 0.006]))
    rps, std_ms, p95 = r.stats(0.1)
    assert rps == 400.0  # 40 requests in 2 x 50 ms
    # sample stddev of 1, 3, 2, 6 ms: mean 3, squares 4 + 0 + 1 + 9 over n - 1 = 3
    assert std_ms == pytest.approx(math.sqrt(14 / 3), rel=1e-9)
    assert p95 == pytest.approx(3 + 0.85 * 3, rel=1e-9)  # sorted 1, 2, 3, 6: 95 % at 2.85
    assert r.stats(0.05)[:2] == (600.0, pytest.approx(math.sqrt(8.0)))  # the last 50 ms only
    one, _ = retuner(True)
    one.history.append(iv(10, [0.001, 0.004]))
    assert one.stats(0.05)[1] == pytest.approx(math.sqrt(4.5), rel=1e-9)  # two samples have a spread
    single, _ = retuner(False)
    single.history.append(iv(10, [0.004]))
    _, std_ms, p95 = single.stats(0.05)
    assert std_ms == 0.0 and math.isnan(p95)  # one sample has no spread
    single.history.append(iv(10, [0.004, 0.008]))
    _, std_ms, p95 = single.stats(0.05)
    assert std_ms > 0 and math.isnan(p95)  # no latencies kept: no P95


def test_mean_latency_over_the_last_span():
    r, _ = retuner()
    assert r.mean_latency_ms(1.0) == 0.0  # no completions
    for lat in ([0.010], [0.001, 0.003], [0.002, 0.006]):
        r.history.append(iv(10, lat))
    assert r.mean_latency_ms(0.05) == pytest.approx(4.0)  # the last interval only
    assert r.mean_latency_ms(0.1) == pytest.approx(3.0)
    assert r.mean_latency_ms(1.0) == pytest.approx(22 / 5)


def test_the_concurrency_limit_is_k_over_p95_within_its_window_with_a_floor():
    r, applied = retuner(True, concurrency_window_s=0.1, concurrency_k=1000.0, adjust_s=0.15)
    r.step(0.05, iv(10, [0.5] * 5), None)  # slow, but outside the 100 ms window by the re-tune
    r.step(0.10, iv(10, [0.010] * 5), None)
    r.step(0.15, iv(10, [0.010] * 5), None)
    assert r.limit == pytest.approx(1000.0 / 10.0)  # p95 = 10 ms
    assert applied[-1] == (r.window_s, r.capacity, r.limit)
    t, cause, window_ms, cap, limit = r.retunes[-1]
    assert (t, cause, cap, limit) == (0.15, "period", r.capacity, r.limit) and window_ms == r.window_s * 1e3
    slow, _ = retuner(True, concurrency_window_s=0.1, concurrency_k=1000.0, concurrency_floor=20.0, adjust_s=0.1)
    slow.step(0.05, iv(10, [0.2] * 5), None)
    slow.step(0.10, iv(10, [0.2] * 5), None)
    assert slow.limit == 20.0  # 1000 / 200 ms = 5: the floor
    plain, _ = retuner(False, adjust_s=0.1)
    plain.step(0.05, iv(10, [0.2] * 5), None)
    plain.step(0.10, iv(10, [0.2] * 5), None)
    assert plain.limit == math.inf  # window mode keeps no latencies and no limit
    assert len(plain.retunes) == 1


def test_a_sensor_drives_the_topology_at_every_step():
    """With a load sensor, each step ticks the topology: a load acceleration above 1.8
    opens the short window, whose close 200 ms later re-tunes from those 200 ms."""
    r, _ = retuner(adjust_s=10.0)
    r.step(0.05, iv(10, [0.001]), Reading(accel=3.0))
    assert r.topology.opened["short"] == 1 and r.topology.open_until["short"] == pytest.approx(0.25)
    for k in range(2, 5):
        r.step(k * 0.05, iv(10, [0.001]), Reading())
    assert r.retunes == []
    r.step(0.25, iv(10, [0.001]), Reading())
    assert [(t, cause) for t, cause, *_ in r.retunes] == [(0.25, "short")]


def test_a_re_tune_moves_the_damping_share_of_the_way_to_the_formulas_targets():
    """window = 50 + 150 * stddev / 10 ms; 20 req/s -> capacity 32. Undamped,
    the first re-tune lands on them; with damping 0.5 the next goes half-way."""
    r, _ = retuner(adjust_s=0.1)
    lat = [0.010, 0.020]  # 10, 20, 10, 20 ms: sample stddev sqrt(100 / 3) = 5.77 ms
    r.step(0.05, iv(1, lat), None)
    r.step(0.10, iv(1, lat), None)
    assert r.window_s == pytest.approx((50 + 150 * math.sqrt(100 / 3) / 10) / 1e3, rel=1e-9)
    assert r.capacity == 32  # 20 req/s: one doubling of 16
    r.damping = 0.5
    w0 = r.window_s
    r.step(0.15, iv(4, [0.010]), None)  # 80 req/s -> 128 slots; stddev 0 -> 50 ms
    r.step(0.20, iv(4, [0.010]), None)
    assert r.window_s == pytest.approx(w0 + 0.5 * (0.050 - w0), rel=1e-9)
    assert r.capacity == 80  # round(32 + 0.5 * (128 - 32))
