"""The side-by-side study: every policy on one scenario, with common random numbers.

Replication r runs every policy with the same seed, so request i has the same arrival
time, service time, losses and snapshot draw under every policy. Each metric is reported
as the mean over replications with a 95 % Student-t interval; comparisons with the
mountain-bike buffer use paired differences per replication (valid because of the common
random numbers) and call a difference real only when its 95 % interval excludes zero and
it exceeds 2 % of the peer's mean (smaller differences sit at the resolution of the
latency histogram and matter to nobody); otherwise the two tie.

The CPU cost per decision is the time spent in the policy's own code (strategy and
admission calls), measured in one extra timed run and net of the timing overhead.
"""
from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from mbsim import policies, streams
from mbsim.comparison.cpu_cost import TimedAdmission, TimedStrategy, proxy_overhead_ns
from mbsim.engine.run import run_model
from mbsim.engine.simulate import seeds, simulate
from mbsim.errors import ConfigError
from mbsim.metrics import intervals as stats
from mbsim.world.catalog import get as get_scenario
from mbsim.world.scenario import Scenario

DEFAULT_POLICIES = ("mbb", "mbb-concurrency", "hystrix", "hystrix-tuned", "resilience4j", "resilience4j-tuned",
                    "gobreaker", "gobreaker-tuned", "sre", "sre-tuned", "gradient2", "gradient2-tuned", "vegas",
                    "vegas-tuned", "envoy", "envoy-tuned", "breaker", "none")
METRICS = ("p99_ms", "p99_jitter_ms", "success_ratio", "fallback_ratio", "decision_accuracy", "p50_ms", "p9999_ms",
           "rejected_ratio", "timeout_ratio", "goodput_rps", "backend_goodput_rps", "slo_violation_ratio")
LOWER_IS_BETTER = {"p99_ms": True, "p99_jitter_ms": True, "success_ratio": False, "fallback_ratio": True,
                   "decision_accuracy": False, "p9999_ms": True}
QUICK_DURATION_S = 6.0
MATERIAL = 0.02  # a difference below 2 % of the peer's mean is a tie


@dataclass
class PolicySummary:
    policy: str
    runs: list[dict[str, Any]]
    cpu_us_per_decision: float = math.nan
    intervals: dict[str, stats.Interval] = field(default_factory=dict)

    def row(self) -> dict[str, Any]:
        out: dict[str, Any] = {"policy": self.policy, "cpu_us_per_decision": self.cpu_us_per_decision}
        for k, ci in self.intervals.items():
            out[k] = ci.mean
            out[f"{k}_ci"] = [ci.low, ci.high]
        return out


def _one(args: tuple[Scenario, str, int]) -> dict[str, Any]:
    sc, policy, seed = args
    r = simulate(sc, policy=policy, seed=seed)
    return {"seed": seed, "metrics": r.metrics, "seconds": r.seconds, "transitions": r.transitions,
            "cdf": [a.tolist() for a in r.histogram.cdf()] if r.histogram is not None else None}


def cpu_cost(sc: Scenario, policy: str, seed: int, overhead_ns: float) -> float:
    """us per decision spent in ``policy``'s own code during one run of ``sc``."""
    spec, p = policies.resolve(policy)
    prot = spec.build(p, sc, streams.spawn(seed)["policy"])
    timed: list[TimedStrategy | TimedAdmission] = []
    if prot.strategy is not None:
        prot.strategy = TimedStrategy(prot.strategy)
        timed.append(prot.strategy)
    if prot.admission is not None:
        prot.admission = TimedAdmission(prot.admission)
        timed.append(prot.admission)
    if not timed:
        return 0.0
    run_model(sc, prot, seed)
    ns = sum(t.ns - overhead_ns * t.calls for t in timed)
    decisions = max(t.decisions for t in timed)
    return max(0.0, ns / max(1, decisions) / 1e3)


@dataclass
class Comparison:
    scenario: Scenario
    policies: list[str]
    seeds: list[int]
    summaries: dict[str, PolicySummary]
    quick: bool

    def table_rows(self) -> list[dict[str, Any]]:
        return [s.row() for s in self.summaries.values()]

    def paired(self, metric: str, a: str, b: str) -> stats.Interval:
        """Interval of metric(a) - metric(b), paired by replication."""
        xa = [r["metrics"][metric] for r in self.summaries[a].runs]
        xb = [r["metrics"][metric] for r in self.summaries[b].runs]
        d = [x - y for x, y in zip(xa, xb) if x is not None and y is not None
             and not (isinstance(x, float) and math.isnan(x)) and not (isinstance(y, float) and math.isnan(y))]
        return stats.t_interval(d, 0.95)

    def verdicts(self, reference: str = "mbb") -> list[str]:
        """Plain sentences: where ``reference`` wins, loses or ties against each policy."""
        if reference not in self.summaries:
            return []
        lines = []
        for other in self.summaries:
            if other == reference:
                continue
            parts = []
            for metric, lower in LOWER_IS_BETTER.items():
                ci = self.paired(metric, reference, other)
                if ci.n < 2 or math.isnan(ci.low):
                    continue
                base = abs(self.summaries[other].intervals[metric].mean)
                material = abs(ci.mean) > MATERIAL * base if base > 0 else ci.mean != 0
                better = material and (ci.high < 0 if lower else ci.low > 0)
                worse = material and (ci.low > 0 if lower else ci.high < 0)
                word = "wins" if better else "loses" if worse else "ties"
                parts.append(f"{metric} {word} ({ci.mean:+.4g}, CI {ci.low:+.4g}..{ci.high:+.4g})")
            lines.append(f"{reference} vs {other}: " + "; ".join(parts))
        return lines

    def to_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario.name,
            "quick": self.quick,
            "duration_s": self.scenario.duration_s,
            "seeds": self.seeds,
            "policies": {name: {**s.row(), "replications": [r["metrics"] for r in s.runs]}
                         for name, s in self.summaries.items()},
            "verdicts": self.verdicts(),
        }


def compare(scenario: Scenario | str, policy_names: Sequence[str] = DEFAULT_POLICIES, reps: int = 5,
              seed: int = 1, quick: bool = False, workers: int | None = None,
              progress: Callable[[int, int], None] | None = None, cpu: bool = True) -> Comparison:
    sc = get_scenario(scenario) if isinstance(scenario, str) else scenario
    if reps < 2:
        raise ConfigError("--reps must be at least 2 for confidence intervals")
    for name in policy_names:
        policies.get(name)
    if quick:
        sc = dataclasses.replace(sc, duration_s=min(sc.duration_s, QUICK_DURATION_S),
                                 warmup_s=min(sc.warmup_s, 1.0))
    rep_seeds = seeds(seed, reps)
    jobs = [(sc, p, s) for p in policy_names for s in rep_seeds]
    workers = workers or min(len(jobs), os.cpu_count() or 1)
    results: list[dict[str, Any]] = []
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            for k, r in enumerate(pool.map(_one, jobs)):
                results.append(r)
                if progress:
                    progress(k + 1, len(jobs))
    else:
        for k, job in enumerate(jobs):
            results.append(_one(job))
            if progress:
                progress(k + 1, len(jobs))
    summaries: dict[str, PolicySummary] = {}
    overhead = proxy_overhead_ns() if cpu else 0.0
    for i, name in enumerate(policy_names):
        runs = results[i * reps:(i + 1) * reps]
        summ = PolicySummary(name, runs)
        for m in METRICS:
            summ.intervals[m] = stats.t_interval([r["metrics"][m] for r in runs if r["metrics"][m] is not None], 0.95)
        if cpu:
            summ.cpu_us_per_decision = cpu_cost(sc, name, rep_seeds[0], overhead)
        summaries[name] = summ
    return Comparison(sc, list(policy_names), rep_seeds, summaries, quick)


