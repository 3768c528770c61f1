"""The online tuning loop: ask, hot-load, watch the SLO window by window, tell.

Each trial puts the sampler's proposal in force in the running controller (no detach: the
control socket, :mod:`mbsim.kernel.control`), then reads every ``window_s`` (1 s) window
from Prometheus (:mod:`mbsim.online.readings`). After ``trial_s`` the trial's objective
(the unserved share) and its worst window P99 go back to the sampler.

With the rails (``rails=True``, the default; anchors: SafeOpt and Ursa):

* the sampler proposes only points predicted safe at ``confidence``
  (:class:`mbsim.tuning.safe.SafeGP`), starting from the settings in force;
* a window over the SLO ends its trial at once, and the last good settings go back in
  force (``rollback``), within that window: the time from the window's end to the
  controller's answer is recorded;
* once ``violation_budget`` windows broke the SLO, the study stops and the best good
  settings go back in force (``stop``); its windows are still read until the study's
  planned end (``budget`` trials), so that every arm is judged on the same time.

Without them (``rails=False``), the constrained GP (:class:`ConstrainedGP`) proposes from
a short scrambled-Sobol start, and every trial runs its full length.

``fixed`` runs no sampler: the settings given stay in force, and the windows are read the
same way (the baseline: offline-tuned settings, left fixed).

When Prometheus cannot be reached or returns nothing, the loop says so in one line, puts
the last good settings back in force (``restore``) and waits; after ``give_up_s`` without
an answer it stops (``OnlineResult.stopped = "prometheus"``; the CLI exits 1).
Every change goes to the log with its reason, and the controller counts it in
``mbsim_settings_changes_total{reason}``.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from mbsim.dimension import Dimension
from mbsim.mbb.settings import MbbSettings
from mbsim.metrics.registry import P99_MS
from mbsim.online.prometheus import PrometheusUnavailable
from mbsim.online.readings import Reading
from mbsim.params import to_dict
from mbsim.tuning.constrained import ConstrainedGP
from mbsim.tuning.safe import SafeGP
from mbsim.tuning.samplers import Observation
from mbsim.tuning.space import getattr_path, settings_from

SHARE_FLOOR = 1e-3  # the objective the GP models is the share plus this (a share of 0 has no log)


class Target(Protocol):
    """Where settings go: the running controller."""

    def put(self, settings: MbbSettings, reason: str) -> dict[str, Any]: ...


#: the window of ``span_s`` (s) ending at unix time ``end`` (s)
Reader = Callable[[float, float], Reading]


@dataclass(frozen=True)
class LoopConfig:
    slo_ms: float  # a window's P99 above this breaks the SLO
    budget: int = 12  # trials
    trial_s: float = 4.0
    window_s: float = 1.0
    rails: bool = True
    mode: str = "bo"  # "bo" or "fixed"
    confidence: float = 0.95
    violation_budget: int = 3  # windows over the SLO before a railed study stops
    lag_s: float = 0.35  # wait after a window's end before reading it (a scrape, and its ingestion)
    give_up_s: float = 10.0  # Prometheus silent this long: the study cannot go on
    seed: int = 1


@dataclass
class OnlineResult:
    config: LoopConfig
    trials: list[dict[str, Any]] = field(default_factory=list)
    windows: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)  # proposal, rollback, stop, restore
    best: dict[str, float] | None = None
    stopped: str | None = None  # why it ended early: "violations", "prometheus"
    t0_unix: float = 0.0  # the loop's time 0 (unix s): every "t" counts from it

    def violation_share(self) -> float:
        """Share of the measured windows whose P99 broke the SLO."""
        measured = [w for w in self.windows if w["measured"]]
        return sum(w["over"] for w in measured) / len(measured) if measured else math.nan

    def to_dict(self) -> dict[str, Any]:
        return {"config": to_dict(self.config), "trials": self.trials, "windows": self.windows,
                "events": self.events, "best": self.best, "stopped": self.stopped, "t0_unix": self.t0_unix,
                "violation_share": self.violation_share()}


class Loop:
    """One online study over ``dims``, from ``start`` (the settings in force)."""

    def __init__(self, cfg: LoopConfig, dims: list[Dimension], start: MbbSettings, target: Target, reader: Reader,
                 say: Callable[[str], None] = print, clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep,
                 on_trial: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.on_trial = on_trial
        self.cfg, self.dims, self.start = cfg, dims, start
        self.target, self.reader, self.say = target, reader, say
        self.clock, self.sleep = clock, sleep
        x0 = {d.name: float(getattr_path(start, d.name)) for d in dims}
        self.x0 = x0
        self.sampler = (SafeGP(dims, cfg.seed, cfg.slo_ms, x0, cfg.confidence) if cfg.rails
                        else ConstrainedGP(dims, cfg.seed, cfg.slo_ms, n_initial=3))
        self.last_good: dict[str, float] = dict(x0)
        self.best: tuple[float, dict[str, float]] | None = None
        self.in_force: dict[str, float] = dict(x0)
        self.violations = 0
        self.t0 = clock()
        self.result = OnlineResult(cfg, t0_unix=self.t0)

    # -- settings ----------------------------------------------------------------------
    def settings(self, x: dict[str, float]) -> MbbSettings:
        s: MbbSettings = settings_from(x, "mbb", self.start)
        return s

    def put(self, x: dict[str, float], reason: str, why: str, trial: int | None) -> dict[str, Any]:
        t = self.clock()
        ack = self.target.put(self.settings(x), reason)
        self.in_force = dict(x)
        ev = {"t": t - self.t0, "acked": self.clock() - self.t0, "reason": reason, "why": why, "trial": trial,
              "params": dict(x), "gen": ack.get("gen"), "update_us": ack.get("update_us")}
        self.result.events.append(ev)
        return ev

    # -- windows -----------------------------------------------------------------------
    def _read(self, end: float) -> Reading | None:
        """The window ending at ``end``, waiting out Prometheus's silences up to ``give_up_s``."""
        silent_since = None
        while True:
            wait = end + self.cfg.lag_s - self.clock()
            if wait > 0:
                self.sleep(wait)
            try:
                r = self.reader(end, self.cfg.window_s)
                if silent_since is not None:
                    self.say(f"prometheus answers again after {self.clock() - silent_since:.1f} s")
                return r
            except PrometheusUnavailable as exc:
                now = self.clock()
                if silent_since is None:
                    silent_since = now
                    self.say(f"{exc}: keeping the last good settings")
                    if self.in_force != self.last_good:
                        self.put(self.last_good, "restore", "prometheus unreachable", None)
                if now - silent_since >= self.cfg.give_up_s:
                    return None
                end = now + self.cfg.window_s - self.cfg.lag_s  # try again a window later
                self.sleep(min(self.cfg.window_s, 0.5))

    # -- the study ---------------------------------------------------------------------
    def run(self) -> OnlineResult:
        cfg = self.cfg
        n_windows = max(1, round(cfg.trial_s / cfg.window_s))
        trials = 1 if cfg.mode == "fixed" else cfg.budget
        if cfg.mode == "fixed":
            # as long as the online arms' trials, each with its read's lag
            n_windows = max(1, round(cfg.budget * (cfg.trial_s + cfg.lag_s) / cfg.window_s))
            self.put(self.x0, "fixed", "the offline-tuned settings, left fixed", 0)
        plan_end = self.t0 + trials * (n_windows * cfg.window_s + cfg.lag_s)
        for trial in range(trials):
            if cfg.mode == "fixed":
                x = self.x0
            else:
                x = self.sampler.ask(1)[0]
                self.put(x, "proposal", f"trial {trial}", trial)
            start = self.clock()
            readings: list[Reading] = []
            rolled = False
            for w in range(n_windows):
                end = start + (w + 1) * cfg.window_s
                r = self._read(end)
                if r is None:
                    self.result.stopped = "prometheus"
                    self.say(f"prometheus gave no answer for {cfg.give_up_s:g} s: stopping with the last good "
                             f"settings in force")
                    self._finish(trial, x, readings, rolled, complete=False)
                    self.result.best = self.best[1] if self.best else None
                    return self.result
                readings.append(r)
                over = r.over(cfg.slo_ms)
                self.violations += over
                self.result.windows.append({"t": r.end - self.t0, "trial": trial, P99_MS: r.p99_ms,
                                            "unserved": r.unserved, "offered": r.offered, "over": over,
                                            "measured": math.isfinite(r.p99_ms),
                                            "params": dict(self.in_force)})
                if over and cfg.rails and cfg.mode != "fixed":
                    ev = self.put(self.last_good, "rollback",
                                  f"window P99 {r.p99_ms:.2f} ms > SLO {cfg.slo_ms:g} ms", trial)
                    ev["after_window_s"] = ev["acked"] - (r.end - self.t0)
                    rolled = True
                    break
            self._finish(trial, x, readings, rolled)
            if cfg.rails and cfg.mode != "fixed" and self.violations >= cfg.violation_budget:
                self.result.stopped = "violations"
                good = self.best[1] if self.best else self.last_good
                self.put(good, "stop", f"{self.violations} windows broke the SLO (budget {cfg.violation_budget})",
                         trial)
                self._watch_until(plan_end, trial)
                break
        if cfg.mode != "fixed" and self.best is not None and self.result.stopped is None:
            self.put(self.best[1], "restore", "the study's best, left in force", None)
        self.result.best = self.best[1] if self.best else None
        return self.result

    def _watch_until(self, end_at: float, trial: int) -> None:
        """Read the windows (no change made) until ``end_at``: after a stop."""
        start = self.clock()
        w = 0
        while start + (w + 1) * self.cfg.window_s <= end_at:
            r = self._read(start + (w + 1) * self.cfg.window_s)
            if r is None:
                self.result.stopped = "prometheus"
                return
            over = r.over(self.cfg.slo_ms)
            self.result.windows.append({"t": r.end - self.t0, "trial": trial, P99_MS: r.p99_ms,
                                        "unserved": r.unserved, "offered": r.offered, "over": over,
                                        "measured": math.isfinite(r.p99_ms), "params": dict(self.in_force),
                                        "after_stop": True})
            w += 1

    def _finish(self, trial: int, x: dict[str, float], readings: list[Reading], rolled: bool,
                complete: bool = True) -> None:
        """The trial's observation, to the sampler and the result (a trial cut short by
        Prometheus's silence is recorded, never told nor trusted)."""
        measured = [r for r in readings if math.isfinite(r.unserved)]
        offered = sum(r.offered for r in measured)
        share = (sum(r.unserved * r.offered for r in measured) / offered if offered else
                 (measured[-1].unserved if measured else math.nan))
        p99s = [r.p99_ms for r in readings if math.isfinite(r.p99_ms)]
        worst = max(p99s) if p99s else math.nan
        feasible = not rolled and not any(r.over(self.cfg.slo_ms) for r in readings)
        rec = {"trial": trial, "t": (readings[-1].end - self.t0) if readings else None, "params": dict(x),
               "unserved": share, "worst_p99_ms": worst, "windows": len(readings), "rolled_back": rolled,
               "feasible": feasible, "complete": complete}
        self.result.trials.append(rec)
        if self.on_trial is not None:
            self.on_trial(rec)
        if self.cfg.mode == "fixed" or not math.isfinite(share) or not complete:
            return
        metric = share + SHARE_FLOOR
        slack = (self.cfg.slo_ms - worst) / self.cfg.slo_ms if math.isfinite(worst) else 0.0
        if rolled and slack >= 0:
            slack = -0.01
        self.sampler.tell(x, Observation(metric, metric, {"slo": slack}, worst if math.isfinite(worst) else 0.0))
        if feasible:
            self.last_good = dict(x)
            if self.best is None or share < self.best[0]:
                self.best = (share, dict(x))
