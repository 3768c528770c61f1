"""Edge cases of the peers' rules, each catching one specific wrong rule (a mutant the rest of the suite let live)."""
import math
from dataclasses import replace

import pytest

from mbsim import simulate
from mbsim.outcome import Outcome
from mbsim.policies.gobreaker import Gobreaker, GobreakerParams
from mbsim.policies.hystrix import HystrixBreaker, HystrixParams
from mbsim.policies.limiters import SimpleLimiter
from mbsim.policies.parts import RefusalState
from mbsim.policies.resilience4j import Resilience4jBreaker, Resilience4jParams
from mbsim.strategy import State
from mbsim.world.catalog import get
from mbsim.world.faults import Faults
from mbsim.world.load_function import LoadFunction
from mbsim.world.network import Network
from mbsim.world.scenario import Scenario
from mbsim.world.sensor import LoadSensor
from mbsim.world.service import Service
from mbsim.world.workload import Workload

OK, ERR = Outcome.SUCCESS, Outcome.ERROR


def test_r4j_count_window_keeps_exactly_the_last_n_calls():
    """Evicting the newest call instead of the oldest leaves the failure count wrong."""
    b = Resilience4jBreaker(Resilience4jParams())
    outcomes = [ERR] * 49 + [OK] * 51 + [OK] * 10
    for i, o in enumerate(outcomes):
        assert b.allow(i * 1e-3)
        b.report(i * 1e-3, o, 0.001)
    last = outcomes[-100:]
    assert b.totals[:2] == [100, sum(o == ERR for o in last)] == [100, 39]


class _Fixed:
    def __init__(self, limit):
        self.limit = limit

    def update(self, rtt, inflight, did_drop):
        pass


def test_a_limiter_that_refuses_most_calls_counts_as_open():
    lim = SimpleLimiter(_Fixed(1))
    assert lim.allow(0.0)  # one in flight: the next three are refused
    assert not lim.allow(0.001) and not lim.allow(0.002) and not lim.allow(0.003)
    assert lim.state(0.004) == State.OPEN  # 3 of 4 refused in the last 100 ms
    assert lim.state(0.2) == State.CLOSED  # the window has passed
    r = RefusalState()
    for refused in (True, False, True, False):
        r.note(0.0, refused)
    assert r.state(0.0) == State.CLOSED  # exactly half is throttling, not blocking


def test_the_ground_truth_counts_partitions_as_outages():
    f = Faults(partitions=((2.0, 4.0),))
    assert f.unhealthy(3.0) and not f.unhealthy(1.9) and not f.unhealthy(4.0)
    # an unprotected client never blocks: its decision accuracy is the healthy share of the
    # measured time, computed here from the scenario's own partitions
    sc = get("partition")
    r = simulate(sc, policy="none", seed=1)
    t0, t1 = sc.warmup_s, sc.duration_s
    bad = sum(max(0.0, min(e, t1) - max(s, t0)) for s, e in sc.faults.partitions + sc.faults.down)
    assert bad > 0
    assert r["decision_accuracy"] == pytest.approx(1 - bad / (t1 - t0), abs=0.01)


def test_the_load_function_by_hand():
    lf = LoadFunction()  # a=0.8, b=0.6, c=12.5, d=2.0
    assert lf.torque(1.0, 0.0, 0.0) == pytest.approx(0.8)
    assert lf.torque(1.0, 0.0, 1.0) == pytest.approx(0.8 * (1 + 0.6 * 2))
    assert lf.torque(0.5, 0.3, 0.5) == pytest.approx(0.8 * 0.25 * 1.6 + 12.5 * math.tanh(0.6))
    assert lf.inflation(1.0, 0.0, 1.0) == pytest.approx(1 + lf.gain * 0.8 * 2.2)
    assert lf.inflation(0.1, -1.0, 0.0) == 1.0  # a falling load never speeds a request up


def test_the_sensor_reads_rate_trend_and_acceleration():
    s = LoadSensor(capacity_rps=10_000.0, sample_s=0.05)
    rates = [2000 + 4000 * k * 0.05 for k in range(40)]  # a ramp: +4000 req/s per s
    for r in rates:
        s.count = round(r * 0.05)
        s.sample()
    assert s.omega == pytest.approx(rates[-1] / 10_000, rel=0.01)
    assert s.trend == pytest.approx(0.4, rel=0.02)  # d omega / dt
    assert s.slope == pytest.approx(math.atan(0.4), rel=0.02)
    assert abs(s.accel) < 0.5  # a straight ramp does not accelerate
    for _ in range(30):  # then flat for longer than the 1.2 s trend window
        s.count = round(rates[-1] * 0.05)
        s.sample()
    assert s.trend == pytest.approx(0.0, abs=1e-9)


def _quiet(**workload):
    """64 workers, 50 req/s of 1 ms deterministic service: nobody waits, nothing is lost."""
    return Scenario(name="quiet", duration_s=40.0, warmup_s=1.0,
                    service=Service(workers=64, dist="deterministic", mean_ms=1.0, load=LoadFunction(gain=0.0)),
                    workload=Workload(rate_rps=50.0, **workload), network=Network(rtt_ms=0.0))


def test_tail_spikes_slow_their_share_by_their_factor():
    r = simulate(_quiet(spike_fraction=0.1, spike_factor=20.0), policy="none", seed=4)
    q = r.histogram.quantile
    assert r["requests"] > 1500
    assert q(0.85) * 1e3 == pytest.approx(1.0, rel=0.01)  # 90 % at the base service time
    assert q(0.95) * 1e3 == pytest.approx(20.0, rel=0.01) == r["p9999_ms"]  # 10 % at 20x


def test_spike_windows_slow_what_starts_inside_them():
    r = simulate(_quiet(spike_windows=((10.0, 20.0, 5.0),)), policy="none", seed=4)
    q = r.histogram.quantile  # 10 of the 39 measured seconds: 26 % of the requests at 5x
    assert q(0.65) * 1e3 == pytest.approx(1.0, rel=0.01)
    assert q(0.80) * 1e3 == pytest.approx(5.0, rel=0.01) == r["p9999_ms"]


def test_hystrix_forgets_failures_older_than_its_rolling_window():
    b = HystrixBreaker(HystrixParams())  # 10 s window in 10 buckets
    for i in range(15):
        assert b.allow(i * 0.01)
        b.report(i * 0.01, ERR, 0.001)
    # 10.5 s later those 15 failures have left the window: 15 successes and 6 failures
    # (28 %) do not open it, although 21 failures out of 36 (58 %) would have
    t = 10.5
    for o in [OK] * 15 + [ERR] * 6:
        assert b.allow(t)
        b.report(t, o, 0.001)
        t += 0.01
    b.allow(t + 0.6)  # past the next health snapshot
    assert b.state(t + 0.6) == State.CLOSED


def test_gobreaker_interval_clears_the_counts_while_closed():
    with_interval = Gobreaker(GobreakerParams(interval_ms=1000.0))
    without = Gobreaker(GobreakerParams())
    for b in (with_interval, without):
        for t in (0.1, 0.2, 0.3):
            assert b.allow(t)
            b.report(t, ERR, 0.001)
        for t in (1.1, 1.2, 1.3):  # a new generation for the first: its count restarts
            assert b.allow(t)
            b.report(t, ERR, 0.001)
    assert with_interval.state(1.4) == State.CLOSED  # 3 in this generation
    assert without.state(1.4) == State.OPEN  # 6 consecutive > 5


def test_r4j_bulkhead_refuses_calls_beyond_its_limit():
    """A semaphore bulkhead of 1 is a loss system with one server: it refuses Erlang B(1, a)
    = a / (1 + a) of the calls, a = 600 req/s x 4 ms = 2.4 (whatever the service time's
    distribution); 64 permits refuse none."""
    sc = replace(_quiet(), workload=Workload(rate_rps=600.0), duration_s=20.0,
                 service=Service(workers=4, dist="deterministic", mean_ms=4.0, load=LoadFunction(gain=0.0)))
    # the breaker records a refusal as a failure (Decorators put the bulkhead inside it): keep it
    # closed with a 100 % threshold so that the bulkhead alone is measured
    one = simulate(sc, policy="resilience4j", seed=2, params={"max_concurrent_calls": 1, "failure_rate_threshold": 100})
    many = simulate(sc, policy="resilience4j", seed=2, params={"max_concurrent_calls": 64,
                                                               "failure_rate_threshold": 100})
    assert one["fallback_ratio"] == pytest.approx(2.4 / 3.4, abs=0.02)
    assert many["fallback_ratio"] == 0


def test_r4j_time_limiter_cuts_at_its_timeout():
    sc = replace(_quiet(spike_fraction=0.2, spike_factor=30.0), duration_s=20.0)
    r = simulate(sc, policy="resilience4j", seed=3, params={"timeout_duration_ms": 10.0})
    assert r["p99_ms"] == pytest.approx(10.0, rel=0.02)  # the 30 ms spikes end at the 10 ms TimeLimiter
    assert r["fallback_ratio"] == pytest.approx(0.2, abs=0.03)


@pytest.mark.parametrize("name", ["hystrix", "resilience4j", "gobreaker", "sre", "gradient2", "vegas", "envoy"])
def test_the_tuned_variants_answer_at_the_horn_s_deadline(name):
    """Each -tuned variant has the horn's 5 ms deadline and its snapshot: on db-down it
    answers everything, nothing later than the deadline plus a round trip."""
    r = simulate("db-down", policy=f"{name}-tuned", seed=1, duration_s=10.0)
    base = simulate("db-down", policy=name, seed=1, duration_s=10.0)
    assert r["success_ratio"] >= 0.999 and r["p9999_ms"] <= 5.0 + 0.3, (r["success_ratio"], r["p9999_ms"])
    assert r["p9999_ms"] < base["p9999_ms"]
