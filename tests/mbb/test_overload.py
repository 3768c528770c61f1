"""The buffer under healthy overload (issue 13): it sheds the excess without tripping the
breaker, admits only what can be answered before the deadline, and deadline propagation
drains a retry storm."""
from __future__ import annotations

import math
from collections import deque

from hypothesis import given, settings
from hypothesis import strategies as st

from mbsim import simulate
from mbsim.mbb.buffer import STALL_SERVICES, BufferSettings, MountainBikeBuffer
from mbsim.params import override
from mbsim.world import catalog


def short_overload(**changes):
    """8K -> 32K req/s (2x the 16K capacity) from 2 s to 3 s, held to 5 s, back to 8K."""
    sc = override(catalog.get("overload"), {"duration_s": 8.5, "warmup_s": 0.5,
                                             "workload.ramps": [[2.0, 3.0, 32000.0], [5.0, 5.5, 8000.0]]})
    return override(sc, changes)


def opens(r) -> int:
    return sum(1 for _, s in r.transitions if s == 1)


def test_mbb_sheds_overload_without_tripping_and_keeps_the_goodput():
    r = simulate(short_overload(), "mbb", seed=3)
    m = r.metrics
    assert opens(r) <= 1 and m["false_open_share"] < 0.05
    assert m["overload_goodput_ratio"] >= 0.8  # real answers within the SLO, against 16K req/s
    assert m["fresh_share"] >= 0.5 and m["success_ratio"] == 1.0
    assert r.server["shed"] > 0  # it did shed: the excess went to the snapshot, not to the queue
    # the literal reading admits 50-200 ms of queue behind a 5 ms deadline: its breaker flaps
    lit = simulate(short_overload(), "mbb-literal", seed=3)
    assert opens(lit) >= 2 and lit.metrics["false_open_share"] > 0.2
    assert lit.metrics["overload_goodput_ratio"] < 0.5


def test_a_stalled_service_still_trips_the_breaker(monkeypatch):
    """db-down hangs the backend from 4 s to 9 s: everything is shed, and those 429s report
    a failing backend (no completion for 10 mean service times), so the breaker opens once
    its 1 s window holds a failure ratio of 50 %: about 0.5 s in."""
    r = simulate("db-down", "mbb", seed=1, duration_s=10.0)
    first_open = next(t for t, s in r.transitions if s == 1)
    assert 4.0 <= first_open < 5.0 and r.metrics["decision_accuracy"] > 0.85
    # without the stall signal the sheds hide the outage from the breaker: it never opens
    monkeypatch.setattr(MountainBikeBuffer, "shed_is_failure", lambda self, now, done: False)
    assert opens(simulate("db-down", "mbb", seed=1, duration_s=10.0)) == 0


def test_deadline_propagation_drains_a_retry_storm():
    """none under the short overload: its retries keep the attempts above capacity after
    the load falls, and a plain server never recovers; a server that drops the jobs its
    clients will not take recovers."""
    plain = simulate(short_overload(), "none", seed=2)
    assert plain.metrics["recovered"] is False
    dropping = simulate(short_overload(**{"service.drop_abandoned": True}), "none", seed=2)
    assert dropping.metrics["recovered"] is True and dropping.metrics["recovery_s"] <= 2.0
    assert dropping.server["dropped"] > 0
    late = dropping.timeseries.iloc[-2:]  # the last two seconds: back to fresh, fast answers
    assert (late["good"] >= 0.95 * late["arrivals"]).all()


def buffer(waiting: int, busy: int, workers: int, mean_s: float, sq_s: float, margin: float, rtt_s: float):
    b = MountainBikeBuffer(BufferSettings(capacity_min=256, capacity_max=256, margin_sd=margin), workers, mean_s,
                           rtt_s)
    b.attach(deque(range(waiting)), lambda: busy, lambda: 0)
    b.mean_service_s, b.sq_service_s = mean_s, sq_s
    return b


@settings(max_examples=300, deadline=None)
@given(waiting=st.integers(0, 200), workers=st.integers(1, 64), busy_all=st.booleans(),
       mean_ms=st.floats(0.05, 20), cv=st.floats(0, 3), margin=st.floats(0, 4), rtt_ms=st.floats(0, 2),
       budget_ms=st.floats(-5, 50))
def test_the_buffer_admits_only_what_its_estimate_says_can_make_the_deadline(
        waiting, workers, busy_all, mean_ms, cv, margin, rtt_ms, budget_ms):
    """Estimated, with every worker busy: the time to the answer is k gaps of mean/workers
    (k = waiting + 1) plus one service, plus the RTT; its variance k (mean/workers)^2 plus
    the service time's. Admitted means that estimate plus ``margin`` standard deviations is
    within the budget - so, in particular, the expected wait alone never exceeds it."""
    mean = mean_ms / 1e3
    sq = mean * mean * (1 + cv * cv)
    busy = workers if busy_all else workers - 1
    b = buffer(waiting if busy_all else 0, busy, workers, mean, sq, margin, rtt_ms / 1e3)
    now, give_up = 10.0, 10.0 + budget_ms / 1e3
    admitted = b.admit(now, give_up)
    if not busy_all:
        assert admitted  # an idle worker: nobody waits
        return
    k = waiting + 1
    wait = k * mean / workers
    sd = math.sqrt(k * (mean / workers) ** 2 + (sq - mean * mean))
    fits = now + wait + mean + margin * sd + rtt_ms / 1e3 <= give_up
    assert admitted == (fits and waiting < 255)
    if admitted:
        assert wait <= give_up - now


def test_stalled_means_no_completion_for_ten_mean_services_with_every_worker_busy():
    b = buffer(5, 4, 4, 1e-3, 1e-6, 2.0, 0.0)
    assert not b.shed_is_failure(1.000, done=100)  # first look: progress
    assert not b.shed_is_failure(1.000 + STALL_SERVICES * 1e-3 * 0.9, done=100)
    assert b.shed_is_failure(1.000 + STALL_SERVICES * 1e-3 * 1.1, done=100)
    assert not b.shed_is_failure(1.020, done=101)  # a completion: not stalled
    idle = buffer(0, 3, 4, 1e-3, 1e-6, 2.0, 0.0)
    idle.shed_is_failure(1.0, 7)
    assert not idle.shed_is_failure(2.0, 7)  # an idle worker: not stalled
