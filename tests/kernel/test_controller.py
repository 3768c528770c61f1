"""One re-tuning: the simulator's buffer and the kernel controller run the same Retuner,
and it moves window and capacity as the article's formulas and the damping say."""
import math
import time
from typing import Any

import pytest

from mbsim.kernel import horn as H
from mbsim.kernel.controller import Controller
from mbsim.mbb.buffer import BufferSettings, MountainBikeBuffer
from mbsim.mbb.retune import Interval, Retuner
from mbsim.mbb.settings import MbbSettings


def test_a_period_retune_reaches_the_formulas_targets():
    applied = []
    r = Retuner(BufferSettings(), keep_latencies=False, apply=lambda *a: applied.append(a))
    # 40 intervals of 50 ms = 2 s = one adjust period: 100 requests per interval = 2000 req/s,
    # latencies all 20 ms or 40 ms: stddev 10.0 ms (ddof 1 over 4000 samples, close to 10)
    for k in range(40):
        lat = [0.02, 0.04] * 50
        r.step(0.05 * (k + 1), Interval(100, 100, sum(lat), sum(x * x for x in lat)), None)
    assert len(r.retunes) == 1 and r.retunes[0][1] == "period"
    std_ms = 10.0 * math.sqrt(4000 / 3999)
    assert r.window_s * 1e3 == pytest.approx(50 + 150 * min(1.0, std_ms / 10))  # clamp(std / 10) = 1
    assert r.capacity == 16 << int(min(4, max(0, math.log2(2000 / 10))))  # 256: the cap
    assert applied[-1] == (r.window_s, r.capacity, r.limit)


def test_damping_moves_only_part_of_the_way():
    r = Retuner(BufferSettings(), keep_latencies=False, apply=lambda *a: None)
    r.damping = 0.25
    start = r.window_s
    for k in range(40):
        r.step(0.05 * (k + 1), Interval(100, 100, 100 * 0.02, 100 * 0.02 ** 2), None)  # stddev 0: target 50 ms
    assert r.window_s == pytest.approx(start + 0.25 * (0.05 - start))
    assert r.capacity == round(256 + 0.25 * (256 - 256))


def test_the_buffer_carries_a_retune_into_its_hot_path():
    buf = MountainBikeBuffer(BufferSettings(), workers=8, mean_service_s=1e-3)
    buf.retuner.retune(1.0, 2.0, "test")  # no data: 0 req/s, stddev 0
    assert buf.window_s == pytest.approx(0.05) and buf.retry_after_s == buf.window_s
    assert buf._wait_budget_s == pytest.approx(0.05 * 8)
    assert buf.ring.capacity == 16 == buf.capacity  # capacity_min at 0 req/s


class FakeHorn:
    """What the controller reads and writes, with slots the test fills in."""

    slot_ns = 10_000_000
    slot_count = 21
    upstream = "10.0.0.2:7000"

    def __init__(self):
        self.config = None
        self.slots = {}  # epoch -> SlotTotals
        self.events = self
        self.answers = 0  # requests the kernel answered itself
        self.log_decisions = False

    def decisions(self):
        return dict.fromkeys(H.DECISIONS.values(), 0) | {"answer_open": self.answers}

    def open_ring_buffer(self, cb):
        self.cb = cb

    gen = 0

    def set_config(self, state, capacity, window_us, rate_per_slot=0, refuse_over_rate=False):
        self.config = (state, capacity, window_us)
        self.rate = (rate_per_slot, refuse_over_rate)
        self.gen += 1
        return self.gen

    def counter(self, idx):
        return 0

    def read_slots(self, after, until):
        tot = H.SlotTotals()
        for e, s in self.slots.items():
            if after < e <= until:
                tot.add(s)
        return tot, until

    def take_watermarks(self):
        return [3, 4]

    def in_flight(self):
        return 0


def test_the_kernel_controller_runs_the_same_retuning_on_the_horn_s_slots(monkeypatch):
    frozen = time.monotonic_ns()  # the slot clock stands still: a tick between here and read_slots adds an empty slot
    monkeypatch.setattr(time, "monotonic_ns", lambda: frozen)
    horn = FakeHorn()
    logs: list[dict[str, Any]] = []
    ctl = Controller(horn, MbbSettings(), logs.append, log_decisions=False)  # type: ignore[arg-type]  # a fake horn
    assert ctl.retuner.__class__ is Retuner and ctl.slots_per_sample == 5  # 50 ms of 10 ms slots
    reference = Retuner(BufferSettings(), keep_latencies=False, apply=lambda *a: None)
    now_epoch = time.monotonic_ns() // horn.slot_ns
    # 2.2 s of slots ending now: 20 requests and responses per 10 ms slot at 5 ms +- 1 ms
    for e in range(now_epoch - 220, now_epoch):
        horn.slots[e] = H.SlotTotals(requests=20, count=20, sum_us=20 * 5000, sumsq_us=10 * 4000 ** 2 + 10 * 6000 ** 2)
    ctl.last_epoch = now_epoch - 221
    horn.answers = 44 * 10  # answered by the kernel meanwhile: they are offered load too
    assert ctl.read_slots() == 1  # 44 intervals: one periodic re-tune after 40
    iv = Interval(110, 100, 100 * 0.005, 50 * 0.004 ** 2 + 50 * 0.006 ** 2)
    for k in range(44):
        reference.step(0.05 * (k + 1), iv, None)
    assert ctl.window_ms == pytest.approx(reference.window_s * 1e3)
    assert ctl.capacity == reference.capacity == 256  # 2200 req/s
    assert horn.config == (H.CLOSED, 256, int(ctl.window_ms * 1000))
    tune = [r for r in logs if r["type"] == "tune"]
    assert len(tune) == 1 and tune[0]["rps"] == pytest.approx(2200)
