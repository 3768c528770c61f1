"""sony/gobreaker's rules, one by one, against what its README and gobreaker.go document:
ReadyToTrip is "more than N consecutive failures", Timeout in OPEN, MaxRequests in
HALF_OPEN (0 means 1), Interval clearing the CLOSED counts, a new generation on every
change of state."""
import pytest

from mbsim.errors import ConfigError
from mbsim.outcome import Outcome
from mbsim.policies.gobreaker import Gobreaker, GobreakerParams, GobreakerTuned
from mbsim.strategy import State

OK, ERR = Outcome.SUCCESS, Outcome.ERROR
CLOSED, OPEN, HALF = State.CLOSED, State.OPEN, State.HALF_OPEN


def gb(**kw) -> Gobreaker:
    return Gobreaker(GobreakerParams(**kw))


def calls(b: Gobreaker, t: float, outcomes, dt: float = 0.001) -> float:
    for o in outcomes:
        assert b.allow(t)
        b.report(t, o, 0.001)
        t += dt
    return t


@pytest.mark.parametrize("kw, message", [
    ({"max_requests": -1}, "max_requests must be >= 0"),
    ({"interval_ms": -0.5}, "interval_ms must be >= 0"),
    ({"timeout_ms": 0.0}, "timeout_ms must be positive"),
    ({"consecutive_failures": -1}, "consecutive_failures must be >= 0"),
])
def test_bad_parameters_are_refused_with_their_rule(kw, message):
    with pytest.raises(ConfigError) as e:
        GobreakerParams(**kw)
    assert str(e.value) == message


def test_the_edges_of_the_documented_ranges_are_allowed():
    p = GobreakerParams(max_requests=0, interval_ms=0.0, timeout_ms=0.001, consecutive_failures=0)
    assert (p.max_requests, p.interval_ms, p.consecutive_failures) == (0, 0.0, 0)


def test_defaults_are_the_libraries():
    p = GobreakerParams()
    assert (p.max_requests, p.interval_ms, p.timeout_ms, p.consecutive_failures) == (1, 0.0, 60000.0, 5)
    t = GobreakerTuned()
    assert (t.timeout_ms, t.interval_ms, t.caller.timeout_ms, t.caller.fallback) == (1000.0, 1000.0, 5.0, True)


def test_it_trips_on_more_than_n_consecutive_failures_not_n():
    b = gb(consecutive_failures=5)
    t = calls(b, 0.0, [ERR] * 5)
    assert b.state(t) == CLOSED  # 5 in a row: not more than 5
    calls(b, t, [ERR])
    assert b.state(t) == OPEN and not b.allow(t + 0.001)


def test_zero_consecutive_failures_trips_on_the_first():
    b = gb(consecutive_failures=0)
    calls(b, 0.0, [ERR])
    assert b.state(0.001) == OPEN


def test_a_success_restarts_the_count():
    b = gb(consecutive_failures=2)
    t = calls(b, 0.0, [ERR, ERR, OK, ERR, ERR])
    assert b.state(t) == CLOSED
    calls(b, t, [ERR])
    assert b.state(t) == OPEN


def test_open_refuses_until_its_timeout_then_is_half_open_exactly_at_it():
    b = gb(consecutive_failures=0, timeout_ms=2000.0)
    calls(b, 10.0, [ERR])  # opens at 10.0
    assert b.state(11.999) == OPEN and not b.allow(11.999)
    assert b.state(12.0) == HALF  # >= the expiry, not after it
    assert b.allow(12.0)


@pytest.mark.parametrize("max_requests, allowed", [(0, 1), (1, 1), (3, 3)])
def test_half_open_lets_max_requests_through_and_zero_means_one(max_requests, allowed):
    b = gb(consecutive_failures=0, timeout_ms=1000.0, max_requests=max_requests)
    calls(b, 0.0, [ERR])
    got = sum(b.allow(1.5 + k * 1e-4) for k in range(10))
    assert got == allowed and b.state(1.6) == HALF


def test_half_open_closes_after_max_requests_successes_not_fewer():
    b = gb(consecutive_failures=0, timeout_ms=1000.0, max_requests=3)
    calls(b, 0.0, [ERR])
    for k in range(3):
        assert b.allow(1.0 + k * 0.01)
    b.report(1.05, OK, 0.01)
    b.report(1.06, OK, 0.01)
    assert b.state(1.07) == HALF
    b.report(1.08, OK, 0.01)
    assert b.state(1.09) == CLOSED
    # a new generation: its counts start from zero, so one failure does not trip it
    calls(b, 1.1, [ERR])
    assert b.state(1.2) == OPEN  # consecutive_failures=0: the first failure trips again


def test_a_failure_in_half_open_reopens_for_a_full_timeout_from_then():
    b = gb(consecutive_failures=0, timeout_ms=1000.0, max_requests=2)
    calls(b, 0.0, [ERR])
    assert b.allow(1.2) and b.allow(1.21)
    b.report(1.25, OK, 0.01)
    b.report(1.3, ERR, 0.01)  # any failure in HALF_OPEN
    assert b.state(2.29) == OPEN and b.state(2.3) == HALF
    assert b.allow(2.3) and b.allow(2.3) and not b.allow(2.3)  # the budget is fresh


def test_closing_clears_the_failures_counted_before():
    b = gb(consecutive_failures=2, timeout_ms=1000.0)
    calls(b, 0.0, [ERR, ERR, ERR])  # trips at the third
    assert b.allow(1.5)
    b.report(1.5, OK, 0.001)
    assert b.state(1.6) == CLOSED
    t = calls(b, 1.6, [ERR, ERR])
    assert b.state(t) == CLOSED  # two, not more than two: the old ones were cleared
    calls(b, t, [ERR])  # and they count again, with no Interval: a third trips it
    assert b.state(t + 0.01) == OPEN


def test_interval_clears_the_closed_counts_on_a_timer():
    b = gb(consecutive_failures=3, interval_ms=1000.0)
    calls(b, 0.1, [ERR, ERR, ERR])
    calls(b, 1.0, [ERR])  # 1.0 >= the first expiry (0 + 1 s): a new generation, count 1
    assert b.state(1.01) == CLOSED
    calls(b, 1.5, [ERR, ERR])
    assert b.state(1.6) == CLOSED  # 3 in this generation
    calls(b, 1.7, [ERR])
    assert b.state(1.8) == OPEN  # 4 > 3


def test_the_first_generation_lasts_exactly_one_interval():
    b = gb(consecutive_failures=3, interval_ms=1000.0)
    calls(b, 0.1, [ERR, ERR, ERR])
    calls(b, 0.9995, [ERR])  # still the generation of 0-1 s: 4 > 3
    assert b.state(0.9997) == OPEN


def test_without_interval_closed_counts_are_never_cleared():
    b = gb(consecutive_failures=3, interval_ms=0.0)
    calls(b, 0.0, [ERR, ERR, ERR])
    calls(b, 3600.0, [ERR])
    assert b.state(3600.1) == OPEN


def closed_again_at_0_65() -> Gobreaker:
    """Trips on 2 failures in a row (at 0.001), half-open at 0.501, closed by a success at 0.65."""
    b = gb(consecutive_failures=1, interval_ms=1000.0, timeout_ms=500.0)
    calls(b, 0.0, [ERR, ERR])
    assert b.allow(0.6)
    b.report(0.65, OK, 0.01)
    assert b.state(0.7) == CLOSED
    return b


def test_the_interval_restarts_when_the_breaker_closes():
    b = closed_again_at_0_65()
    calls(b, 1.6, [ERR])
    calls(b, 1.6495, [ERR])
    assert b.state(1.6497) == OPEN  # one generation, 0.65-1.65: 2 > 1
    b = closed_again_at_0_65()
    calls(b, 1.6, [ERR])
    calls(b, 1.66, [ERR])  # a new generation from 1.65: its first failure
    assert b.state(1.67) == CLOSED


def test_state_is_read_without_side_effects():
    b = gb(consecutive_failures=0, timeout_ms=1000.0)
    calls(b, 0.0, [ERR])
    for _ in range(3):
        assert b.state(5.0) == HALF
    assert b._state == OPEN  # reading it did not move it
    assert b.allow(5.0) and b._state == HALF
