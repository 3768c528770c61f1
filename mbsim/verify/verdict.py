"""Predicted against measured, metric by metric, and the goals of the verification.

For each metric of one run: the prediction, the measurement (a percentile with its
interval, sample count and the samples beyond it), the relative error ``measured /
predicted - 1`` (for a ratio: the difference in percentage points), and whether the
measured interval contains the prediction.

Each run is predicted twice (:mod:`mbsim.verify.run`): from the **planned** arrivals
(latency from the planned send), and from the **realized** sends, what the generator
really sent when (latency from the actual send). Across a (scenario, arm)'s runs, each
error is a mean with a 95 % t-interval (:func:`across`).

A verdict comes only from a measurement: a goal whose runs failed a gate it depends on
(the comparison with the planned arrivals depends on the generator's gates) says
``not measured: <gate> <value> (<limit>)``, never met or missed; a percentile with too few
samples beyond it says so instead of a verdict. A goal is met when its whole interval lies
within it. Goals:

* table 1's shape, in the worst run, from the actual send (what the horn did with what was
  really sent: no generator gate needed): the ox-horn's P99.99 at most the deadline + 50 us
  (and the article's 3.2 ms, which a 5 ms deadline cannot meet by construction), success at
  least 99.97 % under 12 % loss and 100 % with the backend down, the other arms' P99 beside it;
* prediction error below 80 % utilisation: P50 and P99 within 10 % from the planned
  arrivals (aim 5 %), within 5 % from the realized sends; success and snapshot share
  within 1 point;
* the kernel's answer at least 3x faster than the user-space one (ping-pong in the run).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats

from mbsim.metrics.intervals import Percentile
from mbsim.metrics.registry import DECISION_ACCURACY, FALLBACK_RATIO, P99_JITTER_MS, SUCCESS_RATIO, TRANSITIONS_TO_OPEN

PCT = ("p50", "p90", "p99", "p99_9", "p99_99")
RATIOS = (SUCCESS_RATIO, FALLBACK_RATIO)
ERROR_GOAL = 0.10
ERROR_AIM = 0.05
REALIZED_GOAL = 0.05
POINTS_GOAL = 0.01
HORN_SLACK_MS = 0.05
ARTICLE_P9999_MS = 3.2
KERNEL_RATIO_GOAL = 3.0
BASES = ("planned", "realized")
JUDGED = ("p50", "p99", SUCCESS_RATIO, FALLBACK_RATIO)


def row(measured: dict[str, Any], predicted: dict[str, Any], pred_pct: dict[str, Percentile]) -> dict[str, Any]:
    """Every compared metric of one run (one basis)."""
    out: dict[str, Any] = {}
    for name in PCT:
        m: Percentile = measured["percentiles"][name]
        p = pred_pct[name]
        rel = m.value / p.value - 1 if p.value and not math.isnan(m.value) else math.nan
        out[name] = {"measured": m.as_dict(), "predicted": p.as_dict(), "error": rel,
                     "contained": bool(p.value in m), "meaningful": m.meaningful}
    for name in RATIOS:
        mv, pv = measured[name], predicted[name]
        out[name] = {"measured": mv, "predicted": pv, "error_points": mv - pv}
    for name in (P99_JITTER_MS, DECISION_ACCURACY):
        mv, pv = measured[name], predicted.get(name, math.nan)
        out[name] = {"measured": mv, "predicted": pv, "error": mv / pv - 1 if pv else math.nan}
    out[TRANSITIONS_TO_OPEN] = {"measured": measured[TRANSITIONS_TO_OPEN],
                                "predicted": predicted.get(TRANSITIONS_TO_OPEN)}
    if "percentiles_uncorrected" in measured:
        out["uncorrected"] = {k: v.as_dict() for k, v in measured["percentiles_uncorrected"].items()}
    return out


def error_of(r: dict[str, Any], name: str) -> float:
    """A run's error in ``name``: relative for a percentile, points for a ratio."""
    e = r[name]["error_points"] if name in RATIOS else r[name]["error"]
    return float(e) if e is not None else math.nan


def interval(values: Sequence[float], level: float = 0.95) -> dict[str, Any]:
    """Mean and ``level`` t-interval of ``values`` (NaNs dropped); one value: no interval."""
    x = np.asarray([v for v in values if v is not None and not math.isnan(v)], dtype=float)
    n = int(x.size)
    if n == 0:
        return {"mean": math.nan, "low": math.nan, "high": math.nan, "n": 0}
    mean = float(x.mean())
    if n == 1:
        return {"mean": mean, "low": math.nan, "high": math.nan, "n": 1}
    half = float(stats.t.ppf(0.5 + level / 2, n - 1) * x.std(ddof=1) / math.sqrt(n))
    return {"mean": mean, "low": mean - half, "high": mean + half, "n": n}


def failed_gates(run: dict[str, Any]) -> list[dict[str, Any]]:
    """The generator's gates a run failed (independence only widens intervals)."""
    return [g for g in run["gates"] if not g["passed"] and g["name"] != "independence"]


def why_not(runs: Sequence[dict[str, Any]]) -> str:
    """``not measured: ...`` for runs that failed their gates: the first failed gate, its
    value and limit, and how many runs failed."""
    bad = [r for r in runs if failed_gates(r)]
    g = failed_gates(bad[0])[0] if bad else {"name": "?", "value": math.nan, "limit": ""}
    v = g["value"]
    value = f"{v:.3g}" if isinstance(v, (int, float)) and not math.isnan(v) else "n/a"
    return f"not measured: {g['name']} gate {value} ({g['limit']}) in {len(bad)} of {len(runs)} runs"


def across(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Each judged metric's error across runs, per basis: mean, interval, the runs that
    count (planned: those whose generator passed its gates; realized: all), and whether
    the percentile was meaningful in each."""
    out: dict[str, Any] = {}
    for basis in BASES:
        counted = [r for r in runs if basis == "realized" or not failed_gates(r)]
        rows = [r if basis == "planned" else r["realized"] for r in counted]
        out[basis] = {}
        for name in JUDGED:
            agg = interval([error_of(x, name) for x in rows])
            agg["of"] = len(runs)
            agg["meaningful"] = bool(rows) and all(x[name].get("meaningful", True) for x in rows)
            if basis == "planned" and len(counted) < 2:
                agg["status"] = why_not(runs) + ("; judged on the realized sends" if runs else "")
            out[basis][name] = agg
    return out


def status(met: bool | None, why: str = "") -> str:
    """One word for a verdict, or why there is none."""
    if met is None:
        return why or "not measured"
    return "met" if met else "missed"


def _within(agg: dict[str, Any], limit: float) -> bool | None:
    if agg["n"] < 2 or math.isnan(agg["low"]):
        return None
    return bool(-limit <= agg["low"] and agg["high"] <= limit)


def _goal(goal: str, met: bool | None, why: str = "", **numbers: Any) -> dict[str, Any]:
    return {"goal": goal, "met": met, "status": status(met, why), **numbers}


def goals(results: dict[str, dict[str, Any]], deadline_ms: float, pingpong: dict[str, Any] | None,
          utilisation: dict[str, float]) -> list[dict[str, Any]]:
    """Each goal: met, missed, or why it was not measured, with its numbers.
    ``results[scenario][arm]`` holds the arm's ``runs`` and their errors ``across`` them."""
    out = []
    for sc, arms in results.items():
        horn = arms.get("horn")
        if horn is None:
            continue
        # what the horn did to the requests the generator really sent: latency from the actual
        # send, so a late generator does not count against it (and is not needed for it)
        valid = [r["realized"] for r in horn["runs"]]
        why = "" if valid else "not measured: no run"
        p9999 = max((r["p99_99"]["measured"]["value"] for r in valid), default=math.nan)
        meaningful = all(r["p99_99"]["meaningful"] for r in valid)
        beside = {a: max(x["realized"]["p99"]["measured"]["value"] for x in r["runs"])
                  for a, r in arms.items() if a != "horn"}
        numbers = {"value_ms": p9999, "runs": len(valid), "meaningful": meaningful, "others_p99_ms": beside}
        limit = deadline_ms + HORN_SLACK_MS
        out.append(_goal(f"{sc}: ox-horn P99.99 <= deadline + 50 us ({limit:g} ms), worst run, from the actual send",
                         bool(p9999 <= limit) if valid else None, why, **numbers))
        out.append(_goal(f"{sc}: ox-horn P99.99 <= {ARTICLE_P9999_MS} ms (the article's claim), worst run",
                         bool(p9999 <= ARTICLE_P9999_MS) if valid else None, why, value_ms=p9999,
                         note="a deadline above 3.2 ms cannot meet it: the deadline sets the tail"
                         if deadline_ms > ARTICLE_P9999_MS else ""))
        need = {"loss12": 0.9997, "db-down": 1.0}.get(sc)
        if need is not None:
            got = min((r[SUCCESS_RATIO]["measured"] for r in valid), default=math.nan)
            out.append(_goal(f"{sc}: ox-horn success >= {need:.2%}, worst run", bool(got >= need) if valid else None,
                             why, value=got))
    for sc, arms in results.items():
        if utilisation.get(sc, 1.0) > 0.8 + 1e-9:
            continue
        for arm, r in arms.items():
            for basis in BASES:
                for name in JUDGED:
                    agg = r["across"][basis][name]
                    pct = name in ("p50", "p99")
                    limit = (ERROR_GOAL if basis == "planned" else REALIZED_GOAL) if pct else POINTS_GOAL
                    what = name.upper() if pct else name
                    unit = f"{limit:.0%}" if pct else "1 point"
                    text = f"{sc}/{arm}: {what} prediction from the {basis} sends within {unit}"
                    if basis == "planned" and pct:
                        text += f" (aim {ERROR_AIM:.0%})"
                    why = agg.get("status", "")
                    met = None if why else _within(agg, limit)
                    if met is None and not why:
                        why = f"not measured: {agg['n']} usable run(s) of {agg['of']}, an interval needs 2"
                    if met is not None and pct and not agg["meaningful"]:
                        met, why = None, f"not meaningful: fewer than 100 samples beyond {what} in a run"
                    out.append(_goal(text, met, why, mean=agg["mean"], low=agg["low"], high=agg["high"],
                                     runs=agg["n"], basis=basis))
    if pingpong is not None:
        ratio = pingpong["ratio"]
        out.append(_goal(f"kernel answer >= {KERNEL_RATIO_GOAL:g}x faster than the user-space answer "
                         "(p50, ping-pong in this run)", bool(ratio >= KERNEL_RATIO_GOAL), value=ratio,
                         kernel_p50_us=pingpong["kernel_p50_us"], user_p50_us=pingpong["user_p50_us"]))
    return out


def pct(v: float | None, missing: str = "n/a") -> str:
    """A relative error as a signed percentage."""
    return missing if v is None or math.isnan(v) else f"{100 * v:+.1f} %"


def _pts(v: float | None) -> str:
    return "n/a" if v is None or math.isnan(v) else f"{100 * v:+.2f} pt"


def _error_text(mean: float, low: float, high: float, runs: int, points: bool) -> str:
    f = _pts if points else pct
    if runs >= 2 and not math.isnan(low):
        return f"{f(mean)} (95 % interval {f(low)} to {f(high)}, {runs} runs)"
    return f"{f(mean)} ({runs} run{'s' if runs != 1 else ''}, no interval)"


def error_cell(agg: dict[str, Any], name: str) -> str:
    """One :func:`across` entry for a table cell: why it was not measured, or its error."""
    return str(agg.get("status") or _error_text(agg["mean"], agg["low"], agg["high"], agg["n"], name in RATIOS))


def describe(g: dict[str, Any]) -> str:
    """A goal's numbers in words, for a person (no keys, no dicts)."""
    if "basis" in g:
        points = not ("P50" in g["goal"] or "P99" in g["goal"])
        return "mean error " + _error_text(g["mean"], g["low"], g["high"], g["runs"], points)
    if "kernel_p50_us" in g:
        return (f"{g['value']:.1f}x (kernel answer {g['kernel_p50_us']:.1f} us, user space "
                f"{g['user_p50_us']:.1f} us, p50)")
    if "value_ms" in g:
        v = g["value_ms"]
        text = "n/a" if math.isnan(v) else f"{v:.3g} ms"
        others = g.get("others_p99_ms") or {}
        if others:
            text += "; P99 of the other arms: " + ", ".join(f"{a} {x:.3g} ms" for a, x in others.items())
        if g.get("meaningful") is False:
            text += " (fewer than 100 samples beyond P99.99: indicative)"
        return text
    if "value" in g:
        v = g["value"]
        return "n/a" if v is None or math.isnan(v) else f"{100 * v:.3f} %"
    return ""
