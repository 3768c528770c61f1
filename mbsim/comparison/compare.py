"""The side-by-side study: every policy on one scenario, with common random numbers.

Replication r runs every policy with the same seed, so request i has the same arrival
time, service time, losses and snapshot draw under every policy. Each metric is reported
as the mean over replications with a 95 % Student-t interval; comparisons with the
mountain-bike buffer use paired differences per replication (valid because of the common
random numbers) and call a difference real only when its 95 % interval excludes zero and
it exceeds 2 % of the peer's mean (smaller differences sit at the resolution of the
latency histogram and matter to nobody); otherwise the two tie.

Latency percentiles are read from each run's log histogram (buckets 0.1 % wide). A
percentile that a cap pins to one bucket in every replication (the horn's deadline:
"5.015 (5.015..5.015)") has a zero-width replication interval that is no evidence of
anything: its interval is widened to the bucket. Two policies each pinned to one bucket
"tie at the cap" when their buckets are within 2 % of each other (the same bucket, or the
next: 5.010 against 5.015 ms), whatever their paired interval says; pinned further apart,
the verdict gives both values and no interval. A metric equal in both arms in every
replication (a success ratio of 1) is "equal in every replication". A percentile with fewer than 100
samples beyond it in a replication is marked not meaningful (``*`` in the tables).

The CPU cost per decision is the wall time spent in the policy's own code (strategy and
admission calls), net of the timing overhead, measured in ``CPU_REPS`` extra timed runs
(the first replications' seeds) and reported with a t interval over them: it is a wall
clock, and it grows when the machine is busy.
"""
from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from mbsim import policies, processes, streams
from mbsim.comparison.cpu_cost import TimedAdmission, TimedStrategy, proxy_overhead_ns
from mbsim.comparison.entries import Entry, check_reference, named, unique
from mbsim.engine.run import run_model
from mbsim.engine.simulate import seeds, simulate
from mbsim.errors import ConfigError
from mbsim.metrics import intervals as stats
from mbsim.metrics import registry
from mbsim.metrics.registry import (
    BACKEND_GOODPUT_RPS,
    BREAKER_OPENS,
    CPU_US_PER_DECISION,
    DECISION_ACCURACY,
    FALLBACK_RATIO,
    FALSE_OPEN_SHARE,
    FRESH_SHARE,
    GOODPUT_RATIO,
    GOODPUT_RPS,
    OVERLOAD_GOODPUT_RATIO,
    P50_MS,
    P99_JITTER_MS,
    P99_MS,
    P9999_MS,
    RECOVERY_S,
    REJECTED_RATIO,
    SLO_VIOLATION_RATIO,
    SUCCESS_RATIO,
    TIMEOUT_RATIO,
)
from mbsim.params import to_dict
from mbsim.world.catalog import get as get_scenario
from mbsim.world.scenario import Scenario

DEFAULT_POLICIES = ("mbb", "mbb-literal", "mbb-concurrency", "hystrix", "hystrix-tuned", "resilience4j",
                    "resilience4j-tuned", "gobreaker", "gobreaker-tuned", "sre", "sre-tuned", "gradient2",
                    "gradient2-tuned", "vegas", "vegas-tuned", "envoy", "envoy-tuned", "breaker", "none")
METRICS = (P99_MS, P99_JITTER_MS, SUCCESS_RATIO, FALLBACK_RATIO, DECISION_ACCURACY, P50_MS, P9999_MS,
           REJECTED_RATIO, TIMEOUT_RATIO, GOODPUT_RPS, BACKEND_GOODPUT_RPS, SLO_VIOLATION_RATIO,
           GOODPUT_RATIO, OVERLOAD_GOODPUT_RATIO, FRESH_SHARE, FALSE_OPEN_SHARE, RECOVERY_S, BREAKER_OPENS)
# the metrics a verdict is given on
JUDGED = (P99_MS, P99_JITTER_MS, SUCCESS_RATIO, FALLBACK_RATIO,
          DECISION_ACCURACY, P9999_MS, GOODPUT_RATIO, FRESH_SHARE, FALSE_OPEN_SHARE, SLO_VIOLATION_RATIO)
LOWER_IS_BETTER = {m: registry.metric(m).lower_is_better for m in JUDGED}
QUICK_DURATION_S = 6.0
MATERIAL = 0.02  # a difference below 2 % of the peer's mean is a tie
PERCENTILES = registry.percentiles((P50_MS, P99_MS, P9999_MS))
BUCKET = 1e-3  # relative width of a histogram bucket (LogHistogram's 2 x 5e-4)
CPU_REPS = 3


@dataclass
class PolicySummary:
    policy: str
    runs: list[dict[str, Any]]
    cpu_us_per_decision: float = math.nan
    intervals: dict[str, stats.Interval] = field(default_factory=dict)
    cpu: stats.Interval | None = None
    params: dict[str, Any] = field(default_factory=dict)
    source: str | None = None  # a tuned arm's settings file

    def beyond(self, metric: str) -> int:
        """The fewest samples beyond percentile ``metric`` in any replication."""
        return min((r["beyond"][metric] for r in self.runs), default=0)

    def meaningful(self, metric: str) -> bool:
        return metric not in PERCENTILES or self.beyond(metric) >= stats.MIN_BEYOND

    def row(self) -> dict[str, Any]:
        out: dict[str, Any] = {"policy": self.policy, CPU_US_PER_DECISION: self.cpu_us_per_decision}
        if self.cpu is not None:
            out["cpu_us_per_decision_ci"] = [self.cpu.low, self.cpu.high]
            out["cpu_runs"] = self.cpu.n
        for k, ci in self.intervals.items():
            out[k] = ci.mean
            out[f"{k}_ci"] = [ci.low, ci.high]
            if k in PERCENTILES:
                out[f"{k}_beyond"] = self.beyond(k)
                out[f"{k}_meaningful"] = self.meaningful(k)
        return out


def _one(args: tuple[Scenario, Entry, int]) -> dict[str, Any]:
    sc, entry, seed = args
    r = simulate(sc, policy=entry.policy, params=entry.params, seed=seed)
    pct = r.percentiles()
    opens = sum(1 for t, s in r.transitions if s == 1 and t >= sc.warmup_s)  # transitions to OPEN, measured
    return {"seed": seed, "metrics": {**r.metrics, BREAKER_OPENS: opens}, "seconds": r.seconds,
            "transitions": r.transitions, "beyond": {m: pct[m].beyond for m in PERCENTILES},
            "cdf": [a.tolist() for a in r.histogram.cdf()] if r.histogram is not None else None}


def percentile_interval(values: list[float]) -> stats.Interval:
    """The replication t interval of a latency percentile, never narrower than the
    histogram bucket its mean falls in (a capped percentile has a zero-width t interval)."""
    ci = stats.t_interval(values, 0.95)
    half = ci.mean * BUCKET / 2
    return stats.Interval(ci.mean, min(ci.low, ci.mean - half), max(ci.high, ci.mean + half), ci.n, ci.level)


def at_one_cap(xs: list[float], ys: list[float]) -> bool:
    """Do all replications of both arms sit in the same histogram bucket (a shared cap)?
    (``ys`` empty: is ``xs`` pinned to one bucket?)"""
    vals = [v for v in (*xs, *ys) if v is not None and not math.isnan(v)]
    return bool(vals) and max(vals) <= min(vals) * (1 + BUCKET)


def capped_verdict(metric: str, xs: list[float], ys: list[float]) -> tuple[bool, str] | None:
    """(a tie?, the verdict) on percentile ``metric`` when each arm sits in one histogram
    bucket in every replication (None otherwise): their paired interval has zero width and
    is no evidence, so the two values are compared as they are (lower is better)."""
    if not (at_one_cap(xs, []) and at_one_cap(ys, [])):
        return None
    a, b = xs[0], ys[0]
    if at_one_cap(xs, ys):
        return True, f"{metric} ties at the cap (both {fmt_ms(a)} ms in every replication: one histogram bucket)"
    if abs(a - b) <= MATERIAL * b:
        return True, (f"{metric} ties at the cap ({fmt_ms(a)} and {fmt_ms(b)} ms in every replication: "
                      f"one histogram bucket each, within 2 %)")
    word = "wins" if a < b else "loses"
    return False, (f"{metric} {word} ({fmt_ms(a)} against {fmt_ms(b)} ms in every replication, each at one "
                   f"bucket: no interval)")


def cpu_cost(sc: Scenario, policy: str | Entry, seed: int, overhead_ns: float) -> float:
    """us per decision spent in ``policy``'s own code during one run of ``sc``."""
    entry = policy if isinstance(policy, Entry) else named(policy)
    spec, p = policies.resolve(entry.policy, entry.params)
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
    reference: str = "mbb"  # the arm the verdicts compare every other arm with

    def table_rows(self) -> list[dict[str, Any]]:
        return [s.row() for s in self.summaries.values()]

    def paired(self, metric: str, a: str, b: str) -> stats.Interval:
        """Interval of metric(a) - metric(b), paired by replication."""
        xa = [r["metrics"][metric] for r in self.summaries[a].runs]
        xb = [r["metrics"][metric] for r in self.summaries[b].runs]
        d = [x - y for x, y in zip(xa, xb) if x is not None and y is not None
             and not (isinstance(x, float) and math.isnan(x)) and not (isinstance(y, float) and math.isnan(y))]
        return stats.t_interval(d, 0.95)

    def verdicts(self, reference: str | None = None) -> list[str]:
        """Plain sentences: where ``reference`` (default: the study's) wins, loses or ties
        against each policy."""
        reference = reference or self.reference
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
                if metric in PERCENTILES:
                    xs = [r["metrics"][metric] for r in self.summaries[reference].runs]
                    ys = [r["metrics"][metric] for r in self.summaries[other].runs]
                    capped = capped_verdict(metric, xs, ys)
                    meaningful = all(self.summaries[n].meaningful(metric) for n in (reference, other))
                    if capped and (capped[0] or meaningful):  # a tie at a cap holds however few samples
                        parts.append(capped[1])
                        continue
                    if not meaningful:
                        parts.append(f"{metric} not compared (fewer than {stats.MIN_BEYOND} samples beyond it)")
                        continue
                if ci.mean == 0 and ci.low == ci.high:
                    parts.append(f"{metric} ties (equal in every replication)")
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
            "scenario_params": to_dict(self.scenario),
            "quick": self.quick,
            "duration_s": self.scenario.duration_s,
            "seeds": self.seeds,
            "reference": self.reference,
            "policies": {name: {**s.row(), "params": s.params, "source": s.source,
                                "replications": [r["metrics"] for r in s.runs]}
                         for name, s in self.summaries.items()},
            "verdicts": self.verdicts(),
        }


def fmt_ms(x: float) -> str:
    return f"{x:.4g}"


def compare(scenario: Scenario | str, policy_names: Sequence[str | Entry] = DEFAULT_POLICIES, reps: int = 5,
              seed: int = 1, quick: bool = False, workers: int | None = None,
              progress: Callable[[int, int], None] | None = None, cpu: bool = True,
              reference: str = "mbb") -> Comparison:
    sc = get_scenario(scenario) if isinstance(scenario, str) else scenario
    if reps < 2:
        raise ConfigError("--reps must be at least 2 for confidence intervals")
    entries = unique([e if isinstance(e, Entry) else named(e) for e in policy_names])
    check_reference(reference, entries)
    if quick:
        sc = dataclasses.replace(sc, duration_s=min(sc.duration_s, QUICK_DURATION_S),
                                 warmup_s=min(sc.warmup_s, 1.0))
    rep_seeds = seeds(seed, reps)
    jobs = [(sc, e, s) for e in entries for s in rep_seeds]
    workers = workers or min(len(jobs), os.cpu_count() or 1)
    results: list[dict[str, Any]] = []
    if workers > 1:
        with processes.pool(workers) as pool:
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
    for i, entry in enumerate(entries):
        name = entry.label
        runs = results[i * reps:(i + 1) * reps]
        summ = PolicySummary(name, runs, params=to_dict(policies.resolve(entry.policy, entry.params)[1]),
                             source=entry.source)
        for m in METRICS:
            vals = [r["metrics"][m] for r in runs if r["metrics"][m] is not None and not
                    (isinstance(r["metrics"][m], float) and math.isnan(r["metrics"][m]))]
            summ.intervals[m] = percentile_interval(vals) if m in PERCENTILES else stats.t_interval(vals, 0.95)
        if cpu:
            summ.cpu = stats.t_interval([cpu_cost(sc, entry, s, overhead) for s in rep_seeds[:CPU_REPS]], 0.95)
            summ.cpu_us_per_decision = summ.cpu.mean
        summaries[name] = summ
    return Comparison(sc, [e.label for e in entries], rep_seeds, summaries, quick, reference)


