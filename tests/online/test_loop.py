"""The online loop against a plant with a known answer (no kernel, no Prometheus): its
rails, rollbacks, stop, and what it does when Prometheus goes silent."""
from __future__ import annotations

import math
from typing import Any

from mbsim.dimension import Dimension
from mbsim.mbb.settings import MbbSettings
from mbsim.online.loop import Loop, LoopConfig
from mbsim.online.prometheus import PrometheusUnavailable
from mbsim.online.readings import Reading
from mbsim.params import override

SLO_MS = 2.0
DIMS = [Dimension("buffer.capacity_max", 2, 256, integer=True, log=True)]


class Plant:
    """The running controller and Prometheus, on a virtual clock: capacity c gives a P99 of
    0.5 + 0.02 c ms (over the SLO above c = 75) and an unserved share of 1 / (1 + c / 8)."""

    def __init__(self, start: MbbSettings, silent: tuple[float, float] = (math.inf, math.inf)) -> None:
        self.t = 1000.0
        self.log: list[tuple[float, int, str]] = []  # (t, capacity, reason)
        self.capacity = start.buffer.capacity_max
        self.silent = silent

    def clock(self) -> float:
        return self.t

    def sleep(self, dt: float) -> None:
        self.t += max(dt, 0.0)

    def put(self, settings: MbbSettings, reason: str) -> dict[str, Any]:
        self.t += 0.002
        self.capacity = settings.buffer.capacity_max
        self.log.append((self.t, self.capacity, reason))
        return {"ok": True, "gen": len(self.log), "update_us": 40.0}

    def read(self, end: float, span_s: float) -> Reading:
        if self.silent[0] <= self.t < self.silent[1]:
            raise PrometheusUnavailable("prometheus at http://127.0.0.1:9 is unreachable (refused)")
        c = self.capacity
        return Reading(end, 0.5 + 0.02 * c, 1 / (1 + c / 8), 1000.0)


def study(rails: bool, start_cap: int = 4, budget: int = 12, silent: tuple[float, float] = (math.inf, math.inf),
          **kw: Any) -> tuple[Loop, Plant, list[str]]:
    start = override(MbbSettings(), {"buffer.capacity_min": 2, "buffer.capacity_max": start_cap})
    plant = Plant(start, silent)
    lines: list[str] = []
    cfg = LoopConfig(slo_ms=SLO_MS, budget=budget, trial_s=3, rails=rails, seed=5, **kw)
    loop = Loop(cfg, DIMS, start, plant, plant.read, lines.append, plant.clock, plant.sleep)
    loop.run()
    return loop, plant, lines


def test_the_rails_find_a_better_safe_setting_and_break_few_windows() -> None:
    loop, plant, _ = study(rails=True)
    r = loop.result
    assert r.best is not None
    assert r.best["buffer.capacity_max"] > 16  # far better than the start (4): unserved 0.67 -> under 0.33
    assert r.best["buffer.capacity_max"] <= 75  # and safe
    over = sum(w["over"] for w in r.windows)
    assert over <= loop.cfg.violation_budget
    # every window over the SLO was rolled back before the next window
    for ev in r.events:
        if ev["reason"] == "rollback":
            assert ev["after_window_s"] < loop.cfg.window_s
    assert plant.log[-1][2] in ("restore", "stop")
    assert plant.log[-1][1] == r.best["buffer.capacity_max"]


def test_without_rails_the_same_budget_breaks_more_windows() -> None:
    railed, _, _ = study(rails=True)
    plain, _, _ = study(rails=False)
    assert not any(e["reason"] == "rollback" for e in plain.result.events)
    assert sum(w["over"] for w in plain.result.windows) > sum(w["over"] for w in railed.result.windows)


def test_an_injected_bad_proposal_is_rolled_back_within_its_first_window() -> None:
    loop, plant, _ = study(rails=True, budget=4)
    # inject: the next proposal is far outside the safe set
    loop.sampler.ask = lambda n: [{"buffer.capacity_max": 250.0}]
    loop.run()
    rb = [e for e in loop.result.events if e["reason"] == "rollback"]
    assert rb, "no rollback"
    first = rb[0]
    assert first["after_window_s"] < loop.cfg.window_s
    bad_windows = [w for w in loop.result.windows if w["params"]["buffer.capacity_max"] == 250.0]
    assert len(bad_windows) <= 1 + 4  # one window per trial at most before the rollback
    assert all(w["over"] for w in bad_windows)
    assert loop.result.stopped == "violations"
    assert plant.log[-1][2] == "stop" and plant.log[-1][1] <= 75


def test_prometheus_silent_for_a_while_keeps_the_last_good_settings_and_goes_on() -> None:
    loop, _, lines = study(rails=True, budget=6, silent=(1010.0, 1013.0))
    assert sum("unreachable" in ln for ln in lines) == 1  # one line, not one per attempt
    assert any("answers again" in ln for ln in lines)
    assert loop.result.stopped is None
    assert len(loop.result.trials) == 6


def test_prometheus_gone_stops_the_study_with_the_last_good_settings() -> None:
    loop, plant, lines = study(rails=True, budget=8, silent=(1012.0, math.inf))
    assert loop.result.stopped == "prometheus"
    assert any("stopping with the last good" in ln for ln in lines)
    restores = [x for x in plant.log if x[2] == "restore"]
    if restores:
        assert restores[-1][1] == loop.last_good["buffer.capacity_max"]
    assert plant.capacity == loop.last_good["buffer.capacity_max"]


def test_fixed_keeps_one_setting_and_reads_the_same_windows() -> None:
    start = override(MbbSettings(), {"buffer.capacity_min": 2, "buffer.capacity_max": 60})
    plant = Plant(start)
    cfg = LoopConfig(slo_ms=SLO_MS, budget=4, trial_s=3, mode="fixed")
    loop = Loop(cfg, DIMS, start, plant, plant.read, lambda s: None, plant.clock, plant.sleep)
    r = loop.run()
    assert len(r.windows) == round(4 * (3 + cfg.lag_s))  # as long as the online arms' trials
    assert {x[1] for x in plant.log} == {60}
    assert r.violation_share() == 0.0
