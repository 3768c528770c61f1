"""The mountain-bike buffer's admission rules and measurements, by hand, on a queue and a
service count the test controls (binary-exact times: s = 2**-6 s, two workers)."""
from __future__ import annotations

import math
from collections import deque
from typing import Any

import pytest
import simpy

from mbsim.mbb.buffer import STALL_SERVICES, BufferSettings, MountainBikeBuffer

S = 2.0 ** -6  # mean service time (s)
GAP = S / 2  # between departures of two busy workers


class Service:
    """The model's side of the buffer: its waiting queue, requests in service, offers."""

    def __init__(self, mode: Any, mean_service_s: float = S, workers: int = 2, **settings: Any) -> None:
        self.queue: deque[Any] = deque()
        self.busy = 0
        self.offers = 0
        self.b = MountainBikeBuffer(BufferSettings(mode=mode, **settings), workers, mean_service_s)
        self.b.attach(self.queue, lambda: self.busy, lambda: self.offers)

    def waiting(self, n: int) -> None:
        self.queue.clear()
        self.queue.extend(range(n))


def test_deadline_mode_admits_when_the_answer_can_make_it_with_its_margin():
    """Every worker busy, k = waiting + 1: the answer is expected after s + k gap, with
    variance (s^2 - s^2) + k gap^2 at first; admitted when now + s + k gap + 2 sqrt(var)
    <= give_up."""
    sv = Service("deadline")
    sv.busy = 2
    for waiting in (0, 3):
        k = waiting + 1
        need = S + k * GAP + 2 * math.sqrt(k) * GAP  # exact: k is 1 or 4
        sv.waiting(waiting)
        assert sv.b.admit(1.0, 1.0 + need)
        assert not sv.b.admit(1.0, math.nextafter(1.0 + need, 0.0))
    sv.busy = 1  # an idle worker: always, however close the deadline
    assert sv.b.admit(1.0, 0.5)


def test_deadline_mode_adds_the_network_round_trip():
    sv = Service("deadline")
    sv.b.rtt_s = 2.0 ** -8
    sv.busy = 2
    need = S + GAP + 2 * GAP
    assert sv.b.admit(1.0, 1.0 + need + 2.0 ** -8)
    assert not sv.b.admit(1.0, 1.0 + need)


def test_deadline_mode_with_instant_service_needs_no_margin():
    sv = Service("deadline", mean_service_s=0.0)
    sv.busy = 2
    sv.waiting(5)
    assert sv.b.admit(1.0, 1.0) and not sv.b.admit(1.0, math.nextafter(1.0, 0.0))


@pytest.mark.parametrize("mode", ["deadline", "window", "concurrency"])
def test_every_mode_keeps_one_ring_slot_free(mode):
    sv = Service(mode, capacity_min=4, capacity_max=4)
    sv.waiting(2)
    assert sv.b.admit(0.0, 10.0)
    sv.waiting(3)
    assert not sv.b.admit(0.0, 10.0)


def test_window_mode_admits_while_the_expected_wait_fits_the_window():
    """waiting * s <= window * workers: a 62.5 ms window and two workers hold 8 waiting
    requests of 2**-6 s (0.125 s of service) and not 9."""
    sv = Service("window", window_min_ms=62.5, capacity_min=16, capacity_max=16)
    assert sv.b.admits_when_idle
    for waiting, ok in ((0, True), (8, True), (9, False)):
        sv.waiting(waiting)
        assert sv.b.admit(0.0, 0.0) is ok


def test_concurrency_mode_counts_waiting_and_served_against_the_limit():
    sv = Service("concurrency")
    assert not sv.b.admits_when_idle
    assert sv.b.retry_after_s == 0.05  # a 429's Retry-After is the window
    sv.b._apply(0.08, 256, 5.0)
    assert sv.b.retry_after_s == 0.08
    sv.waiting(2)
    sv.busy = 2
    assert sv.b.admit(0.0, 0.0)  # 4 < 5
    sv.busy = 3
    assert not sv.b.admit(0.0, 0.0)  # 5 is not below 5


@pytest.mark.parametrize("mode, keeps", [("deadline", False), ("window", False), ("concurrency", True)])
def test_each_sample_hands_the_re_tuning_what_completed_and_starts_afresh(mode, keeps):
    sv = Service(mode)
    handed = []
    sv.b.retuner.step = lambda now, iv, sensor: handed.append((now, iv.offered, iv.n, iv.total, iv.total_sq,  # type: ignore[assignment]  # a recording fake
                                                               iv.latencies, sensor))
    env = simpy.Environment()
    env.process(sv.b.process(env, "sensor"))
    sv.offers = 7
    sv.b.observe(0.25, S)
    sv.b.observe(0.5, S)
    env.run(until=0.06)
    sv.offers = 10
    env.run(until=0.11)
    assert handed[0] == (0.05, 7, 2, 0.75, 0.3125, [0.25, 0.5] if keeps else None, "sensor")
    assert handed[1] == (0.1, 3, 0, 0.0, 0.0, [] if keeps else None, "sensor")


@pytest.mark.parametrize("mode", ["deadline", "window", "concurrency"])
def test_the_service_time_estimate_is_an_ewma_with_weight_001(mode):
    sv = Service(mode)
    sv.b.observe(0.1, 2 * S)
    assert sv.b.mean_service_s == pytest.approx(S + 0.01 * S, rel=1e-12)
    if mode == "deadline":  # and its second moment
        assert sv.b.sq_service_s == pytest.approx(S * S + 0.01 * (4 * S * S - S * S), rel=1e-12)


def test_concurrency_mode_sets_its_limit_from_p95_at_the_re_tune():
    sv = Service("concurrency", adjust_s=0.1, concurrency_window_s=0.1, concurrency_k=1000.0)
    env = simpy.Environment()
    env.process(sv.b.process(env, None))
    for _ in range(10):
        sv.b.observe(0.02, S)
    env.run(until=0.11)
    assert sv.b.limit == pytest.approx(1000 / 20)


def test_a_shed_reports_a_failure_only_when_the_service_is_stalled():
    """All workers busy and no completion for 10 mean service times since a 429 first saw
    the count; the first 429 never does, whatever the count."""
    sv = Service("deadline")
    sv.busy = 2
    assert not sv.b.shed_is_failure(5.0, 1)  # first look at 1 completed job
    stall = 5.0 + STALL_SERVICES * S
    assert not sv.b.shed_is_failure(stall, 1)
    assert sv.b.shed_is_failure(math.nextafter(stall, 10.0), 1)
    sv.busy = 1
    assert not sv.b.shed_is_failure(6.0, 1)  # a worker is idle: not stalled
    sv.busy = 2
    assert not sv.b.shed_is_failure(6.0, 2)  # progress


def test_the_settings_pass_their_scales_to_the_formulas():
    s = BufferSettings(stddev_scale_ms=20.0, rps_scale=5.0)
    assert s.window_ms(10.0) == 125.0  # 50 + 150 * 10 / 20
    assert s.capacity(10.0) == 32  # one doubling of 5 req/s
