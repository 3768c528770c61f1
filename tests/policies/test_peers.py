"""Each peer's state machine on hand-built sequences of outcomes, against its documented rule."""
import math

import numpy as np
import pytest

from mbsim import policies
from mbsim.outcome import Outcome
from mbsim.policies.envoy import EnvoyParams, GradientController
from mbsim.policies.gobreaker import Gobreaker, GobreakerParams
from mbsim.policies.gradient2 import Gradient2, Gradient2Params
from mbsim.policies.hystrix import HystrixBreaker, HystrixParams
from mbsim.policies.resilience4j import Resilience4jBreaker, Resilience4jParams
from mbsim.policies.sre import AdaptiveThrottle, SreParams
from mbsim.policies.vegas import Vegas, VegasParams
from mbsim.strategy import State, Strategy

OK, ERR, TMO, REJ = Outcome.SUCCESS, Outcome.ERROR, Outcome.TIMEOUT, Outcome.REJECTED


def calls(s, t, outcomes, dt=0.001, latency=0.001):
    for o in outcomes:
        assert s.allow(t)
        s.report(t, o, latency)
        t += dt
    return t


@pytest.mark.parametrize("name", ["hystrix", "resilience4j", "gobreaker", "sre", "gradient2", "vegas", "envoy"])
def test_every_peer_is_a_strategy_with_cited_defaults(name):
    spec, p = policies.resolve(name)
    prot = spec.build(p, None, np.random.default_rng(0))  # type: ignore[arg-type]  # a fake or a deliberately wrong input
    assert isinstance(prot.strategy, Strategy)
    doc = __import__(f"mbsim.policies.{name}", fromlist=["x"]).__doc__
    assert doc is not None and "https://" in doc and "efault" in doc


# -- Hystrix --------------------------------------------------------------------------

def test_hystrix_opens_at_a_health_snapshot_with_volume_and_error_percentage():
    b = HystrixBreaker(HystrixParams())
    t = calls(b, 0.0, [ERR] * 19)  # 19 < requestVolumeThreshold
    assert b.state(t) == State.CLOSED
    assert b.allow(t)
    b.report(t, ERR, 0.001)  # the 20th: but the next health snapshot is due only at 0.5 s
    assert b.state(t) == State.CLOSED and b.allow(0.49)
    b.report(0.49, OK, 0.001)
    assert not b.allow(0.5)  # the snapshot at 0.5 s sees 21 requests, 95 % errors: short-circuited
    assert b.state(0.5) == State.OPEN


def test_hystrix_needs_fifty_percent():
    b = HystrixBreaker(HystrixParams())
    calls(b, 0.0, [OK, ERR] * 15 + [OK])  # 15 / 31 < 50 %
    b.allow(1.0)
    assert b.state(1.0) == State.CLOSED
    b.report(1.0, TMO, 1.0)  # 16 / 32 = 50 %: a timeout is a failure
    b.allow(2.0)
    assert b.state(2.0) == State.OPEN


def test_hystrix_sleep_window_single_trial_and_recovery():
    b = HystrixBreaker(HystrixParams())
    calls(b, 0.0, [REJ] * 20)  # thread-pool rejections count as errors
    b.allow(0.5)
    assert b.state(0.6) == State.OPEN
    assert not b.allow(5.4)
    assert b.allow(5.5) and not b.allow(5.5)  # one trial request, nobody else
    b.report(5.51, ERR, 0.01)
    assert b.state(5.52) == State.OPEN and not b.allow(10.0)
    assert b.allow(10.6)
    b.report(10.61, OK, 0.01)
    assert b.state(10.62) == State.CLOSED and b.window.sums(10.62) == [0, 0]


def test_hystrix_pool_and_timeout_in_the_protection():
    spec, p = policies.resolve("hystrix")
    prot = spec.build(p, None, None)  # type: ignore[arg-type]  # a fake or a deliberately wrong input
    assert prot.pool.threads == 10 and prot.pool.queue == 0 and prot.deadline_ms == 1000 and prot.fallback
    _, q = policies.resolve("hystrix", overrides={"max_queue_size": 100})
    assert spec.build(q, None, None).pool.queue == 5  # type: ignore[arg-type]  # queueSizeRejectionThreshold caps it


# -- Resilience4j ---------------------------------------------------------------------

def test_r4j_count_based_needs_minimum_calls_then_opens_at_threshold():
    b = Resilience4jBreaker(Resilience4jParams())
    t = calls(b, 0.0, [ERR] * 50 + [OK] * 49)  # 99 calls < minimumNumberOfCalls
    assert b.state(t) == State.CLOSED
    calls(b, t, [OK])  # 100 calls, 50 % failures
    assert b.state(t) == State.OPEN


def test_r4j_window_slides_over_the_last_100_calls():
    b = Resilience4jBreaker(Resilience4jParams())
    t = calls(b, 0.0, [ERR] * 49 + [OK] * 51)  # 49 %
    assert b.state(t) == State.CLOSED
    calls(b, t, [OK] * 10 + [ERR] * 10)  # window: last 100 = 39 ERR + 61 OK... then more ERR
    assert b.totals[0] == 100


def test_r4j_half_open_permits_ten_and_decides_on_all_ten():
    p = Resilience4jParams(minimum_number_of_calls=10, sliding_window_size=10, wait_duration_in_open_state_ms=1000)
    b = Resilience4jBreaker(p)
    calls(b, 0.0, [ERR] * 10)
    assert b.state(0.5) == State.OPEN and not b.allow(0.9)
    assert all(b.allow(1.01) for _ in range(10)) and not b.allow(1.01)
    for o in [OK] * 6 + [ERR] * 4:
        assert b.state(1.1) == State.HALF_OPEN
        b.report(1.1, o, 0.001)
    assert b.state(1.1) == State.CLOSED  # 40 % < 50 %


def test_r4j_exponential_backoff_of_the_open_wait():
    p = Resilience4jParams(minimum_number_of_calls=1, sliding_window_size=1, wait_duration_in_open_state_ms=1000,
                           permitted_number_of_calls_in_half_open_state=1, backoff_multiplier=2.0)
    b = Resilience4jBreaker(p)
    calls(b, 0.0, [ERR])
    assert b.wait_s == 1.0
    assert b.allow(1.0)
    b.report(1.0, ERR, 0.001)  # the probe failed: second opening waits 2 s
    assert b.wait_s == 2.0 and not b.allow(2.9) and b.allow(3.0)
    b.report(3.0, ERR, 0.001)
    assert b.wait_s == 4.0


def test_r4j_slow_calls():
    p = Resilience4jParams(minimum_number_of_calls=4, sliding_window_size=4, slow_call_duration_threshold_ms=5,
                           slow_call_rate_threshold=75)
    b = Resilience4jBreaker(p)
    calls(b, 0.0, [OK] * 3, latency=0.006)
    assert b.state(0.1) == State.CLOSED
    calls(b, 0.1, [OK], latency=0.001)  # 3 / 4 slow = 75 %
    assert b.state(0.2) == State.OPEN


def test_r4j_time_based_window_forgets_old_calls():
    p = Resilience4jParams(sliding_window_type="TIME_BASED", sliding_window_size=2, minimum_number_of_calls=5)
    b = Resilience4jBreaker(p)
    calls(b, 0.0, [ERR] * 4)
    calls(b, 3.0, [OK])  # the failures are 3 s old: out of the 2 s window
    assert b.state(3.1) == State.CLOSED and b.window.sums(3.1)[0] == 1


# -- gobreaker ------------------------------------------------------------------------

def test_gobreaker_trips_on_the_sixth_consecutive_failure():
    b = Gobreaker(GobreakerParams())
    t = calls(b, 0.0, [ERR] * 5 + [OK] + [ERR] * 5)
    assert b.state(t) == State.CLOSED
    calls(b, t, [ERR])
    assert b.state(t) == State.OPEN


def test_gobreaker_timeout_max_requests_and_close():
    b = Gobreaker(GobreakerParams())
    calls(b, 0.0, [ERR] * 6)
    assert not b.allow(59.9)
    assert b.allow(60.1) and not b.allow(60.1)  # MaxRequests = 1
    b.report(60.2, OK, 0.001)
    assert b.state(60.2) == State.CLOSED


def test_gobreaker_half_open_failure_reopens():
    b = Gobreaker(GobreakerParams(timeout_ms=1000))
    calls(b, 0.0, [ERR] * 6)
    assert b.allow(1.01)
    b.report(1.02, ERR, 0.001)
    assert b.state(1.03) == State.OPEN and not b.allow(2.0) and b.allow(2.03)


# -- Google SRE -----------------------------------------------------------------------

def test_sre_rejection_probability_formula():
    s = AdaptiveThrottle(SreParams(), np.random.default_rng(1))
    for _ in range(100):
        s.window.add(0.0, 0)
    for _ in range(30):
        s.window.add(0.0, 1)
    assert s.reject_probability(0.0) == pytest.approx((100 - 2 * 30) / 101)
    assert s.reject_probability(121.0) == 0.0  # the two-minute window forgot it


def test_sre_never_rejects_while_the_backend_accepts():
    s = AdaptiveThrottle(SreParams(), np.random.default_rng(2))
    t = calls(s, 0.0, [OK] * 1000)
    assert s.reject_probability(t) == 0


def test_sre_rejects_at_the_predicted_rate():
    s = AdaptiveThrottle(SreParams(), np.random.default_rng(3))
    for _ in range(1000):
        s.window.add(0.0, 0)  # 1000 requests, no accepts
    for _ in range(250):
        s.window.add(0.0, 1)  # 250 accepts: p = 500 / 1001
    n = 4000
    refused = sum(not s.allow(0.0) for _ in range(n))  # each allow also counts a request
    p_end = s.reject_probability(0.0)
    assert p_end > 0.5
    assert 0.5 * n < refused < p_end * n


# -- Gradient2 ------------------------------------------------------------------------

def test_gradient2_grows_by_queue_size_times_smoothing_at_steady_rtt():
    g = Gradient2(Gradient2Params())
    for k in range(1, 51):
        g.update(0.001, inflight=1000, did_drop=False)
        assert g.limit == pytest.approx(20 + 0.8 * k)  # l*(1-s) + (l*1 + 4)*s = l + 0.8


def test_gradient2_app_limited_and_rtt_increase():
    g = Gradient2(Gradient2Params(initial_limit=100))
    g.update(0.001, inflight=10, did_drop=False)  # fewer than limit / 2 in flight
    assert g.limit == 100
    for _ in range(10):
        g.update(0.001, inflight=100, did_drop=False)
    before = g.limit
    g.update(0.004, inflight=100, did_drop=False)  # long/short < 0.5: gradient 0.5
    assert g.limit == pytest.approx(before * 0.8 + (before * 0.5 + 4) * 0.2)


def test_gradient2_floor():
    g = Gradient2(Gradient2Params(initial_limit=100))
    for _ in range(10):
        g.update(0.001, 200, False)  # warm-up: long RTT = 1 ms
    for _ in range(100):
        g.update(0.004, 200, False)  # 4x slower: gradient clamps at 0.5, limit * 0.9 + 0.8 each time
    assert g.limit == 20  # minLimit


# -- Vegas ----------------------------------------------------------------------------

def test_vegas_no_queue_grows_by_beta_and_drop_decreases():
    v = Vegas(VegasParams(), np.random.default_rng(0))
    v.update(0.001, 20, False)  # first sample: the no-load RTT
    assert v.rtt_noload == 0.001 and v.limit == 20
    v.update(0.001, 20, False)  # queue 0 <= threshold: + beta = 6 * log10(20) -> 6
    assert v.limit == 26
    v.update(0.001, 26, True)  # a drop: - log10(26) -> 1
    assert v.limit == 25
    v.update(0.001, 5, False)  # app-limited: unchanged
    assert v.limit == 25


def test_vegas_queue_thresholds():
    v = Vegas(VegasParams(initial_limit=100), np.random.default_rng(0))
    v.update(0.001, 100, False)
    # limit 100: L = 2, alpha 6, beta 12; rtt 1.1 ms -> queue ceil(100 * (1 - 1/1.1)) = 10 (between): unchanged
    v.update(0.0011, 100, False)
    assert v.limit == 100
    v.update(0.002, 100, False)  # queue 50 > beta: - L
    assert v.limit == 98
    # limit 98: L = int(log10(98)) = 1, threshold 1, alpha 3, beta 6
    v.update(0.00104, 98, False)  # queue ceil(98 * 0.0385) = 4: between alpha and beta, unchanged
    assert v.limit == 98
    v.update(0.001015, 98, False)  # queue ceil(98 * 0.0148) = 2 < alpha: + L
    assert v.limit == 99


def test_vegas_probe_resets_noload():
    v = Vegas(VegasParams(initial_limit=10, probe_multiplier=1), np.random.default_rng(0))
    v.update(0.001, 10, False)
    for _ in range(20):
        v.update(0.005, 10, True)
    assert v.rtt_noload == 0.005  # a probe took the current RTT as the new no-load RTT


# -- Envoy ----------------------------------------------------------------------------

def test_envoy_min_rtt_window_then_gradient_steps():
    c = GradientController(EnvoyParams(), np.random.default_rng(0))
    assert c.limit == 3 and c.in_min_rtt
    t = 0.0
    for _ in range(50):  # 50 samples of 1 ms finish the minRTT window
        assert c.allow(t)
        c.report(t + 0.001, OK, 0.001)
        t += 0.001
    assert not c.in_min_rtt and c.min_rtt == pytest.approx(0.001) and c.limit == 3
    c.allow(t)
    c.report(t, OK, 0.001)
    c.allow(t + 0.11)  # the 100 ms window closes: gradient = 1.25
    lim = 3 * 1.25
    assert c.limit == int(lim + math.sqrt(lim))  # 5
    c.report(t + 0.11, OK, 0.004)
    c.allow(t + 0.22)  # sampleRTT 4 ms: gradient clamps to 0.5 -> max(3, ...)
    assert c.limit == max(3, int(2.5 + math.sqrt(2.5)))


def test_envoy_blocks_over_the_limit():
    c = GradientController(EnvoyParams(), np.random.default_rng(0))
    assert c.allow(0.0) and c.allow(0.0) and c.allow(0.0) and not c.allow(0.0)  # min_concurrency 3


# -- bad input ------------------------------------------------------------------------

def test_a_parameter_the_policy_lacks():
    from mbsim.errors import ConfigError
    with pytest.raises(ConfigError, match="policy 'hystrix': unknown parameter window_min_ms"):
        policies.resolve("hystrix", overrides={"window_min_ms": 3})
    with pytest.raises(ConfigError, match="unknown policy 'hystrics'"):
        policies.get("hystrics")
