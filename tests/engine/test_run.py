"""The model reproduces, to the float, the waits of a Lindley recursion and of a heap of
server-free times when fed pre-drawn arrays (FIFO, nothing rejected)."""
import heapq

import numpy as np
import pytest
from helpers import queue_scenario

from mbsim.engine.run import run_model
from mbsim.policies.protection import Protection


def lindley(gaps, services):
    """Waits of a single FIFO server, in absolute-time form of Lindley's recursion."""
    t, free, waits = 0.0, 0.0, []
    for a, s in zip(gaps, services):
        t = t + a
        start = t if t >= free else free
        waits.append(start - t)
        free = start + s
    return waits


def heap_of_free_times(gaps, services, c):
    t, free, waits = 0.0, [0.0] * c, []
    for a, s in zip(gaps, services):
        t = t + a
        earliest = heapq.heappop(free)
        start = t if t >= earliest else earliest
        waits.append(start - t)
        heapq.heappush(free, start + s)
    return waits


def model_waits(gaps, services, c):
    end = heap_of_free_times(gaps, services, c)  # only to size the run: last start + its service
    horizon = float(np.sum(gaps)) + max(end) + max(services) + 1.0
    sc = queue_scenario(c, 1.0, 1.0, duration_s=horizon, warmup_s=0.0)
    trace: list[float] = []
    run_model(sc, Protection(), seed=0, gaps=gaps, services=services, trace=trace)
    return trace


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_single_worker_matches_lindley_exactly(seed):
    rng = np.random.default_rng(seed)
    gaps = rng.exponential(1e-3, 20000).tolist()  # times in s: 1000 req/s
    services = rng.lognormal(np.log(1e-3) - 0.3, 0.8, 20000).tolist()  # rho about 0.95: long busy periods
    want = lindley(gaps, services)
    got = model_waits(gaps, services, 1)
    assert len(got) == len(want)
    assert got == want  # exact float equality, not approx
    assert sum(w > 0 for w in want) > 5000  # the path really queues


@pytest.mark.parametrize("c", [2, 5, 16])
def test_c_workers_match_heap_of_free_times_exactly(c):
    rng = np.random.default_rng(100 + c)
    gaps = rng.exponential(1e-3, 20000).tolist()
    services = rng.exponential(0.9e-3 * c, 20000).tolist()
    want = heap_of_free_times(gaps, services, c)
    got = model_waits(gaps, services, c)
    assert got == want
    assert sum(w > 0 for w in want) > 1000


def test_exact_path_detects_a_wrong_discipline():
    """The comparison is sharp: a LIFO reference differs from the model."""
    rng = np.random.default_rng(7)
    gaps = rng.exponential(1e-3, 2000).tolist()
    services = rng.exponential(0.95e-3, 2000).tolist()
    got = model_waits(gaps, services, 1)
    shifted = lindley(gaps, services[1:] + services[:1])
    assert got != shifted
