"""The article's two breakers on hand-built sequences of outcomes."""
import itertools
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from mbsim.mbb.breaker import BreakerSettings, ConsecutiveFailureBreaker, FailureRatioBreaker
from mbsim.outcome import Outcome
from mbsim.strategy import State, Strategy

OK, ERR, TMO, REJ = Outcome.SUCCESS, Outcome.ERROR, Outcome.TIMEOUT, Outcome.REJECTED


def feed(b, t, outcomes, dt=0.001):
    for o in outcomes:
        assert b.allow(t)
        b.report(t, o, 0.001)
        t += dt
    return t


def test_protocol():
    assert isinstance(ConsecutiveFailureBreaker(), Strategy)
    assert isinstance(FailureRatioBreaker(), Strategy)


def test_count_breaker_opens_exactly_at_threshold():
    b = ConsecutiveFailureBreaker(threshold=3, open_s=1.0)
    t = feed(b, 0.0, [ERR, ERR, OK, ERR, TMO])  # a success resets the run
    assert b.state(t) == State.CLOSED
    b.report(t, ERR, 0.001)
    assert b.state(t) == State.OPEN
    assert not b.allow(t + 0.5)


def test_count_breaker_half_opens_after_wait_and_closes_after_probes():
    b = ConsecutiveFailureBreaker(threshold=1, open_s=2.0, probes=2)
    b.report(10.0, ERR, 0.001)
    assert b.state(11.999) == State.OPEN and not b.allow(11.999)
    assert b.state(12.0) == State.HALF_OPEN
    assert b.allow(12.0) and b.allow(12.0) and not b.allow(12.0)  # exactly two probes
    b.report(12.01, OK, 0.001)
    assert b.state(12.01) == State.HALF_OPEN
    b.report(12.02, OK, 0.001)
    assert b.state(12.02) == State.CLOSED and b.allow(12.02)


def test_failed_probe_reopens_for_a_full_wait():
    b = ConsecutiveFailureBreaker(threshold=1, open_s=1.0)
    b.report(0.0, ERR, 0.001)
    assert b.allow(1.0)
    b.report(1.5, TMO, 0.001)
    assert b.state(2.4) == State.OPEN and b.state(2.5) == State.HALF_OPEN


def test_ratio_breaker_needs_min_calls_and_ratio():
    b = FailureRatioBreaker(ratio=0.5, window_s=1.0, buckets=10, min_calls=10, open_s=1.0)
    t = feed(b, 0.0, [ERR] * 9)  # 9 failures but fewer than min_calls
    assert b.state(t) == State.CLOSED
    feed(b, t, [OK])  # the 10th call: 9/10 failures >= 50 %
    assert b.state(t) == State.OPEN


def test_ratio_breaker_stays_closed_below_ratio():
    b = FailureRatioBreaker(ratio=0.5, window_s=1.0, buckets=10, min_calls=10)
    t = feed(b, 0.0, [OK, ERR, OK, OK, ERR, OK, ERR, OK, ERR, OK])  # 4/10 < 50 %
    assert b.state(t) == State.CLOSED
    t = feed(b, t, [ERR])  # 5/11 < 50 %
    assert b.state(t) == State.CLOSED
    feed(b, t, [ERR])  # 6/12 = 50 %
    assert b.state(t) == State.OPEN


def test_ratio_window_slides():
    b = FailureRatioBreaker(ratio=0.5, window_s=1.0, buckets=10, min_calls=4)
    feed(b, 0.0, [ERR, ERR, ERR], dt=0.0)  # 3 failures at t = 0
    assert b.counts(0.05) == (3, 3)
    assert b.counts(1.05) == (0, 0)  # their bucket left the window
    feed(b, 1.05, [ERR], dt=0.0)
    assert b.state(1.05) == State.CLOSED  # only 1 call in the window now


def test_rejections_count_only_when_asked():
    """Off by default (load shedding is not failing); mbb-literal turns it on."""
    on = BreakerSettings(kind="count", failure_threshold=2, count_rejections=True).build()
    off = BreakerSettings(kind="count", failure_threshold=2).build()
    for b in (on, off):
        b.report(0.0, REJ, 0.0)
        b.report(0.0, REJ, 0.0)
    assert on.state(0.0) == State.OPEN and off.state(0.0) == State.CLOSED


class NaiveRatioBreaker:
    """The ratio breaker written plainly: every call kept with its time, the window
    recounted and the trip rule evaluated at every report. The reference for the
    optimised one (pending successes, the trip test only where it can change)."""

    def __init__(self, ratio, window_s, buckets, min_calls, open_s, probes):
        self.ratio, self.min_calls, self.open_s, self.probes = ratio, min_calls, open_s, probes
        self.width, self.n = window_s / buckets, buckets
        self.calls = []  # (bucket index, failed) since the last reset
        self.state, self.opened_at, self.sent, self.ok = State.CLOSED, 0.0, 0, 0

    def _bucket(self, now):
        """Bucket e spans [e * width, (e + 1) * width) as computed in floating point: the
        largest e with e * width <= now, found by counting up."""
        e = max(0, int(now / self.width) - 3)
        while (e + 1) * self.width <= now:
            e += 1
        return e

    def counts(self, now):
        live = [f for e, f in self.calls if e > self._bucket(now) - self.n]
        return len(live), sum(live)

    def allow(self, now):
        if self.state == State.CLOSED:
            return True
        if self.state == State.OPEN:
            if now - self.opened_at < self.open_s:
                return False
            self.state, self.sent, self.ok = State.HALF_OPEN, 0, 0
        if self.sent < self.probes:
            self.sent += 1
            return True
        return False

    def report(self, now, outcome, latency):
        failed = outcome != OK
        if self.state == State.CLOSED:
            e = self._bucket(now)
            self.calls = [c for c in self.calls if c[0] > e - self.n] + [(e, failed)]
            fails = sum(f for _, f in self.calls)
            if len(self.calls) >= self.min_calls and fails >= self.ratio * len(self.calls):
                self.state, self.opened_at = State.OPEN, now
        elif self.state == State.HALF_OPEN:
            if failed:
                self.state, self.opened_at = State.OPEN, now
            else:
                self.ok += 1
                if self.ok >= self.probes:
                    self.state, self.calls = State.CLOSED, []


def _step(width):
    """A move of the clock: a random gap, or onto a bucket edge k buckets on (k * width as
    computed in floating point, or one unit in the last place either side of it)."""
    gap = st.floats(0.0, 0.08).map(lambda dt: ("gap", dt))
    edge = st.tuples(st.integers(1, 3), st.sampled_from([-1, 0, 1])).map(lambda x: ("edge", x))
    return st.tuples(st.one_of(gap, edge), st.sampled_from([OK, OK, OK, ERR, TMO, REJ]))


def _move(t, step, width):
    kind, v = step
    if kind == "gap":
        return t + v
    k, side = v
    edge = (int(t / width) + k) * width
    edge = edge if side == 0 else math.nextafter(edge, math.inf if side > 0 else 0.0)
    return max(t, edge)


@settings(max_examples=400, deadline=None)
@given(st.floats(0.05, 0.95), st.integers(1, 30), st.integers(1, 8), st.sampled_from([0.01, 0.3]),
       st.data())
def test_ratio_breaker_matches_the_plain_rule(ratio, min_calls, buckets, open_s, data):
    """Against the plain rule, on random gaps and on the buckets' edges to the last bit,
    with an open time shorter than a bucket too (a probe answered in the newest bucket)."""
    fast = FailureRatioBreaker(ratio, 0.4, buckets, min_calls, open_s=open_s, probes=2)
    ref = NaiveRatioBreaker(ratio, 0.4, buckets, min_calls, open_s=open_s, probes=2)
    t = 0.0
    for step, outcome in data.draw(st.lists(_step(0.4 / buckets), max_size=300)):
        t = _move(t, step, 0.4 / buckets)
        allowed = fast.allow(t)
        assert allowed == ref.allow(t)
        if allowed:
            fast.report(t, outcome, 0.001)
            ref.report(t, outcome, 0.001)
        assert fast._state == ref.state, f"t={t}"
        assert fast.passes is (fast.state(t) is State.CLOSED)  # the engine's shortcut is safe
        if ref.state == State.CLOSED:
            assert fast.counts(t) == ref.counts(t), f"t={t}"


def test_changes_are_recorded_exactly_when_asked():
    b = ConsecutiveFailureBreaker(threshold=2, open_s=1.0)
    assert b.changes is None  # the controller records nothing: a long-running apply would grow it
    b.changes = []
    feed(b, 1.0, [ERR, ERR])  # trips at the second failure, t = 1.001
    assert not b.allow(1.5)
    assert b.allow(2.3)  # half-open since 2.001 (opened + open_s), however late the next call
    b.report(2.305, TMO, 0.005)  # the probe fails within its deadline: open again
    assert b.allow(3.4)
    b.report(3.41, OK, 0.01)
    assert b.changes == [(1.001, State.OPEN), (2.001, State.HALF_OPEN), (2.305, State.OPEN),
                         (3.305, State.HALF_OPEN), (3.41, State.CLOSED)]


def test_the_model_records_a_probe_that_fails_between_two_samples():
    """db-down: the backend hangs from 4 to 9 s; the horn's breaker (50 %, open 1 s) opens,
    and every probe fails at the 5 ms deadline until the backend is back. Sampling the state
    every 10 ms missed half of those 5 ms half-open spells, and with them the re-openings
    (3 openings counted where the testbed's controller logs 5)."""
    from mbsim import simulate

    r = simulate("db-down", policy="horn", seed=1)
    tr = r.transitions[1:]
    opens = [t for t, s in tr if s == State.OPEN]
    assert len(opens) == 5 and 4.0 < opens[0] < 4.6
    for (t0, s0), (t1, s1) in itertools.pairwise(tr):
        if s0 == State.OPEN:  # half-open exactly open_s later
            assert s1 == State.HALF_OPEN and abs(t1 - t0 - 1.0) < 1e-9
        elif s0 == State.HALF_OPEN and s1 == State.OPEN:  # the probe timed out at the 5 ms deadline
            assert 0.004 < t1 - t0 < 0.0065 and t1 < 9.0
    assert tr[-1][1] == State.CLOSED and 9.0 < tr[-1][0] < 9.6  # the first probe after the outage


def test_count_settings_build_their_threshold_open_time_and_probes():
    b = BreakerSettings(kind="count", failure_threshold=2, open_ms=700, probes=3).build()
    feed(b, 0.0, [ERR], dt=0.0)
    assert b.state(0.0) == State.CLOSED
    b.report(0.0, TMO, 0.005)
    assert b.state(math.nextafter(0.7, 0.0)) == State.OPEN and b.state(0.7) == State.HALF_OPEN
    assert [b.allow(5.7) for _ in range(4)] == [True, True, True, False]  # three probes
    for _ in range(3):
        b.report(5.71, OK, 0.001)
    assert b.state(5.71) == State.CLOSED
    b.report(5.72, ERR, 0.001)  # a new run of failures: one is not enough again
    assert b.state(5.72) == State.CLOSED
    b.report(5.73, ERR, 0.001)
    assert b.state(5.73) == State.OPEN


def test_ratio_settings_build_their_window_to_the_bucket_edge_and_their_probes():
    b = BreakerSettings(window_ms=1000, buckets=10, min_calls=1000, open_ms=500, probes=2).build()
    b.report(0.0, ERR, 0.001)
    assert b.counts(math.nextafter(1.0, 0.0)) == (1, 1)  # type: ignore[attr-defined]  # bucket 0 is in the window until 1 s ...
    assert b.counts(1.0) == (0, 0)  # type: ignore[attr-defined]  # ... and leaves it at 1 s exactly
    r = BreakerSettings(min_calls=1, open_ms=500, probes=2).build()
    r.report(2.0, ERR, 0.001)
    assert r.state(2.499) == State.OPEN and [r.allow(2.5) for _ in range(3)] == [True, True, False]


def test_the_classes_default_to_the_settings_defaults():
    s = BreakerSettings()
    ratio, count = FailureRatioBreaker(), ConsecutiveFailureBreaker()
    assert (ratio.ratio, ratio.width * ratio.n, ratio.n, ratio.min_calls, ratio.open_s, ratio.probes) == (
        s.failure_ratio, s.window_ms / 1e3, s.buckets, s.min_calls, s.open_ms / 1e3, s.probes)
    assert (count.threshold, count.open_s, count.probes) == (s.failure_threshold, s.open_ms / 1e3, s.probes)


def test_a_success_that_brings_the_calls_to_min_calls_trips_at_the_ratio_exactly():
    """'Trips when the failure share reaches the ratio': 10 failures and 10 successes in one
    bucket are 50 % of 20 calls, so the 20th call, a success, opens it; 9 and 11 do not."""
    for fails, opened in ((10, True), (9, False)):
        b = FailureRatioBreaker(ratio=0.5, window_s=1.0, buckets=10, min_calls=20)
        t = feed(b, 0.0, [ERR] * fails + [OK] * (20 - fails), dt=0.0001)
        assert (b.state(t) == State.OPEN) is opened


def test_closing_empties_the_window():
    """A breaker that closes after its probes starts counting again from nothing."""
    b = FailureRatioBreaker(ratio=0.5, window_s=1.0, buckets=10, min_calls=4, open_s=0.5)
    feed(b, 0.0, [ERR] * 4, dt=0.0)
    assert b.state(0.0) == State.OPEN
    assert b.allow(0.5)
    b.report(0.51, OK, 0.001)
    assert b.state(0.51) == State.CLOSED and b.counts(0.51) == (0, 0)
    t = feed(b, 0.52, [ERR] * 3)  # 3 of 3 failed, but fewer than min_calls since closing
    assert b.state(t) == State.CLOSED and b.counts(t) == (3, 3)


def test_a_probe_answered_in_the_bucket_where_the_breaker_tripped_closes_it():
    b = FailureRatioBreaker(ratio=0.5, window_s=1.0, buckets=10, min_calls=1, open_s=0.01)
    b.report(0.0, ERR, 0.001)
    assert b.allow(0.02)  # half-open, still in the bucket [0, 0.1) of the failure
    b.report(0.02, OK, 0.001)
    assert b.state(0.02) == State.CLOSED and b.counts(0.02) == (0, 0)


def test_the_bucket_edges_are_the_floating_point_products():
    """Bucket e spans [e * w, (e + 1) * w) as computed in floating point. With w = 0.1,
    4.3 is 43 * w although 4.3 / w is 42.99..., and 1.7 lies just below 17 * w
    (1.7000000000000002) although 1.7 / w is 17.0: a call made then leaves the 10-bucket
    window exactly 10 edges later."""
    w = 0.1
    for t, bucket in ((4.3, 43), (1.7, 16)):
        assert bucket * w <= t < (bucket + 1) * w
        b = FailureRatioBreaker(ratio=0.5, window_s=1.0, buckets=10, min_calls=1000)
        b.report(t, ERR, 0.001)
        leaves = (bucket + 10) * w
        assert b.counts(math.nextafter(leaves, 0.0)) == (1, 1)
        assert b.counts(leaves) == (0, 0)
