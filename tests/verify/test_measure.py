"""The verification's arithmetic, without a testbed: outcomes from recorded times, the
validity gates, and the percentile intervals against their promised coverage."""
import dataclasses
import math
import warnings

import numpy as np
import pytest

from mbsim.formats import wire as P
from mbsim.metrics import intervals
from mbsim.outcome import ERROR, FALLBACK, MISS, SUCCESS, TIMEOUT
from mbsim.verify import gates, measure
from mbsim.verify.client import arrays
from mbsim.verify.testbed import RawRun, requests_of
from mbsim.world import catalog

MS = 1_000_000


def raw_with(n: int, fill) -> RawRun:
    sc = dataclasses.replace(catalog.get("loss12"), duration_s=10.0, warmup_s=0.0)
    a = arrays(n)
    t0 = 10**12
    a["planned"][:] = t0 + np.arange(n) * MS
    a["sent"][0::4] = a["planned"]
    fill(a, t0)
    return RawRun(sc, "test", 1, t0, a.copy(), {}, [], {}, True)


def test_each_request_takes_its_first_valid_answer():
    def fill(a, t0):
        p = a["planned"]
        a["live"][0] = p[0] + 2 * MS  # 0: a live answer in time -> success, 2 ms
        a["live_status"][0] = P.ST_OK
        a["live"][4] = p[1] + 7 * MS  # 1: live after the 5 ms deadline, the re-ask answered at 5.01 ms
        a["live_status"][4] = P.ST_OK
        a["fb"][1] = p[1] + 5 * MS + 10_000
        a["fb"][2] = p[2] + 5 * MS  # 2: the snapshot had no such key -> miss
        a["fb_status"][2] = P.ST_NOT_FOUND
        a["gave_up"][3] = p[3] + 300 * MS  # 3: the client gave up -> timeout at 300 ms
        a["error_at"][4] = p[4] + 3 * MS  # 4: the last attempt's error answer
        a["sent"][5 * 4] = p[5] + 40_000  # 5: sent 40 us late, answered 1 ms after sending
        a["live"][5 * 4] = p[5] + 40_000 + MS
        a["live_status"][5 * 4] = P.ST_OK
    o = measure.outcomes(raw_with(7, fill), deadline_ms=5.0)
    assert list(o.kind[:6]) == [SUCCESS, FALLBACK, MISS, TIMEOUT, ERROR, SUCCESS]
    assert o.kind[6] == measure.UNRESOLVED and not o.in_window[6]
    assert o.latency_s[0] == pytest.approx(0.002) and o.latency_s[1] == pytest.approx(0.00501)
    assert o.latency_s[3] == pytest.approx(0.300)
    # corrected from the planned send, uncorrected from the actual one
    assert o.latency_s[5] == pytest.approx(0.00104) and o.latency_uncorrected_s[5] == pytest.approx(0.001)
    assert o.lateness_ns[5] == 40_000


def test_a_live_answer_after_the_attempts_timeout_does_not_count():
    def fill(a, t0):
        p = a["planned"]
        a["live"][0] = p[0] + 150 * MS  # the scenario's client waits 100 ms
        a["live_status"][0] = P.ST_OK
        a["gave_up"][0] = p[0] + 100 * MS
    o = measure.outcomes(raw_with(1, fill), deadline_ms=None)
    assert o.kind[0] == TIMEOUT


def test_the_arrival_gate_tells_poisson_sends_from_a_generator_that_is_not():
    rng = np.random.default_rng(3)
    poisson = np.cumsum(rng.exponential(200_000, 20_000)).astype(np.int64)
    assert gates.arrivals_gate(poisson, True).passed
    paced = np.cumsum(np.full(20_000, 200_000) + rng.normal(0, 2_000, 20_000)).astype(np.int64)  # near-constant gaps
    assert not gates.arrivals_gate(paced, True).passed
    assert gates.arrivals_gate(paced, False).passed  # a varying rate is not tested, and says so
    assert "not tested" in gates.arrivals_gate(paced, False).note


def test_the_arrival_gate_forgives_the_sender_s_microseconds_not_a_wrong_rate():
    """At 10K req/s a sender that needs 8 us a send stretches every shorter gap: a test
    of every gap refuses it, the gate (gaps beyond 25 us, less 25 us) does not; a
    generator at a wrong rate, or pacing, is still refused."""
    rng = np.random.default_rng(4)
    planned = np.cumsum(rng.exponential(100_000, 50_000))
    sent = np.empty_like(planned)
    free = 0.0
    for k, t in enumerate(planned):  # the sender is busy 8 us after each send
        sent[k] = max(t, free)
        free = sent[k] + 8_000
    sent = sent.astype(np.int64)
    from scipy import stats
    every = np.random.default_rng(0xAD).choice(np.diff(sent) / 1e9, 1000, replace=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        assert stats.anderson(every, dist="expon").statistic > 1.96  # the naive test refuses it
    assert gates.arrivals_gate(sent, True).passed
    bursty = np.sort(np.concatenate([planned[::2], planned[::2] + 1_000])).astype(np.int64)  # pairs
    assert not gates.arrivals_gate(bursty, True).passed
    paced = np.cumsum(np.full(50_000, 100_000) + rng.normal(0, 2_000, 50_000)).astype(np.int64)
    assert not gates.arrivals_gate(paced, True).passed


def test_the_rate_and_lateness_gates():
    planned = np.arange(10_000, dtype=np.int64) * 200_000
    on_time = planned + 5_000
    assert gates.rate_gate(planned, on_time, 0, planned[-1] + 1).passed
    assert gates.lateness_gate(on_time - planned).passed  # 5 us
    slow = planned + np.arange(10_000) * 10_000  # falls behind: 3 % of the sends leave the window
    assert not gates.rate_gate(planned, slow, 0, planned[-1] + 1).passed
    assert not gates.lateness_gate(np.full(10_000, 30_000)).passed  # 30 us


def test_correlated_latencies_are_thinned_until_independent():
    rng = np.random.default_rng(1)
    iid = rng.exponential(1.0, 20_000)
    g, k = gates.independence(iid)
    assert k == 1 and g.passed
    ar = np.zeros(20_000)
    for i in range(1, ar.size):  # an AR(1) process: strongly correlated neighbours
        ar[i] = 0.9 * ar[i - 1] + rng.normal()
    g, k = gates.independence(ar)
    assert k >= 8 and g.passed and "every" in g.note


def test_order_statistic_intervals_cover_the_true_percentile_as_promised():
    """Over 400 samples of 2,000 exponentials, the 95 % interval of P99 covers the true P99
    (ln 100) in 95 % of them, within binomial noise."""
    rng = np.random.default_rng(7)
    true = np.log(100.0)
    hits = sum(true in intervals.percentile(rng.exponential(1.0, 2000), 0.99) for _ in range(400))
    assert 0.93 * 400 <= hits <= 0.99 * 400


def test_a_tail_percentile_with_few_samples_beyond_it_is_not_meaningful():
    x = np.random.default_rng(2).exponential(1.0, 80_000)
    assert intervals.percentile(x, 0.99).meaningful  # 800 beyond
    p = intervals.percentile(x, 0.9999)
    assert p.beyond == 8 and not p.meaningful  # P99.99 of 80,000: the 8 largest lie beyond it
    thin = intervals.percentile(x, 0.99, thin=16)
    assert thin.beyond == 50 and not thin.meaningful  # 800 beyond, as 5,000 independent ones: 50
    assert thin.high - thin.low > intervals.percentile(x, 0.99).high - intervals.percentile(x, 0.99).low


def test_the_testbed_sends_the_simulator_s_own_arrivals_and_draws():
    from mbsim.engine import draws
    sc = dataclasses.replace(catalog.get("tail-spike"), duration_s=1.0, warmup_s=0.0)
    r = requests_of(sc, 5)
    d = draws.draws(sc, 5)
    gaps = [next(d.gaps) for _ in range(len(r["times"]))]
    first = [next(d.first) for _ in range(len(r["times"]))]
    assert len(r["times"]) > 5000  # 10K req/s for a second
    assert r["times"].tolist() == np.cumsum(gaps).tolist()  # the same arrivals, to the float
    assert r["service"].tolist() == [f[draws.SERVICE] for f in first]
    assert r["spike"].tolist() == [f[draws.SPIKE] for f in first]


def test_sectioning_covers_a_quantile_that_thinning_cannot():
    """An AR(1) series (phi 0.995, correlation time ~200) of 20,000: its P90 is known
    (normal marginal, sd 1/sqrt(1 - phi^2)). The order-statistic interval of the raw series
    covers it far less often than it promises; the sectioned one comes close to 95 %."""
    from scipy import stats
    phi, n, q = 0.995, 20_000, 0.9
    truth = stats.norm.ppf(q) / math.sqrt(1 - phi ** 2)
    rng = np.random.default_rng(8)
    plain = sect = 0
    reps = 200
    for _ in range(reps):
        e = rng.normal(size=n)
        x = np.empty(n)
        x[0] = e[0] / math.sqrt(1 - phi ** 2)
        for i in range(1, n):
            x[i] = phi * x[i - 1] + e[i]
        plain += truth in intervals.percentile(x, q)
        sect += truth in intervals.percentile(x, q, sections=20)
    assert plain / reps < 0.5
    assert sect / reps >= 0.85


def test_a_sigterm_whose_raise_is_swallowed_is_raised_again():
    """The testbed's SIGTERM handler can run inside code whose exceptions Python ignores
    (logging's lock release printed "Exception ignored in ... KeyboardInterrupt" and the
    verification ran on to exit 0): the signal is noted and raised at the next check."""
    import os
    import signal

    from mbsim.verify import testbed

    testbed._PENDING.clear()
    testbed._check_interrupt()  # nothing asked: nothing raised
    testbed._OWNER = os.getpid()
    try:
        testbed._raise_interrupt(signal.SIGTERM, None)
    except KeyboardInterrupt:
        pass  # swallowed, as in a destructor
    with pytest.raises(KeyboardInterrupt):
        testbed._check_interrupt()
    testbed._PENDING.clear()
