"""Envoy's gradient controller, rule by rule, against the documented rules and hand
computation (defaults: p50, buffer 25 %, update every 100 ms, minRTT every 60 s plus up to
15 % jitter from 50 samples, min_concurrency 3, limit stuck at the minimum for 5 windows
starts a new minRTT window)."""
from __future__ import annotations

import math

import pytest
from helpers import FixedRng

from mbsim.outcome import Outcome
from mbsim.policies.envoy import EnvoyParams, GradientController
from mbsim.strategy import State

OK, ERR, TMO = Outcome.SUCCESS, Outcome.ERROR, Outcome.TIMEOUT
RTT = 2.0 ** -8  # 3.9 ms, exact in binary: minRTT * 1.25 is exact too


def measured(p: EnvoyParams | None = None, rng=None, rtt: float = RTT):
    """A controller whose first minRTT window is done (request_count samples of ``rtt``);
    returns it and the time (s) the window closed."""
    p = p or EnvoyParams()
    c = GradientController(p, rng)
    t = 0.0
    for _ in range(p.request_count):
        assert c.in_min_rtt and c.allow(t)
        t += rtt
        c.report(t, OK, rtt)
    assert not c.in_min_rtt and c.min_rtt == rtt
    return c, t


def sample(c: GradientController, t: float, latency: float) -> None:
    assert c.allow(t)
    c.report(t, OK, latency)


def test_the_limit_moves_every_update_interval_and_not_before():
    c, t0 = measured()
    sample(c, t0, RTT)  # sampleRTT = minRTT: gradient 1.25
    c.allow(math.nextafter(t0 + 0.1, 0.0))
    assert c.limit == 3
    c.allow(t0 + 0.1)
    assert c.limit == int(3.75 + math.sqrt(3.75))  # 5
    c.report(t0 + 0.1, OK, RTT)
    c.report(t0 + 0.1, OK, RTT)
    sample(c, t0 + 0.1, RTT)
    c.allow(t0 + 0.19)  # the next window closes 100 ms after the last update
    assert c.limit == 5
    c.allow(t0 + 0.2)
    assert c.limit == int(6.25 + math.sqrt(6.25))  # 8


def test_the_gradient_at_one_and_at_its_cap_of_two():
    p = EnvoyParams(min_concurrency=100)
    c, t0 = measured(p)
    sample(c, t0, RTT * 1.25)  # sampleRTT = minRTT * (1 + buffer): gradient exactly 1
    c.allow(t0 + 0.1)
    assert c.limit == 110  # 100 + sqrt(100)
    c.report(t0 + 0.1, OK, RTT / 100)  # far below minRTT: the gradient is capped at 2
    c.allow(t0 + 0.2)
    assert c.limit == int(220 + math.sqrt(220))  # 234


def test_samples_of_zero_latency_leave_the_limit_alone():
    c, t0 = measured()
    sample(c, t0, 0.0)
    c.allow(t0 + 0.1)
    assert c.limit == 3 and not c.in_min_rtt


@pytest.mark.parametrize("rng, draw", [(FixedRng(0.4), 0.4), (None, 0.5)])
def test_min_rtt_is_measured_again_after_the_interval_plus_its_jitter(rng, draw):
    """Next window: 60 s + 60 s * 15 % * U after the last closed (U = 0.5 without a stream)."""
    c, t0 = measured(rng=rng)
    again = t0 + 60.0 + 9.0 * draw
    sample(c, t0, RTT * 1.25)
    c.allow(t0 + 0.1)
    assert c.limit == 4  # int(3 + sqrt(3))
    for _ in range(c.outstanding):
        c.report(t0 + 0.1, OK, RTT * 1.25)
    c.allow(again - 1e-6)
    assert not c.in_min_rtt
    c.report(again - 1e-6, OK, RTT * 1.25)
    before = c.limit
    assert before > 3
    c.allow(again)
    assert c.in_min_rtt and c.limit == 3  # pinned at min_concurrency while it measures
    # samples of requests sent before the new window began are not minRTT samples
    for _ in range(60):
        c.report(again + 0.001, OK, 0.002)
    assert c.in_min_rtt
    for i in range(50):
        c.report(again + 0.002 + i * 1e-3, OK, 0.001)
    assert not c.in_min_rtt and c.min_rtt == 0.001 and c.limit == before  # the limit is restored


def test_a_limit_stuck_at_the_minimum_for_five_windows_measures_min_rtt_again():
    c, t0 = measured()
    t = t0

    def window(latency: float) -> None:
        nonlocal t
        sample(c, t, latency)
        c.report(t, OK, latency)
        t += 0.1
        c.allow(t)

    window(RTT)  # up: 3 -> 5
    window(RTT)  # 5 -> 8
    assert c.limit == 8
    slow = RTT * 10  # gradient 0.5 from now on
    window(slow)  # 8 -> int(4 + 2) = 6
    window(slow)  # 6 -> int(3 + 1.73) = 4
    window(slow)  # 4 -> int(2 + 1.41) = 3: reaching the minimum is not being stuck at it
    assert c.limit == 3 and not c.in_min_rtt
    for _ in range(4):
        window(slow)  # stuck: windows 1 to 4
        assert c.limit == 3 and not c.in_min_rtt
    window(slow)  # the fifth
    assert c.in_min_rtt and c.limit == 3 and c.samples == []
    c.report(t + 0.001, OK, 0.001)  # sent when the new window began: its first sample
    assert c.samples == [0.001]


def test_only_answers_are_samples():
    """A timeout or reset releases its slot but is no latency sample; an error answer is."""
    c = GradientController(EnvoyParams(), None)
    for _ in range(60):
        assert c.allow(0.0)
        c.report(0.01, TMO, 0.01)
    assert c.in_min_rtt and c.outstanding == 0
    for _ in range(50):
        assert c.allow(0.01)
        c.report(0.02, ERR, 0.01)
    assert not c.in_min_rtt and c.min_rtt == 0.01


def test_a_report_frees_exactly_one_slot_and_refusals_show_as_open():
    c = GradientController(EnvoyParams(), None)
    assert [c.allow(0.0) for _ in range(4)] == [True, True, True, False]
    c.report(0.001, TMO, 0.001)
    assert [c.allow(0.001) for _ in range(2)] == [True, False]
    assert c.state(0.001) == State.CLOSED  # 2 of 6 refused
    c.allow(0.002)
    c.allow(0.002)
    assert c.state(0.002) == State.CLOSED  # 4 of 8 refused is not more than half ...
    c.allow(0.002)
    assert c.state(0.002) == State.OPEN  # ... 5 of 9 is
