"""The pieces the peers share (:mod:`mbsim.policies.parts`), against hand computation: the
rolling window's buckets, the refusal state, Log10RootFunction, the in-flight count and the
caller's options."""
from __future__ import annotations

from typing import Any

import pytest

from mbsim.policies.parts import CallerOptions, Inflight, RefusalState, RollingWindow, log10_root
from mbsim.policies.protection import Pool
from mbsim.strategy import State

W = 0.25  # s: a 1 s window of 4 buckets


def test_a_count_stays_for_exactly_the_window_when_the_clock_moves_a_bucket_at_a_time():
    r = RollingWindow(1.0, 4, 2)
    r.add(0.0, 0, 3)
    for e in (1, 2, 3):  # buckets 0..3 are the window while the clock is in bucket 3
        assert r.sums(e * W) == [3, 0]
    assert r.sums(4 * W) == [0, 0]  # bucket 0 left at 1 s


def test_counts_after_long_idle_spells_stay_exact():
    r = RollingWindow(1.0, 4, 2)
    r.add(0.1, 1, 2)
    assert r.sums(1.0) == [0, 0]
    assert r.sums(2.0) == [0, 0] and r.sums(7.3) == [0, 0]  # every bucket emptied, none twice
    r.add(7.3, 0)
    r.add(7.6, 0)
    assert r.sums(7.9) == [2, 0] and r.sums(8.3) == [1, 0] and r.sums(8.6) == [0, 0]


def test_reset_empties_every_bucket_for_good():
    r = RollingWindow(1.0, 4, 2)
    for t in (0.0, 0.3, 0.6, 0.9):
        r.add(t, 0)
    r.reset()
    assert r.sums(0.9) == [0, 0]
    r.add(1.0, 1)
    assert r.sums(1.1) == [0, 1] and r.sums(5.0) == [0, 0]


def test_the_refusal_state_counts_the_last_100_ms_in_25_ms_buckets():
    s = RefusalState()
    s.note(0.02, True)  # bucket [0, 25 ms)
    s.note(0.02, True)
    s.note(0.02, False)
    assert s.state(0.099) == State.OPEN  # 2 of 3 refused
    assert s.state(0.1) == State.CLOSED  # their bucket left the window at 100 ms


@pytest.mark.parametrize("limit, root", [(-5, 1), (0, 1), (1, 1), (9, 1), (10, 1), (99, 1), (100, 2),
                                      (999, 2), (1000, 31), (1024, 32), (10000, 100)])
def test_log10_root(limit, root):
    """max(1, int(log10(limit))) below 1000, int(sqrt(limit)) from 1000 on."""
    assert log10_root(limit) == root


def test_inflight_pairs_each_report_with_the_count_its_call_saw():
    f = Inflight()
    for _ in range(3):
        f.acquire()
    assert f.n == 3
    assert [f.release(), f.release()] == [1, 2]  # in the order the calls started
    assert f.n == 1
    f.acquire()
    assert [f.release(), f.release()] == [3, 2]
    assert f.n == 0
    assert f.release() == 0 and f.n == -1  # a report with no call: the count before it


def test_caller_options_build_the_protection_they_name():
    p = CallerOptions(timeout_ms=5.0, fallback=True, pool_threads=8, pool_queue=2).protection(None)  # type: ignore[arg-type]  # a fake or a deliberately wrong input
    assert (p.deadline_ms, p.fallback, p.pool) == (5.0, True, Pool(8, 2))
    q = CallerOptions().protection(None)  # type: ignore[arg-type]  # a fake or a deliberately wrong input
    assert (q.deadline_ms, q.fallback, q.pool) == (None, False, None)  # 0 means none


class Recorder:
    """A limit algorithm that records what the limiter feeds it."""

    def __init__(self, limit: float) -> None:
        self.limit = limit
        self.calls: list[tuple[Any, ...]] = []

    def update(self, rtt: float, inflight: int, did_drop: bool) -> None:
        self.calls.append((rtt, inflight, did_drop))


def test_the_simple_limiter_feeds_successes_as_samples_drops_as_drops_and_ignores_errors():
    from mbsim.outcome import Outcome
    from mbsim.policies.limiters import SimpleLimiter

    algo = Recorder(3.9)  # int(3.9) = 3 in flight at most
    lim = SimpleLimiter(algo)
    assert [lim.allow(0.0) for _ in range(4)] == [True, True, True, False]
    assert lim.state(0.0) == State.CLOSED  # 1 of 4 refused
    assert [lim.allow(0.0) for _ in range(3)] == [False] * 3
    assert lim.state(0.0) == State.OPEN  # 4 of 7: mostly refusing
    lim.report(0.001, Outcome.SUCCESS, 0.001)
    lim.report(0.002, Outcome.ERROR, 0.002)  # onIgnore: no sample
    lim.report(0.003, Outcome.TIMEOUT, 0.003)
    assert lim.allow(0.004)
    lim.report(0.005, Outcome.REJECTED, 0.001)
    assert [(r, n, d) for r, n, d in algo.calls] == [(0.001, 1, False), (0.003, 3, True), (0.001, 1, True)]
    assert lim.state(0.2) == State.CLOSED  # the refusals left the 100 ms window
    assert all(type(d) is bool for _, _, d in algo.calls)
